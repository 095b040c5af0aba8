/**
 * Component packages the default registry takes in when a topology needs them: `@woodwork/ai`
 * implements the `llm`, `memory` (and, as they land, `agent`, tools, knowledge bases) types. It is
 * an optional peer, loaded lazily like the bus drivers, so a topology of built-in components never
 * loads a model SDK, and a runtime without it installed says which package to install.
 */
import type { TopologyComponent } from '@woodwork/parser';
import type { ComponentRegistry } from '../registry.js';
import type { ComponentDefinition } from '../types.js';

export interface OptionalComponentPackage {
  /** The npm package. */
  readonly name: string;
  /** The kinds it implements: a missing implementation of one of these names the package. */
  readonly kinds: readonly string[];
  /** The export holding its definitions. */
  readonly exportName: string;
}

export const optionalComponentPackages: readonly OptionalComponentPackage[] = [
  { name: '@woodwork/ai', kinds: ['llm', 'agent', 'memory', 'knowledge_base', 'mcp', 'api', 'environment', 'core'], exportName: 'aiComponents' },
];

/** The package that implements a kind, for "install @woodwork/ai" messages. */
export function packageForKind(kind: string): OptionalComponentPackage | undefined {
  return optionalComponentPackages.find((entry) => entry.kinds.includes(kind));
}

const loaded = new Map<string, Promise<readonly ComponentDefinition<any>[] | undefined>>();
const installed = new Map<string, boolean>();

/** Whether the package was found when a topology needed it; undefined when never looked for. */
export function isInstalled(name: string): boolean | undefined {
  return installed.get(name);
}

function isMissing(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = String((error as Error).message);
  return message.includes(`'${name}'`) || message.includes(`"${name}"`);
}

/** The package's definitions, or undefined when it is not installed. Loaded once per process. */
function load(entry: OptionalComponentPackage): Promise<readonly ComponentDefinition<any>[] | undefined> {
  let promise = loaded.get(entry.name);
  if (!promise) {
    // A specifier in a variable: bundlers and the workspace graph must not treat the optional peer
    // as a dependency of the runtime (it depends on the runtime).
    const specifier = entry.name;
    promise = import(specifier).then(
      (module: Record<string, unknown>) => {
        installed.set(entry.name, true);
        const definitions = module[entry.exportName];
        return Array.isArray(definitions) ? (definitions as ComponentDefinition<any>[]) : [];
      },
      (error: unknown) => {
        if (isMissing(error, entry.name)) {
          installed.set(entry.name, false);
          return undefined;
        }
        throw error;
      },
    );
    loaded.set(entry.name, promise);
  }
  return promise;
}

/**
 * Registers what the optional packages implement for the components that have no implementation
 * yet, loading each package only when one of them needs it. Pairs already registered (by the
 * built-ins, or a user) are left as they are.
 */
export async function registerOptionalComponents(
  registry: ComponentRegistry,
  components: readonly TopologyComponent[],
  packages: readonly OptionalComponentPackage[] = optionalComponentPackages,
): Promise<void> {
  const needed = new Set<OptionalComponentPackage>();
  for (const component of components) {
    if (registry.has(component.kind, component.type)) continue;
    const entry = packages.find((candidate) => candidate.kinds.includes(component.kind));
    if (entry) needed.add(entry);
  }
  for (const entry of needed) {
    const definitions = await load(entry);
    for (const definition of definitions ?? []) if (!registry.has(definition.kind, definition.type)) registry.register(definition);
  }
}
