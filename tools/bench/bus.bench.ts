/**
 * Bus benchmark: for each adapter whose URL is set (memory always), on 256-byte payloads,
 * measures publish → consume → ack throughput at maxInFlight 1, 10 and 100 and the latency
 * (p50/p99) with one message in flight — through the Woodwork Bus and through the broker's raw
 * client doing the same broker operations — and prints our figure as a ratio of the raw one.
 *
 *   npm run bench:bus                         memory only
 *   eval "$(bash tools/services.sh env)" && npm run bench:bus     every running broker
 *   BENCH_ADAPTERS=redis,memory BENCH_SECONDS=3 npm run bench:bus
 *   BENCH_ADAPTERS=redis BENCH_IN_FLIGHT=100 BENCH_CLIENT=woodwork BENCH_LATENCY=0 \
 *     node --cpu-prof --conditions=@woodwork/source --import tsx tools/bench/bus.bench.ts   (a profile)
 *
 * Output: one JSON object per line (stdout), then a table. Figures, not tests: nothing fails.
 * Throughput lines also carry `cpuSeconds`, this process's CPU time: messages per CPU-second is
 * the steadier figure when other work shares the machine (it excludes the broker's own CPU).
 * Each measurement runs for BENCH_SECONDS (default 1.5 s) after a short warm-up. Throughput is
 * measured BENCH_ROUNDS times (default 3) per contender and depth, the contenders interleaved, and
 * each figure is that contender's median round (`rounds` lists them all): on a 2-core machine
 * that shares its cores with the broker, single runs of the same code vary by ±15 %. One adapter
 * takes about a minute plus its connection and group-join setup.
 *
 * Throughput: one publisher (publishMany in batches of 100, 256 sessions round-robin) and one
 * subscriber, the publisher holding back when more than WINDOW messages are unconsumed; the
 * figure is messages consumed and acknowledged per second, until the last one is.
 * Latency: publish one message, wait until its handler runs, repeat; time from publish call to
 * handler.
 *
 * Two raw baselines per adapter: the client alone (one pre-encoded envelope body sent over and over,
 * never parsed: the "same broker operations"), and the client plus JSON (a fresh envelope
 * encoded per message and each received one parsed, which any program using the client directly
 * must do and the Bus does). `ratio` is against the client alone, `ratioWithJson` against the other.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { createBus, deleteMemoryBroker } from '@woodwork/bus';
import type { Bus, EnvelopeInit } from '@woodwork/bus';
// The adapters' own names for a topic's broker objects, so the cleanup deletes what they made.
import { kafkaTopicName } from '../../packages/bus/src/adapters/kafka/topic-name.js';
import { topicNames } from '../../packages/bus/src/adapters/nats/names.js';

/** A positive number from the environment, or the default; anything else stops with what to set. */
function positiveNumber(name: string, fallback: number, integer = false): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!(value > 0) || (integer && !Number.isInteger(value))) {
    process.stderr.write(`[bench] ${name}=${JSON.stringify(text)} is not a positive ${integer ? 'whole number' : 'number'}; unset it for ${fallback}\n`);
    process.exit(2);
  }
  return value;
}

const SECONDS = positiveNumber('BENCH_SECONDS', 1.5);
/** Throughput runs per contender and depth; the figures are each one's median run. */
const ROUNDS = positiveNumber('BENCH_ROUNDS', 3, true);
const WARMUP_SECONDS = Math.min(0.5, SECONDS / 3);
const BATCH = 100;
const SESSIONS = 256;
const WINDOW = 5_000;
const IN_FLIGHT: readonly number[] = process.env.BENCH_IN_FLIGHT
  ? process.env.BENCH_IN_FLIGHT.split(',').map((depth) => {
      const value = Number(depth);
      if (Number.isInteger(value) && value > 0) return value;
      process.stderr.write(`[bench] BENCH_IN_FLIGHT: ${JSON.stringify(depth)} is not a positive whole number (e.g. BENCH_IN_FLIGHT=1,10,100)\n`);
      return process.exit(2);
    })
  : [1, 10, 100];
/** `woodwork` or `raw` to measure one side only (for profiling one of them). */
const ONLY_CLIENT = process.env.BENCH_CLIENT as Line['client'] | undefined;
const measures = (client: Line['client']) => ONLY_CLIENT === undefined || ONLY_CLIENT === client;
const SKIP_LATENCY = process.env.BENCH_LATENCY === '0';

const PAYLOAD = 'x'.repeat(256);

