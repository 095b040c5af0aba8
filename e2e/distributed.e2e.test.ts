/**
 * Distributed mode, end to end: `woodwork up` (the built CLI, as a user runs it) starts every
 * component — or `vm server` group — as its own OS process running the host app, over real Redis,
 * NATS and Kafka. One suite, run once per broker:
 *
 * - the pipeline fixture (input → echo with a pipe and a throwing hook → a `vm server` group of
 *   uppercase + console output): N messages across several sessions, the middle process SIGKILLed
 *   mid-session and restarted by `up`'s supervisor — nothing lost, per-session order kept; a
 *   message in flight when that process gets SIGTERM finishes (drain), exit code 0; the hook that
 *   throws never breaks the chain and is counted in `/metrics` and logged; `/health`, `/ready`,
 *   `/metrics` of every host; `woodwork status`, `logs`, `stop`;
 * - every example in examples/ whose components all run without an LLM: the same kill-and-restart
 *   run, its replies compared with the same topology run embedded.
 *
 * Broker URLs come from WOODWORK_TEST_{REDIS,NATS,KAFKA}_URL (`tools/services.sh env`); a suite
 * whose broker is unset is skipped with a message, or fails when WOODWORK_TEST_REQUIRE_BROKERS=1.
 * Sessions and the registry always live in Redis, so every suite needs WOODWORK_TEST_REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadTopology, type Topology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, textOf, type Runtime, type SessionEvent } from '@woodwork/runtime';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;

// ---------------------------------------------------------------------------------------------
// The fixture

const FIXTURE: Record<string, string> = {
  'main.ww': `// A pipeline over three processes: in, echo, and the \`tail\` group (shout + out).
in = input command_line { to = echo }

echo = transform echo {
    prefix = "echo:"
    to = shout
    pipes = ["pipes.ts::pace"]
    hooks = [{ event = "*", function = "hooks.ts::explode" }]
}

shout = transform uppercase { to = out }
out = console {}

tail = vm server { components = [shout, out] }
`,
  'pipes.ts': `// Slows every message a little (so a kill lands mid-stream) and \`slow\` ones a lot (so SIGTERM
// finds one in flight); says when a slow one starts, for the test to see in the log.
export async function pace(payload: unknown): Promise<unknown> {
  const text = typeof payload === 'object' && payload !== null ? String((payload as { input?: unknown }).input ?? '') : String(payload);
  if (text.includes('slow')) {
    console.error('pace: slow message started ' + text);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  } else {
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  return payload;
}
`,
  'hooks.ts': `// A hook that always throws: the chain must not notice.
export function explode(): void {
  throw new Error('this hook always throws');
}
`,
};

const expectedReply = (text: string) => `ECHO:${text}`.toUpperCase();

// ---------------------------------------------------------------------------------------------
// Helpers

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], {
      cwd: options.cwd ?? root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`woodwork ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function get(port: number, route: string): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: route, timeout: 5_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, contentType: String(response.headers['content-type'] ?? '') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${route} on port ${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Minimal Prometheus text parsing: `name{labels} value` lines into [name, labels, value]. */
function parsePrometheus(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface UpState {
  pid: number;
  phase: string;
  processes: { name: string; components: string[]; pid: number | null; port: number; status: string; restarts: number; lastExit: { code: number | null; signal: string | null } | null }[];
}

async function readState(dir: string): Promise<UpState | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, '.woodwork', 'up.json'), 'utf8')) as UpState;
  } catch {
    return undefined;
  }
}

function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The unit that gets the input's output: the one to kill (it sits in the middle of the chain). */
function middleUnit(topology: Topology, state: UpState): UpState['processes'][number] {
  const input = topology.components.find((component) => component.kind === 'input');
  const next = input?.to[0];
  const candidates = state.processes.filter((entry) => !entry.components.includes(input?.name ?? ''));
  return candidates.find((entry) => next !== undefined && entry.components.includes(next)) ?? candidates[0] ?? state.processes[0]!;
}

