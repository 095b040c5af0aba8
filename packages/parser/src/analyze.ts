/**
 * `analyze()`: syntax tree → topology. Resolves every declaration against the catalogue, checks and
 * converts its keys, resolves references, fills defaults and default routes, normalises pipes and
 * hooks, and finds construction cycles. Reports every problem it finds in one pass; the topology it
 * returns is complete only when no error was reported.
 */
import path from 'node:path';
import type { DeclarationNode, EntryNode, FileNode, MapNode } from './ast.js';
import { catalogue, componentKeys, type ComponentTypeMatch } from './catalogue.js';
import { placeOf, remember, replay, type AnalysisCache } from './analysis-cache.js';
import { ValueConverter, type ConstructionEdge, type ConversionContext, type Converted, type ValuePosition } from './convert-value.js';
import { createDiagnostic, sortDiagnostics, type Diagnostic, type Reporter } from './diagnostic.js';
import { reportConstructionCycles } from './construction-cycles.js';
import { WoodworkParserError } from './errors.js';
import { valueAtPath } from './json-path.js';
import type { SourceLocation } from './location.js';
import type { ProjectFolders } from './project-path.js';
import { resolveDeclarations, type DeclaredComponent } from './resolve-declarations.js';
import { computeRoutes, type RoutingComponent } from './routes.js';
import type {
  ConfigValue,
  DeploymentSpec,
  EnvUsage,
  EnvVariable,
  MetricsSpec,
  PipeSpec,
  Topology,
  TopologyBus,
  TopologyComponent,
  TopologyGroup,
} from './topology.js';

export interface AnalyzeOptions {
  /** The file name for locations (default: the one given to `parse`). */
  readonly file?: string;
  /**
   * The project folder that pipe, hook and module paths must stay inside (default: the folder of
   * `file`). Paths are always relative to the `.ww` file.
   */
  readonly projectRoot?: string;
}

export interface AnalyzeResult {
  /** Always present; complete and safe to run only when `diagnostics` has no error. */
  readonly topology: Topology;
  readonly diagnostics: Diagnostic[];
}

/** A project file the topology names (a pipe module, a tool module, a prompt file). */
export interface FileReference {
  /** Relative to the `.ww` file, normalised. */
  readonly path: string;
  readonly location: SourceLocation;
}

const COMMON_KEYS = new Set(['to', 'pipes', 'hooks', 'streaming', 'deployment', 'metrics']);

export function analyze(ast: FileNode, options: AnalyzeOptions = {}): AnalyzeResult {
  const { topology, diagnostics } = analyzeWithFiles(ast, options);
  return { topology, diagnostics };
}

/**
 * `analyze()` plus the project files the topology names, which `loadTopology` checks exist. With
 * `cache`, components whose declaration node is unchanged since the last analysis with that cache
 * are not converted again (see analysis-cache.ts); the answer is the same.
 */
