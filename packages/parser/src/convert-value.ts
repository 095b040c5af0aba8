/**
 * Checks a value from the syntax tree against the catalogue's description of its key and turns it
 * into topology JSON: references become `{ $ref }`, environment references `{ $env }` (recorded
 * with where they are used), maps get their defaults filled in. Every mismatch is reported and the
 * value dropped, so that analysis continues and reports everything in one pass.
 */
import type { EntryNode, EnvReferenceNode, MapNode, ReferenceNode, TemplateNode, ValueNode } from './ast.js';
import type { JsonValue, KeySpec, ValueSpec } from './catalogue.js';
import { describeNode, describeSpec } from './describe.js';
import { formatDuration, parseDuration } from './duration.js';
import type { Reporter } from './diagnostic.js';
import type { SourceLocation } from './location.js';
import { normalisePipeSpec } from './pipe-spec.js';
import { checkProjectPath, describePathProblem, type ProjectFolders } from './project-path.js';
import type { DeclaredComponent } from './resolve-declarations.js';
import { closest, didYouMean, listWords, withArticle } from './suggest.js';
import type { ConfigValue, EnvUsage, EnvValue, PipeSpec, TemplateValue } from './topology.js';

/** A converted value: topology JSON, or a normalised pipe/hook (only under `pipes` and `hooks`). */
export type Converted = ConfigValue | PipeSpec | readonly Converted[] | { readonly [key: string]: Converted };

/** `a` needs `b` built first (through `model`, `tools`, `memory` or `knowledge_base`). */
export interface ConstructionEdge {
  readonly from: string;
  readonly to: string;
  readonly key: string;
  readonly location: SourceLocation;
}

export interface ConversionContext {
  readonly declared: ReadonlyMap<string, DeclaredComponent>;
  readonly folders: ProjectFolders;
  readonly report: Reporter;
  readonly recordEnv: (name: string, usage: EnvUsage) => void;
  readonly recordEdge: (edge: ConstructionEdge) => void;
  /** A project file named by a `path` value, for the loader to check that it exists. */
  readonly recordFile: (file: { readonly path: string; readonly location: SourceLocation }) => void;
}

/**
 * Where a value sits: its key path (for the topology and for messages) and the rules it inherits
 * from its keys. Positions link to their parent, and paths and labels are only spelled out when a
 * message or an environment usage needs them: most values never do.
 */
export interface ValuePosition {
  /** The declaration the value belongs to. */
  readonly component: string;
  readonly parent?: ValuePosition;
  /** The key or list index under the parent; a root position has `path` instead. */
  readonly step?: string | number;
  /** The JSON path of a root position from the topology root (`["components", 0, "config"]`). */
  readonly path?: readonly (string | number)[];
  /** False under keys the build reads (`deployment`, `to`, …). */
  readonly allowEnv: boolean;
  /** The key that forbids environment references here, for the message. */
  readonly envBlockedBy?: ValuePosition;
  /** The construction key the value sits under, if any (references there are construction edges). */
  readonly constructionKey?: string;
}

/** The JSON path of a value from the topology root. */
function pathOf(at: ValuePosition): (string | number)[] {
  const steps: (string | number)[] = [];
  let position: ValuePosition | undefined = at;
  while (position && position.step !== undefined) {
    steps.push(position.step);
    position = position.parent;
  }
  return [...(position?.path ?? []), ...steps.reverse()];
}

/** The key path for messages: `deployment.scaling.min_instances`, `tools[1]`. */
function labelOf(at: ValuePosition): string {
  let label = '';
  for (let position: ValuePosition | undefined = at; position && position.step !== undefined; position = position.parent) {
    label = typeof position.step === 'number' ? `[${position.step}]${label}` : label === '' || label.startsWith('[') ? `${position.step}${label}` : `${position.step}.${label}`;
  }
  return label;
}

export interface MapOptions {
  /** How the map's owner is called in messages: "`llm openai` `a`", "`deployment.scaling`". */
  readonly owner: () => string;
  /** Where to point when a required key is missing. */
  readonly missingAt: () => SourceLocation;
  readonly requireOneOf?: readonly (readonly string[])[];
}

