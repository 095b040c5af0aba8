/**
 * The supervisor behind `woodwork up`: one OS process per unit of a topology (a component, or a
 * `vm server` group), each running the host app — `node <host entry>` with the host's environment
 * variables, the very command a container runs. It
 *
 * - gives each process a port on 127.0.0.1 and waits for its `/ready`;
 * - writes each process's output, line by line with a timestamp, to `.woodwork/logs/<unit>.log`,
 *   and hands each line to `onLine` (the CLI prefixes it with the unit, in colour on a TTY);
 * - releases at once what a process that died held on the bus (`Bus.releaseConsumer`), so the
 *   other instances take its messages now instead of after its lease;
 * - restarts a process that ends without being asked to, with exponential backoff (1 s, 2 s, …
 *   30 s; back to 1 s after a minute of uptime), except one that exits with 78 (a configuration
 *   error: it would fail the same way again);
 * - keeps `.woodwork/up.json` current (state.ts), so `woodwork status`, `logs` and `stop` work
 *   from another terminal;
 * - on `stop()` sends SIGTERM to every process (each drains), waits, and sends SIGKILL to what is
 *   left after the deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { hostname } from 'node:os';
import path from 'node:path';
import { createBus, type Bus } from '@woodwork/bus';
import type { Topology } from '@woodwork/parser';
import { componentGroup, componentTopic, eventsTopic, hooksGroup } from '../topics.js';
import { HostEnv } from './host-config.js';
import { freePorts, serverPorts } from './ports.js';
import { HostExitCode } from './process.js';
import { logsDir, removeUpState, writeUpState, type UpProcessState, type UpState } from './state.js';
import { hostUnits, type HostUnit } from './units.js';

export interface SupervisorOptions {
  readonly topology: Topology;
  /** The `.ww` file (or topology JSON) every process loads. */
  readonly file: string;
  /** Where `.woodwork/` goes, and the processes' working directory. */
  readonly projectDir: string;
  readonly busUrl: string;
  readonly sessionsUrl: string;
  readonly namespace: string;
  /** The host app's entry (apps/host/main.js): each process runs `node <hostEntry>`. */
  readonly hostEntry: string;
  /** The processes' working directory. Default: `projectDir`. */
  readonly cwd?: string;
  /** Node flags before the entry (e.g. `--conditions=…`). Default none. */
  readonly nodeArgs?: readonly string[];
  /** The processes' environment, before the host variables are added. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Restart processes that end unasked. Default true. */
  readonly restart?: boolean;
  /** Whether `up` runs in the background (recorded in the state file). Default false. */
  readonly detached?: boolean;
  /** How long `stop()` waits for a process after SIGTERM before SIGKILL. Default 30 000 ms. */
  readonly stopTimeoutMs?: number;
  /** How long `ready` waits for every process's `/ready`. Default 90 000 ms (Kafka groups join slowly). */
  readonly readyTimeoutMs?: number;
  /** Each line a process writes (stdout or stderr). */
  readonly onLine?: (unit: string, line: string, stream: 'stdout' | 'stderr') => void;
  /** What happens to the processes, for the CLI to report. */
  readonly onEvent?: (event: SupervisorEvent) => void;
}

export type SupervisorEvent =
  | { readonly type: 'spawned'; readonly unit: string; readonly pid: number; readonly port: number; readonly restart: number }
  | { readonly type: 'ready'; readonly unit: string; readonly pid: number; readonly port: number; readonly afterMs: number }
  | { readonly type: 'exited'; readonly unit: string; readonly pid: number; readonly code: number | null; readonly signal: string | null; readonly expected: boolean }
  | { readonly type: 'restarting'; readonly unit: string; readonly delayMs: number; readonly restart: number }
  | { readonly type: 'failed'; readonly unit: string; readonly reason: string }
  | { readonly type: 'killed'; readonly unit: string; readonly pid: number }
  /** The work a dead process held went back to the other instances at once (adapters that can: Redis). */
  | { readonly type: 'released'; readonly unit: string; readonly pid: number; readonly messages: number }
  | { readonly type: 'release-failed'; readonly unit: string; readonly pid: number; readonly reason: string };

