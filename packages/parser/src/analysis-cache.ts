/**
 * What analysis remembers of each component declaration between checks of one document, for
 * `loadTopology()` with an incremental parser (the language server). An incremental parse hands back
 * the very same declaration nodes for the declarations an edit did not touch (moved when the edit
 * was before them); when such a node is at the same column and position among the components, and
 * the names it looked up still resolve to the same kinds and types, converting it again would give
 * the same answer but for its places, all moved by the same lines and characters. So the answer is
 * replayed, its places moved: the converted component and, in order, every problem and every
 * environment use, construction edge and file it recorded. Conversions that reported a problem
 * pointing at another declaration are not kept (that place may have moved differently).
 */
import type { DeclarationNode } from './ast.js';
import type { ConstructionEdge, ConversionContext } from './convert-value.js';
import type { DiagnosticDetails, Reporter } from './diagnostic.js';
import type { DiagnosticCode } from './diagnostic-codes.js';
import type { SourceLocation } from './location.js';
import type { DeclaredComponent } from './resolve-declarations.js';
import type { EnvUsage } from './topology.js';

/** One document's remembered conversions; pass the same one to every analysis of that document. */
export type AnalysisCache = WeakMap<DeclarationNode, RememberedConversion>;

export function createAnalysisCache(): AnalysisCache {
  return new WeakMap();
}

type Recorded =
  | { readonly type: 'report'; readonly code: DiagnosticCode; readonly message: string; readonly location: SourceLocation; readonly details?: DiagnosticDetails }
  | { readonly type: 'env'; readonly name: string; readonly usage: EnvUsage }
  | { readonly type: 'edge'; readonly edge: ConstructionEdge }
  | { readonly type: 'file'; readonly file: { readonly path: string; readonly location: SourceLocation } };

export interface RememberedConversion {
  /** Where the declaration was: a declaration that moved as a whole is replayed with its places moved. */
  readonly place: Place;
  /** Each name looked up, with what it resolved to then. */
  readonly lookups: ReadonlyMap<string, string>;
  /** Every declared name, when the conversion listed them (a did-you-mean). */
  readonly names: string | undefined;
  readonly recorded: readonly Recorded[];
  readonly result: unknown;
}

/** What a name resolves to, as far as converting a reference to it can tell. */
function resolution(component: DeclaredComponent | undefined): string {
  if (!component) return '';
  return component.match ? `${component.match.kind} ${component.match.type}` : '?';
}

/** Where a declaration sits and what its conversion is given besides its own text. */
export interface Place {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  readonly length: number;
  /** Its position among the components (in the JSON paths of its environment uses). */
  readonly index: number;
  readonly file: string;
  readonly baseDir: string;
  readonly root: string;
}

export function placeOf(declaration: DeclarationNode, index: number, file: string, folders: { baseDir: string; root: string }): Place {
  const { line, column, offset, endOffset } = declaration.location;
  return { offset, line, column, length: endOffset - offset, index, file, baseDir: folders.baseDir, root: folders.root };
}

/**
 * Whether a remembered conversion can be replayed at `now`: the same text (the same node and length)
 * given the same surroundings, at most moved as a whole. The column must be the same: then every
 * place inside it moved by the same number of lines and characters, and none changed column.
 */
function samePlaceBut(then: Place, now: Place): boolean {
  return (
    then.length === now.length &&
    then.column === now.column &&
    then.index === now.index &&
    then.file === now.file &&
    then.baseDir === now.baseDir &&
    then.root === now.root
  );
}

/** A location moved by `offset` characters and `lines` lines, its columns unchanged. */
function move(location: SourceLocation, offset: number, lines: number): SourceLocation {
  return { ...location, line: location.line + lines, offset: location.offset + offset, endLine: location.endLine + lines, endOffset: location.endOffset + offset };
}

/**
 * The remembered conversion of `declaration` if it still holds, replayed into `context` and
 * `report`; undefined when the declaration must be converted again.
 */
