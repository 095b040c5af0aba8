/**
 * Routing: where each component's output goes. A declared `to` wins; otherwise the default route
 * is input → processor (agent, llm, transform) → output, and a processor with no output to go to
 * sends its reply back to the session that asked (a route to null).
 *
 * When several components could be next, the rule is (and the README says so):
 * - an input goes to the first *entry point*, preferring agents, then llms, then other processors,
 *   each in declaration order. An entry point is a processor that nothing builds on (it is not the
 *   `model` or a tool of another component) and that no other processor routes to; with no entry
 *   point it goes straight to the first output (an input → output echo);
 * - a processor without `to` goes to the first output in declaration order;
 * - components that others are built on (an agent's `model`, its `tools`) are called, not routed:
 *   they get no default route.
 */
import type { KindRole } from './catalogue.js';
import type { Reporter } from './diagnostic.js';
import type { SourceLocation } from './location.js';
import type { TopologyRoute } from './topology.js';

export interface RoutingComponent {
  readonly name: string;
  readonly kind: string;
  readonly role: KindRole;
  /** The declared `to` targets; undefined when `to` is not written, null when it was invalid. */
  readonly declaredTo: readonly string[] | undefined | null;
  readonly location: SourceLocation;
}

export interface Routing {
  readonly routes: TopologyRoute[];
  /** Each component's next components (declared or default); absent or empty: none. */
  readonly targets: Map<string, string[]>;
}

const ENTRY_PREFERENCE = ['agent', 'llm'];

export interface RoutingOptions {
  /**
   * A declaration that might have received messages was left out after a reported problem (an
   * unknown type): an input with nowhere to go is then a consequence of that, not reported again.
   */
  readonly receiverLeftOut?: boolean;
}

export function computeRoutes(components: readonly RoutingComponent[], builtOn: ReadonlySet<string>, report: Reporter, options: RoutingOptions = {}): Routing {
  const routes: TopologyRoute[] = [];
  const targets = new Map<string, string[]>();

  const routedToByProcessors = new Set<string>();
  for (const component of components) {
    if (component.role === 'processor' && component.declaredTo) {
      for (const target of component.declaredTo) routedToByProcessors.add(target);
    }
  }
  const processors = components.filter((component) => component.role === 'processor');
  const entryPoints = processors
    .filter((component) => !builtOn.has(component.name) && !routedToByProcessors.has(component.name))
    .sort((a, b) => preference(a.kind) - preference(b.kind));
  const firstOutput = components.find((component) => component.role === 'output');

  for (const component of components) {
    if (component.declaredTo === null) continue;
    if (component.declaredTo !== undefined) {
      targets.set(component.name, [...component.declaredTo]);
      if (component.declaredTo.length === 0) routes.push({ from: component.name, to: null, origin: 'declared' });
      for (const target of component.declaredTo) routes.push({ from: component.name, to: target, origin: 'declared' });
      continue;
    }
    if (component.role === 'input') {
      const next = entryPoints[0] ?? firstOutput;
      if (next) {
        targets.set(component.name, [next.name]);
        routes.push({ from: component.name, to: next.name, origin: 'default' });
      } else if (!options.receiverLeftOut) {
        report('WW220', `input \`${component.name}\` has nowhere to send messages`, component.location, {
          hint: 'add an agent, llm or output component, or say where messages go with `to`',
        });
      }
    } else if (component.role === 'processor' && !builtOn.has(component.name)) {
      if (firstOutput) {
        targets.set(component.name, [firstOutput.name]);
        routes.push({ from: component.name, to: firstOutput.name, origin: 'default' });
      } else {
        routes.push({ from: component.name, to: null, origin: 'default' });
      }
    }
  }
  return { routes, targets };
}

function preference(kind: string): number {
  const index = ENTRY_PREFERENCE.indexOf(kind);
  return index === -1 ? ENTRY_PREFERENCE.length : index;
}
