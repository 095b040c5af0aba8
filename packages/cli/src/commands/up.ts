/**
 * `woodwork up [file] --bus <url>`: the topology as separate OS processes over a real bus — one
 * per component (or `vm server` group), each running the host app, supervised (crashed processes
 * restart with backoff). Foreground by default: output prefixed by component, the terminal
 * attached to an `input command_line`, Ctrl-C stops everything. `--detach` returns once every
 * process is ready; `woodwork status`, `logs` and `stop` work from any terminal through
 * `.woodwork/up.json`.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createBus } from '@woodwork/bus';
import { formatDiagnostic, loadTopology, type Topology } from '@woodwork/parser';
import { createConsoleLogger, createRuntime, runTerminal, WoodworkRuntimeError } from '@woodwork/runtime';
import {
  createRedisHostRegistry,
  describeFailure,
  distributedUrls,
  hostUnits,
  isAlive,
  isStaleRecord,
  logsDir,
  readUpState,
  redactUrl,
  runsProgram,
  startSupervisor,
  upClientOptions,
  type HostRegistry,
  type SupervisorEvent,
  type UpState,
} from '@woodwork/runtime/distributed';
import { describeUnreachableBus, isBusUnreachable } from '../bus-unreachable.js';
import { consolePortFree, openConsole, type ConsoleServer } from '../console/server.js';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { resolveWwFile } from './validate.js';

export interface UpOptions {
  readonly bus?: string;
  readonly sessions?: string;
  readonly namespace?: string;
  readonly detach?: boolean;
  /** `--no-input`: do not attach the terminal to an `input command_line`. */
  readonly input?: boolean;
  /** `--no-restart`: a process that ends stays down. */
  readonly restart?: boolean;
  /** Seconds. */
  readonly readyTimeout?: string;
  /** Seconds. */
  readonly stopTimeout?: string;
  /** Internal: this process is the background supervisor of `up --detach`. */
  readonly supervise?: boolean;
  /** Serve the web console on loopback once every process is ready (foreground only). */
  readonly console?: boolean;
  readonly consolePort?: string;
}

// ---------------------------------------------------------------------------------------------
// Shared by up, status, logs and stop

/** The folder of the project a command is about: the `.ww` file's folder. */
export async function projectDirOf(terminal: Terminal, file: string | undefined): Promise<{ target: string; projectDir: string }> {
  const target = await resolveWwFile(terminal.cwd, file);
  return { target, projectDir: path.dirname(target) };
}

/** A path as the user should read it: relative to where they are, unless that climbs out. */
export function displayPath(terminal: Terminal, file: string): string {
  const relative = path.relative(terminal.cwd, file);
  return relative === '' ? '.' : relative.startsWith('..') ? file : relative;
}

/** Prints a user error: the message, then the hint, no stack. */
export function printError(terminal: Terminal, message: string, hint?: string): void {
  const style = paint(useColor(terminal, 'stderr'));
  terminal.stderr.write(`${style('red', 'error')} ${message}\n`);
  if (hint) terminal.stderr.write(`  ${style('dim', 'hint:')} ${hint}\n`);
}

function printFailure(terminal: Terminal, error: unknown): void {
  if (WoodworkRuntimeError.isInstance(error) || (typeof (error as { code?: unknown })?.code === 'string' && String((error as { code: string }).code).startsWith('WW_'))) {
    const [first, ...rest] = describeFailure(error).split('\n');
    printError(terminal, first ?? 'failed');
    if (rest.length > 0) terminal.stderr.write(`${rest.join('\n')}\n`);
    return;
  }
  throw error;
}

const PALETTE = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

/** `name | ` padded to `width`, in the unit's colour on a TTY. */
export function unitPrefix(name: string, index: number, width: number, color: boolean): string {
  const label = `${name.padEnd(width)} |`;
  if (!color) return `${label} `;
  const code = index < 0 ? 2 : PALETTE[index % PALETTE.length]!;
  return `\u001b[${code}m${label}\u001b[${index < 0 ? 22 : 39}m `;
}

export function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `${name} is ${JSON.stringify(value)}, which is not a number of seconds`, {
      hint: `for example ${name} ${fallback}`,
    });
  }
  return Math.round(parsed * 1000);
}

