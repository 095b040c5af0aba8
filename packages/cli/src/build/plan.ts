/**
 * The build plan: what `woodwork build` packages, worked out once from a topology so that the
 * Dockerfile, compose file, Kubernetes manifests and Helm chart cannot disagree. One image for the
 * project (every unit runs the same host code and the same pipes and hooks); one container per host
 * unit (`vm server` group or lone component), told which unit it is by `WOODWORK_COMPONENT`.
 */
import path from 'node:path';
import { usageFilter, type DeploymentSpec, type EnvValue, type TemplateValue, type Topology, type TopologyComponent } from '@woodwork/parser';
import { hostUnits } from '@woodwork/runtime/distributed';

export type BusType = 'redis' | 'nats' | 'kafka';

/** The port every host serves `/health`, `/ready` and `/metrics` on. */
export const HOST_PORT = 8080;

export interface BuildUnit {
  /** The unit's name in the file: what `WOODWORK_COMPONENT` says. */
  readonly unit: string;
  /** A DNS-1123 label for compose services and Kubernetes objects (`language_model` → `language-model`). */
  readonly name: string;
  readonly components: readonly string[];
  readonly deployment: DeploymentSpec;
  /** The gateway's container port when the unit runs an `input api`. */
  readonly apiPort: number | null;
  /** The `input api` the unit runs, if any: whose open connections `scale_metric = "connections"` counts. */
  readonly apiComponent: string | null;
  /**
   * The file's variables this unit's host resolves, in the file's order: those its components use
   * and those of the bus. Nothing of the other units: their secrets never reach this container.
   */
  readonly variables: readonly UnitVariable[];
}

export interface BuildVariable {
  readonly name: string;
  readonly default?: string;
  /**
   * The units (container names) the deployment must give it to: those whose components use it —
   * every unit when the file uses it outside components and the bus. Empty when only the bus, or
   * only components that run outside containers, use it.
   */
  readonly units: readonly string[];
}

/** A variable as one container gets it. */
export interface UnitVariable {
  readonly variable: BuildVariable;
  /** Where the unit uses it first (`main.ww:12:5`; for one from the bus, the file's first use), for messages. */
  readonly usedAt: string;
  /** Only the bus uses it in this unit: the container sets it to the bus it is given. */
  readonly fromBus: boolean;
}

export interface LeftOut {
  readonly unit: string;
  readonly why: string;
}

export interface BuildPlan {
  /** A DNS-1123 label from the project folder's name: compose project, Kubernetes app name, namespace prefix. */
  readonly project: string;
  readonly projectDir: string;
  /** The `.ww` file, relative to the project folder. */
  readonly wwFile: string;
  readonly units: readonly BuildUnit[];
  readonly leftOut: readonly LeftOut[];
  readonly bus: { readonly type: BusType };
  /** Whether sessions need a Redis apart from the bus (NATS and Kafka buses). */
  readonly separateSessionsRedis: boolean;
  readonly variables: readonly BuildVariable[];
  /** A pipe, hook or `api functions` module is Python: the image needs python3. */
  readonly needsPython: boolean;
  /** An `environment coding` or classic `core` tool runs commands: the image needs bubblewrap (and git for `repo_url`). */
  readonly needsSandbox: boolean;
  readonly image: string;
  readonly warnings: readonly string[];
}

export interface PlanOptions {
  readonly image?: string;
}

/** Lower-case letters, digits and dashes, starting with a letter, at most `max` long. */
export function dnsLabel(name: string, max = 63): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+/g, '-')
    .slice(0, max)
    .replace(/-+$/, '');
  return label === '' ? 'woodwork' : label;
}

function isEnvValue(value: unknown): value is EnvValue {
  return typeof value === 'object' && value !== null && typeof (value as EnvValue).$env === 'string';
}

function isTemplate(value: unknown): value is TemplateValue {
  return typeof value === 'object' && value !== null && Array.isArray((value as TemplateValue).$template);
}

/**
 * The port an `input api` listens on in its container: the file's number, or the default of the
 * variable that stands for it (`${PORT:-8000}`), else the gateway's 8000.
 */
function apiPortOf(component: TopologyComponent): number {
  const port = component.config.port;
  if (typeof port === 'number') return port;
  if (isEnvValue(port) && port.default !== undefined && /^\d+$/.test(port.default)) return Number(port.default);
  return 8000;
}

function deploymentOf(topology: Topology, unit: { name: string; components: readonly string[]; group: boolean }): DeploymentSpec {
  if (unit.group) {
    const group = topology.groups.find((candidate) => candidate.name === unit.name);
    if (group) return group.deployment;
  }
  return topology.components.find((component) => component.name === unit.components[0])!.deployment;
}

function location(topology: Topology, file: string, loc: { line: number; column: number }): string {
  return `${path.basename(file || topology.file)}:${loc.line}:${loc.column}`;
}

