/**
 * A component's config as its implementation sees it: environment references resolved (when the
 * topology still has them) and references to other components turned into `ComponentReference`s.
 * Every missing environment variable is reported at once, with where it is used.
 */
import type { ConfigValue, Topology, TopologyComponent } from '@woodwork/parser';
import { WoodworkRuntimeError, type ErrorLocation } from './errors.js';
import type { ComponentReference } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;

interface EnvLike {
  readonly $env: string;
  readonly default?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEnv(value: unknown): value is EnvLike {
  return isObject(value) && typeof value.$env === 'string' && Object.keys(value).every((key) => key === '$env' || key === 'default');
}

function isRef(value: unknown): value is { $ref: string } {
  return isObject(value) && typeof value.$ref === 'string' && Object.keys(value).length === 1;
}

function isTemplate(value: unknown): value is { $template: readonly (string | EnvLike)[] } {
  return isObject(value) && Array.isArray(value.$template) && Object.keys(value).length === 1;
}

/** Where a variable is used, from the topology's `env` table (for error messages). */
function usageOf(topology: Topology, name: string): ErrorLocation | undefined {
  const usage = topology.env.find((variable) => variable.name === name)?.usages[0];
  return usage?.location;
}

export interface ResolveOptions {
  readonly env: Env;
  /** Called for `{ $ref }`; without it references stay as they are. */
  readonly reference?: (name: string) => ComponentReference;
}

/**
 * Resolves one component's config. Throws WW_RUNTIME_INVALID_TOPOLOGY listing every unset variable
 * (with its place) when some have no value and no default.
 */
export function resolveConfig(component: TopologyComponent, topology: Topology, options: ResolveOptions): Record<string, unknown> {
  const missing = new Set<string>();
  const envValue = (value: EnvLike): string | undefined => {
    const found = options.env[value.$env];
    if (found !== undefined && found !== '') return found;
    if (value.default !== undefined) return value.default;
    missing.add(value.$env);
    return undefined;
  };
  const walk = (value: ConfigValue | unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (isRef(value)) return options.reference ? options.reference(value.$ref) : value;
    if (isEnv(value)) return envValue(value);
    if (isTemplate(value)) return value.$template.map((part) => (typeof part === 'string' ? part : (envValue(part) ?? ''))).join('');
    if (isObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = walk(item);
      return out;
    }
    return value;
  };
  const config = walk(component.config) as Record<string, unknown>;
  if (missing.size > 0) {
    const problems = [...missing].map((name) => {
      const location = usageOf(topology, name);
      return new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `environment variable ${name} is not set (used by component \`${component.name}\`)`, {
        hint: `set ${name} in the environment or in a .env file beside the .ww file`,
        component: component.name,
        ...(location ? { location } : {}),
      });
    });
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_INVALID_TOPOLOGY',
      `${problems.length === 1 ? 'an environment variable is' : `${problems.length} environment variables are`} not set: ${[...missing].join(', ')}`,
      { problems, component: component.name, hint: 'set them in the environment or in a .env file beside the .ww file' },
    );
  }
  return config;
}

/**
 * The config as a referenced component's caller sees it: env resolved, its own references kept as
 * `{ $ref }`. A callee this runtime does not host (`hosted: false`, another process runs it) is
 * not resolved here: its variables are that process's, so its config is as the topology holds it
 * (a distributed host's topology keeps the other units' references as `{ $env }`).
 */
export function calleeConfig(component: TopologyComponent, topology: Topology, env: Env, hosted = true): Readonly<Record<string, unknown>> {
  if (!hosted) return Object.freeze({ ...component.config });
  try {
    return Object.freeze(resolveConfig(component, topology, { env }));
  } catch {
    return Object.freeze({ ...component.config });
  }
}