/** Every `session.replied` of a session, in arrival order, from now on. */
function collectReplies(runtime: Runtime, sessionId: string, into: string[], onReply: () => void): AbortController {
  const stop = new AbortController();
  void (async () => {
    for await (const event of runtime.events(sessionId, { from: 'live', signal: stop.signal }) as AsyncIterable<SessionEvent>) {
      if (event.event_type === 'session.replied') {
        into.push(textOf(event.payload));
        onReply();
      }
    }
  })();
  return stop;
}

/** The last lines of every process's log, for failure messages. */
async function logTails(dir: string): Promise<string> {
  const logs = path.join(dir, '.woodwork', 'logs');
  const parts = [];
  for (const name of await readdir(logs).catch(() => [] as string[])) {
    const lines = (await readFile(path.join(logs, name), 'utf8')).trimEnd().split('\n').slice(-15);
    parts.push(`--- ${name}\n${lines.join('\n')}`);
  }
  return parts.join('\n');
}

function collapseAdjacent(values: readonly string[]): string[] {
  return values.filter((value, index) => index === 0 || values[index - 1] !== value);
}

// ---------------------------------------------------------------------------------------------
// Which examples can run here

/** An example's `${PORT:-8000}` (an API gateway) on a free port, so runs never collide. */
const EXAMPLE_ENV = { PORT: '0' };

async function runnableExamples(): Promise<{ name: string; dir: string }[]> {
  const base = path.join(root, 'examples');
  const registry = createComponentRegistry();
  const found: { name: string; dir: string }[] = [];
  for (const name of (await readdir(base).catch(() => [] as string[])).sort()) {
    const file = path.join(base, name, 'main.ww');
    if (!existsSync(file)) continue;
    const { resolved } = await loadTopology(file, { mode: 'run', env: EXAMPLE_ENV });
    if (!resolved) {
      console.warn(`[distributed e2e] examples/${name}: not runnable without its environment (or invalid); skipped`);
      continue;
    }
    const missing = resolved.components.filter((component) => !registry.get(component.kind, component.type));
    if (missing.length > 0) {
      console.warn(`[distributed e2e] examples/${name}: needs ${missing.map((c) => `${c.kind} ${c.type}`).join(', ')} (an LLM or other AI component); skipped`);
      continue;
    }
    if (!resolved.components.some((component) => component.kind === 'input')) continue;
    found.push({ name, dir: path.join(base, name) });
  }
  return found;
}
const examples = await runnableExamples();

// ---------------------------------------------------------------------------------------------
// The suite, once per broker

interface Broker {
  readonly name: 'redis' | 'nats' | 'kafka';
  readonly url: string | undefined;
  /** Messages per session and sessions: Kafka is kept lean (group joins are slow). */
  readonly sessions: number;
  readonly messages: number;
  readonly timeoutMs: number;
}

const brokers: Broker[] = [
  { name: 'redis', url: process.env.WOODWORK_TEST_REDIS_URL, sessions: 4, messages: 15, timeoutMs: 240_000 },
  { name: 'nats', url: process.env.WOODWORK_TEST_NATS_URL, sessions: 4, messages: 12, timeoutMs: 300_000 },
  { name: 'kafka', url: process.env.WOODWORK_TEST_KAFKA_URL, sessions: 3, messages: 8, timeoutMs: 480_000 },
];

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

interface Running {
  readonly dir: string;
  readonly topology: Topology;
  readonly namespace: string;
  readonly client: Runtime;
  state(): Promise<UpState>;
}

