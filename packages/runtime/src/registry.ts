/**
 * The component registry: which implementation runs each kind/type pair of the catalogue.
 *
 * `createComponentRegistry()` starts with the built-in components (the `transform` kind,
 * `input command_line`, `output console`). Packages add theirs — `registry.register(openaiLlm)`
 * or `registry.register('llm', 'openai', factory)` — and users register their own types from their
 * own packages. A pair the catalogue of @woodwork/parser knows is accepted as it is (aliases
 * resolved, `cli` → `command_line`); a pair it does not know must be declared (`declare`: a
 * description, its role, its keys), so that a typo is an error and not a silent new type.
 */
import { catalogue, findComponentType, type KindRole } from '@woodwork/parser';
import { WoodworkRuntimeError } from './errors.js';
import type { ComponentDeclaration, ComponentDefinition, ComponentFactory } from './types.js';

/** What `register(kind, type, factory, options)` takes besides the factory. */
export interface RegisterOptions {
  readonly resultEvent?: string;
  readonly acceptsStreams?: boolean;
  readonly declare?: ComponentDeclaration;
  /** Replace an implementation registered earlier for the pair. Default false: a second registration is an error. */
  readonly replace?: boolean;
}

/** A registered implementation, with the pair's canonical names and role. */
export interface RegisteredComponent {
  readonly kind: string;
  readonly type: string;
  readonly role: KindRole;
  /** True when the pair is not in the parser's catalogue (declared at registration). */
  readonly declared: boolean;
  readonly definition: ComponentDefinition<any>;
}

export interface ComponentRegistry {
  /** Registers an implementation (usually from `defineComponent`). Returns the registry, for chaining. */
  register(definition: ComponentDefinition<any>, options?: { readonly replace?: boolean }): ComponentRegistry;
  register(kind: string, type: string, factory: ComponentFactory<any>, options?: RegisterOptions): ComponentRegistry;
  /** The implementation for a pair (aliases resolved), or undefined. */
  get(kind: string, type: string): RegisteredComponent | undefined;
  has(kind: string, type: string): boolean;
  /** Everything registered, in registration order. */
  list(): readonly RegisteredComponent[];
  /** A copy to register more into without changing this one. */
  clone(): ComponentRegistry;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

class Registry implements ComponentRegistry {
  private readonly entries = new Map<string, RegisteredComponent>();

  register(
    first: ComponentDefinition<any> | string,
    second?: string | { readonly replace?: boolean },
    factory?: ComponentFactory<any>,
    options: RegisterOptions = {},
  ): ComponentRegistry {
    let definition: ComponentDefinition<any>;
    let replace: boolean;
    if (typeof first === 'string') {
      if (typeof second !== 'string' || typeof factory !== 'function') {
        throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'register(kind, type, factory) needs two strings and a function', {
          userError: false,
        });
      }
      definition = {
        kind: first,
        type: second,
        create: factory,
        ...(options.resultEvent === undefined ? {} : { resultEvent: options.resultEvent }),
        ...(options.acceptsStreams === undefined ? {} : { acceptsStreams: options.acceptsStreams }),
        ...(options.declare === undefined ? {} : { declare: options.declare }),
      };
      replace = options.replace ?? false;
    } else {
      definition = first;
      replace = (typeof second === 'object' && second?.replace) || false;
    }
    const entry = resolveEntry(definition);
    const key = `${entry.kind}/${entry.type}`;
    if (this.entries.has(key) && !replace) {
      throw new WoodworkRuntimeError('WW_RUNTIME_REGISTRY', `${entry.kind} ${entry.type} already has an implementation registered`, {
        hint: 'pass { replace: true } to register() to override it',
      });
    }
    this.entries.set(key, entry);
    return this;
  }

  get(kind: string, type: string): RegisteredComponent | undefined {
    const match = findComponentType(kind, type);
    return this.entries.get(`${kind}/${match?.type ?? type}`);
  }

  has(kind: string, type: string): boolean {
    return this.get(kind, type) !== undefined;
  }

  list(): readonly RegisteredComponent[] {
    return [...this.entries.values()];
  }

  clone(): ComponentRegistry {
    const copy = new Registry();
    for (const [key, entry] of this.entries) copy.entries.set(key, entry);
    return copy;
  }
}

function resolveEntry(definition: ComponentDefinition<any>): RegisteredComponent {
  if (typeof definition !== 'object' || definition === null || typeof definition.create !== 'function') {
    throw new WoodworkRuntimeError('WW_RUNTIME_REGISTRY', 'a component definition needs kind, type and a create function', {
      hint: 'build it with defineComponent({ kind, type, create })',
    });
  }
  const { kind, type } = definition;
  if (typeof kind !== 'string' || !NAME.test(kind) || typeof type !== 'string' || !NAME.test(type)) {
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_REGISTRY',
      `component kind and type must be names (letters, digits, _ and -); got ${JSON.stringify(kind)} ${JSON.stringify(type)}`,
    );
  }
  const match = findComponentType(kind, type);
  if (match) {
    return { kind: match.kind, type: match.type, role: match.kindSpec.role, declared: false, definition };
  }
  if (definition.declare === undefined) {
    const kindSpec = Object.hasOwn(catalogue.kinds, kind) ? catalogue.kinds[kind] : undefined;
    const known = kindSpec ? Object.keys(kindSpec.types).join(', ') : undefined;
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_REGISTRY',
      kindSpec
        ? `\`${kind} ${type}\` is not in the catalogue (the ${kind} types are ${known})`
        : `\`${kind}\` is not a kind in the catalogue`,
      { hint: 'to add a new component type, pass declare: { description, role, keys } with the definition' },
    );
  }
  const kindSpec = Object.hasOwn(catalogue.kinds, kind) ? catalogue.kinds[kind] : undefined;
  return { kind, type, role: definition.declare.role ?? kindSpec?.role ?? 'processor', declared: true, definition };
}

/** An empty registry: nothing runs until you register it. */
export function createEmptyRegistry(): ComponentRegistry {
  return new Registry();
}
