/**
 * `loadTopology()`: everything between a path and a runnable topology. Reads the `.ww` file and the
 * `.env` beside it, parses, analyses, checks that the files the topology names exist, and resolves
 * environment references. Never throws for a user's mistake (a missing file is a diagnostic too).
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createAnalysisCache, type AnalysisCache } from './analysis-cache.js';
import { analyzeWithFiles } from './analyze.js';
import { createDiagnostic, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostic.js';
import { parseDotenv } from './dotenv.js';
import { WoodworkParserError } from './errors.js';
import type { IncrementalParser } from './incremental-parse.js';
import { findModuleExports, type ModuleExports } from './module-exports.js';
import { parse } from './parse.js';
import { resolveEnv, type LoadMode } from './resolve-env.js';
import { didYouMean, listWords } from './suggest.js';
import type { Topology } from './topology.js';

export interface LoadTopologyOptions {
  /**
   * `run`: a missing environment variable is an error and `resolved` is what to run. `validate`:
   * missing variables are warnings, so a file can be checked without its secrets.
   */
  readonly mode: LoadMode;
  /** The environment (default `process.env`). It wins over `.env`, which fills in what it lacks. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The folder paths must stay inside (default: the folder of the `.ww` file). */
  readonly projectRoot?: string;
  /**
   * Resolve (and report missing) only the variables of these components, by name, and of the bus
   * (see `resolveEnv`): what one process of a distributed run needs. The other components keep
   * their references in `resolved`. Default: every component.
   */
  readonly components?: readonly string[];
  /**
   * The text of the `.ww` file, when it is not the one on disk (an editor's unsaved buffer: the
   * language server checks what the user sees). Default: read from `file`.
   */
  readonly source?: string;
  /**
   * Also read each pipe and hook module and warn (WW306) when it does not export the function
   * named. Default false: a run finds out anyway when it imports the module, and tests and builds
   * need not read every module twice; `woodwork validate` and the language server ask for it.
   */
  readonly checkExports?: boolean;
  /**
   * How the files around the `.ww` file are looked up and read (the modules the topology names,
   * `.env`, and the `.ww` file itself without `source`). Default: the disk, afresh on every call.
   * The language server passes one that remembers the answers for a moment, forgetting them when
   * the editor reports a change, so that a keystroke does not wait on the disk.
   */
  readonly files?: TopologyFiles;
  /**
   * How the `.ww` text is parsed. Default: `parse()`, the whole text. The language server passes one
   * `createIncrementalParser({ file })` per open document, so that a keystroke reads again only the
   * declarations around it; the answer is the same. Its `file` must be this `file`.
   */
  readonly parser?: IncrementalParser;
}

/** The file look-ups `loadTopology()` makes; see `LoadTopologyOptions.files`. */
export interface TopologyFiles {
  /** Whether something exists at the path (a file or a folder), as `fs.access` says. */
  exists(file: string): Promise<boolean>;
  /** The file's text as UTF-8; rejects with the file system's error (its `code`: ENOENT, EISDIR, …). */
  readText(file: string): Promise<string>;
}

/** The disk, read afresh on every call: the default. */
export const diskFiles: TopologyFiles = {
  exists,
  readText: (file) => readFile(file, 'utf8'),
};

export interface LoadTopologyResult {
  /** Present when the file has no errors (warnings allowed). Keeps env references as references. */
  readonly topology?: Topology;
  /**
   * The topology with env references replaced by their values; present when nothing is missing.
   * With `components`, only theirs and the bus's are replaced and checked.
   */
  readonly resolved?: Topology;
  /** Sorted: the `.ww` file's problems by position, then `.env`'s. */
  readonly diagnostics: Diagnostic[];
  /** The `.ww` text ('' when it could not be read), for code frames. */
  readonly source: string;
  /** Every file read, by the name used in diagnostics (the `.ww` file and `.env`), for code frames. */
  readonly sources: Readonly<Record<string, string>>;
}

