/**
 * `node --conditions=@woodwork/source --import tsx bench/idempotency.bench.ts` (not a test): what an
 * `Idempotency-Key` costs a `POST /v1/sessions/:id/messages` that waits for its reply, over real
 * HTTP on loopback — sessions in memory (embedded), and with a Redis bus and Redis sessions when
 * WOODWORK_BENCH_REDIS_URL or WOODWORK_TEST_REDIS_URL is set. Per store: rounds of N sequential POSTs
 * without the header and N with a new key each, interleaved (the machine's load moves between
 * rounds), then N retries of answered keys (the replay). Prints p50 / p99 in ms.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { loadTopology } from '@woodwork/parser';
import { createApiInput, createComponentRegistry, createRuntime, silentLogger, type Gateway, type RuntimeOptions } from '../src/index.js';

const N = Number(process.env.WOODWORK_BENCH_REQUESTS ?? 200);
const ROUNDS = Number(process.env.WOODWORK_BENCH_ROUNDS ?? 3);
const redisUrl = process.env.WOODWORK_BENCH_REDIS_URL ?? process.env.WOODWORK_TEST_REDIS_URL;
const KEY = 'bench-key-0123456789abcdef';
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const summary = (samples: number[]) => {
  const sorted = samples.slice().sort((a, b) => a - b);
  return `p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms (${samples.length})`;
};

const dir = await mkdtemp(path.join(tmpdir(), 'ww-bench-idempotency-'));
await writeFile(path.join(dir, 'main.ww'), 'in = input api {}\nt = transform echo {}\n');
const topology = (await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' })).resolved!;
console.log(`Idempotency-Key benchmark — Node ${process.version}, load ${loadavg().map((value) => value.toFixed(1)).join(' / ')}`);

async function measure(name: string, options: RuntimeOptions): Promise<void> {
  let gateway: Gateway | undefined;
  const registry = createComponentRegistry().register(
    createApiInput({ host: '127.0.0.1', port: 0, rateLimit: false, env: { WOODWORK_API_KEYS: KEY }, onListening: (value) => (gateway = value) }),
    { replace: true },
  );
  const runtime = createRuntime(topology, { ...options, registry, logger: silentLogger, projectDir: dir });
  await runtime.start();
  try {
    const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const session = (await (await post(`${gateway!.url}/v1/sessions`, {})).json()) as { session_id: string };
    const messages = `${gateway!.url}/v1/sessions/${session.session_id}/messages`;
    const timed = async (headers: Record<string, string>): Promise<number> => {
      const started = performance.now();
      const response = await post(messages, { input: 'hello' }, headers);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`status ${response.status}`);
      return performance.now() - started;
    };
    for (let i = 0; i < 50; i++) await timed({}); // warm-up
    const plain: number[] = [];
    const keyed: number[] = [];
    const keys: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < N; i++) plain.push(await timed({}));
      for (let i = 0; i < N; i++) {
        const key = randomUUID();
        keys.push(key);
        keyed.push(await timed({ 'idempotency-key': key }));
      }
    }
    const replayed: number[] = [];
    for (const key of keys.slice(0, N)) replayed.push(await timed({ 'idempotency-key': key }));
    console.log(`${name}: no key ${summary(plain)}; new key ${summary(keyed)}; replay ${summary(replayed)}`);
  } finally {
    await runtime.stop();
  }
}

try {
  await measure('embedded (memory)', {});
  if (redisUrl) {
    const namespace = `benchidem${randomUUID().slice(0, 8)}`;
    await measure('redis bus + redis sessions', { bus: redisUrl, sessions: { redis: redisUrl, prefix: `woodwork:${namespace}` }, namespace });
  }
  console.log(`load at the end ${loadavg().map((value) => value.toFixed(1)).join(' / ')}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