const SCALARS = new Set<ValueSpec['type']>(['string', 'path', 'number', 'boolean', 'enum', 'duration']);

export class ValueConverter {
  readonly #context: ConversionContext;

  constructor(context: ConversionContext) {
    this.#context = context;
  }

  convert(node: ValueNode, spec: ValueSpec | undefined, at: ValuePosition): Converted | undefined {
    if (node.type === 'Invalid') return undefined;
    if (node.type === 'EnvReference' || node.type === 'Template') return this.#convertEnv(node, spec, at);
    if (node.type === 'Reference') return this.#convertReference(node, spec, at);
    if (spec === undefined || spec.type === 'any') return this.#convertLoose(node, at);

    switch (spec.type) {
      case 'oneOf': {
        const option = spec.options.find((candidate) => fits(node, candidate));
        return option ? this.convert(node, option, at) : this.#wrongType(node, spec, at);
      }
      case 'pipe':
      case 'hook':
        return normalisePipeSpec(node, spec.type, this.#context.folders, this.#context.report);
      case 'string':
        return node.type === 'String' ? node.value : this.#wrongType(node, spec, at);
      case 'path':
        return node.type === 'String' ? this.#convertPath(node.value, node.location) : this.#wrongType(node, spec, at);
      case 'number':
        return node.type === 'Number' ? this.#checkNumber(node.value, node.raw, spec, node.location, at) : this.#wrongType(node, spec, at);
      case 'boolean':
        return node.type === 'Boolean' ? node.value : this.#wrongType(node, spec, at);
      case 'duration':
        return this.#checkDuration(node, spec, at);
      case 'enum': {
        if (node.type !== 'String') return this.#wrongType(node, spec, at);
        if (spec.values.includes(node.value)) return node.value;
        this.#context.report('WW218', `\`${labelOf(at)}\` must be ${listWords(spec.values)}, found "${node.value}"`, node.location, {
          hint: didYouMean(node.value, spec.values),
        });
        return undefined;
      }
      case 'reference':
        return this.#wrongType(node, spec, at);
      case 'list': {
        if (node.type !== 'List') return this.#wrongType(node, spec, at);
        const items: Converted[] = [];
        node.items.forEach((item, index) => {
          const value = this.convert(item, spec.items, this.#item(at, index));
          if (value !== undefined) items.push(value);
        });
        return items;
      }
      case 'map':
        return node.type === 'Map'
          ? this.convertMap(node, spec.keys, at, { owner: () => `\`${labelOf(at)}\``, missingAt: () => node.location })
          : this.#wrongType(node, spec, at);
      case 'record': {
        if (node.type !== 'Map') return this.#wrongType(node, spec, at);
        const result: Record<string, Converted> = {};
        for (const entry of this.#uniqueEntries(node, () => `\`${labelOf(at)}\``)) {
          if (entry.value.type === 'Null') continue;
          const value = this.convert(entry.value, spec.values, this.#child(at, entry.key.name, undefined));
          if (value !== undefined) result[entry.key.name] = value;
        }
        return result;
      }
    }
  }

  /**
   * A map with known keys: unknown keys are warnings (and kept), `key: null` means the key is left
   * out, required keys must be present, and defaults fill the rest. An unknown key that is a typo
   * of a missing required key is that one error, reported at the key (not at the map).
   */
  convertMap(node: MapNode, keys: Readonly<Record<string, KeySpec>>, at: ValuePosition, options: MapOptions): Record<string, Converted> {
    const result: Record<string, Converted> = {};
    const written = new Set<string>();
    // Unknown keys are reported once the missing ones are known, so a typo is reported only once.
    let unknown: EntryNode[] | undefined;
    for (const entry of this.#uniqueEntries(node, options.owner)) {
      const key = entry.key.name;
      const keySpec = Object.hasOwn(keys, key) ? keys[key] : undefined;
      if (!keySpec) (unknown ??= []).push(entry);
      if (entry.value.type === 'Null') continue;
      written.add(key);
      const value = this.convert(entry.value, keySpec?.value, this.#child(at, key, keySpec));
      if (value !== undefined) result[key] = value;
    }

    const known = unknown ? Object.keys(keys) : [];
    /** The unknown key that is a typo of one of `missing`, taken out of `unknown`, and the key it means. */
    const typoOf = (missing: readonly string[]): { entry: EntryNode; meant: string } | undefined => {
      for (const [index, entry] of (unknown ?? []).entries()) {
        const meant = closest(entry.key.name, known);
        if (meant !== undefined && missing.includes(meant)) {
          unknown!.splice(index, 1);
          return { entry, meant };
        }
      }
      return undefined;
    };

    for (const [key, keySpec] of fillableEntriesOf(keys)) {
      if (written.has(key)) continue;
      if (keySpec.required) {
        const typo = typoOf([key]);
        if (typo) {
          this.#context.report('WW208', `unknown key \`${typo.entry.key.name}\` for ${options.owner()}, which is missing the required key \`${key}\``, typo.entry.key.location, {
            hint: `did you mean \`${key}\`?`,
          });
          continue;
        }
        this.#context.report('WW208', `${options.owner()} is missing the required key \`${key}\``, options.missingAt(), {
          hint: `add \`${key}\` (${keySpec.description.charAt(0).toLowerCase()}${keySpec.description.slice(1).replace(/\.$/, '')})`,
        });
        continue;
      }
      const value = defaultValue(keySpec);
      if (value !== undefined) result[key] = value;
    }

    for (const group of options.requireOneOf ?? []) {
      if (!group.some((key) => written.has(key))) {
        const typo = typoOf(group);
        if (typo) {
          this.#context.report('WW208', `unknown key \`${typo.entry.key.name}\` for ${options.owner()}, which needs one of the keys ${listWords(group)}`, typo.entry.key.location, {
            hint: `did you mean \`${typo.meant}\`?`,
          });
          continue;
        }
        this.#context.report('WW208', `${options.owner()} needs one of the keys ${listWords(group)}`, options.missingAt());
      }
    }

    for (const entry of unknown ?? []) {
      const key = entry.key.name;
      this.#context.report('WW207', `unknown key \`${key}\` for ${options.owner()}`, entry.key.location, {
        hint:
          didYouMean(key, known) ??
          (known.length === 0 ? `${options.owner()} takes no keys` : known.length <= 12 ? `known keys: ${listWords(known, 'and')}` : undefined),
      });
    }
    return result;
  }

  /** The entries of a map, reporting and dropping repeated keys (the first one counts). */
  #uniqueEntries(node: MapNode, owner: () => string): readonly EntryNode[] {
    const entries = node.entries;
    // Maps are small: a quadratic scan allocates nothing when, as usual, no key repeats.
    let unique: EntryNode[] | undefined;
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index] as EntryNode;
      let previous: EntryNode | undefined;
      for (let before = 0; before < index && !previous; before++) {
        if ((entries[before] as EntryNode).key.name === entry.key.name) previous = entries[before];
      }
      if (previous) {
        unique ??= entries.slice(0, index) as EntryNode[];
        this.#context.report('WW217', `duplicate key \`${entry.key.name}\` in ${owner()}`, entry.key.location, {
          hint: 'remove one of them; only the first is used',
          related: [{ message: `\`${entry.key.name}\` is first set here`, location: previous.key.location }],
        });
      } else {
        unique?.push(entry);
      }
    }
    return unique ?? entries;
  }

  #child(at: ValuePosition, key: string, keySpec: KeySpec | undefined): ValuePosition {
    const envAllowed = keySpec?.env !== false;
    const child: { -readonly [K in keyof ValuePosition]: ValuePosition[K] } = {
      component: at.component,
      parent: at,
      step: key,
      allowEnv: at.allowEnv && envAllowed,
    };
    if (at.allowEnv && !envAllowed) child.envBlockedBy = child;
    else if (at.envBlockedBy) child.envBlockedBy = at.envBlockedBy;
    if (keySpec?.construction) child.constructionKey = key;
    else if (at.constructionKey) child.constructionKey = at.constructionKey;
    return child;
  }

  #item(at: ValuePosition, index: number): ValuePosition {
    return { ...at, parent: at, step: index };
  }

  /** A value for a key the catalogue does not describe: converted as written, references checked. */
  #convertLoose(node: ValueNode, at: ValuePosition): Converted | undefined {
    switch (node.type) {
      case 'String':
        return node.value;
      case 'Number':
      case 'Boolean':
        return node.value;
      case 'Null':
        return null;
      case 'List': {
        const items: Converted[] = [];
        node.items.forEach((item, index) => {
          const value = this.convert(item, undefined, this.#item(at, index));
          if (value !== undefined) items.push(value);
        });
        return items;
      }
      case 'Map': {
        const result: Record<string, Converted> = {};
        for (const entry of this.#uniqueEntries(node, () => `\`${labelOf(at)}\``)) {
          const value = this.convert(entry.value, undefined, this.#child(at, entry.key.name, undefined));
          if (value !== undefined) result[entry.key.name] = value;
        }
        return result;
      }
      default:
        return this.convert(node, undefined, at);
    }
  }

  #convertEnv(node: EnvReferenceNode | TemplateNode, spec: ValueSpec | undefined, at: ValuePosition): Converted | undefined {
    if (!at.allowEnv) {
      const blockedBy = labelOf(at.envBlockedBy ?? at);
      this.#context.report('WW209', `environment references are not allowed in \`${blockedBy}\``, node.location, {
        hint: `\`${blockedBy}\` is read when the topology is built, so write the value itself`,
      });
      return undefined;
    }
    let target = spec;
    if (target?.type === 'oneOf') target = target.options.find((option) => SCALARS.has(option.type) || option.type === 'any');
    if (target !== undefined && target.type !== 'any' && !SCALARS.has(target.type)) {
      return this.#wrongType(node, spec as ValueSpec, at);
    }
    const expects: EnvUsage['expects'] =
      target === undefined || target.type === 'any' ? 'any' : target.type === 'number' ? 'number' : target.type === 'boolean' ? 'boolean' : 'string';

    const path = pathOf(at);
    const record = (reference: EnvReferenceNode): EnvValue => {
      this.#context.recordEnv(reference.name, {
        path,
        ...(reference.default === undefined ? {} : { default: reference.default }),
        expects,
        location: reference.location,
      });
      return reference.default === undefined ? { $env: reference.name } : { $env: reference.name, default: reference.default };
    };

    if (node.type === 'EnvReference') return record(node);
    const parts = node.parts.map((part) => (typeof part === 'string' ? part : record(part)));
    // `"${NAME:-default}"` alone is the same as `${NAME:-default}`.
    if (parts.length === 1 && typeof parts[0] !== 'string') return parts[0] as EnvValue;
    const template: TemplateValue = { $template: parts };
    return template;
  }

  #convertReference(node: ReferenceNode, spec: ValueSpec | undefined, at: ValuePosition): Converted | undefined {
    const { declared, report } = this.#context;
    const target = declared.get(node.name);
    let referenceSpec = spec;
    if (referenceSpec?.type === 'oneOf') referenceSpec = referenceSpec.options.find((option) => option.type === 'reference') ?? referenceSpec;
    const wantsText = referenceSpec !== undefined && (SCALARS.has(referenceSpec.type) || referenceSpec.type === 'oneOf');

    if (!target) {
      const suggestion = didYouMean(node.name, declared.keys());
      report('WW210', `unknown reference \`${node.name}\`: no component has this name`, node.location, {
        hint: wantsText
          ? `a bare name refers to a component; to write the text, quote it: "${node.name}"`
          : (suggestion ?? 'declare it in this file (`name = kind type { … }`), or quote it to write text'),
      });
      return undefined;
    }
    if (referenceSpec !== undefined && referenceSpec.type !== 'reference' && referenceSpec.type !== 'any') {
      return this.#wrongType(node, spec as ValueSpec, at);
    }
    if (referenceSpec?.type === 'reference' && target.match) {
      const declaredAs = `\`${target.match.kind} ${target.match.type}\``;
      const related = [{ message: `\`${node.name}\` is declared here`, location: target.declaration.name.location }];
      if (referenceSpec.receiver && !target.match.kindSpec.receives) {
        report('WW213', `\`${node.name}\` cannot receive messages: it is ${withArticle(declaredAs)}`, node.location, {
          hint: '`to` can point at llm, agent, output and transform components',
          related,
        });
        return undefined;
      }
      if (referenceSpec.kinds && !referenceSpec.kinds.includes(target.match.kind)) {
        report('WW211', `\`${labelOf(at)}\` expects ${describeSpec(referenceSpec)}, but \`${node.name}\` is ${withArticle(declaredAs)}`, node.location, {
          related,
        });
        return undefined;
      }
    }
    if (at.constructionKey && target.match) {
      this.#context.recordEdge({ from: at.component, to: node.name, key: at.constructionKey, location: node.location });
    }
    return { $ref: node.name };
  }

  #convertPath(written: string, location: SourceLocation): string | undefined {
    const checked = checkProjectPath(written, this.#context.folders);
    if (checked.ok) {
      this.#context.recordFile({ path: checked.path, location });
      return checked.path;
    }
    this.#context.report(checked.reason === 'empty' ? 'WW218' : 'WW216', describePathProblem(written, checked.reason), location, {
      hint: 'keep files the project needs in the folder of the .ww file or below it',
    });
    return undefined;
  }

  #checkNumber(
    value: number,
    raw: string,
    spec: Extract<ValueSpec, { type: 'number' }>,
    location: SourceLocation,
    at: ValuePosition,
  ): number | undefined {
    const problem =
      spec.integer && !Number.isInteger(value)
        ? 'a whole number'
        : spec.min !== undefined && value < spec.min
          ? `at least ${spec.min}`
          : spec.max !== undefined && value > spec.max
            ? `at most ${spec.max}`
            : undefined;
    if (problem === undefined) return value;
    this.#context.report('WW218', `\`${labelOf(at)}\` must be ${problem}, found ${raw}`, location);
    return undefined;
  }

  #checkDuration(node: ValueNode, spec: Extract<ValueSpec, { type: 'duration' }>, at: ValuePosition): number | undefined {
    if (node.type !== 'String' && node.type !== 'Number' && !(spec.off && node.type === 'Boolean' && !node.value)) return this.#wrongType(node, spec, at);
    const written = node.type === 'Number' ? node.raw : node.type === 'String' ? `"${node.value}"` : 'false';
    const milliseconds = parseDuration(node.value, { off: spec.off === true });
    if (milliseconds === undefined) {
      this.#context.report('WW218', `\`${labelOf(at)}\` must be a duration, found ${written}`, node.location, {
        hint: `write milliseconds (30000) or a number with a unit: "500ms", "30s", "5m", "1h"${spec.off ? '; "off" turns it off' : ''}`,
      });
      return undefined;
    }
    const problem =
      milliseconds === 0 && spec.off
        ? undefined
        : spec.min !== undefined && milliseconds < spec.min
          ? `at least ${formatDuration(spec.min)}`
          : spec.max !== undefined && milliseconds > spec.max
            ? `at most ${formatDuration(spec.max)}`
            : undefined;
    if (problem === undefined) return milliseconds;
    this.#context.report('WW218', `\`${labelOf(at)}\` must be ${problem}, found ${written}`, node.location);
    return undefined;
  }

  #wrongType(node: ValueNode, spec: ValueSpec, at: ValuePosition): undefined {
    const label = labelOf(at);
    let hint: string | undefined;
    if (node.type === 'String' && this.#context.declared.has(node.value) && acceptsReference(spec)) {
      hint = `to refer to the component \`${node.value}\`, drop the quotes: ${label.replace(/\[\d+\]$/, '')}: ${node.value}`;
    } else if (node.type === 'Reference' && acceptsText(spec)) {
      hint = `\`${node.name}\` is a component; to write the text, quote it: "${node.name}"`;
    } else if (spec.type === 'list' && node.type !== 'List') {
      hint = 'wrap it in brackets: [ … ]';
    } else if (node.type === 'String' && spec.type === 'number' && /^-?\d/.test(node.value)) {
      hint = `drop the quotes: ${node.value}`;
    } else if (node.type === 'String' && spec.type === 'boolean' && /^(true|false)$/i.test(node.value)) {
      hint = `drop the quotes: ${node.value.toLowerCase()}`;
    }
    this.#context.report('WW209', `\`${label}\` expects ${describeSpec(spec)}, found ${describeNode(node)}`, node.location, { hint });
    return undefined;
  }
}