export function buildPlan(topology: Topology, projectDir: string, options: PlanOptions = {}): BuildPlan {
  const warnings: string[] = [];
  const project = dnsLabel(path.basename(projectDir));
  const declared = topology.bus?.type ?? 'none';
  const busType: BusType = declared === 'nats' || declared === 'kafka' ? declared : 'redis';
  if (declared === 'memory' || declared === 'none') {
    warnings.push(
      `${declared === 'none' ? 'the file declares no bus' : 'the file\'s bus is in-memory'}, which cannot connect containers: the build uses Redis (compose starts one; on Kubernetes set --bus or the chart's bus.url)`,
    );
  }

  const units: BuildUnit[] = [];
  const leftOut: LeftOut[] = [];
  const names = new Map<string, string>();
  for (const unit of hostUnits(topology)) {
    const members = unit.components.map((name) => topology.components.find((component) => component.name === name)!);
    const deployment = deploymentOf(topology, unit);
    if (deployment.mode === 'local') {
      leftOut.push({ unit: unit.name, why: 'its deployment mode is "local"' });
      continue;
    }
    const terminal = members.find((component) => component.kind === 'input' && component.type === 'command_line');
    if (terminal && deployment.mode !== 'container') {
      leftOut.push({ unit: unit.name, why: `\`${terminal.name}\` reads a terminal, which a container does not have (use \`input api\` to take input)` });
      continue;
    }
    const name = dnsLabel(unit.name);
    const clash = names.get(name);
    if (clash !== undefined) {
      throw new BuildError(
        `\`${unit.name}\` and \`${clash}\` both become \`${name}\` as container and Kubernetes names`,
        'rename one of them in the .ww file (names may hold lower-case letters, digits and dashes)',
      );
    }
    names.set(name, unit.name);
    const api = members.find((component) => component.kind === 'input' && component.type === 'api');
    units.push({ unit: unit.name, name, components: unit.components, deployment, apiPort: api ? apiPortOf(api) : null, apiComponent: api?.name ?? null, variables: [] });
  }
  if (units.length === 0) {
    throw new BuildError('nothing to put in a container: every component runs outside containers', 'give a component `deployment = { mode = "container" }`, or add an `input api`');
  }
  if (!units.some((unit) => unit.apiPort !== null)) {
    warnings.push('no container takes input: add an `input api` so clients can reach the topology');
  }

  // Per unit, what its host resolves (see resolveEnv's `components`): the variables of its own
  // components and everything outside components (the bus).
  const unitVariables = new Map<string, UnitVariable[]>(units.map((unit) => [unit.name, []]));
  const resolvedBy = units.map((unit) => usageFilter(topology, unit.components));
  const variables: BuildVariable[] = topology.env.map((variable) => {
    const first = variable.usages[0]!;
    const withDefault = variable.usages.find((usage) => usage.default !== undefined);
    // The bus's own usages are handled apart: containers set them to the bus they are given.
    const needing = units.map((unit, index) => ({ unit, usages: variable.usages.filter((usage) => usage.path[0] !== 'bus' && resolvedBy[index]!(usage)) }));
    const built: BuildVariable = {
      name: variable.name,
      ...(withDefault?.default !== undefined ? { default: withDefault.default } : {}),
      units: needing.filter(({ usages }) => usages.length > 0).map(({ unit }) => unit.name),
    };
    const onBus = variable.usages.some((usage) => usage.path[0] === 'bus');
    for (const { unit, usages } of needing) {
      const own = usages[0];
      if (own === undefined && !onBus) continue;
      const at = own ?? first;
      unitVariables.get(unit.name)!.push({ variable: built, usedAt: location(topology, at.location.file, at.location), fromBus: own === undefined });
    }
    return built;
  });
  const plannedUnits = units.map((unit) => ({ ...unit, variables: unitVariables.get(unit.name)! }));

  const needsPython = topology.components.some(
    (component) =>
      [...component.pipes, ...component.hooks].some((spec) => spec.language === 'python') ||
      (component.kind === 'api' && component.type === 'functions' && typeof component.config.path === 'string' && component.config.path.endsWith('.py')),
  );
  const needsSandbox = topology.components.some((component) => component.kind === 'environment' || component.kind === 'core');
  const busUrl = topology.bus?.url;
  if (isTemplate(busUrl)) warnings.push('the bus URL is a template; containers are given WOODWORK_BUS_URL instead');

  return {
    project,
    projectDir,
    wwFile: path.relative(projectDir, topology.file) || path.basename(topology.file),
    units: plannedUnits,
    leftOut,
    bus: { type: busType },
    separateSessionsRedis: busType !== 'redis',
    variables,
    needsPython,
    needsSandbox,
    image: options.image ?? `${project}:latest`,
    warnings,
  };
}

/** A mistake the user can fix: the message says what, the hint says how. */
export class BuildError extends Error {
  readonly code = 'WW_BUILD_INVALID';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

/** In-cluster (and compose) addresses of the brokers the build starts or expects. */
export const SERVICE_URLS: Record<BusType, string> = {
  redis: 'redis://redis:6379',
  nats: 'nats://nats:4222',
  kafka: 'kafka://kafka:9092',
};