interface Line {
  adapter: string;
  client: 'woodwork' | 'raw' | 'raw+json';
  metric: 'throughput' | 'latency';
  maxInFlight?: number;
  messages: number;
  seconds: number;
  cpuSeconds?: number;
  msgPerSec?: number;
  /** msg/s of every throughput round, in the order run; the line's figures are the median one. */
  rounds?: number[];
  p50Ms?: number;
  p99Ms?: number;
  /** woodwork / raw: throughput ratio (higher is better), or p99 latency ratio (lower is better). */
  ratio?: number;
  /** woodwork / raw+json throughput. */
  ratioWithJson?: number;
  error?: string;
}

const lines: Line[] = [];
function emit(line: Line): void {
  lines.push(line);
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Drivers are dev dependencies of packages/bus; resolve them from there. */
const busRequire = createRequire(new URL('../../packages/bus/package.json', import.meta.url));
async function importDriver<T>(specifier: string): Promise<T> {
  return (await import(pathToFileURL(busRequire.resolve(specifier)).href)) as T;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** Counts consumed messages and lets a producer wait until the count reaches a target. */
class Counter {
  count = 0;
  private target = Infinity;
  private wake: (() => void) | undefined;

  hit(): void {
    if (++this.count >= this.target) {
      const wake = this.wake;
      this.target = Infinity;
      this.wake = undefined;
      wake?.();
    }
  }

  until(target: number, timeoutMs = 60_000): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stalled at ${this.count}/${target}`)), timeoutMs);
      this.target = target;
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** What one client (ours or raw) must do for the harness. */
interface Pipeline {
  /** Publish `count` messages (one batch), resolving when the broker has them. */
  publish(count: number): Promise<void>;
  close(): Promise<void>;
}

interface Contender {
  /** Sets up a publisher and a subscriber counting into `counter`, ready to measure. */
  throughput(maxInFlight: number, counter: Counter): Promise<Pipeline>;
  /** Sets up for latency: one subscriber at maxInFlight 1; `counter` counts arrivals. */
  latency(counter: Counter): Promise<Pipeline>;
}

interface Throughput {
  messages: number;
  seconds: number;
  cpuSeconds: number;
  msgPerSec: number;
}

/** The run with the median rate (the lower middle one of an even count). */
function median(runs: readonly Throughput[]): Throughput | undefined {
  const sorted = [...runs].sort((a, b) => a.msgPerSec - b.msgPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function measureThroughput(contender: Contender, maxInFlight: number): Promise<Throughput> {
  const counter = new Counter();
  const pipeline = await contender.throughput(maxInFlight, counter);
  try {
    const run = async (duration: number) => {
      const startCount = counter.count;
      let published = 0;
      const start = now();
      const cpu = process.cpuUsage();
      while (now() - start < duration * 1000) {
        if (startCount + published - counter.count > WINDOW) await counter.until(startCount + published - WINDOW / 2);
        await pipeline.publish(BATCH);
        published += BATCH;
      }
      await counter.until(startCount + published);
      const used = process.cpuUsage(cpu);
      const seconds = (now() - start) / 1000;
      return {
        messages: published,
        seconds: round(seconds),
        msgPerSec: Math.round(published / seconds),
        // This process's CPU time (all threads, GC included; brokers excluded): steadier than
        // wall time when other work shares the machine.
        cpuSeconds: round((used.user + used.system) / 1e6),
      };
    };
    await run(WARMUP_SECONDS);
    return await run(SECONDS);
  } finally {
    await pipeline.close();
  }
}

async function measureLatency(contender: Contender): Promise<{ samples: number[]; seconds: number }> {
  const counter = new Counter();
  const pipeline = await contender.latency(counter);
  try {
    const samples: number[] = [];
    const start = now();
    const deadline = start + (SECONDS + WARMUP_SECONDS) * 1000;
    let index = 0;
    while (now() < deadline && samples.length < 20_000) {
      const sent = now();
      await pipeline.publish(1);
      await counter.until(++index);
      if (sent - start > WARMUP_SECONDS * 1000) samples.push(now() - sent);
    }
    return { samples: samples.sort((a, b) => a - b), seconds: (now() - start) / 1000 };
  } finally {
    await pipeline.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Woodwork: the same harness for every adapter, through createBus(url).

/** Deletes what a Woodwork topic left on the broker, as the raw contenders delete theirs. */
type DropTopic = (url: string, topic: string) => Promise<void>;

function woodwork(url: string, dropTopic: DropTopic | undefined): Contender {
  const batchOf = (count: number, offset: number): EnvelopeInit<string>[] =>
    Array.from({ length: count }, (_, index) => ({
      session_id: `session-${(offset + index) % SESSIONS}`,
      event_type: 'bench.message',
      component_source: 'bench',
      payload: PAYLOAD,
    }));
  const open = async (maxInFlight: number, counter: Counter): Promise<Pipeline> => {
    const topic = `bench-${randomUUID().slice(0, 8)}`;
    // A fresh memory broker per measurement, dropped after: earlier runs' logs must not weigh
    // on the garbage collector of later ones.
    const memoryName = url.startsWith('memory:') ? `bench-${randomUUID()}` : undefined;
    const busUrl = memoryName ? `memory://${memoryName}` : url;
    const publisher: Bus = await createBus(busUrl);
    const consumer: Bus = await createBus(busUrl);
    await consumer.subscribe(topic, { group: 'bench', maxInFlight, fromBeginning: true }, () => counter.hit());
    let sent = 0;
    return {
      publish: async (count) => {
        await publisher.publishMany(topic, batchOf(count, sent));
        sent += count;
      },
      close: async () => {
        await Promise.all([publisher.close(), consumer.close()]);
        if (memoryName) deleteMemoryBroker(memoryName);
        // A broker holding every earlier run's log (Redis keeps it in memory) slows the later ones.
        await dropTopic?.(url, topic);
      },
    };
  };
  return { throughput: open, latency: (counter) => open(1, counter) };
}

// ---------------------------------------------------------------------------------------------
// Raw baselines. Each does the broker operations our adapter does, with nothing of ours.

/** memory: a plain array queue drained in a microtask — the floor of any in-process bus. */
function rawMemory(): Contender {
  const open = async (_maxInFlight: number, counter: Counter): Promise<Pipeline> => {
    const queue: { session: string; payload: string }[] = [];
    let head = 0;
    let scheduled = false;
    const drain = () => {
      scheduled = false;
      while (head < queue.length) {
        queue[head++] = undefined as never;
        counter.hit();
      }
      queue.length = 0;
      head = 0;
    };
    let sent = 0;
    return {
      publish: async (count) => {
        for (let index = 0; index < count; index++) queue.push({ session: `session-${sent++ % SESSIONS}`, payload: PAYLOAD });
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(drain);
        }
      },
      close: async () => undefined,
    };
  };
  return { throughput: open, latency: (counter) => open(1, counter) };
}

