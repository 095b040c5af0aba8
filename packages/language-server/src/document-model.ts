/**
 * One `.ww` document as the editor features see it: the parser's syntax tree and topology for one
 * version of the text, and the questions every feature asks of them (what is at this offset, which
 * declaration is this name, which catalogue entry describes this key). Built on demand, once per
 * version: typing only pays for diagnostics, a hover or a completion pays for this.
 */
import {
  analyze,
  componentKeys,
  findComponentType,
  parse,
  type ComponentTypeMatch,
  type DeclarationNode,
  type EntryNode,
  type FileNode,
  type IdentifierNode,
  type KeySpec,
  type ListNode,
  type MapNode,
  type ReferenceNode,
  type Topology,
  type ValueNode,
  type ValueSpec,
} from '@woodwork/parser';

/** The keys of a pipe or hook written as a map; the catalogue describes pipes as one value type. */
const PIPE_MAP_KEYS: Readonly<Record<string, KeySpec>> = {
  event: { value: { type: 'string' }, default: '*', description: 'The event it applies to; may end in `*` (`"agent.*"`, `"*"`).' },
  function: { value: { type: 'string' }, description: 'The function to run: `"file.ts::exportName"`, relative to the .ww file.' },
  script_path: { value: { type: 'path' }, description: 'Classic spelling: the module file (with `function_name`).' },
  function_name: { value: { type: 'string' }, description: 'Classic spelling: the function in `script_path`.' },
};

/** A map the cursor is in: the declaration's body or a map nested in it (`deployment`, `scaling`). */
export interface MapPlace {
  readonly declaration: DeclarationNode;
  readonly map: MapNode;
  /** The keys this map accepts, when the catalogue knows them. */
  readonly accepts: Readonly<Record<string, KeySpec>> | undefined;
}

/** What sits under an offset, for hover, definition and rename. */
export type Target =
  | { readonly type: 'name'; readonly declaration: DeclarationNode; readonly node: IdentifierNode }
  | { readonly type: 'kind'; readonly declaration: DeclarationNode; readonly node: IdentifierNode }
  | { readonly type: 'component-type'; readonly declaration: DeclarationNode; readonly node: IdentifierNode }
  | { readonly type: 'key'; readonly place: MapPlace; readonly entry: EntryNode; readonly spec: KeySpec | undefined }
  | { readonly type: 'reference'; readonly node: ReferenceNode };

