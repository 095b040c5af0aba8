/**
 * `woodwork run [file]`: runs a topology embedded in this process (in-memory bus unless `--bus`)
 * and talks to it from the terminal:
 *
 * - `--input <text>` (repeatable): one turn per text, replies printed, then exit;
 * - stdin piped: one turn per line, then exit at the end of input;
 * - stdin a TTY: an interactive session with line editing; Ctrl-C or Ctrl-D ends it;
 * - a topology without a `command_line` input (an API server, say) runs until Ctrl-C / SIGTERM.
 *
 * Problems at load — the parser's diagnostics, missing environment variables, a module path that
 * is wrong — print like `woodwork validate` prints them, and exit 1. No stack traces for those.
 */
import path from 'node:path';
import { formatDiagnostic, loadTopology, type Diagnostic, type Topology } from '@woodwork/parser';
import {
  createConsoleLogger,
  createRuntime,
  isLogLevel,
  runTerminal,
  WoodworkRuntimeError,
  type Runtime,
  type RuntimeOptions,
} from '@woodwork/runtime';
import { metricsEventsEnabled, readUpState, upClientOptions } from '@woodwork/runtime/distributed';
import { isBusUnreachable, printUnreachableBus } from '../bus-unreachable.js';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { liveProcesses } from './up.js';
import { resolveWwFile } from './validate.js';

/** A terminal with an input: what `run` and `dev` read from (process.stdin when not given). */
export interface InteractiveTerminal extends Terminal {
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface RunOptions {
  /** Texts to send, one turn each. */
  readonly input?: readonly string[];
  /** A bus URL instead of the private in-memory bus. */
  readonly bus?: string;
  /** Continue this session. */
  readonly session?: string;
  /** Talk to the processes of a running `woodwork up` of this project instead of running the components here. */
  readonly attach?: boolean;
}

export interface LoadedProject {
  readonly file: string;
  readonly topology: Topology;
  readonly sources: Readonly<Record<string, string>>;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function shownPath(terminal: Terminal, file: string): string {
  return path.relative(terminal.cwd, file) || file;
}

/**
 * Loads a .ww file to run, printing its diagnostics like `woodwork validate`. Undefined when it has
 * errors. `reloading` (`woodwork dev`): the previous version keeps running, so the summary does not
 * say that nothing was started.
 */
export async function loadProject(terminal: Terminal, file: string | undefined, options: { readonly reloading?: boolean } = {}): Promise<LoadedProject | undefined> {
  const target = await resolveWwFile(terminal.cwd, file);
  const result = await loadTopology(target, { mode: 'run', env: terminal.env });
  const color = useColor(terminal, 'stderr');
  for (const diagnostic of result.diagnostics) {
    terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: result.sources, color, cwd: terminal.cwd })}\n\n`);
  }
  if (!result.resolved) {
    const errors = result.diagnostics.filter((diagnostic: Diagnostic) => diagnostic.severity === 'error').length;
    terminal.stderr.write(`${paint(color)('red', '✖')} ${shownPath(terminal, target)}: ${plural(Math.max(errors, 1), 'error')}${options.reloading ? '' : ', nothing was started'}\n`);
    return undefined;
  }
  return { file: target, topology: result.resolved, sources: result.sources };
}

/**
 * Prints a runtime error the way validate prints diagnostics: `file:line:col: error CODE: …` with a
 * code frame when the error has a place, every problem when it stands for several. Returns false
 * for an internal error (a bug), which the caller rethrows so it is reported as one.
 */
export function printRuntimeError(terminal: Terminal, error: unknown, sources: Readonly<Record<string, string>>): boolean {
  if (!WoodworkRuntimeError.isInstance(error) || !error.userError) return false;
  const color = useColor(terminal, 'stderr');
  const problems = error.problems.length > 0 ? error.problems : [error];
  for (const problem of problems) {
    if (problem.location) {
      const diagnostic = {
        code: problem.code,
        severity: 'error',
        message: problem.message,
        file: problem.location.file,
        line: problem.location.line,
        column: problem.location.column,
        endLine: problem.location.endLine ?? problem.location.line,
        endColumn: problem.location.endColumn ?? problem.location.column + 1,
        ...(problem.hint === undefined ? {} : { hint: problem.hint }),
      } as unknown as Diagnostic;
      terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: sources, color, cwd: terminal.cwd })}\n\n`);
    } else {
      terminal.stderr.write(`${paint(color)('red', `error ${problem.code}`)}: ${problem.message}\n`);
      if (problem.hint) terminal.stderr.write(`  hint: ${problem.hint}\n`);
      terminal.stderr.write('\n');
    }
  }
  return true;
}