/** `woodwork up --detach` in a fresh copy of a project, and a client runtime talking to it. */
async function up(broker: Broker, source: string | Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), `ww-e2e-${broker.name}-`));
  if (typeof source === 'string') await cp(source, dir, { recursive: true });
  else for (const [name, text] of Object.entries(source)) await writeFile(path.join(dir, name), text);
  const namespace = `e2e-${broker.name}-${randomUUID().slice(0, 8)}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const result = await cli(['stop', dir, '--timeout', '30'], { timeoutMs: 60_000 }).catch(() => undefined);
    const state = await readState(dir);
    for (const pid of [state?.pid, ...(state?.processes.map((entry) => entry.pid) ?? [])]) if (alive(pid)) process.kill(pid!, 'SIGKILL');
    if (result?.code === 0 && !state) await rm(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);

  const started = await cli(['up', dir, '--bus', broker.url!, '--sessions', redisUrl!, '--namespace', namespace, '--detach', '--ready-timeout', String(broker.timeoutMs / 2000)], {
    timeoutMs: broker.timeoutMs / 2 + 30_000,
    env,
  });
  expect(started.code, `woodwork up --detach failed:\n${started.stdout}\n${started.stderr}`).toBe(0);
  expect(started.stdout).toMatch(/✔ \d+ process(es)? ready/);

  const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: env as Record<string, string> });
  const topology = resolved!;
  const client = createRuntime(topology, {
    bus: broker.url!,
    sessions: { redis: redisUrl! },
    namespace,
    components: [],
    turnTimeoutMs: broker.timeoutMs,
  });
  await client.start();
  cleanups.push(() => client.stop());
  return { dir, topology, namespace, client, state: async () => (await readState(dir))! };
}

/**
 * Sends `messages` inputs into each of `sessions` sessions (paced, not waiting for replies),
 * SIGKILLs the middle process once a third of the replies arrived, and checks every turn: its
 * text (from `expected`), and per session the replies in the order sent. Each session holds its
 * last third back until the kill, so the kill always lands mid-stream, however fast the machine.
 */
async function killMidSession(run: Running, broker: Broker, expected: (text: string) => string | Promise<string>): Promise<void> {
  const total = broker.sessions * broker.messages;
  let replies = 0;
  const sessions = await Promise.all(Array.from({ length: broker.sessions }, () => run.client.create()));
  const received = new Map(sessions.map((id) => [id, [] as string[]]));
  const readers = sessions.map((id) => collectReplies(run.client, id, received.get(id)!, () => replies++));
  const before = await run.state();
  const victim = middleUnit(run.topology, before);

  let killed!: () => void;
  const afterKill = new Promise<void>((resolve) => (killed = resolve));
  const killer = (async () => {
    try {
      await until('a third of the replies', broker.timeoutMs, () => replies >= Math.ceil(total / 3) || undefined).catch(async (error: Error) => {
        throw new Error(`${error.message} (${replies} of ${total} so far)\n${await logTails(run.dir)}`);
      });
      process.kill(victim.pid!, 'SIGKILL');
      // Something else takes the killed process's port before its restart: the restart must come
      // up on another one rather than fail.
      const squatter = createServer();
      await new Promise<void>((resolve) => {
        squatter.once('error', () => resolve()); // already taken by something else: just as good
        squatter.listen(victim.port, '127.0.0.1', () => resolve());
      });
      cleanups.push(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    } finally {
      killed();
    }
  })();

  const heldBackFrom = Math.ceil((2 * broker.messages) / 3);
  const turns = await Promise.all(
    sessions.map(async (sessionId, s) => {
      const sent = [];
      for (let m = 0; m < broker.messages; m++) {
        if (m === heldBackFrom) await afterKill;
        sent.push({ text: `s${s}-m${m}`, turn: await run.client.submit(sessionId, `s${s}-m${m}`) });
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      return Promise.all(sent.map(async ({ text, turn }) => ({ sessionId, text, result: await turn.result })));
    }),
  );
  // The kill landed mid-stream by construction: the last third of every session was sent after it.
  await killer;

  for (const turn of turns.flat()) {
    expect(turn.result.ok, `turn ${turn.text} failed: ${JSON.stringify(turn.result.errors.map((e) => e.payload))}`).toBe(true);
    expect(turn.result.text).toBe(await expected(turn.text));
  }
  // Per session: every reply, in the order sent (a redelivered message may repeat, adjacent to itself).
  for (const [s, sessionId] of sessions.entries()) {
    const want = await Promise.all(Array.from({ length: broker.messages }, (_, m) => expected(`s${s}-m${m}`)));
    await until(`every reply of session ${s}`, 30_000, () => new Set(received.get(sessionId)).size >= want.length || undefined);
    expect(collapseAdjacent(received.get(sessionId)!)).toEqual(want);
  }
  for (const reader of readers) reader.abort();

  const restarted = await until(`${victim.name} restarted and ready`, broker.timeoutMs, async () => {
    const entry = (await run.state()).processes.find((candidate) => candidate.name === victim.name)!;
    return entry.restarts > victim.restarts && entry.status === 'ready' && entry.pid !== victim.pid ? entry : undefined;
  });
  expect(restarted.lastExit?.signal).toBe('SIGKILL');
  expect(restarted.port, 'the restart found its old port taken and took another').not.toBe(victim.port);
  expect((await get(restarted.port, '/ready')).status).toBe(200);
}

for (const broker of brokers) {
  const missing = [broker.url ? undefined : `WOODWORK_TEST_${broker.name.toUpperCase()}_URL`, redisUrl ? undefined : 'WOODWORK_TEST_REDIS_URL'].filter(Boolean);
  if (missing.length > 0 && !requireBrokers) {
    console.warn(`[distributed e2e] SKIPPING the ${broker.name} suite: ${missing.join(' and ')} not set (run \`eval "$(bash tools/services.sh start)"\`)`);
  }
  const suite = missing.length > 0 && !requireBrokers ? describe.skip : describe;

  suite(`woodwork up over ${broker.name}`, () => {
    it('runs the pipeline fixture as separate processes: endpoints, kill and restart, drain, a throwing hook, status, logs, stop', { timeout: broker.timeoutMs * 2 }, async () => {
      expect(missing, `set ${missing.join(', ')} (tools/services.sh env)`).toEqual([]);
      const run = await up(broker, FIXTURE);
      const state = await run.state();
      expect(state.processes.map((entry) => [entry.name, entry.components])).toEqual([
        ['in', ['in']],
        ['echo', ['echo']],
        ['tail', ['shout', 'out']],
      ]);

      // Every host answers /health, /ready and /metrics.
      for (const entry of state.processes) {
        const health = await get(entry.port, '/health');
        expect(health.status).toBe(200);
        expect(JSON.parse(health.body)).toMatchObject({ status: 'alive', unit: entry.name });
        const ready = await get(entry.port, '/ready');
        expect(ready.status, ready.body).toBe(200);
        expect(JSON.parse(ready.body)).toMatchObject({ ready: true });
        const metrics = await get(entry.port, '/metrics');
        expect(metrics.status).toBe(200);
        expect(metrics.contentType).toContain('text/plain');
        const samples = parsePrometheus(metrics.body);
        expect(samples.find((sample) => sample.name === 'woodwork_host_ready')?.value).toBe(1);
        expect((await get(entry.port, '/nope')).status).toBe(404);
      }

      // N messages across sessions; the middle process is SIGKILLed mid-stream and restarted.
      await killMidSession(run, broker, expectedReply);

      // SIGTERM drains: a slow message in flight finishes, the process exits 0, then restarts.
      const echo = (await run.state()).processes.find((entry) => entry.name === 'echo')!;
      const logFile = path.join(run.dir, '.woodwork', 'logs', 'echo.log');
      const session = await run.client.create();
      const slow = await run.client.submit(session, 'slow one');
      const after = await run.client.submit(session, 'after the slow one');
      await until('the slow message in flight', 60_000, async () => (await readFile(logFile, 'utf8')).includes('pace: slow message started slow one') || undefined);
      process.kill(echo.pid!, 'SIGTERM');
      expect((await slow.result).text).toBe(expectedReply('slow one'));
      expect((await after.result).text).toBe(expectedReply('after the slow one'));
      const drained = await until('echo restarted after SIGTERM', broker.timeoutMs, async () => {
        const entry = (await run.state()).processes.find((candidate) => candidate.name === 'echo')!;
        return entry.restarts > echo.restarts && entry.status === 'ready' ? entry : undefined;
      });
      expect(drained.lastExit).toMatchObject({ code: 0, signal: null });
      expect(await readFile(logFile, 'utf8')).toMatch(/SIGTERM: stopping[\s\S]*stopped cleanly/);

      // The hook throws on every event of echo: counted and logged, and the chain went on.
      const more = await run.client.ask(undefined, 'hooks do not break chains', { timeoutMs: broker.timeoutMs });
      expect(more.text).toBe(expectedReply('hooks do not break chains'));
      const failures = await until('hook failures in /metrics', 30_000, async () => {
        const samples = parsePrometheus((await get(drained.port, '/metrics')).body);
        const sample = samples.find((candidate) => candidate.name === 'woodwork_host_hook_failures_total' && candidate.labels.woodwork_component_name === 'echo');
        return sample && sample.value > 0 ? sample.value : undefined;
      });
      expect(failures).toBeGreaterThan(0);
      expect(await readFile(logFile, 'utf8')).toContain('hook hooks.ts::explode failed');

      // status, logs and stop, from "another terminal".
      const status = await cli(['status', run.dir, '--json']);
      expect(status.code, status.stderr).toBe(0);
      const report = JSON.parse(status.stdout) as { running: boolean; ready: boolean; processes: { name: string; ready: boolean; restarts: number; registry: unknown }[] };
      expect(report).toMatchObject({ running: true, ready: true });
      expect(report.processes.find((entry) => entry.name === 'echo')!.restarts).toBeGreaterThanOrEqual(2);
      expect(report.processes.every((entry) => entry.ready && entry.registry !== null)).toBe(true);
      const table = await cli(['status', run.dir]);
      expect(table.stdout).toMatch(/^echo\s+\d+\s+\d+\s+alive\s+ready\s+2/m);
      // Every host reports its inboxes' queue depth, read from the broker, through the registry; all
      // work is done, so it is 0 (a heartbeat carries it within the registry's TTL/3).
      await until('queue depths of 0 in the registry', 30_000, async () => {
        const latest = JSON.parse((await cli(['status', run.dir, '--json'])).stdout) as { processes: { registry: { stats: Record<string, { queueDepth: unknown }> } | null }[] };
        const depths = latest.processes.flatMap((entry) => Object.values(entry.registry?.stats ?? {}).map((stats) => stats.queueDepth));
        return depths.length === 4 && depths.every((depth) => depth === 0) || undefined;
      });
      expect((await cli(['status', run.dir])).stdout).toMatch(/^PROCESS\s+PID\s+PORT\s+HEALTH\s+READY\s+RESTARTS\s+HANDLED\s+FAILED\s+HOOK ERRORS\s+QUEUED\s+HEARTBEAT$/m);

      const logs = await cli(['logs', run.dir, '--component', 'shout']);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toContain(`tail | ${expectedReply('s0-m0')}`);
      expect(logs.stdout.split('\n').every((line) => line === '' || line.startsWith('tail | '))).toBe(true);

      // A second terminal sends a turn to the running processes with `run --attach`: it completes,
      // it prints the reply, once, as `run` does, and the `out` console in the tail process prints
      // it too (into its log).
      const attached = await cli(['run', run.dir, '--attach', '--input', 'from another terminal'], { timeoutMs: 60_000 });
      expect(attached.code, attached.stderr).toBe(0);
      expect(attached.stdout).toBe(`${expectedReply('from another terminal')}\n`);
      await until('the attached turn in the tail log', 30_000, async () => (await cli(['logs', run.dir, '--component', 'out'])).stdout.includes(`tail | ${expectedReply('from another terminal')}`) || undefined);

      const pids = (await run.state()).processes.map((entry) => entry.pid);
      const stop = await cli(['stop', run.dir], { timeoutMs: 90_000 });
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toContain('stopped');
      expect(pids.filter(alive)).toEqual([]);
      expect(await readState(run.dir)).toBeUndefined();
      expect((await cli(['status', run.dir])).code).toBe(1);
    });

    for (const example of examples) {
      it(`runs examples/${example.name} as separate processes, a process killed and restarted mid-session`, { timeout: broker.timeoutMs * 2 }, async () => {
        // The reference: the same topology embedded, in one process (its hooks print; keep them quiet).
        const mute = [vi.spyOn(console, 'log').mockImplementation(() => undefined), vi.spyOn(console, 'error').mockImplementation(() => undefined)];
        onTestFinished(() => mute.forEach((spy) => spy.mockRestore()));
        const { resolved } = await loadTopology(path.join(example.dir, 'main.ww'), { mode: 'run', env: EXAMPLE_ENV });
        const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
        await using reference = createRuntime(resolved!, { logger: silentLogger, io: { stdout: quiet, stderr: quiet } });
        await reference.start();
        const run = await up(broker, example.dir, EXAMPLE_ENV);
        await killMidSession(run, broker, async (text) => (await reference.ask(undefined, text)).text);
        const stop = await cli(['stop', run.dir], { timeoutMs: 90_000 });
        expect(stop.code, stop.stderr).toBe(0);
      });
    }
  });
}

