/**
 * A broker restart in the middle of a stream (the fault report's Kafka restart, item 9: streams
 * failed with `stream error` where the runtime's own messages rode it out). The producer publishes
 * what the bus failed again — the same envelopes, the same message ids, in order — for up to
 * `publishRetryMs`, and neither side counts the outage as the other's silence; past the bound the
 * stream fails with an error naming the stream and the component.
 *
 * On a PRIVATE Redis this file starts, stops and starts itself (`tools/services.sh` with its own
 * state directory and port; AOF on, so the streams survive), never the shared one. The bus URL's
 * `maxRetriesPerRequest=0` makes a publish to a stopped Redis fail at once, as a Kafka publish does
 * after its confirmation timeout, so the stream's own tries again are what carry it. The restart is
 * driven by what the bus reports (failed publishes counted), not by timers; nothing is asserted on
 * wall-clock time.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus, WoodworkBusError } from '@woodwork/bus';
import type { Bus, EnvelopeInit } from '@woodwork/bus';
import { createStreamManager, WoodworkStreamError } from '@woodwork/stream';
import type { StreamChunk, StreamManager, StreamManagerOptions, StreamReader } from '@woodwork/stream';
import { freePort } from '../../bus/test/free-port.js';

const installed = process.env.WOODWORK_TEST_REDIS_URL !== undefined;
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A Redis of our own: `tools/services.sh <command> redis` with its own state dir and port (AOF on). */
class PrivateRedis {
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}?maxRetriesPerRequest=0`;
  }

  async services(command: 'start' | 'stop'): Promise<void> {
    await promisify(execFile)('bash', ['tools/services.sh', command, 'redis'], {
      cwd: repositoryRoot,
      timeout: 60_000,
      env: { ...process.env, WOODWORK_SERVICES_DIR: this.dir, WOODWORK_REDIS_PORT: String(this.port) },
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A bus that counts the publishes the broker failed (all, and of chunks), and the message ids of every try. */
interface CountingBus extends Bus {
  readonly failures: number;
  readonly chunkFailures: number;
  readonly tries: string[];
}

/**
 * The real bus, watched. `landThenFail(envelopes)` picks publishes that the broker takes but whose
 * confirmation is lost (as a Kafka publish that times out "may still be written"): they go through
 * and then fail with a retryable error, once each.
 */
function counting(bus: Bus, landThenFail: (envelopes: readonly EnvelopeInit[]) => boolean = () => false): CountingBus {
  const tries: string[] = [];
  let failures = 0;
  let chunkFailures = 0;
  const watched = async <T>(envelopes: readonly EnvelopeInit[], publish: () => Promise<T>): Promise<T> => {
    for (const envelope of envelopes) if (envelope.message_id) tries.push(envelope.message_id);
    try {
      const published = await publish();
      if (landThenFail(envelopes)) {
        throw new WoodworkBusError('WW_BUS_TIMEOUT', 'the broker did not confirm the record; it may still be written', { isRetryable: true });
      }
      return published;
    } catch (error) {
      failures++;
      if (envelopes[0]?.event_type === 'stream.chunk' || envelopes[0]?.event_type === 'stream.chunks') chunkFailures++;
      throw error;
    }
  };
  return Object.create(bus, {
    publish: { value: (topic: string, envelope: EnvelopeInit) => watched([envelope], () => bus.publish(topic, envelope)) },
    publishMany: { value: (topic: string, envelopes: readonly EnvelopeInit[]) => watched(envelopes, () => bus.publishMany(topic, envelopes)) },
    failures: { get: () => failures },
    chunkFailures: { get: () => chunkFailures },
    tries: { value: tries },
  }) as CountingBus;
}

async function readAll(reader: StreamReader): Promise<StreamChunk[]> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of reader) chunks.push(chunk);
  return chunks;
}

function texts(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `c${from + i}`);
}

describe.skipIf(!installed)('a broker restart in the middle of a stream (private Redis)', () => {
  let redis: PrivateRedis;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = new PrivateRedis(mkdtempSync(path.join(tmpdir(), 'ww-stream-restart-')), await freePort());
    await redis.services('start');
  }, 120_000);

  afterEach(async () => {
    await redis.services('start');
    for (const close of cleanup.splice(0).reverse()) await close().catch(() => undefined);
  }, 60_000);

  afterAll(async () => {
    await redis?.services('stop').catch(() => undefined);
    if (redis) rmSync(redis.dir, { recursive: true, force: true });
  }, 60_000);

  /**
   * A producing `llm` and a reading `output`, each on its own connection. Timeouts shorter than
   * the outages below: were the outage counted as the other side's silence, the stream would fail.
   * (Not much shorter: after Redis is back, a client may take a few seconds to reconnect, and that
   * silence does count.)
   */
  async function pair(producerOptions: Partial<StreamManagerOptions>, consumerOptions: Partial<StreamManagerOptions>, landThenFail?: (envelopes: readonly EnvelopeInit[]) => boolean) {
    const topicPrefix = `restart${randomUUID().slice(0, 8)}`;
    const timings = { idleTimeoutMs: 8_000, consumerTimeoutMs: 8_000, heartbeatIntervalMs: 1_000, gapTimeoutMs: 8_000 };
    const producerBus = counting(await createBus(redis.url), landThenFail);
    const consumerBus = await createBus(redis.url);
    cleanup.push(() => producerBus.close(), () => consumerBus.close());
    const producerErrors: unknown[] = [];
    const consumerErrors: unknown[] = [];
    const producers: StreamManager = createStreamManager({ bus: producerBus, component: 'llm', topicPrefix, ...timings, onError: (error) => producerErrors.push(error), ...producerOptions });
    const consumers: StreamManager = createStreamManager({ bus: consumerBus, component: 'output', topicPrefix, ...timings, onError: (error) => consumerErrors.push(error), ...consumerOptions });
    cleanup.push(() => producers.close(), () => consumers.close());
    const stream = await producers.create({ sessionId: `session-${randomUUID()}`, target: 'output' });
    const reader = await consumers.open(stream.ref);
    return { producerBus, stream, reader, producerErrors, consumerErrors };
  }

  it('reads every chunk once and in order when the broker is back within publishRetryMs', async () => {
    const { producerBus, stream, reader, producerErrors } = await pair({ publishRetryMs: 60_000 }, { publishRetryMs: 60_000 });
    const reading = readAll(reader);
    reading.catch(() => undefined); // awaited below; a failure shows there
    for (const text of texts(0, 20)) await stream.send(text);
    await redis.services('stop');
    // The rest goes into the outage, not awaited chunk by chunk: those queued behind a publish
    // being tried again must not overtake it.
    const rest = stream.pipeFrom(texts(20, 60));
    rest.catch(() => undefined);
    // Seven failed tries of the same chunks take about 11 s of backoff, longer than either side's
    // 8 s timeouts.
    await waitFor(() => producerBus.chunkFailures >= 7 || stream.state !== 'open' || reader.state !== 'open', 60_000, 'seven failed publishes of chunks');
    expect(stream.state).toBe('open');
    expect(reader.state).toBe('open');
    await redis.services('start');
    await rest;
    const chunks = await reading;
    expect(chunks.map((chunk) => chunk.data)).toEqual(texts(0, 60));
    expect(chunks.map((chunk) => chunk.chunk_index)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(reader.state).toBe('done');
    expect(stream.state).toBe('ended');
    // Tried again under the same message ids: the first that failed is among the later tries.
    const ids = producerBus.tries.filter((id) => !id.endsWith(':error'));
    expect(ids.length).toBeGreaterThan(new Set(ids).size);
    const notice = producerErrors.find((error) => WoodworkStreamError.isInstance(error) && error.message.includes('trying again'));
    expect(String(notice)).toMatch(new RegExp(`component \`llm\`: publishing chunks? 20.* of stream ${stream.streamId} .* failed, trying again for up to 60.0 s`));
  }, 120_000);

  it('reads a chunk whose publish landed but was reported failed once, when it is published again', async () => {
    const landed = new Set<string>();
    // Every third chunk message lands and reports a lost confirmation, the first time.
    const { producerBus, stream, reader } = await pair({ publishRetryMs: 60_000 }, {}, (envelopes) => {
      const first = envelopes[0];
      if (first?.event_type !== 'stream.chunk' && first?.event_type !== 'stream.chunks') return false;
      if ((first.chunk_index ?? 0) % 3 !== 0 || landed.has(first.message_id!)) return false;
      landed.add(first.message_id!);
      return true;
    });
    const reading = readAll(reader);
    await stream.pipeFrom(texts(0, 30));
    const chunks = await reading;
    expect(chunks.map((chunk) => chunk.data)).toEqual(texts(0, 30));
    expect(chunks.map((chunk) => chunk.chunk_index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(producerBus.failures).toBe(landed.size);
    expect(landed.size).toBeGreaterThan(0);
  }, 60_000);

  it('fails the stream with an error naming the stream and the component when the broker stays down longer', async () => {
    // The reader would wait longer than the producer: what it gets is the producer's word.
    const { stream, reader } = await pair({ publishRetryMs: 10_000 }, { publishRetryMs: 60_000 });
    for (const text of texts(0, 10)) await stream.send(text);
    for (let i = 0; i < 10; i++) expect((await reader.read())?.data).toBe(`c${i}`);
    await redis.services('stop');
    const sent = await stream.send('c10').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(WoodworkStreamError.isInstance(sent) && sent.code).toBe('WW_STREAM_PUBLISH_FAILED');
    const message = (sent as Error).message;
    expect(message).toMatch(new RegExp(`^component \`llm\` could not publish chunk 10 of stream ${stream.streamId} \\(session [\\w-]+\\) to \`restart\\w+\\.data\\.output\` for [\\d.]+ s \\(\\d+ tries\\)`));
    expect(message).toContain("check that the bus's broker is up");
    expect(message).toContain('publishRetryMs (now 10.0 s)');
    expect(stream.state).toBe('failed');
    expect(stream.signal.reason).toBe(sent);
    // The broker back: the producer's stream.error (being tried again too) reaches the reader.
    await redis.services('start');
    const read = await reader.read().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(WoodworkStreamError.isInstance(read) && read.code).toBe('WW_STREAM_ABORTED');
    expect((read as Error).message).toContain(`stream ${stream.streamId} was aborted by its producer: component \`llm\` could not publish chunk 10`);
  }, 120_000);
});