/** A 256-byte-payload envelope as JSON, fresh (new id and timestamp) each call: a raw client's body. */
function rawBody(session = 'session-0'): string {
  return JSON.stringify({
    message_id: randomUUID(),
    session_id: session,
    event_type: 'bench.message',
    component_source: 'bench',
    component_target: null,
    timestamp: new Date().toISOString(),
    stream_id: null,
    is_stream: false,
    chunk_index: null,
    is_final: false,
    payload: PAYLOAD,
    routing: { next_component: null, pipe_chain: [] },
    attempt: 1,
    trace: null,
  });
}

/** What a raw consumer with JSON does with a body it receives: parse it. */
function parseBody(body: string | Uint8Array): void {
  JSON.parse(typeof body === 'string' ? body : utf8Decoder.decode(body));
}
const utf8Decoder = new TextDecoder();

/** redis: XADD (pipelined per batch) / XREADGROUP COUNT maxInFlight / XACK with ioredis. */
function rawRedis(url: string, json: boolean): Contender {
  const open = async (maxInFlight: number, counter: Counter): Promise<Pipeline> => {
    type RedisClient = import('ioredis').Redis;
    const { Redis } = await importDriver<typeof import('ioredis')>('ioredis');
    const producer: RedisClient = new Redis(url);
    const consumer: RedisClient = new Redis(url);
    const key = `bench:raw:${randomUUID().slice(0, 8)}`;
    await producer.xgroup('CREATE', key, 'bench', '$', 'MKSTREAM');
    const body = rawBody();
    let running = true;
    const loop = (async () => {
      while (running) {
        const reply = (await consumer.xreadgroup(
          'GROUP', 'bench', 'c1', 'COUNT', maxInFlight, 'BLOCK', 50, 'STREAMS', key, '>',
        )) as [string, [string, string[]][]][] | null;
        if (!reply) continue;
        const ids = reply[0]![1].map(([id]) => id);
        if (json) for (const [, fields] of reply[0]![1]) parseBody(fields[3]!);
        await consumer.xack(key, 'bench', ...ids);
        for (let index = 0; index < ids.length; index++) counter.hit();
      }
    })();
    let sent = 0;
    return {
      publish: async (count) => {
        const pipeline = producer.pipeline();
        for (let index = 0; index < count; index++) {
          const session = `session-${sent++ % SESSIONS}`;
          pipeline.xadd(key, '*', 'key', session, 'envelope', json ? rawBody(session) : body);
        }
        await pipeline.exec();
      },
      close: async () => {
        running = false;
        await loop;
        await producer.del(key);
        producer.disconnect();
        consumer.disconnect();
      },
    };
  };
  return { throughput: open, latency: (counter) => open(1, counter) };
}

