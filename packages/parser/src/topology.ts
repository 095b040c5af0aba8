/**
 * The topology: the validated, JSON-serialisable description of an agent system that `analyze()`
 * produces from a `.ww` file. It is what the runtime runs, what `woodwork build` packages and what
 * `woodwork validate --json` prints. It never contains the value of an environment variable, only
 * references to them (`{ "$env": "NAME" }`); `resolveEnv()` returns a resolved copy.
 */
import type { SourceLocation } from './location.js';

/** A bare name in the file: another component. */
export interface ReferenceValue {
  readonly $ref: string;
}

/** `$NAME`, `${NAME}` or `${NAME:-default}`. */
export interface EnvValue {
  readonly $env: string;
  readonly default?: string;
}

/** A string that interpolates variables, `"Bearer ${TOKEN}"`: text and variables, in order. */
export interface TemplateValue {
  readonly $template: readonly (string | EnvValue)[];
}

export type ConfigValue =
  | string
  | number
  | boolean
  | null
  | ReferenceValue
  | EnvValue
  | TemplateValue
  | readonly ConfigValue[]
  | { readonly [key: string]: ConfigValue };

/**
 * A pipe or hook, whichever of the three spellings was used: `"path::export"`,
 * `{ event, function }` or the classic `{ event, script_path, function_name }`.
 */
export interface PipeSpec {
  /** The event it applies to; may end in `*` (`agent.*`, `*`). `*` for the string spelling. */
  readonly event: string;
  /** The module path relative to the `.ww` file, normalised (`pipes/enhance.ts`). */
  readonly module: string;
  /** The exported function (`default` for a JS/TS module written without `::export`). */
  readonly export: string;
  readonly language: 'js' | 'ts' | 'python';
  readonly location: SourceLocation;
}

export type HookSpec = PipeSpec;

export interface DeploymentSpec {
  readonly mode: 'auto' | 'local' | 'container';
  readonly scaling: {
    readonly min_instances: number;
    readonly max_instances: number;
    readonly scale_metric: 'queue_depth' | 'cpu' | 'connections';
    readonly scale_threshold: number;
  };
  readonly resources: { readonly cpu?: string | number; readonly memory?: string | number };
  readonly session_affinity: boolean;
}

export interface MetricsSpec {
  readonly custom_metrics: readonly string[];
  readonly enterprise_enabled: boolean;
}

export interface TopologyComponent {
  readonly name: string;
  readonly kind: string;
  /** Canonical (aliases resolved: `anthropic` → `claude`). */
  readonly type: string;
  /**
   * The component's own keys (not `to`, `pipes`, `hooks`, `streaming`, `deployment`, `metrics`),
   * with the catalogue's defaults filled in for keys left out. Keys the catalogue does not know
   * are kept (a warning was reported).
   */
  readonly config: { readonly [key: string]: ConfigValue };
  /** Where its output goes: the declared `to`, or the default route. Empty: back to the session. */
  readonly to: readonly string[];
  readonly pipes: readonly PipeSpec[];
  readonly hooks: readonly HookSpec[];
  readonly streaming: boolean;
  readonly deployment: DeploymentSpec;
  readonly metrics: MetricsSpec;
  /** The `vm server` group that hosts it, or null when it runs on its own. */
  readonly group: string | null;
  readonly location: SourceLocation;
}

export interface TopologyBus {
  readonly name: string;
  readonly type: 'memory' | 'redis' | 'nats' | 'kafka';
  /** The URL (the type's default when left out); null for the in-memory bus. */
  readonly url: string | EnvValue | TemplateValue | null;
  readonly location: SourceLocation;
}

/** A `vm server` declaration: components that share one host. */
export interface TopologyGroup {
  readonly name: string;
  readonly type: string;
  readonly components: readonly string[];
  readonly deployment: DeploymentSpec;
  readonly location: SourceLocation;
}

export interface TopologyRoute {
  readonly from: string;
  /** null: the reply goes back to the session that asked. */
  readonly to: string | null;
  /** `declared` by a `to` key, or filled in by the `default` routing rule. */
  readonly origin: 'declared' | 'default';
}

/** One place an environment variable is used. */
export interface EnvUsage {
  /** JSON path from the topology root to the value (`["components", 0, "config", "api_key"]`). */
  readonly path: readonly (string | number)[];
  readonly default?: string;
  /** What the value must become once resolved; `resolveEnv` converts and checks it. */
  readonly expects: 'string' | 'number' | 'boolean' | 'any';
  readonly location: SourceLocation;
}

export interface EnvVariable {
  readonly name: string;
  readonly usages: readonly EnvUsage[];
}

export interface Topology {
  readonly version: 1;
  readonly file: string;
  /** In declaration order. Bus and `vm server` declarations are not components (see bus, groups). */
  readonly components: readonly TopologyComponent[];
  readonly bus: TopologyBus | null;
  readonly groups: readonly TopologyGroup[];
  readonly routes: readonly TopologyRoute[];
  /** Every environment variable the file uses, in order of first use. */
  readonly env: readonly EnvVariable[];
}