/** Whether an earlier `up` of this project still runs (its supervisor, or orphaned processes). */
export async function liveProcesses(state: UpState): Promise<{ supervisor: boolean; children: number[] }> {
  const supervisor = state.pid !== process.pid && (await runsProgram(state.pid, 'woodwork'));
  const children: number[] = [];
  for (const entry of state.processes) if (entry.pid !== null && (await runsProgram(entry.pid, state.hostEntry))) children.push(entry.pid);
  return { supervisor, children };
}

function hostEntry(env: NodeJS.ProcessEnv): string {
  if (env.WOODWORK_HOST_ENTRY) return path.resolve(env.WOODWORK_HOST_ENTRY);
  try {
    return createRequire(import.meta.url).resolve('@woodwork/host');
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'the host app (@woodwork/host) is not installed next to @woodwork/cli', {
      cause: error,
      hint: 'install it, or set WOODWORK_HOST_ENTRY to its main.js (apps/host/main.js in the Woodwork repository)',
    });
  }
}

/** Node flags the processes inherit (the TypeScript loader in development), without debugger flags. */
function inheritedNodeArgs(): string[] {
  return process.execArgv.filter((flag) => !/^--(inspect|debug)/.test(flag));
}

// ---------------------------------------------------------------------------------------------

async function loadForUp(terminal: Terminal, target: string): Promise<Topology | undefined> {
  const result = await loadTopology(target, { mode: 'run', env: terminal.env });
  if (result.resolved) return result.resolved;
  const color = useColor(terminal, 'stderr');
  for (const diagnostic of result.diagnostics.filter((candidate) => candidate.severity === 'error')) {
    terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: result.sources ?? result.source, color, cwd: terminal.cwd })}\n\n`);
  }
  printError(terminal, `${displayPath(terminal, target)} cannot run`, '`woodwork validate` lists the same problems; fix them and run `woodwork up` again');
  return undefined;
}

/** Connects to the bus and the registry once, so a wrong URL fails in a second, not after a minute of restarts. */
async function checkReachable(busUrl: string, sessionsUrl: string, namespace: string): Promise<{ others: number }> {
  let bus;
  const started = Date.now();
  try {
    bus = await createBus(busUrl);
  } catch (error) {
    if (!isBusUnreachable(error)) throw error;
    const { message, hint } = describeUnreachableBus(busUrl, Date.now() - started, error);
    throw new WoodworkRuntimeError('WW_RUNTIME_STATE', message, { cause: error, ...(hint ? { hint } : {}) });
  } finally {
    await bus?.close().catch(() => undefined);
  }
  const registry = await createRedisHostRegistry({ url: sessionsUrl, namespace });
  try {
    return { others: (await registry.list()).filter((record) => !isStaleRecord(record)).length };
  } finally {
    await registry.close();
  }
}

export async function upCommand(terminal: Terminal, file: string | undefined, options: UpOptions): Promise<number> {
  const style = paint(useColor(terminal, 'stderr'));
  if (options.detach && options.console) {
    printError(terminal, '--console needs `woodwork up` in the foreground', 'drop --detach: the console lives as long as the up that serves it');
    return ExitCode.usage;
  }
  const { target, projectDir } = await projectDirOf(terminal, file);
  const shown = displayPath(terminal, target);
  try {
    const previous = await readUpState(projectDir);
    if (previous && !options.supervise) {
      const live = await liveProcesses(previous);
      if (live.supervisor) {
        printError(terminal, `woodwork up is already running for ${shown} (pid ${previous.pid})`, '`woodwork status` shows it; `woodwork stop` stops it');
        return ExitCode.problems;
      }
      if (live.children.length > 0) {
        printError(terminal, `processes of an earlier woodwork up of ${shown} still run (pids ${live.children.join(', ')}), without their supervisor`, 'run `woodwork stop` first');
        return ExitCode.problems;
      }
    }

    const topology = await loadForUp(terminal, target);
    if (!topology) return ExitCode.problems;
    // Before any broker is asked or process started: a taken console port fails at once.
    if (options.console && !options.supervise && !(await consolePortFree(terminal, options.consolePort))) return ExitCode.problems;
    const { busUrl, sessionsUrl } = distributedUrls(
      { busUrl: options.bus ?? (terminal.env.WOODWORK_BUS_URL || undefined), sessionsUrl: options.sessions ?? (terminal.env.WOODWORK_SESSIONS_URL || undefined) },
      typeof topology.bus?.url === 'string' ? topology.bus.url : undefined,
      { bus: '--bus (or WOODWORK_BUS_URL)', sessions: '--sessions (or WOODWORK_SESSIONS_URL)', file: shown },
    );
    const namespace = options.namespace ?? (terminal.env.WOODWORK_NAMESPACE || 'woodwork');
    const readyTimeoutMs = seconds(options.readyTimeout, '--ready-timeout', 90);
    const stopTimeoutMs = seconds(options.stopTimeout, '--stop-timeout', 30);
    const entry = hostEntry(terminal.env);

    if (!options.supervise) {
      const { others } = await checkReachable(busUrl, sessionsUrl, namespace);
      if (others > 0) {
        terminal.stderr.write(
          `${style('yellow', 'note')} ${others} host${others === 1 ? ' is' : 's are'} already registered in namespace ${namespace}; they will share the work (\`--namespace\` keeps topologies apart)\n`,
        );
      }
    }
    if (options.detach && !options.supervise) return await detach(terminal, { target, projectDir, busUrl, sessionsUrl, namespace, options, readyTimeoutMs });
    return await supervise(terminal, { topology, target, projectDir, busUrl, sessionsUrl, namespace, entry, options, readyTimeoutMs, stopTimeoutMs });
  } catch (error) {
    printFailure(terminal, error);
    return ExitCode.problems;
  }
}

