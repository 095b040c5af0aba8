/**
 * `npm run bench:distributed -w @woodwork/runtime` (not a test): input → component → output as
 * separate OS processes over Redis — what `woodwork up` runs — measured from a client in this
 * process.
 *
 * 1. One turn at a time: the unloaded end-to-end latency of three processes and their bus hops.
 * 2. 1 000 concurrent sessions, several rounds: every session of a round sends one message at the
 *    same moment and waits for its turn to complete (`ask`); sessions per second (sessions of the
 *    round ÷ time until the last reply) and end-to-end latency p50 / p99 across all rounds.
 *
 * Redis: WOODWORK_BENCH_REDIS_URL, else WOODWORK_TEST_REDIS_URL (`bash tools/services.sh start redis`).
 * The hosts run the host app (apps/host/main.js) under the same Node flags as this script.
 * Prints the figures; src/distributed/README.md ("Performance") records them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '../src/index.js';
import { startSupervisor } from '../src/distributed/index.js';

const redisUrl = process.env.WOODWORK_BENCH_REDIS_URL ?? process.env.WOODWORK_TEST_REDIS_URL;
if (!redisUrl) {
  console.error('bench:distributed needs Redis: start it with `bash tools/services.sh start redis` and `eval "$(bash tools/services.sh env)"`, or set WOODWORK_BENCH_REDIS_URL');
  process.exit(2);
}
const CONCURRENT = Number(process.env.WOODWORK_BENCH_SESSIONS ?? 1_000);
const ROUNDS = Number(process.env.WOODWORK_BENCH_ROUNDS ?? 5);
const hostEntry = fileURLToPath(new URL('../../../apps/host/main.js', import.meta.url));
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const dir = await mkdtemp(path.join(tmpdir(), 'ww-bench-distributed-'));
await writeFile(path.join(dir, 'main.ww'), 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n');
const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
const topology = resolved!;
const namespace = `bench-${randomUUID().slice(0, 8)}`;

console.log(`@woodwork/runtime distributed benchmark — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()[0]!.toFixed(1)}`);
console.log(`3 host processes (in, shout, out) over ${redisUrl}, sessions in the same Redis, namespace ${namespace}`);

const supervisor = await startSupervisor({
  topology,
  file: path.join(dir, 'main.ww'),
  projectDir: dir,
  cwd: process.cwd(),
  busUrl: redisUrl,
  sessionsUrl: redisUrl,
  namespace,
  hostEntry,
  nodeArgs: process.execArgv,
  env: { ...process.env, WOODWORK_LOG_LEVEL: 'warn' },
  restart: false,
});
const client = createRuntime(topology, { bus: redisUrl, sessions: { redis: redisUrl }, namespace, components: [], logger: silentLogger, sessionHistory: 16 });
try {
  const began = performance.now();
  await supervisor.ready;
  console.log(`processes ready in ${(performance.now() - began).toFixed(0)} ms`);
  await client.start();

  // Warm up: JIT, connections, consumer groups.
  for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 200 }, (_, index) => client.ask(undefined, `warm ${index}`)));

  const session = await client.session();
  const one: number[] = [];
  for (let index = 0; index < 300; index++) {
    const sent = performance.now();
    await session.ask(`message ${index}`);
    one.push(performance.now() - sent);
  }
  one.sort((a, b) => a - b);
  console.log(`   300 turns one at a time:  p50 ${quantile(one, 0.5).toFixed(2)} ms, p99 ${quantile(one, 0.99).toFixed(2)} ms end to end (client → in → shout → out → turn.completed)`);

  const latencies: number[] = [];
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT }, async (_, index) => {
        const sent = performance.now();
        const result = await client.ask(undefined, `round ${round} message ${index}`);
        if (result.text !== `ROUND ${round} MESSAGE ${index}`) throw new Error(`wrong reply: ${result.text}`);
        latencies.push(performance.now() - sent);
      }),
    );
    rates.push(CONCURRENT / ((performance.now() - started) / 1000));
  }
  latencies.sort((a, b) => a - b);
  rates.sort((a, b) => a - b);
  console.log(
    `${String(CONCURRENT).padStart(6)} concurrent sessions × ${ROUNDS} rounds: ${Math.round(quantile(rates, 0.5)).toLocaleString('en-US')} sessions/s (median round; ` +
      `${Math.round(rates[0]!).toLocaleString('en-US')}–${Math.round(rates.at(-1)!).toLocaleString('en-US')}), p50 ${quantile(latencies, 0.5).toFixed(0)} ms, ` +
      `p99 ${quantile(latencies, 0.99).toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms end to end`,
  );
} finally {
  await client.stop().catch(() => undefined);
  await supervisor.stop();
  await rm(dir, { recursive: true, force: true });
}