const fillableEntries = new WeakMap<Readonly<Record<string, KeySpec>>, [string, KeySpec][]>();

/**
 * The keys of a (frozen) table that a map lacking them still gets something for: a default, or a
 * report that it is required. Worked out once per table; the others need no look at all.
 */
function fillableEntriesOf(keys: Readonly<Record<string, KeySpec>>): [string, KeySpec][] {
  let entries = fillableEntries.get(keys);
  if (!entries) {
    entries = Object.entries(keys).filter(([, keySpec]) => keySpec.required || keySpec.default !== undefined);
    fillableEntries.set(keys, entries);
  }
  return entries;
}

/** Whether a value has the shape of a spec (used to pick among `oneOf` options). */
function fits(node: ValueNode, spec: ValueSpec): boolean {
  switch (spec.type) {
    case 'string':
    case 'path':
    case 'enum':
      return node.type === 'String';
    case 'number':
      return node.type === 'Number';
    case 'boolean':
      return node.type === 'Boolean';
    case 'duration':
      return node.type === 'String' || node.type === 'Number' || (spec.off === true && node.type === 'Boolean');
    case 'reference':
      return node.type === 'Reference';
    case 'list':
      return node.type === 'List';
    case 'map':
    case 'record':
      return node.type === 'Map';
    case 'pipe':
    case 'hook':
      return node.type === 'String' || node.type === 'Map';
    case 'oneOf':
      return spec.options.some((option) => fits(node, option));
    case 'any':
      return true;
  }
}