export async function loadTopology(file: string, options: LoadTopologyOptions): Promise<LoadTopologyResult> {
  if (typeof file !== 'string' || file === '') throw new WoodworkParserError('INVALID_ARGUMENT', 'loadTopology() needs the path of a .ww file');
  if (options?.mode !== 'validate' && options?.mode !== 'run') {
    throw new WoodworkParserError('INVALID_ARGUMENT', "loadTopology() needs { mode: 'validate' | 'run' }");
  }
  if (options.components !== undefined && !Array.isArray(options.components)) {
    throw new WoodworkParserError('INVALID_ARGUMENT', 'loadTopology() takes `components` as an array of component names');
  }
  if (options.source !== undefined && typeof options.source !== 'string') {
    throw new WoodworkParserError('INVALID_ARGUMENT', 'loadTopology() takes `source` as the text of the .ww file');
  }
  const files = options.files ?? diskFiles;
  const sources: Record<string, string> = {};
  const read: ReadResult = options.source !== undefined ? { ok: true, text: options.source } : await readText(files, file);
  if (!read.ok) return { diagnostics: [read.diagnostic], source: '', sources };
  const source = read.text;
  sources[file] = source;

  const baseDir = path.dirname(file);
  const parsed = options.parser ? options.parser.parse(source) : parse(source, { file });
  const analyzed = analyzeWithFiles(parsed.ast, { file, projectRoot: options.projectRoot ?? baseDir }, options.parser && analysisCacheOf(options.parser));
  const diagnostics: Diagnostic[] = [...parsed.diagnostics, ...analyzed.diagnostics];

  // A file named many times (one pipe module for every component) is looked up once, and all at
  // once: on a large file in an editor, one look-up after another was most of the time to check it.
  const lookups = new Map<string, Promise<boolean>>();
  for (const reference of analyzed.files) {
    if (!lookups.has(reference.path)) lookups.set(reference.path, files.exists(path.resolve(baseDir, reference.path)));
  }
  const missing = new Set<string>();
  for (const reference of analyzed.files) {
    if (!(await lookups.get(reference.path))) {
      missing.add(reference.path);
      diagnostics.push(
        createDiagnostic('WW303', `\`${reference.path}\` does not exist`, reference.location, {
          hint: `paths are relative to the .ww file, here ${path.resolve(baseDir)}`,
        }),
      );
    }
  }
  if (options.checkExports) diagnostics.push(...(await checkExports(files, analyzed.topology, baseDir, missing)));

  const envFile = path.join(baseDir, '.env');
  const envText = await readText(files, envFile);
  let dotenv: Record<string, string> = {};
  if (envText.ok) {
    sources[envFile] = envText.text;
    const parsedEnv = parseDotenv(envText.text, envFile);
    dotenv = parsedEnv.values;
    diagnostics.push(...parsedEnv.diagnostics);
  }
  const env = { ...dotenv, ...definedOnly(options.env ?? process.env) };
  const environment = resolveEnv(analyzed.topology, { env, mode: options.mode, components: options.components });
  diagnostics.push(...environment.diagnostics);

  const sorted = sortDiagnostics(diagnostics);
  const valid = !hasErrors([...parsed.diagnostics, ...analyzed.diagnostics]) && !sorted.some((d) => d.code === 'WW303');
  return {
    ...(valid ? { topology: analyzed.topology } : {}),
    ...(valid && environment.resolved && !hasErrors(sorted) ? { resolved: environment.resolved } : {}),
    diagnostics: sorted,
    source,
    sources,
  };
}

// An incremental parser hands back the declarations an edit did not touch as the same nodes, so the
// analysis of those can be remembered with it (see analysis-cache.ts).
const analysisCaches = new WeakMap<IncrementalParser, AnalysisCache>();
function analysisCacheOf(parser: IncrementalParser): AnalysisCache {
  let cache = analysisCaches.get(parser);
  if (!cache) analysisCaches.set(parser, (cache = createAnalysisCache()));
  return cache;
}

type ReadResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly diagnostic: Diagnostic };

async function readText(files: TopologyFiles, file: string): Promise<ReadResult> {
  try {
    return { ok: true, text: await files.readText(file) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const at = { file, line: 1, column: 1, endLine: 1, endColumn: 1 };
    const diagnostic =
      code === 'EISDIR'
        ? createDiagnostic('WW302', `\`${file}\` is a folder, not a .ww file`, at, { hint: `pass the file inside it: ${path.join(file, 'main.ww')}` })
        : code === 'ENOENT'
          ? createDiagnostic('WW302', `\`${file}\` does not exist`, at, { hint: 'check the path; `woodwork init` creates a new project' })
          : createDiagnostic('WW302', `cannot read \`${file}\`: ${(error as Error).message}`, at);
    return { ok: false, diagnostic };
  }
}

/**
 * WW306: a pipe or hook names a function its module does not export. A warning, as the module is
 * read, not run (see module-exports.ts); a module whose exports cannot all be seen is not judged.
 */
async function checkExports(files: TopologyFiles, topology: Topology, baseDir: string, missing: ReadonlySet<string>): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  const modules = new Map<string, ModuleExports | undefined>();
  for (const component of topology.components) {
    for (const spec of [...component.pipes, ...component.hooks]) {
      if (missing.has(spec.module)) continue;
      if (!modules.has(spec.module)) {
        const read = await readText(files, path.resolve(baseDir, spec.module));
        modules.set(spec.module, read.ok ? findModuleExports(read.text, spec.language) : undefined);
      }
      const exports = modules.get(spec.module);
      if (!exports?.complete || exports.names.has(spec.export)) continue;
      const what = spec.export === 'default' ? 'has no default export' : `does not export \`${spec.export}\``;
      const names = [...exports.names.keys()];
      diagnostics.push(
        createDiagnostic('WW306', `\`${spec.module}\` ${what}`, spec.location, {
          hint:
            (spec.export === 'default' ? undefined : didYouMean(spec.export, names)) ??
            (names.length > 0 ? `it exports ${listWords(names, 'and')}` : `export the function: \`export function ${spec.export === 'default' ? 'name' : spec.export}(…)\``),
        }),
      );
    }
  }
  return diagnostics;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function definedOnly(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) result[key] = value;
  return result;
}