export function replay<T>(
  cache: AnalysisCache,
  declaration: DeclarationNode,
  place: Place,
  declared: ReadonlyMap<string, DeclaredComponent>,
  namesOf: () => string,
  context: Pick<ConversionContext, 'recordEnv' | 'recordEdge' | 'recordFile'>,
  report: Reporter,
  moveResult: (result: T, moveLocation: (location: SourceLocation) => SourceLocation) => T,
): T | undefined {
  const remembered = cache.get(declaration);
  if (!remembered || !samePlaceBut(remembered.place, place)) return undefined;
  for (const [name, resolved] of remembered.lookups) if (resolution(declared.get(name)) !== resolved) return undefined;
  if (remembered.names !== undefined && remembered.names !== namesOf()) return undefined;
  const offset = place.offset - remembered.place.offset;
  const lines = place.line - remembered.place.line;
  if (offset !== 0 || lines !== 0) {
    // Moved as a whole: remember it where it is now, so that the next check replays it as it is.
    const at = (location: SourceLocation) => move(location, offset, lines);
    const recorded = remembered.recorded.map((call): Recorded => {
      switch (call.type) {
        case 'report':
          return { ...call, location: at(call.location) };
        case 'env':
          return { ...call, usage: { ...call.usage, location: at(call.usage.location) } };
        case 'edge':
          return { ...call, edge: { ...call.edge, location: at(call.edge.location) } };
        default:
          return { ...call, file: { ...call.file, location: at(call.file.location) } };
      }
    });
    cache.set(declaration, { ...remembered, place, recorded, result: moveResult(remembered.result as T, at) });
    return replay(cache, declaration, place, declared, namesOf, context, report, moveResult);
  }
  for (const call of remembered.recorded) {
    if (call.type === 'report') report(call.code, call.message, call.location, call.details);
    else if (call.type === 'env') context.recordEnv(call.name, call.usage);
    else if (call.type === 'edge') context.recordEdge(call.edge);
    else context.recordFile(call.file);
  }
  return remembered.result as T;
}

/**
 * Runs `convert` with a context and reporter that record what it does (and pass it on), then
 * remembers the result for `declaration` when it can be replayed.
 */
export function remember<T>(
  cache: AnalysisCache,
  declaration: DeclarationNode,
  place: Place,
  declared: ReadonlyMap<string, DeclaredComponent>,
  namesOf: () => string,
  context: ConversionContext,
  report: Reporter,
  convert: (context: ConversionContext, report: Reporter) => T,
): T {
  const lookups = new Map<string, string>();
  let listed = false;
  const recorded: Recorded[] = [];
  let pointsElsewhere = false;
  // Only get, has and keys are asked of `declared` while converting (see convert-value.ts).
  const watched = {
    get: (name: string) => {
      const component = declared.get(name);
      lookups.set(name, resolution(component));
      return component;
    },
    has: (name: string) => {
      lookups.set(name, resolution(declared.get(name)));
      return declared.has(name);
    },
    keys: () => {
      listed = true;
      return declared.keys();
    },
  } as unknown as ReadonlyMap<string, DeclaredComponent>;
  const recordingReport: Reporter = (code, message, location, details) => {
    if (details?.related?.length) pointsElsewhere = true;
    recorded.push(details === undefined ? { type: 'report', code, message, location } : { type: 'report', code, message, location, details });
    report(code, message, location, details);
  };
  const result = convert(
    {
      declared: watched,
      folders: context.folders,
      report: recordingReport,
      recordEnv: (name, usage) => {
        recorded.push({ type: 'env', name, usage });
        context.recordEnv(name, usage);
      },
      recordEdge: (edge) => {
        recorded.push({ type: 'edge', edge });
        context.recordEdge(edge);
      },
      recordFile: (file) => {
        recorded.push({ type: 'file', file });
        context.recordFile(file);
      },
    },
    recordingReport,
  );
  if (!pointsElsewhere) cache.set(declaration, { place, lookups, names: listed ? namesOf() : undefined, recorded, result });
  return result;
}
