/**
 * Benchmark (not a test): chunk latency from the producer's `send` to the consumer's read, p50 and
 * p99, for a steady token-like stream of 20-byte chunks; and chunks per second at full speed, side
 * by side with what the bus alone carries on the same broker in the same run (messages a second at
 * 100 in flight over 256 sessions, the bus benchmark's method, with the payload a chunk travels in).
 * Runs over memory always, and over Redis, NATS and Kafka when WOODWORK_TEST_<NAME>_URL is set.
 *
 *   npm run bench                     (in packages/stream)
 *   BENCH_TOKENS=2000 BENCH_RATE=500 BENCH_FULL=20000 BENCH_ROUNDS=3 BENCH_ADAPTERS=memory,redis npm run bench
 *   BENCH_WINDOW=256 …               (the credit window, chunks; default the package's)
 *   BENCH_PARTS=throughput BENCH_ROUNDS=1 BENCH_BUS=0 BENCH_ADAPTERS=redis \
 *     node --cpu-prof --conditions=@woodwork/source --import tsx bench/stream-bench.ts      (a profile)
 *
 * Throughput is measured BENCH_ROUNDS times (default 3), the stream and the bus interleaved, and
 * each figure is the median round (every round is in the JSON line): on a 2-core machine shared
 * with the brokers, single runs of the same code vary by ±15 %.
 *
 * Producer and consumer each have their own bus connection, as two processes would.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createBus } from '@woodwork/bus';
import type { Bus, EnvelopeInit } from '@woodwork/bus';
import { createStreamManager } from '@woodwork/stream';
import type { StreamManager } from '@woodwork/stream';
// The adapters' own names for a topic's broker objects, so the cleanup deletes what they made.
import { kafkaTopicName } from '../../bus/src/adapters/kafka/topic-name.js';
import { topicNames } from '../../bus/src/adapters/nats/names.js';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 2_000);
const RATE = Number(process.env.BENCH_RATE ?? 500); // tokens a second: a fast LLM is 50-200
const FULL = Number(process.env.BENCH_FULL ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** How long one round of the bus's own throughput runs (after a third as long to warm up). */
const BUS_SECONDS = Number(process.env.BENCH_BUS_SECONDS ?? 1.5);
/** `latency`, `throughput` or both (default): what to measure. */
const PARTS = (process.env.BENCH_PARTS ?? 'latency,throughput').split(',');
/** BENCH_BUS=0 leaves out the bus's own throughput (to profile the stream alone). */
const MEASURE_BUS = process.env.BENCH_BUS !== '0';
/** The managers' credit window (chunks); unset, the package default. */
const WINDOW = process.env.BENCH_WINDOW ? Number(process.env.BENCH_WINDOW) : undefined;
const CHUNK = 'x'.repeat(20);
/** The bus benchmark's shape (tools/bench/bus.bench.ts): what "the bus at 100 in flight" means. */
const BUS_IN_FLIGHT = 100;
const BUS_SESSIONS = 256;
const BUS_BATCH = 100;
const BUS_UNCONSUMED = 5_000;