export interface Supervisor {
  readonly units: readonly HostUnit[];
  /** Resolves when every process answered `/ready` once; rejects when one cannot start (its log tail is in the error). */
  readonly ready: Promise<void>;
  /** The state as written to `.woodwork/up.json`. */
  state(): UpState;
  /** SIGTERM to all, wait, SIGKILL after the deadline; resolves with the units that had to be killed. Idempotent. */
  stop(): Promise<{ readonly killed: readonly string[] }>;
}

interface Slot {
  readonly unit: HostUnit;
  port: number;
  readonly logFile: string;
  readonly log: WriteStream;
  child: ChildProcess | undefined;
  status: UpProcessState['status'];
  restarts: number;
  /** Consecutive quick failures, for the backoff. */
  failures: number;
  lastExit: UpProcessState['lastExit'];
  startedAt: number | null;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  exited: Promise<void> | undefined;
  /** The last lines, for error messages. */
  readonly tail: string[];
}

const TAIL_LINES = 20;

/** GET http://127.0.0.1:port/path → status code, or 0 when nothing answers. */
export function probe(port: number, route: string, timeoutMs = 1_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: route, method: 'GET', timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Splits a stream into lines (the last partial line is flushed at the end). */
function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let index: number;
    while ((index = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, index).replace(/\r$/, ''));
      pending = pending.slice(index + 1);
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
  });
}