/** A problem that does not stop the command: one line on stderr. */
function warn(terminal: Terminal, message: string): void {
  terminal.stderr.write(`${paint(useColor(terminal, 'stderr'))('yellow', 'warning')}: ${message}\n`);
}

/**
 * The runtime options `run` and `dev` share: quiet logs on stderr, the terminal's streams, and
 * `metrics.component_performance` events on the bus when `WOODWORK_METRICS_EVENTS=1`.
 */
export function runtimeOptions(terminal: InteractiveTerminal, options: { readonly bus?: string }): RuntimeOptions {
  const level = terminal.env.WOODWORK_LOG_LEVEL;
  let metricsEvents = false;
  try {
    metricsEvents = metricsEventsEnabled(terminal.env);
  } catch (error) {
    warn(terminal, `${(error as Error).message}; metrics events stay off (${(error as WoodworkRuntimeError).hint ?? ''})`);
  }
  return {
    ...(options.bus === undefined ? {} : { bus: options.bus }),
    ...(metricsEvents ? { metrics: { events: true } } : {}),
    // Someone at a terminal pressed Ctrl-C: give open turns a moment, not the library's 10 s.
    drainTimeoutMs: 3_000,
    env: terminal.env,
    logger: createConsoleLogger({ level: isLogLevel(level) ? level : 'warn', stream: terminal.stderr }),
    io: {
      stdout: terminal.stdout,
      stderr: terminal.stderr,
      color: useColor(terminal, 'stdout'),
      announce: (line) => terminal.stderr.write(`${paint(useColor(terminal, 'stderr'))('dim', line)}\n`),
    },
  };
}

/**
 * OpenTelemetry for `run` and `dev`, started when an OTLP endpoint is in the environment
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, or a per-signal one) and before the runtime, whose emitters read
 * the global providers when they are created. The SDK packages are optional: when they are
 * missing, one warning, and the command runs without export. No Prometheus endpoint here.
 */
