/**
 * Host units: how a topology splits into processes. Every `vm server` group is one unit (its
 * components share a host); every component outside a group is a unit of its own. `woodwork up`
 * starts one process per unit, a generated Dockerfile one container per unit, and a host process
 * finds its components from `WOODWORK_COMPONENT` (a unit's name, or a component's name).
 *
 * Also here: loading the topology a host runs, from a `.ww` file or from the JSON `woodwork
 * validate --json` / `woodwork build` write, with environment references resolved — only those of
 * the host's own unit and of the bus, so a unit starts without the secrets of the others.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { formatDiagnostic, loadTopology, resolveEnv, type Diagnostic, type Topology } from '@woodwork/parser';
import { WoodworkRuntimeError } from '../errors.js';

/** One process of a distributed run: a `vm server` group, or one component on its own. */
export interface HostUnit {
  /** The group's name, or the component's. What `WOODWORK_COMPONENT` names. */
  readonly name: string;
  /** The components the unit's host runs, in declaration order. */
  readonly components: readonly string[];
  /** True for a `vm server` group. */
  readonly group: boolean;
}

/** Every unit of a topology: groups first where their first component is declared, in declaration order. */
export function hostUnits(topology: Topology): HostUnit[] {
  const units: HostUnit[] = [];
  const seenGroups = new Set<string>();
  for (const component of topology.components) {
    if (component.group === null) {
      units.push({ name: component.name, components: [component.name], group: false });
      continue;
    }
    if (seenGroups.has(component.group)) continue;
    seenGroups.add(component.group);
    const group = topology.groups.find((candidate) => candidate.name === component.group);
    const members = topology.components.filter((member) => member.group === component.group).map((member) => member.name);
    units.push({ name: group?.name ?? component.group, components: members, group: true });
  }
  return units;
}

/**
 * The unit `selector` names: a group, a component (its group when it has one, else itself), or a
 * comma-separated list of components (run together, like an ad-hoc group).
 */
export function resolveUnit(topology: Topology, selector: string): HostUnit {
  const wanted = selector
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const units = hostUnits(topology);
  const available = units.map((unit) => (unit.group ? `${unit.name} (group: ${unit.components.join(', ')})` : unit.name)).join(', ');
  if (wanted.length === 0) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'WOODWORK_COMPONENT is empty: this host does not know which component to run', {
      hint: `set it to one of: ${available}`,
    });
  }
  if (wanted.length === 1) {
    const unit = units.find((candidate) => candidate.name === wanted[0]);
    if (unit) return unit;
    const owner = units.find((candidate) => candidate.components.includes(wanted[0]!));
    if (owner) return owner;
  }
  const unknown = wanted.filter((name) => !topology.components.some((component) => component.name === name));
  if (unknown.length > 0) {
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_INVALID_TOPOLOGY',
      `WOODWORK_COMPONENT names ${unknown.map((name) => `\`${name}\``).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not in ${topology.file}`,
      { hint: `set it to one of: ${available}` },
    );
  }
  return { name: wanted.join(','), components: wanted, group: false };
}

function diagnosticsError(
  file: string,
  diagnostics: readonly Diagnostic[],
  sources: Readonly<Record<string, string>> | string | undefined,
  scope?: { readonly unit: HostUnit; readonly topology: Topology },
): WoodworkRuntimeError {
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
  const shown = errors.map((diagnostic) => formatDiagnostic(diagnostic, { source: sources, color: false })).join('\n\n');
  const count = `${errors.length} problem${errors.length === 1 ? '' : 's'}`;
  const fix = `fix ${errors.length === 1 ? 'it' : 'them'} and start again; \`woodwork validate ${file}\` shows the same list`;
  if (!scope) return new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `${file} cannot run (${count}):\n\n${shown}`, { hint: fix });
  const { unit, topology } = scope;
  const missing = [...new Set(errors.filter((diagnostic) => diagnostic.code === 'WW301').flatMap((diagnostic) => variableAt(topology, diagnostic)))];
  if (missing.length === 0) {
    return new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `the host of \`${unit.name}\` cannot run ${file} (${count}):\n\n${shown}`, { hint: fix });
  }
  const names = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)!}`;
  return new WoodworkRuntimeError(
    'WW_RUNTIME_INVALID_TOPOLOGY',
    `the host of \`${unit.name}\` needs ${names}, which ${missing.length === 1 ? 'is' : 'are'} not set (${file}, ${count}):\n\n${shown}`,
    {
      hint: `set ${missing.length === 1 ? 'it' : 'them'} in this host's environment (or in .env beside the .ww file); a host needs only the variables of its own components (${unit.components.join(', ')}) and of the bus`,
    },
  );
}