function acceptsReference(spec: ValueSpec): boolean {
  return spec.type === 'reference' || (spec.type === 'list' && spec.items.type === 'reference') || (spec.type === 'oneOf' && spec.options.some(acceptsReference));
}

function acceptsText(spec: ValueSpec): boolean {
  return SCALARS.has(spec.type) || (spec.type === 'oneOf' && spec.options.some(acceptsText));
}

/**
 * A key's default, with the defaults of a map's own keys filled in (`deployment.scaling.…`). The
 * filled-in value is worked out once per key (the catalogue is frozen) and copied for each use, as
 * the topology is the caller's to change; a default that is not an object needs no copy.
 */
function defaultValue(keySpec: KeySpec): Converted | undefined {
  if (keySpec.default === undefined) return undefined;
  const filled = filledDefault(keySpec);
  return typeof filled === 'object' && filled !== null ? copyJson(filled) : filled;
}

const filledDefaults = new WeakMap<KeySpec, JsonValue>();

function filledDefault(keySpec: KeySpec): JsonValue {
  let filled = filledDefaults.get(keySpec);
  if (filled !== undefined || keySpec.default === undefined) return filled as JsonValue;
  const value = copyJson(keySpec.default);
  if (keySpec.value.type === 'map' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(keySpec.value.keys)) {
      if (key in value || child.default === undefined) continue;
      value[key] = filledDefault(child);
    }
  }
  filled = value;
  filledDefaults.set(keySpec, filled);
  return filled;
}

/** A fresh copy of catalogue data (frozen) for the topology (which callers may change). */
function copyJson(value: JsonValue): JsonValue {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: { [key: string]: JsonValue } = {};
  for (const key of Object.keys(value)) copy[key] = copyJson(value[key] as JsonValue);
  return copy;
}