export function analyzeWithFiles(ast: FileNode, options: AnalyzeOptions = {}, cache?: AnalysisCache): AnalyzeResult & { readonly files: FileReference[] } {
  if (typeof ast !== 'object' || ast === null || ast.type !== 'File' || !Array.isArray(ast.declarations)) {
    throw new WoodworkParserError('INVALID_ARGUMENT', 'analyze() expects the `ast` returned by parse()');
  }
  const file = options.file ?? ast.file;
  const baseDir = path.dirname(file);
  const folders: ProjectFolders = { baseDir, root: options.projectRoot ?? baseDir };

  const diagnostics: Diagnostic[] = [];
  const report: Reporter = (code, message, location, details) => diagnostics.push(createDiagnostic(code, message, location, details));

  const declared = resolveDeclarations(ast.declarations, report);
  const envUsages = new Map<string, EnvUsage[]>();
  const recordEnv = (name: string, usage: EnvUsage) => {
    const list = envUsages.get(name);
    if (list) list.push(usage);
    else envUsages.set(name, [usage]);
  };
  const edges: ConstructionEdge[] = [];
  const files: FileReference[] = [];
  const contextFor = (record: boolean): ConversionContext => ({
    declared,
    folders,
    report,
    recordEnv: record ? recordEnv : () => {},
    recordEdge: (edge) => edges.push(edge),
    recordFile: (file) => files.push(file),
  });
  const converterFor = (record: boolean) => new ValueConverter(contextFor(record));
  let names: string | undefined;
  const namesOf = () => (names ??= [...declared.keys()].join('\n'));

  const components: Omit<TopologyComponent, 'to' | 'group'>[] = [];
  const groups: TopologyGroup[] = [];
  const routing: RoutingComponent[] = [];
  let bus: { topology: TopologyBus; declaration: DeclarationNode } | undefined;
  const groupOf = new Map<string, { group: string; location: SourceLocation }>();

  for (const component of declared.values()) {
    const { match, declaration } = component;
    if (!match) continue;
    if (match.kind === 'bus') {
      if (bus) {
        report('WW214', `more than one bus: \`${component.name}\` is a second \`bus\``, declaration.name.location, {
          hint: 'a file has at most one bus; remove one (WOODWORK_BUS_URL picks another at run time)',
          related: [{ message: `the bus \`${bus.topology.name}\` is declared here`, location: bus.declaration.name.location }],
        });
      }
      // A second bus is still checked, but only the first one's environment uses are recorded.
      const converted = convertBus(component, match, converterFor(!bus));
      bus ??= { declaration, topology: converted };
    } else if (match.kind === 'vm') {
      groups.push(convertGroup(component, match, groups.length, converterFor(false), declared, groupOf, report));
    } else {
      const index = components.length;
      const convert = (context: ConversionContext, reporter: Reporter) => convertComponent(component, match, index, new ValueConverter(context), reporter);
      let result: ReturnType<typeof convertComponent> | undefined;
      if (cache) {
        const place = placeOf(declaration, index, file, folders);
        const context = contextFor(true);
        result =
          replay(cache, declaration, place, declared, namesOf, context, report, moveConverted) ??
          remember(cache, declaration, place, declared, namesOf, context, report, convert);
      } else {
        result = convert(contextFor(true), report);
      }
      const { converted, declaredTo } = result;
      components.push(converted);
      routing.push({ name: component.name, kind: match.kind, role: match.kindSpec.role, declaredTo, location: declaration.name.location });
    }
  }

  reportConstructionCycles([...declared.keys()], edges, report);

  const builtOn = new Set(edges.map((edge) => edge.to));
  const { routes, targets } = computeRoutes(routing, builtOn, report, { receiverLeftOut: [...declared.values()].some(couldHaveReceived) });
  const finished: TopologyComponent[] = components.map((component) => ({
    name: component.name,
    kind: component.kind,
    type: component.type,
    config: component.config,
    to: targets.get(component.name) ?? [],
    pipes: component.pipes,
    hooks: component.hooks,
    streaming: component.streaming,
    deployment: component.deployment,
    metrics: component.metrics,
    group: groupOf.get(component.name)?.group ?? null,
    location: component.location,
  }));

  const topology: Topology = {
    version: 1,
    file,
    components: finished,
    bus: bus?.topology ?? null,
    groups,
    routes,
    env: [],
  };
  for (const component of finished) {
    for (const spec of component.pipes) files.push({ path: spec.module, location: spec.location });
    for (const spec of component.hooks) files.push({ path: spec.module, location: spec.location });
  }
  return {
    topology: { ...topology, env: keepUsagesInTopology(topology, envUsages) },
    diagnostics: sortDiagnostics(diagnostics),
    files,
  };
}

/**
 * Whether a declaration left out after a reported problem (an unknown or unsupported kind or
 * type) might have been where messages go: then "nowhere to send messages" is only a consequence
 * of that problem, and not reported again.
 */
function couldHaveReceived(component: DeclaredComponent): boolean {
  if (component.match) return false;
  const kind = component.declaration.kind?.name;
  return kind === undefined || !Object.hasOwn(catalogue.kinds, kind) || catalogue.kinds[kind]!.receives;
}

function owner(component: DeclaredComponent, match: ComponentTypeMatch): () => string {
  return () => `\`${match.kind} ${match.type}\` \`${component.name}\``;
}

function convertBus(component: DeclaredComponent, match: ComponentTypeMatch, converter: ValueConverter): TopologyBus {
  const { declaration } = component;
  const converted = converter.convertMap(declaration.body, match.typeSpec.keys, position(component.name, ['bus']), {
    owner: owner(component, match),
    missingAt: () => header(declaration),
  });
  return {
    name: component.name,
    type: match.type as TopologyBus['type'],
    url: (converted.url ?? null) as TopologyBus['url'],
    location: declaration.location,
  };
}