export async function startSupervisor(options: SupervisorOptions): Promise<Supervisor> {
  const units = hostUnits(options.topology);
  const restart = options.restart ?? true;
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const startedAt = new Date().toISOString();
  const emit = (event: SupervisorEvent) => options.onEvent?.(event);

  const logs = logsDir(options.projectDir);
  await mkdir(logs, { recursive: true });
  const reserved = serverPorts(options.topology, options.env ?? process.env);
  const ports = await freePorts(units.length, reserved);
  const slots: Slot[] = [];
  for (const [index, unit] of units.entries()) {
    const logFile = path.join(logs, `${unit.name}.log`);
    await rm(logFile, { force: true });
    slots.push({
      unit,
      port: ports[index]!,
      logFile,
      log: createWriteStream(logFile, { flags: 'a', mode: 0o600 }),
      child: undefined,
      status: 'starting',
      restarts: 0,
      failures: 0,
      lastExit: null,
      startedAt: null,
      restartTimer: undefined,
      exited: undefined,
      tail: [],
    });
  }

  let phase: UpState['phase'] = 'starting';
  let stopping: Promise<{ killed: string[] }> | undefined;

  const state = (): UpState => ({
    version: 1,
    pid: process.pid,
    file: options.file,
    projectDir: options.projectDir,
    busUrl: options.busUrl,
    sessionsUrl: options.sessionsUrl,
    namespace: options.namespace,
    hostEntry: options.hostEntry,
    startedAt,
    detached: options.detached ?? false,
    phase,
    processes: slots.map((slot) => ({
      name: slot.unit.name,
      components: slot.unit.components,
      pid: slot.child?.pid ?? null,
      port: slot.port,
      status: slot.status,
      restarts: slot.restarts,
      lastExit: slot.lastExit,
      startedAt: slot.startedAt === null ? null : new Date(slot.startedAt).toISOString(),
      logFile: path.relative(options.projectDir, slot.logFile),
    })),
  });

  // Writes are chained so the file always ends with the newest state.
  let writing: Promise<void> = Promise.resolve();
  const persist = () => {
    const snapshot = state();
    writing = writing.then(() => writeUpState(snapshot)).catch(() => undefined);
    return writing;
  };

  const record = (slot: Slot, line: string, stream: 'stdout' | 'stderr') => {
    slot.log.write(`${new Date().toISOString()} ${line}\n`);
    slot.tail.push(line);
    if (slot.tail.length > TAIL_LINES) slot.tail.shift();
    options.onLine?.(slot.unit.name, line, stream);
  };

  let readyResolve!: () => void;
  let readyReject!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  ready.catch(() => undefined);
  const checkAllReady = () => {
    if (phase === 'starting' && slots.every((slot) => slot.status === 'ready')) {
      phase = 'running';
      readyResolve();
    }
  };
  const failStart = (slot: Slot, reason: string) => {
    const tail = slot.tail.length > 0 ? `\n${slot.tail.map((line) => `  ${slot.unit.name} | ${line}`).join('\n')}` : '';
    readyReject(new Error(`\`${slot.unit.name}\` ${reason}${tail}`));
  };

  const watchReady = async (slot: Slot, child: ChildProcess) => {
    const began = Date.now();
    while (slot.child === child && child.exitCode === null && child.signalCode === null && !stopping) {
      const { status } = await probe(slot.port, '/ready', 1_000);
      if (status === 200) {
        if (slot.child !== child || stopping) return;
        slot.status = 'ready';
        emit({ type: 'ready', unit: slot.unit.name, pid: child.pid!, port: slot.port, afterMs: Date.now() - began });
        checkAllReady();
        await persist();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const launch = (slot: Slot) => {
    slot.restartTimer = undefined;
    if (stopping) return;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.env ?? process.env)) if (value !== undefined) env[key] = value;
    Object.assign(env, {
      [HostEnv.topology]: options.file,
      [HostEnv.component]: slot.unit.name,
      [HostEnv.busUrl]: options.busUrl,
      [HostEnv.sessionsUrl]: options.sessionsUrl,
      [HostEnv.namespace]: options.namespace,
      [HostEnv.port]: String(slot.port),
      [HostEnv.listenHost]: '127.0.0.1',
      [HostEnv.projectDir]: options.projectDir,
    });
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.hostEntry], {
      cwd: options.cwd ?? options.projectDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: Ctrl-C reaches `up`, which stops the processes in order.
      detached: true,
    });
    slot.child = child;
    slot.status = 'starting';
    slot.startedAt = Date.now();
    eachLine(child.stdout!, (line) => record(slot, line, 'stdout'));
    eachLine(child.stderr!, (line) => record(slot, line, 'stderr'));
    slot.exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        // Node itself could not be started: retrying would fail the same way.
        record(slot, `cannot start the host process: ${error.message}`, 'stderr');
        if (slot.child === child) slot.child = undefined;
        slot.status = 'failed';
        emit({ type: 'failed', unit: slot.unit.name, reason: `cannot start: ${error.message}` });
        failStart(slot, `cannot start: ${error.message}`);
        void persist();
        resolve();
      });
      child.once('close', (code, signal) => {
        onExit(slot, child, code, signal);
        resolve();
      });
    });
    if (child.pid !== undefined) {
      emit({ type: 'spawned', unit: slot.unit.name, pid: child.pid, port: slot.port, restart: slot.restarts });
      void persist();
      void watchReady(slot, child);
    }
  };

  // One connection to the bus, opened once every process is ready (or the first time a process
  // dies, if that comes first), to hand a dead process's work on.
  let releaser: Promise<Bus> | undefined;
  const connectReleaser = (): Promise<Bus> => {
    const connecting = createBus(options.busUrl);
    // A failed connection is tried again at the next death.
    connecting.catch(() => {
      if (releaser === connecting) releaser = undefined;
    });
    return connecting;
  };
  const releaseWorkOf = async (unit: HostUnit, pid: number) => {
    try {
      releaser ??= connectReleaser();
      const bus = await releaser;
      // The bus names a process's members `<hostname>-<pid>-…`: the prefix releases all of them.
      const member = `${hostname()}-${pid}`;
      let messages = 0;
      let released = false;
      for (const component of unit.components) {
        for (const [topic, group] of [
          [componentTopic(options.namespace, component), componentGroup(component)],
          [eventsTopic(options.namespace), hooksGroup(component)],
        ] as const) {
          const count = await bus.releaseConsumer(topic, group, member);
          if (count !== undefined) {
            released = true;
            messages += count;
          }
        }
      }
      if (released) emit({ type: 'released', unit: unit.name, pid, messages });
    } catch (error) {
      emit({ type: 'release-failed', unit: unit.name, pid, reason: error instanceof Error ? error.message : String(error) });
    }
  };

  const onExit = (slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => {
    if (slot.child !== child) return;
    const expected = stopping !== undefined;
    slot.lastExit = { code, signal, at: new Date().toISOString() };
    slot.child = undefined;
    emit({ type: 'exited', unit: slot.unit.name, pid: child.pid ?? 0, code, signal, expected });
    if (expected) {
      slot.status = 'stopped';
      return;
    }
    if (child.pid !== undefined) void releaseWorkOf(slot.unit, child.pid);
    const upFor = Date.now() - (slot.startedAt ?? Date.now());
    if (code === HostExitCode.config) {
      slot.status = 'failed';
      emit({ type: 'failed', unit: slot.unit.name, reason: 'its configuration is wrong (exit code 78); see its log' });
      failStart(slot, 'cannot start: its configuration is wrong (exit code 78)');
      void persist();
      return;
    }
    if (!restart) {
      slot.status = 'failed';
      emit({ type: 'failed', unit: slot.unit.name, reason: `exited (${signal ?? `code ${code}`}) and restarts are off` });
      failStart(slot, `exited (${signal ?? `code ${code}`}) before it was ready`);
      void persist();
      return;
    }
    slot.failures = upFor > 60_000 ? 1 : slot.failures + 1;
    const delayMs = Math.min(30_000, 1_000 * 2 ** Math.max(0, slot.failures - 1));
    slot.restarts++;
    slot.status = 'restarting';
    emit({ type: 'restarting', unit: slot.unit.name, delayMs, restart: slot.restarts });
    void persist();
    slot.restartTimer = setTimeout(() => void relaunch(slot), delayMs);
  };

  // A restarted process gets a port found free now: its old one may have been taken meanwhile
  // (every outgoing connection on this machine borrows a port from the same range).
  const relaunch = async (slot: Slot) => {
    try {
      slot.port = (await freePorts(1, reserved))[0]!;
    } catch {
      // No port to be had right now: try the old one; the host says so if it is taken.
    }
    // stop() clears the timer: then this restart is off.
    if (slot.restartTimer !== undefined) launch(slot);
  };

  for (const slot of slots) launch(slot);
  await persist();

  const readyTimer = setTimeout(() => {
    const waiting = slots.filter((slot) => slot.status !== 'ready');
    if (waiting.length > 0 && phase === 'starting') {
      failStart(waiting[0]!, `was not ready after ${Math.round(readyTimeoutMs / 1000)} s (still ${waiting[0]!.status}; waiting: ${waiting.map((slot) => slot.unit.name).join(', ')})`);
    }
  }, readyTimeoutMs);
  readyTimer.unref();
  ready.then(
    () => {
      clearTimeout(readyTimer);
      // Connected ahead of the first death, so its release does not wait for a connection first
      // (about 0.8 s to NATS on a loaded machine, out of a 5 s recovery target).
      if (stopping === undefined) releaser ??= connectReleaser();
    },
    () => clearTimeout(readyTimer),
  );

  const stop = () =>
    (stopping ??= (async () => {
      phase = 'stopping';
      readyReject(new Error('stopped before every process was ready'));
      for (const slot of slots) {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
        if (slot.child) slot.status = 'stopping';
        else if (slot.status !== 'failed') slot.status = 'stopped';
      }
      await persist();
      const running = slots.filter((slot) => slot.child?.pid !== undefined && slot.child.exitCode === null && slot.child.signalCode === null);
      for (const slot of running) slot.child!.kill('SIGTERM');
      const killed: string[] = [];
      await Promise.all(
        running.map(async (slot) => {
          const child = slot.child!;
          const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), stopTimeoutMs).unref());
          if ((await Promise.race([slot.exited!.then(() => 'done' as const), deadline])) === 'late') {
            killed.push(slot.unit.name);
            emit({ type: 'killed', unit: slot.unit.name, pid: child.pid! });
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
            await slot.exited;
          }
        }),
      );
      await Promise.all(slots.map((slot) => new Promise<void>((resolve) => slot.log.end(() => resolve()))));
      await releaser?.then((bus) => bus.close()).catch(() => undefined);
      await writing;
      await removeUpState(options.projectDir);
      return { killed };
    })());

  return { units, ready, state, stop };
}