export async function startCliTelemetry(terminal: Terminal, command: string): Promise<{ shutdown(): Promise<void> } | undefined> {
  const { env } = terminal;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  try {
    const { startTelemetry } = await import('@woodwork/metrics/node');
    return await startTelemetry({ serviceName: `woodwork-${command}`, prometheus: false, env });
  } catch (error) {
    warn(terminal, `an OTLP endpoint is set, but OpenTelemetry could not start, so nothing is exported: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Starts a runtime, printing load problems and a bus that does not answer; undefined when it could not start. */
export async function startRuntime(terminal: Terminal, project: LoadedProject, options: RuntimeOptions): Promise<Runtime | undefined> {
  const runtime = createRuntime(project.topology, options);
  const started = Date.now();
  try {
    await runtime.start();
    return runtime;
  } catch (error) {
    if (isBusUnreachable(error) && typeof options.bus === 'string') printUnreachableBus(terminal, options.bus, Date.now() - started, error);
    else if (!printRuntimeError(terminal, error, project.sources)) throw error;
    const color = useColor(terminal, 'stderr');
    terminal.stderr.write(`${paint(color)('red', '✖')} ${shownPath(terminal, project.file)}: could not start\n`);
    return undefined;
  }
}

/** Whether the user talks to the topology from the terminal (it has a command-line input). */
export function hasTerminalInput(topology: Topology): boolean {
  return topology.components.some((component) => component.kind === 'input' && component.type === 'command_line');
}

/**
 * Aborts on SIGINT or SIGTERM, so the command stops cleanly (open turns get a short drain); a
 * second signal exits at once. The handlers are removed by `dispose`.
 */
export function onStopSignal(): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/**
 * Talks to a started runtime until the conversation ends: the given inputs, the piped or typed
 * lines, or (with no terminal input in the topology) until a stop signal. Returns the exit code.
 */
export async function converse(
  terminal: InteractiveTerminal,
  runtime: Runtime,
  options: {
    readonly input?: readonly string[];
    readonly session?: string;
    readonly banner?: string;
    readonly signal: AbortSignal;
    /** The components run elsewhere (`--attach`): their `output console` prints there, so the replies print here. */
    readonly remote?: boolean;
  },
): Promise<number> {
  const stdin = terminal.stdin ?? process.stdin;
  if (options.input === undefined && !hasTerminalInput(runtime.topology)) {
    // Nothing to read from the terminal: serve until asked to stop.
    if (!options.signal.aborted) await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
    return ExitCode.ok;
  }
  const result = await runTerminal(runtime, {
    stdin,
    stdout: terminal.stdout,
    stderr: terminal.stderr,
    color: useColor(terminal, 'stderr'),
    cwd: terminal.cwd,
    signal: options.signal,
    ...(options.input === undefined ? {} : { inputs: options.input }),
    ...(options.session === undefined ? {} : { sessionId: options.session }),
    ...(options.banner === undefined ? {} : { banner: options.banner }),
    ...(options.remote ? { consoleOutputsHere: [] } : {}),
  });
  return result.failedTurns > 0 ? ExitCode.problems : ExitCode.ok;
}

/**
 * With --attach: the bus, sessions and namespace of this project's running `woodwork up`, and no
 * components of our own, so the turns go to the up's processes. Undefined (after saying why) when
 * no `up` runs for the project.
 */
async function attachOptions(terminal: Terminal, project: LoadedProject): Promise<Partial<RuntimeOptions> | undefined> {
  const projectDir = path.dirname(project.file);
  const state = await readUpState(projectDir);
  const live = state ? await liveProcesses(state) : undefined;
  if (!state || !live || (!live.supervisor && live.children.length === 0)) {
    const style = paint(useColor(terminal, 'stderr'));
    terminal.stderr.write(
      `${style('red', 'error')} woodwork run --attach: no \`woodwork up\` is running for ${shownPath(terminal, project.file)}.\n` +
        `  Start one first (woodwork up ${shownPath(terminal, projectDir) || '.'} --detach), or drop --attach to run the components here.\n`,
    );
    return undefined;
  }
  return upClientOptions(state);
}

export async function runCommand(terminal: InteractiveTerminal, file: string | undefined, options: RunOptions): Promise<number> {
  const project = await loadProject(terminal, file);
  if (!project) return ExitCode.problems;
  const attached = options.attach ? await attachOptions(terminal, project) : {};
  if (!attached) return ExitCode.problems;
  const telemetry = await startCliTelemetry(terminal, 'run');
  try {
    const runtime = await startRuntime(terminal, project, { ...runtimeOptions(terminal, options), ...attached });
    if (!runtime) return ExitCode.problems;
    const stop = onStopSignal();
    try {
      const style = paint(useColor(terminal, 'stdout'));
      return await converse(terminal, runtime, {
        ...(options.input === undefined || options.input.length === 0 ? {} : { input: options.input }),
        ...(options.session === undefined ? {} : { session: options.session }),
        banner: style('dim', `${shownPath(terminal, project.file)}: ${plural(project.topology.components.length, 'component')}. Type a message; Ctrl-C to quit.`),
        signal: stop.signal,
        remote: options.attach === true,
      });
    } finally {
      stop.dispose();
      await runtime.stop();
    }
  } finally {
    await telemetry?.shutdown();
  }
}