interface Plan {
  readonly target: string;
  readonly projectDir: string;
  readonly busUrl: string;
  readonly sessionsUrl: string;
  readonly namespace: string;
  readonly options: UpOptions;
  readonly readyTimeoutMs: number;
}

/** `--detach`: the supervisor runs on in the background; this process waits for it to report ready. */
async function detach(terminal: Terminal, plan: Plan): Promise<number> {
  const style = paint(useColor(terminal, 'stderr'));
  const cli = terminal.env.WOODWORK_CLI_BIN ?? process.argv[1];
  if (!cli || !existsSync(cli)) {
    printError(terminal, 'cannot find the woodwork command to start the background supervisor', 'run it as `woodwork up --detach`, or set WOODWORK_CLI_BIN');
    return ExitCode.problems;
  }
  const logs = logsDir(plan.projectDir);
  await mkdir(logs, { recursive: true });
  const logFile = path.join(logs, 'up.log');
  const output = openSync(logFile, 'w', 0o600);
  const args = [
    ...inheritedNodeArgs(),
    cli,
    'up',
    plan.target,
    '--supervise',
    '--ready-timeout',
    String(plan.readyTimeoutMs / 1000),
    ...(plan.options.stopTimeout ? ['--stop-timeout', plan.options.stopTimeout] : []),
    ...(plan.options.restart === false ? ['--no-restart'] : []),
  ];
  // The URLs go by environment, not argv: they may carry a password, and argv is public in `ps`.
  const env = { ...terminal.env, WOODWORK_BUS_URL: plan.busUrl, WOODWORK_SESSIONS_URL: plan.sessionsUrl, WOODWORK_NAMESPACE: plan.namespace };
  const child = spawn(process.execPath, args, { cwd: terminal.cwd, env, detached: true, stdio: ['ignore', output, output] });
  child.unref();
  closeSync(output);
  const pid = child.pid;
  const deadline = Date.now() + plan.readyTimeoutMs + 10_000;
  terminal.stderr.write(`${style('dim', '…')} starting ${displayPath(terminal, plan.target)} in the background (supervisor pid ${pid})\n`);
  for (;;) {
    const state = await readUpState(plan.projectDir);
    if (state && state.pid === pid && state.phase === 'running') {
      printReady(terminal, state);
      const where = path.resolve(terminal.cwd, 'main.ww') === plan.target ? '' : ` ${displayPath(terminal, plan.projectDir)}`;
      terminal.stdout.write(`${style('dim', 'logs:')} woodwork logs${where} -f   ${style('dim', 'status:')} woodwork status${where}   ${style('dim', 'stop:')} woodwork stop${where}\n`);
      return ExitCode.ok;
    }
    if (!isAlive(pid) || Date.now() > deadline) {
      if (isAlive(pid)) process.kill(pid!, 'SIGTERM');
      const { readFile } = await import('node:fs/promises');
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-30).join('\n');
      printError(terminal, `woodwork up did not become ready${isAlive(pid) ? ` within ${Math.round(plan.readyTimeoutMs / 1000)} s` : ''}; its output:`);
      if (tail) terminal.stderr.write(`${tail}\n`);
      return ExitCode.problems;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function printReady(terminal: Terminal, state: UpState): void {
  const style = paint(useColor(terminal));
  const mark = useColor(terminal) ? style('green', '✔') : '✔';
  const names = state.processes.map((entry) => (entry.components.length > 1 ? `${entry.name} (${entry.components.join(', ')})` : entry.name));
  terminal.stdout.write(
    `${mark} ${state.processes.length} process${state.processes.length === 1 ? '' : 'es'} ready on ${redactUrl(state.busUrl)} (namespace ${state.namespace}): ${names.join(', ')}\n`,
  );
}

/** The supervisor itself: in the foreground, or as the background process of `--detach`. */
async function supervise(
  terminal: Terminal,
  plan: Plan & { readonly topology: Topology; readonly entry: string; readonly stopTimeoutMs: number },
): Promise<number> {
  const background = plan.options.supervise === true;
  const color = !background && useColor(terminal);
  const style = paint(color);
  const width = Math.max(2, ...hostUnits(plan.topology).map((unit) => unit.name.length));
  const order = new Map<string, number>();
  // In the background the lines go to .woodwork/logs/up.log, timestamped like the processes' logs.
  const say = (text: string) =>
    terminal.stderr.write(background ? `${new Date().toISOString()} ${text}\n` : `${unitPrefix('up', -1, width, color)}${text}\n`);

  const onEvent = (event: SupervisorEvent) => {
    switch (event.type) {
      case 'spawned':
        if (event.restart > 0 || background) say(`${event.unit}: started (pid ${event.pid}, port ${event.port})`);
        break;
      case 'ready':
        if (background) say(`${event.unit}: ready in ${event.afterMs} ms`);
        break;
      case 'exited':
        if (!event.expected) say(style('yellow', `${event.unit}: exited (${event.signal ?? `code ${event.code}`})`));
        break;
      case 'restarting':
        say(`${event.unit}: restarting in ${event.delayMs / 1000} s (restart #${event.restart})`);
        break;
      case 'failed':
        say(style('red', `${event.unit}: ${event.reason}`));
        break;
      case 'killed':
        say(style('yellow', `${event.unit}: did not stop in time; killed`));
        break;
      case 'released':
        if (event.messages > 0) say(`${event.unit}: ${event.messages} message(s) it held went back to the other instances`);
        break;
      case 'release-failed':
        say(style('yellow', `${event.unit}: could not hand its messages on at once (${event.reason}); they move when its lease runs out`));
        break;
    }
  };
  const onLine = background
    ? undefined
    : (unit: string, line: string) => {
        if (!order.has(unit)) order.set(unit, order.size);
        terminal.stdout.write(`${unitPrefix(unit, order.get(unit)!, width, color)}${line}\n`);
      };

  const stopRequested = new AbortController();
  const onSignal = () => stopRequested.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal ends a foreground `up` like Ctrl-C (its processes must not outlive it); the
  // background supervisor has no terminal to lose.
  const onHangup = background ? () => undefined : onSignal;
  process.on('SIGHUP', onHangup);
  const stopped = new Promise<void>((resolve) => stopRequested.signal.addEventListener('abort', () => resolve(), { once: true }));

  say(`starting ${plan.topology.components.length} component${plan.topology.components.length === 1 ? '' : 's'} on ${redactUrl(plan.busUrl)} (namespace ${plan.namespace})`);
  const supervisor = await startSupervisor({
    topology: plan.topology,
    file: plan.target,
    projectDir: plan.projectDir,
    busUrl: plan.busUrl,
    sessionsUrl: plan.sessionsUrl,
    namespace: plan.namespace,
    hostEntry: plan.entry,
    // The same working directory and Node flags as this command, so `--import` loaders resolve alike.
    cwd: terminal.cwd,
    nodeArgs: inheritedNodeArgs(),
    // The console's timeline and metrics are the processes' metrics events (unless turned off by name).
    env: plan.options.console && !background ? { WOODWORK_METRICS_EVENTS: '1', ...terminal.env } : terminal.env,
    restart: plan.options.restart !== false,
    detached: background,
    readyTimeoutMs: plan.readyTimeoutMs,
    stopTimeoutMs: plan.stopTimeoutMs,
    ...(onLine ? { onLine } : {}),
    onEvent,
  });
  supervisor.units.forEach((unit, index) => order.set(unit.name, index));

  let exitCode: number = ExitCode.ok;
  let client: ReturnType<typeof createRuntime> | undefined;
  let consoleClient: ReturnType<typeof createRuntime> | undefined;
  let webConsole: ConsoleServer | undefined;
  let consoleRegistry: HostRegistry | undefined;
  try {
    const started = await Promise.race([supervisor.ready.then(() => 'ready' as const), stopped.then(() => 'stopped' as const)]).catch((error: unknown) => {
      say(style('red', `cannot start: ${(error as Error).message}`));
      return 'failed' as const;
    });
    if (started === 'failed') exitCode = ExitCode.problems;
    if (started === 'ready') {
      if (!background) printReady(terminal, supervisor.state());
      if (plan.options.console && !background) {
        // A client of the processes, with no components of its own, as `run --attach` is.
        consoleClient = createRuntime(plan.topology, { ...upClientOptions(supervisor.state()), logger: createConsoleLogger({ level: 'warn', stream: terminal.stderr }) });
        await consoleClient.start();
        // Each component's instances are the registry's live records of it, wherever they run.
        consoleRegistry = await createRedisHostRegistry({ url: plan.sessionsUrl, namespace: plan.namespace }).catch((error: unknown) => {
          say(style('yellow', `the console shows no instances: ${(error as Error).message}`));
          return undefined;
        });
        webConsole = await openConsole(terminal, consoleClient, plan.options.consolePort, { say, ...(consoleRegistry ? { hosts: consoleRegistry } : {}) });
        if (!webConsole) {
          exitCode = ExitCode.problems;
          stopRequested.abort();
        }
      }
      const input = plan.topology.components.find((component) => component.kind === 'input' && component.type === 'command_line');
      if (stopRequested.signal.aborted) {
        // The console was asked for and did not start (said above): stop every process.
      } else if (input && !background && plan.options.input !== false) {
        client = createRuntime(plan.topology, {
          ...upClientOptions(supervisor.state()),
          logger: createConsoleLogger({ level: 'warn', stream: terminal.stderr }),
          io: { stdout: terminal.stdout, stderr: terminal.stderr, color },
        });
        await client.start();
        const interactive = process.stdin.isTTY === true;
        const result = await runTerminal(client, {
          stdin: process.stdin,
          stdout: terminal.stdout,
          stderr: terminal.stderr,
          color,
          to: input.name,
          signal: stopRequested.signal,
          cwd: terminal.cwd,
          banner: style('dim', `Talking to \`${input.name}\`: type a message, Ctrl-C stops every process.`),
        });
        // A terminal session that ends (Ctrl-C, Ctrl-D) ends `up`; piped input that ends leaves the processes running.
        if (interactive || result.reason !== 'end of input') stopRequested.abort();
        else say(`input ended; the processes keep running (Ctrl-C or \`woodwork stop\` stops them)`);
      } else if (!background) {
        say(`Ctrl-C stops every process; \`woodwork status\`, \`woodwork logs -f\` and \`woodwork stop\` work from another terminal`);
      }
      await stopped;
    }
  } finally {
    say('stopping: SIGTERM to every process, waiting for in-flight work');
    await client?.stop().catch(() => undefined);
    await webConsole?.close().catch(() => undefined);
    await consoleRegistry?.close().catch(() => undefined);
    await consoleClient?.stop().catch(() => undefined);
    const { killed } = await supervisor.stop();
    say(killed.length > 0 ? style('yellow', `stopped (${killed.join(', ')} killed after ${plan.stopTimeoutMs / 1000} s)`) : 'stopped');
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
  }
  return exitCode;
}