describe('woodwork up in the foreground', () => {
  const suite = redisUrl ? it : it.skip;
  if (!redisUrl && !requireBrokers) console.warn('[distributed e2e] SKIPPING the foreground test: WOODWORK_TEST_REDIS_URL not set');
  suite('attaches piped stdin to `input command_line`, prefixes output by component, stops everything on SIGINT', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-e2e-fg-'));
    for (const [name, text] of Object.entries(FIXTURE)) await writeFile(path.join(dir, name), text);
    const child = spawn(process.execPath, [cliBin, 'up', dir, '--bus', redisUrl!, '--namespace', `e2e-fg-${randomUUID().slice(0, 8)}`], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await cli(['stop', dir]).catch(() => undefined);
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin.write('first line\nsecond line\n');
    child.stdin.end();
    await until('both replies printed by `out`', 90_000, () => (stdout.includes('tail | ECHO:SECOND LINE') ? true : undefined)).catch((error: Error) => {
      throw new Error(`${error.message}\n--- stdout of woodwork up ---\n${stdout}\n--- stderr ---\n${stderr}`);
    });
    expect(stdout).toMatch(/^✔ 3 processes ready/m);
    expect(stdout.indexOf('tail | ECHO:FIRST LINE')).toBeLessThan(stdout.indexOf('tail | ECHO:SECOND LINE'));
    expect(stdout).toMatch(/^echo \| .*hook hooks\.ts::explode failed/m);
    await until('input ended, processes still running', 10_000, () => (stderr.includes('input ended; the processes keep running') ? true : undefined));
    const pids = (await readState(dir))!.processes.map((entry) => entry.pid);
    expect(pids.every(alive)).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/up\s+\| stopped/);
    expect(pids.filter(alive)).toEqual([]);
    expect(await readState(dir)).toBeUndefined();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('up, status, logs and stop when nothing runs', () => {
  it('say what is wrong and what to do, without stack traces', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-e2e-none-'));
    for (const [name, text] of Object.entries(FIXTURE)) await writeFile(path.join(dir, name), text);
    const env = { WOODWORK_BUS_URL: '', WOODWORK_SESSIONS_URL: '' };

    const noBus = await cli(['up', dir], { env });
    expect(noBus.code).toBe(1);
    expect(noBus.stderr).toContain('no broker to run');
    expect(noBus.stderr).toContain('hint: give one with --bus (or WOODWORK_BUS_URL)');

    const noSessions = await cli(['up', dir, '--bus', 'nats://127.0.0.1:4222'], { env });
    expect(noSessions.code).toBe(1);
    expect(noSessions.stderr).toContain('sessions need Redis');

    const badTimeout = await cli(['up', dir, '--bus', 'redis://127.0.0.1:6379', '--ready-timeout', 'soon'], { env });
    expect(badTimeout.code).toBe(1);
    expect(badTimeout.stderr).toContain('--ready-timeout is "soon", which is not a number of seconds');

    await writeFile(path.join(dir, 'broken.ww'), 'in = command_line { to = nowhere }\n');
    const broken = await cli(['up', path.join(dir, 'broken.ww'), '--bus', 'redis://127.0.0.1:6379'], { env });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/broken\.ww:1:\d+: error WW\d+/);
    expect(broken.stderr).toContain('cannot run');

    const status = await cli(['status', dir]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('nothing runs here');
    const logs = await cli(['logs', dir]);
    expect(logs.code).toBe(1);
    expect(logs.stderr).toContain('no logs in');
    const stop = await cli(['stop', dir]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('nothing to stop');
    const attach = await cli(['run', dir, '--attach', '--input', 'hello']);
    expect(attach.code).toBe(1);
    expect(attach.stderr).toContain('no `woodwork up` is running');

    for (const result of [noBus, noSessions, badTimeout, broken, status, logs, stop, attach]) expect(result.stderr).not.toMatch(/\n\s+at /);
    await rm(dir, { recursive: true, force: true });
  });
});