interface NatsConnection {
  close(): Promise<void>;
}
interface NatsTransport {
  connect(options: { servers: string }): Promise<NatsConnection>;
}
interface NatsMessages extends AsyncIterable<{ ack(): void; data: Uint8Array }> {
  close(): Promise<void | Error>;
}
interface NatsJetStream {
  AckPolicy: { Explicit: string };
  jetstreamManager(connection: NatsConnection): Promise<{
    streams: { add(config: object): Promise<unknown>; delete(name: string): Promise<boolean> };
    consumers: { add(stream: string, config: object): Promise<unknown> };
  }>;
  jetstream(connection: NatsConnection): {
    publish(subject: string, data: Uint8Array): Promise<unknown>;
    consumers: { get(stream: string, name: string): Promise<{ consume(options: object): Promise<NatsMessages> }> };
  };
}

/** nats: JetStream publish (a batch concurrently) / consume with max_ack_pending / ack. */
function rawNats(url: string, json: boolean): Contender {
  const open = async (maxInFlight: number, counter: Counter): Promise<Pipeline> => {
    // Typed structurally: the NATS packages resolve from packages/bus, not from tools/.
    const { connect } = await importDriver<NatsTransport>('@nats-io/transport-node');
    const { jetstream, jetstreamManager, AckPolicy } = await importDriver<NatsJetStream>('@nats-io/jetstream');
    const parsed = new URL(url);
    const connection = await connect({ servers: `${parsed.hostname}:${parsed.port || 4222}` });
    const name = `BENCH_RAW_${randomUUID().slice(0, 8)}`;
    const subject = `bench.raw.${name}`;
    const manager = await jetstreamManager(connection);
    await manager.streams.add({ name, subjects: [subject] });
    await manager.consumers.add(name, { durable_name: 'bench', ack_policy: AckPolicy.Explicit, max_ack_pending: maxInFlight });
    const js = jetstream(connection);
    const consumer = await js.consumers.get(name, 'bench');
    const messages = await consumer.consume({ max_messages: Math.max(maxInFlight, 1) });
    const loop = (async () => {
      for await (const message of messages) {
        if (json) parseBody(message.data);
        message.ack();
        counter.hit();
      }
    })();
    const encoder = new TextEncoder();
    const body = encoder.encode(rawBody());
    let sent = 0;
    return {
      publish: async (count) => {
        await Promise.all(
          Array.from({ length: count }, () => js.publish(subject, json ? encoder.encode(rawBody(`session-${sent++ % SESSIONS}`)) : body)),
        );
      },
      close: async () => {
        await messages.close();
        await loop;
        await manager.streams.delete(name);
        await connection.close();
      },
    };
  };
  return { throughput: open, latency: (counter) => open(1, counter) };
}

/** kafka: kafkajs producer.send (a batch) / consumer.run eachMessage (offsets committed by kafkajs). */
function rawKafka(url: string, json: boolean): Contender {
  const open = async (maxInFlight: number, counter: Counter): Promise<Pipeline> => {
    const { Kafka, logLevel } = await importDriver<typeof import('kafkajs')>('kafkajs');
    const brokers = new URL(url).host.split(',');
    const kafka = new Kafka({ clientId: 'woodwork-bench-raw', brokers, logLevel: logLevel.NOTHING });
    const topic = `bench-raw-${randomUUID().slice(0, 8)}`;
    const partitions = 3;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let joined!: () => void;
    const ready = new Promise<void>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      partitionsConsumedConcurrently: Math.min(maxInFlight, partitions),
      eachMessage: async ({ message }) => {
        if (json) parseBody(message.value ?? '');
        counter.hit();
      },
    });
    await ready;
    const value = Buffer.from(rawBody());
    let sent = 0;
    return {
      publish: async (count) => {
        await producer.send({
          topic,
          messages: Array.from({ length: count }, () => {
            const key = `session-${sent++ % SESSIONS}`;
            return { key, value: json ? rawBody(key) : value };
          }),
        });
      },
      close: async () => {
        await consumer.disconnect();
        await producer.disconnect();
        await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
        await admin.disconnect();
      },
    };
  };
  return { throughput: open, latency: (counter) => open(1, counter) };
}

