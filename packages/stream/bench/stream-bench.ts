/**
 * Benchmark (not a test): chunk latency from the producer's `send` to the consumer's read, p50 and
 * p99, for a steady token-like stream of 20-byte chunks; and chunks per second at full speed.
 * Runs over memory always, and over Redis, NATS and Kafka when WOODWORK_TEST_<NAME>_URL is set.
 *
 *   npm run bench                     (in packages/stream)
 *   BENCH_TOKENS=2000 BENCH_RATE=500 BENCH_FULL=20000 BENCH_ADAPTERS=memory,redis npm run bench
 *
 * Producer and consumer each have their own bus connection, as two processes would.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createBus } from '@woodwork/bus';
import type { Bus } from '@woodwork/bus';
import { createStreamManager } from '@woodwork/stream';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 2_000);
const RATE = Number(process.env.BENCH_RATE ?? 500); // tokens a second: a fast LLM is 50-200
const FULL = Number(process.env.BENCH_FULL ?? 20_000);
const CHUNK = 'x'.repeat(20);

interface Result {
  adapter: string;
  /** The same steady stream as bare bus messages (publish → subscribe), without this package. */
  busP50: number;
  busP99: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  chunksPerSecond: number;
  fullSpeedChunks: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Waits until about `when` with a timer, as a producer waiting on its LLM's socket would. Never
 * spins: a busy-wait in the producer would hold up the consumer in the same process and be
 * measured as latency.
 */
async function until(when: number): Promise<void> {
  const wait = when - performance.now();
  if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
  else await new Promise((resolve) => setImmediate(resolve));
}

/** The bus alone, same pacing: what any stream over this adapter starts from. */
async function busBaseline(producerBus: Bus, consumerBus: Bus, prefix: string): Promise<number[]> {
  const topic = `${prefix}.baseline`;
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const subscription = await consumerBus.subscribe<{ i: number }>(topic, { group: `${prefix}-baseline`, fromBeginning: false }, (envelope) => {
    const i = envelope.payload.i;
    if (i >= 100) latencies.push(performance.now() - sentAt.get(i)!);
    if (i === 100 + TOKENS - 1) done();
  });
  const session = `baseline-${randomUUID()}`;
  let next = performance.now();
  for (let i = 0; i < 100 + TOKENS; i++) {
    next += i < 100 ? 0 : 1_000 / RATE;
    await until(next);
    sentAt.set(i, performance.now());
    await producerBus.publish(topic, { session_id: session, event_type: 'bench.token', payload: { i, text: CHUNK } });
  }
  await finished;
  await subscription.close();
  return latencies.sort((a, b) => a - b);
}

async function bench(adapter: string, url: string): Promise<Result> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const producerBus = await createBus(url);
  const consumerBus = await createBus(url);
  try {
    await using producers = createStreamManager({ bus: producerBus, component: 'llm', topicPrefix: prefix });
    await using consumers = createStreamManager({ bus: consumerBus, component: 'output', topicPrefix: prefix });
    const session = `bench-${randomUUID()}`;

    // 1. Latency of a steady stream.
    const warmup = 100;
    const sentAt = new Float64Array(warmup + TOKENS);
    const latencies: number[] = [];
    const steady = await producers.create({ sessionId: session, target: 'output' });
    const steadyReader = await consumers.open(steady.ref);
    const reading = (async () => {
      for await (const chunk of steadyReader) {
        if (chunk.chunk_index >= warmup) latencies.push(performance.now() - sentAt[chunk.chunk_index]!);
      }
    })();
    let next = performance.now();
    for (let i = 0; i < warmup + TOKENS; i++) {
      next += i < warmup ? 0 : 1_000 / RATE;
      await until(next);
      sentAt[i] = performance.now();
      await steady.send(CHUNK);
    }
    await steady.end();
    await reading;
    latencies.sort((a, b) => a - b);

    // 2. Full speed: sends queued as fast as the credit lets them out (batched publishes).
    const full = await producers.create({ sessionId: session, target: 'output' });
    const fullReader = await consumers.open(full.ref);
    const started = performance.now();
    const counting = (async () => {
      let count = 0;
      for await (const _chunk of fullReader) count++;
      return count;
    })();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < FULL; i++) {
      sends.push(full.send(CHUNK));
      // Keep the queue at a few windows: what a source piping into `send` without awaiting would do.
      if (sends.length >= 256) await sends.shift();
    }
    await Promise.all(sends);
    await full.end();
    const received = await counting;
    const seconds = (performance.now() - started) / 1_000;
    const baseline = await busBaseline(producerBus, consumerBus, prefix);
    return {
      adapter,
      busP50: percentile(baseline, 50),
      busP99: percentile(baseline, 99),
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1]!,
      chunksPerSecond: received / seconds,
      fullSpeedChunks: received,
    };
  } finally {
    await producerBus.close();
    await consumerBus.close();
  }
}

const targets: [string, string | undefined][] = [
  ['memory', `memory://bench-${randomUUID().slice(0, 8)}`],
  ['redis', process.env.WOODWORK_TEST_REDIS_URL],
  ['nats', process.env.WOODWORK_TEST_NATS_URL],
  ['kafka', process.env.WOODWORK_TEST_KAFKA_URL],
];

console.log(`@woodwork/stream benchmark — Node ${process.version}, ${TOKENS} chunks of 20 B at ${RATE}/s for latency, ${FULL} at full speed`);
console.log('adapter  | p50 ms | p90 ms | p99 ms | max ms | chunks/s (full speed) | bus alone p50 / p99 ms');
console.log('---------|--------|--------|--------|--------|-----------------------|-----------------------');
const results: Result[] = [];
const only = process.env.BENCH_ADAPTERS?.split(',');
for (const [adapter, url] of targets) {
  if (only && !only.includes(adapter)) continue;
  if (!url) {
    console.log(`${adapter.padEnd(8)} | skipped: WOODWORK_TEST_${adapter.toUpperCase()}_URL is not set`);
    continue;
  }
  const result = await bench(adapter, url);
  results.push(result);
  const ms = (value: number) => value.toFixed(3).padStart(6);
  console.log(
    `${adapter.padEnd(8)} | ${ms(result.p50)} | ${ms(result.p90)} | ${ms(result.p99)} | ${ms(result.max)} | ${Math.round(result.chunksPerSecond).toLocaleString('en-US').padStart(21)} | ${ms(result.busP50)} / ${ms(result.busP99)}`,
  );
}
const targetsMs: Record<string, number> = { memory: 1, redis: 5, nats: 5 };
for (const result of results) {
  const target = targetsMs[result.adapter];
  if (target !== undefined) {
    console.log(`${result.adapter}: p99 ${result.p99.toFixed(3)} ms — target ≤ ${target} ms: ${result.p99 <= target ? 'met' : 'MISSED'}`);
  }
}
console.log(JSON.stringify({ benchmark: '@woodwork/stream', node: process.version, tokens: TOKENS, rate: RATE, results }));
