/**
 * `woodwork dev [file]`: `woodwork run` with hot reload. It watches the `.ww` file, the `.env` beside
 * it, every pipe and hook module (and the code files next to them, which they may import), and any
 * file a component's config names; on a change (debounced) it reloads the topology and restarts
 * only the components that changed — sessions survive, and keep the state of every component that
 * did not change. A change that does not load is reported and the running version stays.
 *
 * It prints `ready in N ms` (time since the process started) once it can take input.
 */
import { watch, type FSWatcher } from 'node:fs';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Topology } from '@woodwork/parser';
import { consolePortFree, openConsole } from '../console/server.js';
import { ExitCode, paint, useColor } from '../terminal.js';
import {
  converse,
  loadProject,
  onStopSignal,
  printRuntimeError,
  runtimeOptions,
  startCliTelemetry,
  startRuntime,
  type InteractiveTerminal,
  type LoadedProject,
} from './run.js';

export interface DevOptions {
  readonly bus?: string;
  /** How long to wait after the last change before reloading. Default 80 ms: one save, one reload. */
  readonly debounceMs?: number;
  /** Serve the web console on loopback (`--console`), on this port when given (`--console-port`). */
  readonly console?: boolean;
  readonly consolePort?: string;
}

/** Files a reload cares about: code, the .ww file, .env, and files named in config. */
const WATCHED_EXTENSIONS = new Set(['.ww', '.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '.py', '.json']);

/** The files of a topology: the .ww file, .env, pipe and hook modules, and paths named in config. */
export function projectFiles(topology: Topology): Set<string> {
  const base = path.dirname(topology.file);
  const files = new Set<string>([path.resolve(topology.file), path.join(base, '.env')]);
  const strings: string[] = [];
  const collect = (value: unknown) => {
    if (typeof value === 'string') strings.push(value);
    else if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(collect);
  };
  for (const component of topology.components) {
    for (const spec of [...component.pipes, ...component.hooks]) files.add(path.resolve(base, spec.module));
    collect(component.config);
  }
  for (const value of strings) {
    if (value.length > 255 || /\s|^[a-z]+:\/\//i.test(value)) continue;
    const candidate = path.resolve(base, value);
    if (candidate.startsWith(base) && existsSync(candidate)) files.add(candidate);
  }
  return files;
}

/** Watches the folders of a project's files (folders survive editors that save by renaming). */
class ProjectWatcher {
  private watchers = new Map<string, FSWatcher>();
  private files = new Set<string>();
  private pending = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly debounceMs: number,
    private readonly onChange: (files: Set<string>) => void,
  ) {}

  update(files: Set<string>): void {
    this.files = files;
    const folders = new Set([...files].map((file) => path.dirname(file)));
    for (const [folder, watcher] of this.watchers) {
      if (!folders.has(folder)) {
        watcher.close();
        this.watchers.delete(folder);
      }
    }
    for (const folder of folders) {
      if (this.watchers.has(folder) || !existsSync(folder)) continue;
      const watcher = watch(folder, (_event, name) => {
        if (name === null) return;
        this.changed(path.join(folder, name.toString()));
      });
      watcher.on('error', () => undefined);
      this.watchers.set(folder, watcher);
    }
  }

  private changed(file: string): void {
    const base = path.basename(file);
    const wanted = this.files.has(file) || (WATCHED_EXTENSIONS.has(path.extname(file)) && !base.startsWith('.'));
    if (!wanted || file.includes(`${path.sep}node_modules${path.sep}`)) return;
    this.pending.add(file);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const files = this.pending;
      this.pending = new Set();
      this.onChange(files);
    }, this.debounceMs);
  }

  get count(): number {
    return this.files.size;
  }

  close(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}

export async function devCommand(terminal: InteractiveTerminal, file: string | undefined, options: DevOptions): Promise<number> {
  const project = await loadProject(terminal, file);
  if (!project) return ExitCode.problems;
  if (options.console && !(await consolePortFree(terminal, options.consolePort))) return ExitCode.problems;
  const telemetry = await startCliTelemetry(terminal, 'dev');
  try {
    return await develop(terminal, project, options);
  } finally {
    await telemetry?.shutdown();
  }
}

async function develop(terminal: InteractiveTerminal, loaded: LoadedProject, options: DevOptions): Promise<number> {
  let project = loaded;
  const base = runtimeOptions(terminal, options);
  // The console's timeline shows each step's time, tokens and cost: those are the metrics events.
  const runtime = await startRuntime(terminal, project, options.console ? { ...base, metrics: { ...base.metrics, events: true } } : base);
  if (!runtime) return ExitCode.problems;
  const style = paint(useColor(terminal, 'stderr'));
  const webConsole = options.console ? await openConsole(terminal, runtime, options.consolePort) : undefined;
  if (options.console && !webConsole) {
    await runtime.stop();
    return ExitCode.problems;
  }
  const shown = path.relative(terminal.cwd, project.file) || project.file;

  let reloading: Promise<void> = Promise.resolve();
  const changedSince = new Set<string>();
  const reload = async () => {
    const changed = new Set(changedSince);
    changedSince.clear();
    const started = performance.now();
    const next = await loadProject(terminal, project!.file, { reloading: true });
    if (!next) {
      terminal.stderr.write(`${style('yellow', '↻')} reload failed; still running the previous version\n`);
      await webConsole?.reloadFailed(project!.file);
      return;
    }
    try {
      const summary = await runtime.reload(next.topology, { changedFiles: [...changed] });
      project = next;
      watcher.update(projectFiles(next.topology));
      const parts = [
        summary.added.length ? `added ${summary.added.join(', ')}` : '',
        summary.removed.length ? `removed ${summary.removed.join(', ')}` : '',
        summary.changed.length ? `changed ${summary.changed.join(', ')}` : '',
        summary.restarted.length ? `restarted ${summary.restarted.join(', ')}` : '',
      ].filter(Boolean);
      const what = [...changed].map((changedFile) => path.relative(terminal.cwd, changedFile) || changedFile).join(', ');
      const line = `reloaded in ${Math.round(performance.now() - started)} ms (${what}): ${parts.length ? parts.join('; ') : 'nothing to restart'}`;
      terminal.stderr.write(`${style('green', '↻')} ${line}\n`);
      webConsole?.reloaded(line);
    } catch (error) {
      if (!printRuntimeError(terminal, error, next.sources)) {
        terminal.stderr.write(`${style('red', 'error')} reload failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
      terminal.stderr.write(`${style('yellow', '↻')} reload failed; still running the previous version\n`);
      await webConsole?.reloadFailed(next.file, error instanceof Error ? error.message : String(error));
    }
  };
  const watcher = new ProjectWatcher(options.debounceMs ?? 80, (files) => {
    for (const changed of files) changedSince.add(changed);
    reloading = reloading.then(() => (changedSince.size > 0 ? reload() : undefined)).catch(() => undefined);
  });
  watcher.update(projectFiles(project.topology));
  terminal.stderr.write(`${style('green', '✔')} ready in ${Math.round(performance.now())} ms — ${shown}, watching ${watcher.count} files for changes\n`);

  const stop = onStopSignal();
  try {
    return await converse(terminal, runtime, {
      banner: style('dim', 'Type a message; edits to the .ww file, pipes and hooks apply at once. Ctrl-C to quit.'),
      signal: stop.signal,
    });
  } finally {
    stop.dispose();
    watcher.close();
    await reloading;
    await webConsole?.close();
    await runtime.stop();
  }
}