export class DocumentModel {
  readonly ast: FileNode;
  readonly topology: Topology;
  /** The first declaration of each name (a duplicate is an error that points at both). */
  readonly declarations = new Map<string, DeclarationNode>();
  readonly references: ReferenceNode[] = [];
  readonly #matches = new Map<string, ComponentTypeMatch>();

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    this.ast = parse(text, { file }).ast;
    this.topology = analyze(this.ast, { file }).topology;
    for (const declaration of this.ast.declarations) {
      if (!this.declarations.has(declaration.name.name)) this.declarations.set(declaration.name.name, declaration);
      collectReferences(declaration.body, this.references);
    }
    // The topology knows what each declaration resolved to (a one-word type's kind included).
    const resolved: { name: string; kind: string; type: string }[] = [
      ...this.topology.components,
      ...(this.topology.bus ? [{ ...this.topology.bus, kind: 'bus' }] : []),
      ...this.topology.groups.map((group) => ({ ...group, kind: 'vm' })),
    ];
    for (const { name, kind, type } of resolved) {
      const match = findComponentType(kind, type);
      if (match) this.#matches.set(name, match);
    }
  }

  /**
   * The kind and type a declaration resolved to; undefined when it did not (a diagnostic says why).
   * Only the first of two declarations with one name resolves; the second is an error.
   */
  matchOf(declaration: DeclarationNode): ComponentTypeMatch | undefined {
    return this.declarations.get(declaration.name.name) === declaration ? this.#matches.get(declaration.name.name) : undefined;
  }

  declarationAt(offset: number): DeclarationNode | undefined {
    return this.ast.declarations.find((declaration) => declaration.start <= offset && offset <= declaration.end);
  }

  /** Every identifier that names the component `name`: its declarations and the references to it. */
  occurrences(name: string): { readonly start: number; readonly end: number; readonly declaration: boolean }[] {
    const found: { start: number; end: number; declaration: boolean }[] = [];
    for (const declaration of this.ast.declarations) {
      if (declaration.name.name === name) found.push({ start: declaration.name.start, end: declaration.name.end, declaration: true });
    }
    for (const reference of this.references) {
      if (reference.name === name) found.push({ start: reference.start, end: reference.end, declaration: false });
    }
    return found.sort((a, b) => a.start - b.start);
  }

  /**
   * The innermost map the offset is inside (between its braces; an unclosed map runs to its end),
   * or undefined outside every declaration body.
   */
  mapAt(offset: number): MapPlace | undefined {
    const declaration = this.declarationAt(offset);
    if (!declaration || !inside(declaration.body, offset)) return undefined;
    const match = this.matchOf(declaration);
    let place: MapPlace = { declaration, map: declaration.body, accepts: match ? componentKeys(match) : undefined };
    for (;;) {
      const next = this.#childMap(place, offset);
      if (!next) return place;
      place = next;
    }
  }

  /** The map one level down that holds the offset, through an entry's map value or a list of maps. */
  #childMap(place: MapPlace, offset: number): MapPlace | undefined {
    for (const entry of place.map.entries) {
      const spec = place.accepts?.[entry.key.name]?.value;
      const value = entry.value;
      if (value.type === 'Map' && inside(value, offset)) {
        return { declaration: place.declaration, map: value, accepts: mapKeysOf(spec) };
      }
      if (value.type === 'List' && inside(value, offset)) {
        const item = value.items.find((candidate): candidate is MapNode => candidate.type === 'Map' && inside(candidate, offset));
        if (item) return { declaration: place.declaration, map: item, accepts: mapKeysOf(itemsOf(spec)) };
      }
    }
    return undefined;
  }

  /** The list value of an entry of `place.map` that holds the offset, with that entry. */
  listAt(place: MapPlace, offset: number): { readonly entry: EntryNode; readonly list: ListNode } | undefined {
    for (const entry of place.map.entries) {
      if (entry.value.type === 'List' && inside(entry.value, offset)) return { entry, list: entry.value };
    }
    return undefined;
  }

  targetAt(offset: number): Target | undefined {
    const declaration = this.declarationAt(offset);
    if (!declaration) return undefined;
    if (within(declaration.name, offset)) return { type: 'name', declaration, node: declaration.name };
    if (declaration.kind && within(declaration.kind, offset)) return { type: 'kind', declaration, node: declaration.kind };
    if (within(declaration.componentType, offset)) return { type: 'component-type', declaration, node: declaration.componentType };
    const reference = this.references.find((candidate) => within(candidate, offset));
    if (reference) return { type: 'reference', node: reference };
    const place = this.mapAt(offset);
    const entry = place?.map.entries.find((candidate) => within(candidate.key, offset));
    if (place && entry) return { type: 'key', place, entry, spec: place.accepts?.[entry.key.name] };
    return undefined;
  }
}

/** The keys a value spec's map accepts (a `oneOf` offers its first map). */
export function mapKeysOf(spec: ValueSpec | undefined): Readonly<Record<string, KeySpec>> | undefined {
  if (!spec) return undefined;
  switch (spec.type) {
    case 'map':
      return spec.keys;
    case 'pipe':
    case 'hook':
      return PIPE_MAP_KEYS;
    case 'oneOf':
      for (const option of spec.options) {
        const keys = mapKeysOf(option);
        if (keys) return keys;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** What the items of a list value look like (a `oneOf` offers its first list). */
export function itemsOf(spec: ValueSpec | undefined): ValueSpec | undefined {
  if (!spec) return undefined;
  if (spec.type === 'list') return spec.items;
  if (spec.type === 'oneOf') return spec.options.map(itemsOf).find((items) => items !== undefined);
  return undefined;
}

/** Between a map's or list's brackets; an unclosed one reaches to its recorded end. */
function inside(node: MapNode | ListNode, offset: number): boolean {
  return offset > node.start && (node.closed ? offset < node.end : offset <= node.end);
}

/** On a name, its end included: the cursor just after a word is still on it. */
function within(node: { readonly start: number; readonly end: number }, offset: number): boolean {
  return offset >= node.start && offset <= node.end;
}

function collectReferences(value: ValueNode, into: ReferenceNode[]): void {
  switch (value.type) {
    case 'Reference':
      into.push(value);
      return;
    case 'List':
      for (const item of value.items) collectReferences(item, into);
      return;
    case 'Map':
      for (const entry of value.entries) collectReferences(entry.value, into);
      return;
    default:
      return;
  }
}
