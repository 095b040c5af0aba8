/**
 * Loads user code named in a `.ww` file — pipes, hooks, function modules — from paths relative to
 * the `.ww` file. TypeScript and JavaScript run in-process through tsx (no build step); Python runs
 * in the bridge process. A path that is absolute, climbs out of the project folder, or reaches out
 * of it through a symbolic link is refused before anything is read.
 *
 * Modules are cached per generation: pipes and hooks from one file share one module instance, and
 * `invalidate()` (hot reload) starts a new generation so the next load reads the files again,
 * including the local files they import.
 */
import { realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { didYouMean, moduleLanguageOf, type ModuleLanguage } from '@woodwork/parser';
import { errorMessage, WoodworkRuntimeError, type ErrorLocation } from '../errors.js';
import type { FunctionModule, LoadedFunction } from '../types.js';
import { PythonBridge, PythonCallError } from './python-bridge.js';

export type { ModuleLanguage };

/** One function to load, as a pipe or hook spec of the topology names it. */
export interface FunctionSpec {
  /** Relative to the `.ww` file, as written (normalised). */
  readonly module: string;
  /** The export (`default` for a JS/TS default export). */
  readonly export: string;
  readonly language?: ModuleLanguage;
  readonly location?: ErrorLocation;
}

/** Who asks, for error messages: "pipe `pipes.ts::shout` of component `agent`". */
export interface LoadRequester {
  readonly component: string;
  readonly role: 'pipe' | 'hook' | 'function module' | 'file';
  readonly location?: ErrorLocation;
}

export interface ModuleLoaderOptions {
  /** The folder of the `.ww` file: paths are relative to it and must stay inside it. */
  readonly projectDir: string;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** The Python interpreter. Default `WOODWORK_PYTHON` or `python3`. */
  readonly python?: string;
}


type TsImport = (specifier: string, options: { parentURL: string }) => Promise<Record<string, unknown>>;
let tsImportPromise: Promise<TsImport> | undefined;

function loadTsImport(): Promise<TsImport> {
  tsImportPromise ??= import('tsx/esm/api').then((module) => module.tsImport as TsImport);
  return tsImportPromise;
}

function describeRequester(requester: LoadRequester, what: string): string {
  return `${requester.role} ${what} of component \`${requester.component}\``;
}

/** Best-effort parameter names of a JS function, from its source. */
function parameterNames(fn: (...args: unknown[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const match = /^[^(]*\(([^)]*)\)/.exec(source) ?? /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (!match?.[1]) return [];
  return match[1]
    .split(',')
    .map((part) => part.replace(/\/\*.*?\*\//g, '').replace(/[=:].*$/s, '').replace(/^\.\.\./, '').trim())
    .filter((part) => /^[A-Za-z_$][\w$]*$/.test(part));
}

/** The JSDoc comment right before `export function name` / `export const name`, without its stars. */
function jsDocOf(source: string | undefined, name: string): string | undefined {
  if (!source) return undefined;
  const pattern = new RegExp(
    `/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*export\\s+(?:default\\s+)?(?:async\\s+)?(?:function\\s*\\*?\\s*|const\\s+|let\\s+)${name.replace(/\$/g, '\\$')}\\b`,
  );
  const match = pattern.exec(source);
  if (!match?.[1]) return undefined;
  const text = match[1]
    .split('\n')
    .map((line) => line.replace(/^\s*\*\s?/, '').trimEnd())
    .filter((line) => !line.startsWith('@'))
    .join('\n')
    .trim();
  return text === '' ? undefined : text;
}

function pickExport(namespace: Record<string, unknown>, name: string): unknown {
  let value = namespace[name];
  const fallback = namespace.default;
  if (value === undefined && fallback !== null && typeof fallback === 'object') value = (fallback as Record<string, unknown>)[name];
  if (name === 'default' && value !== null && typeof value === 'object' && typeof (value as { default?: unknown }).default === 'function') {
    value = (value as { default: unknown }).default;
  }
  return value;
}

function functionNames(namespace: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const [key, value] of Object.entries(namespace)) {
    if (typeof value === 'function') names.add(key);
  }
  const fallback = namespace.default;
  if (fallback !== null && typeof fallback === 'object') {
    for (const [key, value] of Object.entries(fallback as Record<string, unknown>)) {
      if (typeof value === 'function') names.add(key);
    }
  }
  return [...names];
}

/**
 * What went wrong loading a module, in one line a user can act on. A syntax error comes from
 * esbuild (through tsx) as "Transform failed with 1 error:" and then `file:line:col: ERROR: text`
 * lines: name the first one, its path relative to the project, instead of the header.
 */
function loadFailure(error: unknown, projectDir: string): string {
  const lines = errorMessage(error).split('\n').map((line) => line.trim()).filter(Boolean);
  const compiler = /^Transform failed with \d+ errors?:?$/.test(lines[0] ?? '') ? /^(.*?):(\d+:\d+): ERROR: (.*)$/.exec(lines[1] ?? '') : null;
  if (compiler) return `${path.relative(projectDir, compiler[1]!) || compiler[1]}:${compiler[2]}: ${compiler[3]}`;
  return lines[0] ?? 'unknown error';
}

export class ModuleLoader {
  readonly projectDir: string;
  private readonly realProjectDir: string;
  private namespaces = new Map<string, Promise<Record<string, unknown>>>();
  private python: PythonBridge | undefined;
  private generation = 0;

  constructor(private readonly options: ModuleLoaderOptions) {
    this.projectDir = path.resolve(options.projectDir);
    try {
      this.realProjectDir = realpathSync(this.projectDir);
    } catch {
      this.realProjectDir = this.projectDir;
    }
  }

  /** The module's language from its extension, or undefined when it is not a .ts/.js/.py file. */
  static languageOf(file: string): ModuleLanguage | undefined {
    return moduleLanguageOf(file);
  }

  /**
   * An absolute path for a path written in the `.ww` file; throws WW_RUNTIME_MODULE_PATH when it is
   * absolute or leaves the project folder (lexically, or through a symbolic link when it exists).
   */
  resolvePath(written: string, requester: LoadRequester, label = written): string {
    const slashed = String(written).replace(/\\/g, '/');
    const refuse = (why: string) =>
      new WoodworkRuntimeError('WW_RUNTIME_MODULE_PATH', `${describeRequester(requester, `\`${label}\``)} ${why}`, {
        hint: `keep it in ${this.projectDir} or below, and write it relative to the .ww file`,
        ...(requester.location ? { location: requester.location } : {}),
        component: requester.component,
      });
    if (slashed.trim() === '') throw refuse('is an empty path');
    if (path.posix.isAbsolute(slashed) || path.win32.isAbsolute(written)) throw refuse('is an absolute path');
    const resolved = path.resolve(this.projectDir, slashed);
    if (!this.inside(this.projectDir, resolved)) throw refuse('points outside the project folder');
    let real: string | undefined;
    try {
      real = realpathSync(resolved);
    } catch {
      real = undefined; // does not exist (yet): reported by whoever reads it
    }
    if (real !== undefined && !this.inside(this.realProjectDir, real)) {
      throw refuse(`points outside the project folder through a symbolic link (to ${real})`);
    }
    return resolved;
  }

  private inside(root: string, candidate: string): boolean {
    const relative = path.relative(root, candidate);
    return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
  }

  private async checkFile(file: string, written: string, requester: LoadRequester): Promise<void> {
    let isFile = false;
    try {
      isFile = (await stat(file)).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) {
      throw new WoodworkRuntimeError('WW_RUNTIME_MODULE_NOT_FOUND', `${describeRequester(requester, `\`${written}\``)}: no such file ${file}`, {
        hint: 'check the path: it is relative to the .ww file',
        ...(requester.location ? { location: requester.location } : {}),
        component: requester.component,
      });
    }
  }

  private importJs(file: string, written: string, requester: LoadRequester): Promise<Record<string, unknown>> {
    let namespace = this.namespaces.get(file);
    if (!namespace) {
      namespace = loadTsImport()
        .then((tsImport) => tsImport(pathToFileURL(file).href, { parentURL: import.meta.url }))
        .catch((error: unknown) => {
          throw new WoodworkRuntimeError(
            'WW_RUNTIME_MODULE_LOAD',
            `${describeRequester(requester, `\`${written}\``)} failed to load: ${loadFailure(error, this.projectDir)}`,
            {
              cause: error,
              hint: 'fix the error in the module (it is loaded as it is, without a build step)',
              ...(requester.location ? { location: requester.location } : {}),
              component: requester.component,
            },
          );
        });
      this.namespaces.set(file, namespace);
      namespace.catch(() => this.namespaces.delete(file));
    }
    return namespace;
  }

  private bridge(): PythonBridge {
    this.python ??= new PythonBridge({
      stdout: this.options.stdout,
      stderr: this.options.stderr,
      ...(this.options.python === undefined ? {} : { command: this.options.python }),
    });
    return this.python;
  }

  private async loadPython(file: string, written: string, requester: LoadRequester) {
    try {
      return await this.bridge().load(file);
    } catch (error) {
      if (WoodworkRuntimeError.isInstance(error)) {
        if (error.location || !requester.location) throw error;
        throw new WoodworkRuntimeError(error.code, `${describeRequester(requester, `\`${written}\``)}: ${error.message}`, {
          cause: error,
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          location: requester.location,
          component: requester.component,
        });
      }
      const python = error as { type?: string; message?: string };
      throw new WoodworkRuntimeError(
        'WW_RUNTIME_MODULE_LOAD',
        `${describeRequester(requester, `\`${written}\``)} failed to import: ${python.type ?? 'Error'}: ${python.message ?? errorMessage(error)}`,
        {
          cause: error,
          hint: 'fix the error in the Python file',
          ...(requester.location ? { location: requester.location } : {}),
          component: requester.component,
        },
      );
    }
  }

  /** Loads one exported function, checking that it exists and is a function. */
  async loadFunction(spec: FunctionSpec, requester: LoadRequester): Promise<LoadedFunction> {
    const written = `${spec.module}::${spec.export}`;
    const file = this.resolvePath(spec.module, requester, written);
    await this.checkFile(file, written, requester);
    const language = spec.language ?? ModuleLoader.languageOf(file);
    if (language === undefined) {
      throw new WoodworkRuntimeError('WW_RUNTIME_MODULE_LOAD', `${describeRequester(requester, `\`${written}\``)} is not a .ts, .js or .py file`, {
        ...(requester.location ? { location: requester.location } : {}),
        component: requester.component,
      });
    }
    const missing = (available: readonly string[]) => {
      const suggestion = didYouMean(spec.export, available);
      return new WoodworkRuntimeError(
        'WW_RUNTIME_EXPORT_NOT_FOUND',
        `${describeRequester(requester, `\`${written}\``)}: ${spec.module} has no ${spec.export === 'default' ? 'default export' : `function \`${spec.export}\``}`,
        {
          hint: suggestion
            ? suggestion
            : available.length > 0
              ? `its functions are ${available.map((name) => `\`${name}\``).join(', ')}`
              : `export a function named ${spec.export} from it`,
          ...(requester.location ? { location: requester.location } : {}),
          component: requester.component,
        },
      );
    };
    if (language === 'python') {
      const functions = await this.loadPython(file, written, requester);
      const info = functions.find((candidate) => candidate.name === spec.export);
      if (!info) throw missing(functions.map((candidate) => candidate.name));
      return this.pythonFunction(file, spec.module, info);
    }
    const namespace = await this.importJs(file, written, requester);
    const value = pickExport(namespace, spec.export);
    if (typeof value !== 'function') throw missing(functionNames(namespace));
    return this.jsFunction(spec.export, spec.module, language, value as (...args: unknown[]) => unknown, undefined);
  }

  /** Loads every exported function of a module (for `api functions { path }`). */
  async loadModule(written: string, requester: LoadRequester): Promise<FunctionModule> {
    const file = this.resolvePath(written, requester);
    await this.checkFile(file, written, requester);
    const language = ModuleLoader.languageOf(file);
    let functions: LoadedFunction[];
    // A JS/TS module's other exports (zod schemas beside the functions, for `api functions`).
    let values: Readonly<Record<string, unknown>> = {};
    if (language === 'python') {
      functions = (await this.loadPython(file, written, requester)).map((info) => this.pythonFunction(file, written, info));
    } else if (language === 'js' || language === 'ts') {
      const namespace = await this.importJs(file, written, requester);
      const source = await readFile(file, 'utf8').catch(() => undefined);
      const fallback = namespace.default;
      values = Object.freeze({ ...(fallback !== null && typeof fallback === 'object' ? fallback : {}), ...namespace });
      functions = functionNames(namespace).map((name) =>
        this.jsFunction(name, written, language, pickExport(namespace, name) as (...args: unknown[]) => unknown, jsDocOf(source, name)),
      );
    } else {
      throw new WoodworkRuntimeError('WW_RUNTIME_MODULE_LOAD', `${describeRequester(requester, `\`${written}\``)} is not a .ts, .js or .py file`, {
        ...(requester.location ? { location: requester.location } : {}),
        component: requester.component,
      });
    }
    const byName = new Map(functions.map((fn) => [fn.name, fn]));
    const loaded: FunctionModule & { readonly values: Readonly<Record<string, unknown>>; readonly file: string } = {
      module: written,
      functions,
      get: (name) => byName.get(name),
      values,
      file,
    };
    return loaded;
  }

  private jsFunction(
    name: string,
    module: string,
    language: ModuleLanguage,
    fn: (...args: unknown[]) => unknown,
    description: string | undefined,
  ): LoadedFunction {
    return {
      name,
      module,
      language,
      parameters: parameterNames(fn),
      description,
      call: async (...args: unknown[]) => fn(...args),
    };
  }

  private pythonFunction(file: string, module: string, info: { name: string; parameters: readonly string[]; doc: string | null }): LoadedFunction {
    const bridge = this.bridge();
    return {
      name: info.name,
      module,
      language: 'python',
      parameters: info.parameters,
      description: info.doc ?? undefined,
      call: (...args: unknown[]) => bridge.call(file, info.name, args),
    };
  }

  /** Forget every loaded module: the next loads read the files again (hot reload). */
  async invalidate(): Promise<void> {
    this.generation++;
    this.namespaces = new Map();
    // tsx loads CommonJS-flavoured TypeScript through require(); drop the project's entries so
    // the files a pipe imports are read again too (its dependencies in node_modules are kept).
    const cache = createRequire(import.meta.url).cache;
    for (const key of Object.keys(cache)) {
      const file = key.replace(/\?.*$/, '');
      if ((file.startsWith(this.projectDir) || file.startsWith(this.realProjectDir)) && !file.includes(`${path.sep}node_modules${path.sep}`)) {
        delete cache[key];
      }
    }
    await this.python?.reload();
  }

  get loadGeneration(): number {
    return this.generation;
  }

  async close(): Promise<void> {
    await this.python?.close();
    this.python = undefined;
  }
}

export { PythonCallError };