/** A `vm server` group; each component may belong to one group only (`groupOf` records who has it). */
function convertGroup(
  component: DeclaredComponent,
  match: ComponentTypeMatch,
  index: number,
  converter: ValueConverter,
  declared: ReadonlyMap<string, DeclaredComponent>,
  groupOf: Map<string, { group: string; location: SourceLocation }>,
  report: Reporter,
): TopologyGroup {
  const { declaration } = component;
  const converted = converter.convertMap(declaration.body, match.typeSpec.keys, position(component.name, ['groups', index]), {
    owner: owner(component, match),
    missingAt: () => header(declaration),
  });
  const membersNode = findEntry(declaration.body, 'components')?.value;
  const occurrences = new Map<string, number>();
  const members: string[] = [];
  for (const member of referencedNames(converted.components)) {
    const occurrence = occurrences.get(member) ?? 0;
    occurrences.set(member, occurrence + 1);
    const at = locationOfReference(membersNode, member, occurrence) ?? declaration.name.location;
    const target = declared.get(member)?.match;
    if (target && !target.kindSpec.acceptsCommonKeys) {
      report('WW211', `a \`vm server\` group runs components; \`${member}\` is a \`${target.kind} ${target.type}\``, at);
      continue;
    }
    const previous = groupOf.get(member);
    if (previous) {
      const message =
        previous.group === component.name
          ? `\`${member}\` is listed twice in \`${component.name}\``
          : `\`${member}\` is already in the group \`${previous.group}\`; a component runs in one host`;
      report('WW219', message, at, { related: [{ message: `\`${member}\` is first listed here`, location: previous.location }] });
      continue;
    }
    groupOf.set(member, { group: component.name, location: at });
    members.push(member);
  }
  return {
    name: component.name,
    type: match.type,
    components: members,
    deployment: toDeployment(converted.deployment, declaration.body, report),
    location: declaration.location,
  };
}

function position(component: string, jsonPath: (string | number)[]): ValuePosition {
  return { component, path: jsonPath, allowEnv: true };
}

function convertComponent(
  component: DeclaredComponent,
  match: ComponentTypeMatch,
  index: number,
  converter: ValueConverter,
  report: Reporter,
): { converted: Omit<TopologyComponent, 'to' | 'group'>; declaredTo: string[] | undefined | null } {
  const { declaration } = component;
  const converted = converter.convertMap(declaration.body, componentKeys(match), position(component.name, ['components', index, 'config']), {
    owner: owner(component, match),
    missingAt: () => header(declaration),
    ...(match.typeSpec.requireOneOf ? { requireOneOf: match.typeSpec.requireOneOf } : {}),
  });

  const config: Record<string, ConfigValue> = {};
  for (const key in converted) {
    if (!COMMON_KEYS.has(key)) config[key] = converted[key] as ConfigValue;
  }
  // `to` not written (or `to: null`): default routing; written but invalid (reported): no routes.
  const toEntry = findEntry(declaration.body, 'to');
  const declaredTo = toEntry === undefined || toEntry.value.type === 'Null' ? undefined : 'to' in converted ? referencedNames(converted.to) : null;
  return {
    declaredTo,
    converted: {
      name: component.name,
      kind: match.kind,
      type: match.type,
      config,
      pipes: (converted.pipes ?? []) as PipeSpec[],
      hooks: (converted.hooks ?? []) as PipeSpec[],
      streaming: converted.streaming === true,
      deployment: toDeployment(converted.deployment, declaration.body, report),
      metrics: toMetrics(converted.metrics),
      location: declaration.location,
    },
  };
}

/** A remembered conversion for a declaration that moved: its places are the only thing that changes. */
function moveConverted(
  result: ReturnType<typeof convertComponent>,
  move: (location: SourceLocation) => SourceLocation,
): ReturnType<typeof convertComponent> {
  const { converted } = result;
  return {
    declaredTo: result.declaredTo,
    converted: {
      ...converted,
      pipes: converted.pipes.map((spec) => ({ ...spec, location: move(spec.location) })),
      hooks: converted.hooks.map((spec) => ({ ...spec, location: move(spec.location) })),
      location: move(converted.location),
    },
  };
}