/** The variable a WW301 diagnostic is about: the one used first at its place. */
function variableAt(topology: Topology, diagnostic: Diagnostic): string[] {
  const variable = topology.env.find((candidate) =>
    candidate.usages.some((usage) => usage.location.file === diagnostic.file && usage.location.line === diagnostic.line && usage.location.column === diagnostic.column),
  );
  return variable ? [variable.name] : [];
}

export interface LoadHostTopologyOptions {
  /**
   * What the host runs (`WOODWORK_COMPONENT`: a unit, a component, or `a,b`). Given, only the
   * variables of that unit's components and of the bus are resolved and required: the secrets of
   * the other units stay references, and the host starts without them. Default: every variable.
   */
  readonly unit?: string;
}

/**
 * Loads the topology a host runs: a `.ww` file (with the `.env` beside it) or a topology JSON
 * file, environment references resolved from `env` — with `unit`, only that unit's (and the
 * bus's). Throws a user error naming the file and what is wrong with it (with `unit`, the unit and
 * the variables it lacks).
 */
export async function loadHostTopology(file: string, env: Readonly<Record<string, string | undefined>>, options: LoadHostTopologyOptions = {}): Promise<Topology> {
  const absolute = path.resolve(file);
  if (absolute.endsWith('.json')) {
    const candidate = await readTopologyJson(absolute);
    const unit = options.unit === undefined ? undefined : resolveUnit(candidate, options.unit);
    const resolved = resolveEnv(candidate, { env, mode: 'run', components: unit?.components });
    if (!resolved.resolved) throw diagnosticsError(absolute, resolved.diagnostics, undefined, unit && { unit, topology: candidate });
    return resolved.resolved;
  }
  if (options.unit === undefined) {
    const result = await loadTopology(absolute, { mode: 'run', env });
    if (!result.resolved) throw diagnosticsError(absolute, result.diagnostics, result.sources);
    return result.resolved;
  }
  // The unit comes from the file, so read it first without resolving anything (validate mode: a
  // missing variable is a warning), then resolve what the unit's components use.
  const analysed = await loadTopology(absolute, { mode: 'validate', env });
  if (!analysed.topology) throw diagnosticsError(absolute, analysed.diagnostics, analysed.sources);
  const unit = resolveUnit(analysed.topology, options.unit);
  const result = await loadTopology(absolute, { mode: 'run', env, components: unit.components });
  if (!result.resolved) throw diagnosticsError(absolute, result.diagnostics, result.sources, { unit, topology: result.topology ?? analysed.topology });
  return result.resolved;
}

async function readTopologyJson(absolute: string): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `cannot read the topology ${absolute}: ${(error as Error).message}`, {
      cause: error,
      hint: 'WOODWORK_TOPOLOGY must name a .ww file or a topology JSON file (`woodwork validate --json` prints one)',
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${absolute} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      hint: 'regenerate it with `woodwork validate --json`',
    });
  }
  // `woodwork validate --json` wraps the topology: { ok, file, topology, diagnostics }.
  const candidate = (parsed as { topology?: unknown }).topology ?? parsed;
  if (!isTopology(candidate)) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${absolute} does not hold a topology (no \`version: 1\` and \`components\`)`, {
      hint: 'regenerate it with `woodwork validate --json`',
    });
  }
  return candidate;
}

function isTopology(value: unknown): value is Topology {
  const record = value as Partial<Topology> | null;
  return typeof record === 'object' && record !== null && record.version === 1 && Array.isArray(record.components) && Array.isArray(record.groups);
}
