/**
 * `llm local` across processes: one session, its first turn answered by a runtime in this process,
 * its second by a separate host process (`apps/host/main.js`, what `woodwork up` and a container
 * run) over Redis — the bus, the session store and the conversation memory all in Redis, the model
 * loaded in each process. The second turn's call carries the first exchange, read from Redis.
 *
 * Needs WOODWORK_TEST_REDIS_URL (`eval "$(bash tools/services.sh env)"`): skipped with a message
 * without it, failed when WOODWORK_TEST_REQUIRE_BROKERS=1 (npm test and CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRuntime, silentLogger, type Runtime, type SessionEvent } from '@woodwork/runtime';
import { localModelPath } from './support/local-model.js';
import { aiRegistry, project } from './support/project.js';

const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
if (!redisUrl && required) throw new Error('WOODWORK_TEST_REDIS_URL is not set and brokers are required: eval "$(bash tools/services.sh env)"');
if (!redisUrl) console.warn('[local.redis] SKIPPING: WOODWORK_TEST_REDIS_URL is not set (eval "$(bash tools/services.sh env)")');

const root = path.resolve(import.meta.dirname, '..', '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the host exited (${child.exitCode}) before it was ready:\n${log()}`);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) }).then((response) => response.ok, () => false);
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the host was not ready within 90 s:\n${log()}`);
}

/** Tokens of the `chat` steps, from `metrics.component_performance` events, in order. */
function tokensOf(events: readonly SessionEvent[]): number[] {
  return events
    .filter((event) => event.event_type === 'metrics.component_performance' && event.component_source === 'chat')
    .map((event) => (event.payload as { tokens_processed: number | null }).tokens_processed ?? 0);
}

async function chatTokens(runtime: Runtime, sessionId: string, after: number): Promise<number> {
  const seen: SessionEvent[] = [];
  for await (const event of runtime.events(sessionId)) {
    seen.push(event);
    const tokens = tokensOf(seen);
    if (tokens.length > after) return tokens[after]!;
  }
  throw new Error('the session ended before the chat step reported its tokens');
}

describe.skipIf(!redisUrl)('llm local over Redis, two processes', () => {
  it('a host process answers the second turn of a session another process began, with its memory', async () => {
    const model = localModelPath();
    await using files = await project({
      'main.ww': `
        chat = llm local {
          model = "\${WOODWORK_LOCAL_MODEL}"
          prompt = "You are a helpful assistant."
          max_tokens = 8
          memory = history
        }
        history = memory short_term {}
      `,
    });
    const namespace = `ww-local-${randomUUID().slice(0, 8)}`;
    const topology = await files.load({ WOODWORK_LOCAL_MODEL: model });
    const shared = { bus: redisUrl!, sessions: { redis: redisUrl! }, namespace, registry: aiRegistry(), logger: silentLogger, metrics: { events: true } };
    const sessionId = `local-${randomUUID()}`;
    const first = 'Hello! My name is Ada Lovelace, I was born in London in 1815, and I wrote the first published algorithm for a machine.';

    // Turn 1: the components run here.
    const here = createRuntime(topology, shared);
    await here.start();
    let firstTokens: number;
    try {
      await here.create({ id: sessionId });
      const tokens = chatTokens(here, sessionId, 0);
      const answered = await here.ask(sessionId, first);
      expect(answered.ok).toBe(true);
      expect(answered.text.length).toBeGreaterThan(0);
      firstTokens = await tokens;
    } finally {
      await here.stop();
    }

    // Turn 2: the components run in a host process; this process only sends and reads.
    const port = await freePort();
    let output = '';
    const host = spawn(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', path.join(root, 'apps', 'host', 'main.js')], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        WOODWORK_TOPOLOGY: files.file,
        WOODWORK_COMPONENT: 'chat,history',
        WOODWORK_BUS_URL: redisUrl,
        WOODWORK_NAMESPACE: namespace,
        WOODWORK_PORT: String(port),
        WOODWORK_LISTEN_HOST: '127.0.0.1',
        WOODWORK_METRICS_EVENTS: '1',
        WOODWORK_LOG_LEVEL: 'warn',
        WOODWORK_LOCAL_MODEL: model,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    host.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    host.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitReady(port, host, () => output);
      expect(output).toMatch(/very small local model/);
      await using client = createRuntime(topology, { ...shared, components: [] });
      await client.start();
      const tokens = chatTokens(client, sessionId, 0); // this reader's events start now: the first it sees is turn 2's
      const answered = await client.ask(sessionId, 'What is my name?');
      expect(answered.ok).toBe(true);
      expect(answered.text.length).toBeGreaterThan(0);
      // A short question after a long one: a bigger call only because it carries the first exchange
      // (local.test.ts shows the same pair without memory is smaller).
      expect(await tokens).toBeGreaterThan(firstTokens);
    } finally {
      host.kill('SIGTERM');
      if (host.exitCode === null) await new Promise((resolve) => host.once('exit', resolve));
    }
  }, 240_000);
});