// ---------------------------------------------------------------------------------------------

interface Target {
  name: string;
  url: string | undefined;
  raw: (url: string, json: boolean) => Contender;
  dropTopic?: DropTopic;
}

async function dropRedisTopic(url: string, topic: string): Promise<void> {
  const { Redis } = await importDriver<typeof import('ioredis')>('ioredis');
  const client = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      // Everything of a topic starts with `<prefix>:{<topic>}` (the adapter's key layout).
      const [next, found] = await client.scan(cursor, 'MATCH', `ww:{${topic}}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length > 0) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

async function dropNatsTopic(url: string, topic: string): Promise<void> {
  const { connect } = await importDriver<NatsTransport>('@nats-io/transport-node');
  const { jetstreamManager } = await importDriver<NatsJetStream>('@nats-io/jetstream');
  const parsed = new URL(url);
  const connection = await connect({ servers: `${parsed.hostname}:${parsed.port || 4222}` });
  try {
    await (await jetstreamManager(connection)).streams.delete(topicNames('ww', topic).stream).catch(() => false);
  } finally {
    await connection.close();
  }
}

async function dropKafkaTopic(url: string, topic: string): Promise<void> {
  const { Kafka, logLevel } = await importDriver<typeof import('kafkajs')>('kafkajs');
  const admin = new Kafka({ clientId: 'woodwork-bench-cleanup', brokers: new URL(url).host.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [kafkaTopicName(topic)] }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

const targets: Target[] = [
  // In process the Bus never encodes JSON either (it hands the envelope object over): one baseline.
  { name: 'memory', url: 'memory://bench', raw: rawMemory },
  { name: 'redis', url: process.env.WOODWORK_TEST_REDIS_URL, raw: rawRedis, dropTopic: dropRedisTopic },
  { name: 'nats', url: process.env.WOODWORK_TEST_NATS_URL, raw: rawNats, dropTopic: dropNatsTopic },
  // The same partition count as the raw kafkajs topic (3), so both do the same broker operations.
  { name: 'kafka', url: withQuery(process.env.WOODWORK_TEST_KAFKA_URL, 'partitions=3'), raw: rawKafka, dropTopic: dropKafkaTopic },
];

function withQuery(url: string | undefined, query: string): string | undefined {
  if (url === undefined) return undefined;
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

const only = process.env.BENCH_ADAPTERS?.split(',').map((name) => name.trim());

async function benchAdapter(target: Target, url: string): Promise<void> {
  const ours = woodwork(url, target.dropTopic);
  const raw = target.raw(url, false);
  const rawWithJson = target.name === 'memory' ? undefined : target.raw(url, true);
  const contenders: { client: Line['client']; contender: Contender }[] = [];
  if (measures('raw')) {
    contenders.push({ client: 'raw', contender: raw });
    if (rawWithJson) contenders.push({ client: 'raw+json', contender: rawWithJson });
  }
  if (measures('woodwork')) contenders.push({ client: 'woodwork', contender: ours });
  for (const maxInFlight of IN_FLIGHT) {
    const runs = new Map<Line['client'], Throughput[]>(contenders.map(({ client }) => [client, []]));
    const errors = new Map<Line['client'], string>();
    for (let round = 0; round < ROUNDS; round++) {
      // Rounds interleave the contenders, each round starting with another one: a machine that
      // gets busier or quieter during the run weighs on all of them alike.
      for (let index = 0; index < contenders.length; index++) {
        const { client, contender } = contenders[(index + round) % contenders.length]!;
        if (errors.has(client)) continue;
        try {
          runs.get(client)!.push(await measureThroughput(contender, maxInFlight));
        } catch (error) {
          errors.set(client, String(error));
        }
      }
    }
    const medianOf = (client: Line['client']) => median(runs.get(client) ?? []);
    const rawRate = medianOf('raw')?.msgPerSec;
    const rawWithJsonRate = medianOf('raw+json')?.msgPerSec;
    for (const { client } of contenders) {
      const error = errors.get(client);
      const result = medianOf(client);
      if (error !== undefined || result === undefined) {
        emit({ adapter: target.name, client, metric: 'throughput', maxInFlight, messages: 0, seconds: 0, error: error ?? 'no run' });
        continue;
      }
      emit({
        adapter: target.name,
        client,
        metric: 'throughput',
        maxInFlight,
        ...result,
        rounds: runs.get(client)!.map((run) => run.msgPerSec),
        ...(client === 'woodwork' && rawRate ? { ratio: round(result.msgPerSec / rawRate) } : {}),
        ...(client === 'woodwork' && rawWithJsonRate ? { ratioWithJson: round(result.msgPerSec / rawWithJsonRate) } : {}),
      });
    }
  }
  if (SKIP_LATENCY) return;
  let rawP99: number | undefined;
  if (measures('raw')) try {
    const { samples, seconds } = await measureLatency(raw);
    rawP99 = percentile(samples, 0.99);
    emit({
      adapter: target.name,
      client: 'raw',
      metric: 'latency',
      maxInFlight: 1,
      messages: samples.length,
      seconds: round(seconds),
      p50Ms: round(percentile(samples, 0.5), 4),
      p99Ms: round(rawP99, 4),
    });
  } catch (error) {
    emit({ adapter: target.name, client: 'raw', metric: 'latency', messages: 0, seconds: 0, error: String(error) });
  }
  if (measures('woodwork')) try {
    const { samples, seconds } = await measureLatency(ours);
    const p99 = percentile(samples, 0.99);
    emit({
      adapter: target.name,
      client: 'woodwork',
      metric: 'latency',
      maxInFlight: 1,
      messages: samples.length,
      seconds: round(seconds),
      p50Ms: round(percentile(samples, 0.5), 4),
      p99Ms: round(p99, 4),
      ...(rawP99 ? { ratio: round(p99 / rawP99) } : {}),
    });
  } catch (error) {
    emit({ adapter: target.name, client: 'woodwork', metric: 'latency', messages: 0, seconds: 0, error: String(error) });
  }
}

function table(): string {
  const rows = [['adapter', 'metric', 'in flight', 'woodwork', 'raw client', 'ratio', 'raw client + JSON', 'ratio']];
  const find = (line: Line, client: Line['client']) =>
    lines.find(
      (other) =>
        other.adapter === line.adapter &&
        other.metric === line.metric &&
        other.maxInFlight === line.maxInFlight &&
        other.client === client,
    );
  const describe = (line: Line | undefined) => {
    if (!line) return '-';
    if (line.error) return `error: ${line.error.slice(0, 40)}`;
    if (line.metric === 'latency') return `p50 ${line.p50Ms} ms, p99 ${line.p99Ms} ms`;
    const perCpu = line.cpuSeconds ? Math.round(line.messages / line.cpuSeconds).toLocaleString('en-US') : '?';
    return `${line.msgPerSec!.toLocaleString('en-US')} msg/s (${perCpu}/cpu-s)`;
  };
  for (const line of lines.filter((item) => item.client === 'woodwork')) {
    const raw = find(line, 'raw');
    const withJson = line.metric === 'throughput' ? find(line, 'raw+json') : undefined;
    rows.push([
      line.adapter,
      line.metric,
      String(line.maxInFlight ?? 1),
      describe(line),
      describe(raw),
      line.ratio === undefined ? '-' : line.metric === 'throughput' ? `${Math.round(line.ratio * 100)}%` : `${line.ratio}x p99`,
      describe(withJson),
      line.ratioWithJson === undefined ? '-' : `${Math.round(line.ratioWithJson * 100)}%`,
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')).join('\n');
}

for (const target of targets) {
  if (only && !only.includes(target.name)) continue;
  if (target.url === undefined) {
    process.stderr.write(`[bench] ${target.name}: skipped (set WOODWORK_TEST_${target.name.toUpperCase()}_URL)\n`);
    continue;
  }
  process.stderr.write(`[bench] ${target.name} at ${target.url}\n`);
  const started = now();
  await benchAdapter(target, target.url);
  process.stderr.write(`[bench] ${target.name} took ${round((now() - started) / 1000, 1)} s\n`);
  await sleep(100);
}
process.stdout.write(`\n${table()}\n`);
process.stdout.write(
  `throughput: the median of ${ROUNDS} interleaved round(s) per contender (every round is in the JSON lines).\n` +
    'ratio: against the raw client alone (one pre-encoded body, never parsed); ratio + JSON: against the raw client\n' +
    'encoding a fresh envelope per message and parsing each one received, as the Bus does.\n',
);
// Some drivers keep timers after close (reconnect backoff, metadata refresh); the figures are out.
process.exit(0);