interface Result {
  adapter: string;
  /** The same steady stream as bare bus messages (publish → subscribe), without this package. */
  busP50: number;
  busP99: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Median round: chunks a second through one stream at full speed. */
  chunksPerSecond: number;
  /** Median round: bus messages a second at 100 in flight (256 sessions), same broker, same run. */
  busMessagesPerSecond: number;
  /** chunksPerSecond ÷ busMessagesPerSecond. */
  ratio: number;
  streamRounds: number[];
  busRounds: number[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
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

/** Latency of a steady stream, send → read, after 100 chunks to warm up. */
async function steadyLatencies(producers: StreamManager, consumers: StreamManager, session: string): Promise<number[]> {
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
  return latencies.sort((a, b) => a - b);
}

/** One stream at full speed: sends queued as fast as the credit lets them out. Chunks a second. */
async function streamThroughput(producers: StreamManager, consumers: StreamManager, session: string, chunks = FULL): Promise<number> {
  const full = await producers.create({ sessionId: session, target: 'output' });
  const fullReader = await consumers.open(full.ref);
  const started = performance.now();
  const counting = (async () => {
    let count = 0;
    for await (const _chunk of fullReader) count++;
    return count;
  })();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < chunks; i++) {
    sends.push(full.send(CHUNK));
    // Keep the queue at a few windows: what a source piping into `send` without awaiting would do.
    if (sends.length >= 256) await sends.shift();
  }
  await Promise.all(sends);
  await full.end();
  const received = await counting;
  if (received !== chunks) throw new Error(`the stream delivered ${received} of ${chunks} chunks`);
  return received / ((performance.now() - started) / 1_000);
}

/**
 * The bus alone at full speed, as the bus benchmark measures it: one publisher (publishMany in
 * batches of 100, 256 sessions round-robin, holding back beyond 5 000 unconsumed) and one
 * subscriber at maxInFlight 100; each message carries what one chunk's envelope carries.
 * Messages consumed a second.
 */
async function busThroughput(producerBus: Bus, consumerBus: Bus, topic: string): Promise<number> {
  let consumed = 0;
  let target = Infinity;
  let wake: (() => void) | undefined;
  // A deadline, so a broker that lost messages (or restarted) stops the run with a reason instead of hanging it.
  const reached = (count: number) =>
    consumed >= count
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the bus stalled at ${consumed} of ${count} messages`)), 60_000);
          target = count;
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
  const subscription = await consumerBus.subscribe(topic, { group: `${topic}-group`, maxInFlight: BUS_IN_FLIGHT, fromBeginning: true }, () => {
    if (++consumed >= target) {
      target = Infinity;
      wake?.();
    }
  });
  let sent = 0;
  const batch = (): EnvelopeInit<{ data_type: 'text'; data: string }>[] =>
    Array.from({ length: BUS_BATCH }, () => ({
      session_id: `session-${sent++ % BUS_SESSIONS}`,
      event_type: 'stream.chunk',
      component_source: 'llm',
      component_target: 'output',
      payload: { data_type: 'text', data: CHUNK },
    }));
  const run = async (seconds: number) => {
    const startCount = consumed;
    let published = 0;
    const started = performance.now();
    while (performance.now() - started < seconds * 1_000) {
      if (startCount + published - consumed > BUS_UNCONSUMED) await reached(startCount + published - BUS_UNCONSUMED / 2);
      await producerBus.publishMany(topic, batch());
      published += BUS_BATCH;
    }
    await reached(startCount + published);
    return published / ((performance.now() - started) / 1_000);
  };
  try {
    await run(BUS_SECONDS / 3);
    return await run(BUS_SECONDS);
  } finally {
    await subscription.close();
  }
}

/** Drivers are dependencies of packages/bus; resolve them from there. */
const busRequire = createRequire(new URL('../../bus/package.json', import.meta.url));
async function importDriver<T>(specifier: string): Promise<T> {
  return (await import(pathToFileURL(busRequire.resolve(specifier)).href)) as T;
}

/**
 * Deletes what the run left on the broker (the brokers are shared, and a Redis holding earlier
 * rounds' streams in memory slows the later ones). Best effort: a failure only leaves litter.
 */
async function dropTopics(adapter: string, url: string, topics: readonly string[]): Promise<void> {
  try {
    if (adapter === 'redis') {
      const { Redis } = await importDriver<typeof import('ioredis')>('ioredis');
      const client = new Redis(url);
      try {
        for (const topic of topics) {
          let cursor = '0';
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `ww:{${topic}}:*`, 'COUNT', 1_000);
            cursor = next;
            if (keys.length > 0) await client.del(...keys);
          } while (cursor !== '0');
        }
      } finally {
        client.disconnect();
      }
    } else if (adapter === 'nats') {
      const { connect } = await importDriver<typeof import('@nats-io/transport-node')>('@nats-io/transport-node');
      const { jetstreamManager } = await importDriver<typeof import('@nats-io/jetstream')>('@nats-io/jetstream');
      const parsed = new URL(url);
      const connection = await connect({ servers: `${parsed.hostname}:${parsed.port || 4222}` });
      try {
        const manager = await jetstreamManager(connection);
        for (const topic of topics) await manager.streams.delete(topicNames('ww', topic).stream).catch(() => false);
      } finally {
        await connection.close();
      }
    } else if (adapter === 'kafka') {
      const { Kafka, logLevel } = await importDriver<typeof import('kafkajs')>('kafkajs');
      const admin = new Kafka({ clientId: 'woodwork-stream-bench-cleanup', brokers: new URL(url).host.split(','), logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.deleteTopics({ topics: topics.map((topic) => kafkaTopicName(topic)) }).catch(() => undefined);
      } finally {
        await admin.disconnect();
      }
    }
  } catch (error) {
    console.error(`[bench] could not delete the ${adapter} topics this run made: ${String(error)}`);
  }
}

async function bench(adapter: string, url: string): Promise<Result> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const producerBus = await createBus(url);
  const consumerBus = await createBus(url);
  const topics = [`${prefix}.data.output`, `${prefix}.control.llm`, `${prefix}.baseline`];
  try {
    await using producers = createStreamManager({ bus: producerBus, component: 'llm', topicPrefix: prefix, ...(WINDOW ? { window: WINDOW } : {}) });
    await using consumers = createStreamManager({ bus: consumerBus, component: 'output', topicPrefix: prefix, ...(WINDOW ? { window: WINDOW } : {}) });
    const session = `bench-${randomUUID()}`;
    const latencies = PARTS.includes('latency') ? await steadyLatencies(producers, consumers, session) : [];
    const streamRounds: number[] = [];
    const busRounds: number[] = [];
    if (PARTS.includes('throughput')) {
      // Warm up (the JIT, the brokers' group joins) as the bus's measurement does before each round.
      await streamThroughput(producers, consumers, session, Math.ceil(FULL / 4));
      for (let round = 0; round < ROUNDS; round++) {
        // Interleaved, each round starting with the other one: a machine that gets busier or
        // quieter during the run weighs on both alike.
        const measureBus = async () => {
          if (!MEASURE_BUS) return;
          const topic = `${prefix}.throughput-${round}`;
          topics.push(topic);
          busRounds.push(await busThroughput(producerBus, consumerBus, topic));
        };
        if (round % 2 === 1) await measureBus();
        streamRounds.push(await streamThroughput(producers, consumers, session));
        if (round % 2 === 0) await measureBus();
      }
    }
    const baseline = PARTS.includes('latency') ? await busBaseline(producerBus, consumerBus, prefix) : [];
    const chunksPerSecond = median(streamRounds);
    const busMessagesPerSecond = median(busRounds);
    return {
      adapter,
      busP50: percentile(baseline, 50),
      busP99: percentile(baseline, 99),
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.length > 0 ? latencies[latencies.length - 1]! : Number.NaN,
      chunksPerSecond,
      busMessagesPerSecond,
      ratio: chunksPerSecond / busMessagesPerSecond,
      streamRounds: streamRounds.map(Math.round),
      busRounds: busRounds.map(Math.round),
    };
  } finally {
    await producerBus.close();
    await consumerBus.close();
    await dropTopics(adapter, url, topics);
  }
}

const targets: [string, string | undefined][] = [
  ['memory', `memory://bench-${randomUUID().slice(0, 8)}`],
  ['redis', process.env.WOODWORK_TEST_REDIS_URL],
  ['nats', process.env.WOODWORK_TEST_NATS_URL],
  ['kafka', process.env.WOODWORK_TEST_KAFKA_URL],
];

console.log(
  `@woodwork/stream benchmark — Node ${process.version}, ${TOKENS} chunks of 20 B at ${RATE}/s for latency; ${FULL} at full speed vs the bus at ${BUS_IN_FLIGHT} in flight, median of ${ROUNDS} interleaved rounds`,
);
console.log('adapter  | p50 ms | p90 ms | p99 ms | max ms | stream chunks/s | bus msgs/s (100 in flight) | ratio | bus alone p50 / p99 ms');
console.log('---------|--------|--------|--------|--------|-----------------|----------------------------|-------|-----------------------');
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
  const ms = (value: number) => (Number.isNaN(value) ? '–' : value.toFixed(3)).padStart(6);
  const rate = (value: number, width: number) => (Number.isNaN(value) ? '–' : Math.round(value).toLocaleString('en-US')).padStart(width);
  console.log(
    `${adapter.padEnd(8)} | ${ms(result.p50)} | ${ms(result.p90)} | ${ms(result.p99)} | ${ms(result.max)} | ${rate(result.chunksPerSecond, 15)} | ${rate(result.busMessagesPerSecond, 26)} | ${(Number.isNaN(result.ratio) ? '–' : result.ratio.toFixed(2)).padStart(5)} | ${ms(result.busP50)} / ${ms(result.busP99)}`,
  );
}
const targetsMs: Record<string, number> = { memory: 1, redis: 5, nats: 5 };
for (const result of results) {
  const target = targetsMs[result.adapter];
  if (target !== undefined && !Number.isNaN(result.p99)) {
    console.log(`${result.adapter}: p99 ${result.p99.toFixed(3)} ms — target ≤ ${target} ms: ${result.p99 <= target ? 'met' : 'MISSED'}`);
  }
  if ((result.adapter === 'redis' || result.adapter === 'nats') && !Number.isNaN(result.ratio)) {
    console.log(`${result.adapter}: stream ${Math.round(result.chunksPerSecond)} chunks/s = ${(result.ratio * 100).toFixed(0)} % of the bus's ${Math.round(result.busMessagesPerSecond)} msgs/s — target ≥ 50 %: ${result.ratio >= 0.5 ? 'met' : 'MISSED'}`);
  }
}
console.log(JSON.stringify({ benchmark: '@woodwork/stream', node: process.version, tokens: TOKENS, rate: RATE, full: FULL, rounds: ROUNDS, results }));