/** `deployment` as converted (defaults filled), typed; defaults alone when it was invalid. */
function toDeployment(value: Converted | undefined, body: MapNode, report: Reporter): DeploymentSpec {
  const deployment = asRecord(value);
  const scaling = asRecord(deployment.scaling);
  const resources = asRecord(deployment.resources);
  const minInstances = typeof scaling.min_instances === 'number' ? scaling.min_instances : 1;
  let maxInstances = typeof scaling.max_instances === 'number' ? scaling.max_instances : Math.max(minInstances, 1);
  if (maxInstances < minInstances) {
    const at = findEntry(body, 'deployment', 'scaling', 'max_instances') ?? findEntry(body, 'deployment');
    if (at) {
      report('WW218', `\`deployment.scaling.max_instances\` (${maxInstances}) is less than \`min_instances\` (${minInstances})`, at.value.location, {
        hint: 'raise max_instances or lower min_instances',
      });
    }
    maxInstances = minInstances;
  }
  const typedResources: { cpu?: string | number; memory?: string | number } = {};
  if (typeof resources.cpu === 'string' || typeof resources.cpu === 'number') typedResources.cpu = resources.cpu;
  if (typeof resources.memory === 'string' || typeof resources.memory === 'number') typedResources.memory = resources.memory;
  return {
    mode: (typeof deployment.mode === 'string' ? deployment.mode : 'auto') as DeploymentSpec['mode'],
    scaling: {
      min_instances: minInstances,
      max_instances: maxInstances,
      scale_metric: (typeof scaling.scale_metric === 'string' ? scaling.scale_metric : 'queue_depth') as DeploymentSpec['scaling']['scale_metric'],
      scale_threshold: typeof scaling.scale_threshold === 'number' ? scaling.scale_threshold : 5,
    },
    resources: typedResources,
    session_affinity: deployment.session_affinity === true,
  };
}

function toMetrics(value: Converted | undefined): MetricsSpec {
  const metrics = asRecord(value);
  const names = Array.isArray(metrics.custom_metrics) ? metrics.custom_metrics.filter((name): name is string => typeof name === 'string') : [];
  return { custom_metrics: names, enterprise_enabled: metrics.enterprise_enabled === true };
}

function asRecord(value: Converted | undefined): Record<string, Converted> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, Converted>) : {};
}

/** The names in a converted `{ $ref }` or list of them. */
function referencedNames(value: Converted | undefined): string[] {
  const items = Array.isArray(value) ? (value as Converted[]) : value === undefined ? [] : [value];
  return items.flatMap((item) => (typeof item === 'object' && item !== null && '$ref' in item ? [String(item.$ref)] : []));
}

function findEntry(map: MapNode, ...keys: string[]): EntryNode | undefined {
  let current: MapNode | undefined = map;
  let entry: EntryNode | undefined;
  for (const key of keys) {
    if (!current) return undefined;
    entry = current.entries.find((candidate) => candidate.key.name === key);
    if (!entry) return undefined;
    current = entry.value.type === 'Map' ? entry.value : undefined;
  }
  return entry;
}

/** Where the n-th (0-based) reference to `name` in a list (or a single reference) is written. */
function locationOfReference(node: EntryNode['value'] | undefined, name: string, occurrence: number): SourceLocation | undefined {
  if (!node) return undefined;
  if (node.type === 'Reference') return node.name === name ? node.location : undefined;
  if (node.type === 'List') return node.items.filter((item) => item.type === 'Reference' && item.name === name)[occurrence]?.location;
  return undefined;
}

/** From the name of a declaration through its type: where "missing key" problems point. */
function header(declaration: DeclarationNode): SourceLocation {
  const end = declaration.componentType.location;
  return { ...declaration.name.location, endLine: end.endLine, endColumn: end.endColumn, endOffset: end.endOffset };
}

/**
 * The environment variables, keeping only uses whose value made it into the topology (a value
 * under an unknown bus key, or one that failed its check, is not there and needs no variable).
 */
function keepUsagesInTopology(topology: Topology, usages: ReadonlyMap<string, readonly EnvUsage[]>): EnvVariable[] {
  const variables: EnvVariable[] = [];
  for (const [name, list] of usages) {
    const kept = list.filter((usage) => isEnvValue(valueAtPath(topology, usage.path)));
    if (kept.length > 0) variables.push({ name, usages: kept });
  }
  return variables;
}

function isEnvValue(value: unknown): boolean {
  return typeof value === 'object' && value !== null && ('$env' in value || '$template' in value);
}
