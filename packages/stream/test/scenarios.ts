/**
 * The stream scenarios: one suite that every bus adapter runs (memory, Redis, NATS, Kafka) on
 * its real broker, so the streaming promises are proven the same way everywhere. Call
 * `runStreamScenarios` at the top level of a test file.
 *
 * Every scenario uses its own topic prefix (random), opens its own buses and managers and
 * closes them, and waits by polling with deadlines.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import type { Bus, Envelope, EnvelopeInit, Subscription } from '@woodwork/bus';
import { createStreamManager, streamControlTopic, streamDataTopic, STREAM_EVENT, WoodworkStreamError } from '@woodwork/stream';
import type { StreamChunk, StreamChunkPayload, StreamChunksPayload, StreamManager, StreamManagerOptions, StreamReader } from '@woodwork/stream';

export interface StreamScenarioOptions {
  /** Shown in the describe title. */
  readonly name: string;
  /** The bus URL; unset skips the suite with a loud message (or fails it when brokers are required). */
  readonly url: string | undefined;
  /** The variable the URL comes from, for the skip message. */
  readonly urlVariable?: string;
  /** Deadline of one scenario. Default 60 000 ms. */
  readonly timeoutMs?: number;
  /**
   * How many records the bus keeps in this process for replay at most (the memory bus's log:
   * it trims whole blocks of 1 024, so up to `retention` + 2 048). The bounded-memory scenario then streams
   * several times that many chunks and allows for the log. Default 0 (a broker keeps its log).
   */
  readonly inProcessLogRecords?: number;
}

const PRODUCER_PROCESS = fileURLToPath(new URL('./fixtures/producer-process.ts', import.meta.url));

let collectGarbage: (() => void) | undefined;
function gc(): void {
  if (!collectGarbage) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) collectGarbage = exposed;
    else {
      setFlagsFromString('--expose-gc');
      collectGarbage = runInNewContext('gc') as () => void;
    }
  }
  collectGarbage();
}

/**
 * JS heap and array buffers (where chunk bytes live) after a full collection. Newer V8s (Node 24)
 * free the memory of dead array buffers on a background thread after the collection, so the
 * collection runs twice with a turn of the event loop between.
 */
async function retained(): Promise<{ heap: number; all: number }> {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, all: usage.heapUsed + usage.arrayBuffers };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(predicate: () => T, timeoutMs: number, message: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await sleep(10);
  }
}

/** A deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Opens buses and managers for one scenario and closes them all, newest first. */
class Scope implements AsyncDisposable {
  readonly prefix = `wws-${randomUUID().slice(0, 8)}`;
  readonly session = `session-${randomUUID()}`;
  private readonly closers: (() => Promise<unknown>)[] = [];
  private readonly children: ChildProcess[] = [];
  readonly errors: unknown[] = [];

  constructor(readonly url: string) {}

  async bus(): Promise<Bus> {
    const bus = await createBus(this.url);
    this.closers.push(() => bus.close());
    return bus;
  }

  manager(bus: Bus, component: string, options: Partial<StreamManagerOptions> = {}): StreamManager {
    const manager = createStreamManager({
      bus,
      component,
      topicPrefix: this.prefix,
      onError: (error) => this.errors.push(error),
      ...options,
    });
    this.closers.push(() => manager.close());
    return manager;
  }

  dataTopic(component: string): string {
    return streamDataTopic(component, this.prefix);
  }

  /** Every message that reaches `topic` from now on, in a group of its own (a bystander's view). */
  async watch(bus: Bus, topic: string): Promise<Envelope[]> {
    const seen: Envelope[] = [];
    const subscription: Subscription = await bus.subscribe(topic, { group: `${this.prefix}-watch-${randomUUID().slice(0, 8)}`, fromBeginning: false }, (envelope) => {
      seen.push(envelope);
    });
    this.closers.push(() => subscription.close());
    return seen;
  }

  spawnProducer(env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', PRODUCER_PROCESS], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    return child;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
  }
}

function chunksEnvelope(sessionId: string, streamId: string, first: number, data: readonly string[], isFinal = false): EnvelopeInit<StreamChunksPayload> {
  return {
    session_id: sessionId,
    event_type: STREAM_EVENT.chunks,
    component_source: 'fake-producer',
    component_target: 'consumer',
    stream_id: streamId,
    is_stream: true,
    chunk_index: first,
    is_final: isFinal,
    payload: { chunks: data.map((text) => ({ data_type: 'text', data: text })) },
  };
}

/** The chunk indexes the stream.chunk and stream.chunks messages among `envelopes` carry, one list per message. */
function chunkMessages(envelopes: readonly Envelope[], streamId: string): number[][] {
  return envelopes
    .filter((envelope) => envelope.stream_id === streamId && (envelope.event_type === STREAM_EVENT.chunk || envelope.event_type === STREAM_EVENT.chunks))
    .map((envelope) => {
      const count = envelope.event_type === STREAM_EVENT.chunks ? (envelope.payload as StreamChunksPayload).chunks.length : 1;
      return Array.from({ length: count }, (_, i) => envelope.chunk_index! + i);
    });
}

function chunkEnvelope(
  sessionId: string,
  streamId: string,
  index: number,
  payload: StreamChunkPayload,
  isFinal = false,
): EnvelopeInit<StreamChunkPayload> {
  return {
    session_id: sessionId,
    event_type: STREAM_EVENT.chunk,
    component_source: 'fake-producer',
    component_target: 'consumer',
    stream_id: streamId,
    is_stream: true,
    chunk_index: index,
    is_final: isFinal,
    payload,
  };
}

async function readAll(reader: StreamReader): Promise<StreamChunk[]> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of reader) chunks.push(chunk);
  return chunks;
}

async function rejection(promise: Promise<unknown>): Promise<WoodworkStreamError> {
  try {
    await promise;
  } catch (error) {
    expect(WoodworkStreamError.isInstance(error), `expected a WoodworkStreamError, got ${String(error)}`).toBe(true);
    return error as WoodworkStreamError;
  }
  throw new Error('expected a rejection, but it resolved');
}

function expectInOrder(chunks: readonly StreamChunk[], from: number, count: number): void {
  expect(chunks.map((chunk) => chunk.chunk_index)).toEqual(Array.from({ length: count }, (_, i) => from + i));
}

export function runStreamScenarios(options: StreamScenarioOptions): void {
  const { url, name } = options;
  const timeout = options.timeoutMs ?? 60_000;
  describe(`@woodwork/stream over ${name}`, () => {
    if (!url) {
      const variable = options.urlVariable ?? 'the bus URL';
      if (process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') {
        it(`needs ${variable}`, () => {
          throw new Error(`${variable} is not set but WOODWORK_TEST_REQUIRE_BROKERS=1: run \`bash tools/services.sh start\``);
        });
      } else {
        console.warn(`\n*** SKIPPED @woodwork/stream over ${name}: ${variable} is not set (bash tools/services.sh start; eval "$(bash tools/services.sh env)") ***\n`);
        it.skip(`SKIPPED: ${variable} is not set — run \`bash tools/services.sh start\` and \`eval "$(bash tools/services.sh env)"\``, () => undefined);
      }
      return;
    }

    it('delivers a stream in order, text, json and a final chunk with data', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const producers = scope.manager(bus, 'llm');
      const consumers = scope.manager(await scope.bus(), 'output');
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      expect(producer.ref).toMatchObject({ session_id: scope.session, source: 'llm', target: 'output', topic: scope.dataTopic('output') });
      const reader = await consumers.open(JSON.parse(JSON.stringify(producer.ref)));
      const sending = (async () => {
        for (let i = 0; i < 150; i++) await producer.send(`t${i} `);
        await producer.send({ data_type: 'json', data: { usage: { tokens: 150 } }, metadata: { kind: 'usage' } });
        await producer.end('done');
      })();
      const chunks = await readAll(reader);
      await sending;
      expectInOrder(chunks, 0, 152);
      expect(chunks.slice(0, 150).map((chunk) => chunk.data).join('')).toBe(Array.from({ length: 150 }, (_, i) => `t${i} `).join(''));
      expect(chunks[150]).toMatchObject({ data_type: 'json', data: { usage: { tokens: 150 } }, metadata: { kind: 'usage' }, is_final: false });
      expect(chunks[151]).toMatchObject({ data_type: 'text', data: 'done', is_final: true });
      expect(reader.state).toBe('done');
      expect(producer.state).toBe('ended');

      // The same through the web ReadableStream.
      const second = await producers.create({ sessionId: scope.session, target: 'output' });
      const readable = (await consumers.open(second.ref)).readable;
      void (async () => {
        for (let i = 0; i < 20; i++) await second.send(`r${i}`);
        await second.end();
      })();
      const got: string[] = [];
      const streamReader = readable.getReader();
      for (let result = await streamReader.read(); !result.done; result = await streamReader.read()) got.push(String(result.value.data));
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
      expect(scope.errors).toEqual([]);
    });

    it('puts shuffled and duplicated chunks back in order, and reports a gap that never fills', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const consumers = scope.manager(bus, 'consumer', { gapTimeoutMs: 1_000 });
      const streamId = `stream-${randomUUID()}`;
      const reader = await consumers.open({ sessionId: scope.session, streamId, source: 'fake-producer' });
      const count = 60;
      const envelopes: EnvelopeInit<StreamChunkPayload>[] = [];
      for (let i = 0; i < count; i++) {
        const envelope = chunkEnvelope(scope.session, streamId, i, { data_type: 'text', data: `c${i}` });
        envelopes.push(envelope, { ...envelope }); // a redelivery: a new message_id, same chunk
        if (i % 7 === 0) envelopes.push({ ...envelope, message_id: `dup-${streamId}-${i}` }, { ...envelope, message_id: `dup-${streamId}-${i}` });
      }
      envelopes.push(chunkEnvelope(scope.session, streamId, count, { data_type: null, data: null }, true));
      const scrambled = shuffle(envelopes, 0x5eed);
      const reading = readAll(reader);
      for (let start = 0; start < scrambled.length; start += 17) {
        await bus.publishMany(scope.dataTopic('consumer'), scrambled.slice(start, start + 17));
      }
      const chunks = await reading;
      expectInOrder(chunks, 0, count);
      expect(chunks.map((chunk) => chunk.data)).toEqual(Array.from({ length: count }, (_, i) => `c${i}`));

      // 0, 1, 3 and never 2: the reader yields 0 and 1, then fails after gapTimeoutMs.
      const gapStream = `stream-${randomUUID()}`;
      const gapReader = await consumers.open({ sessionId: scope.session, streamId: gapStream, source: 'fake-producer' });
      await bus.publishMany(
        scope.dataTopic('consumer'),
        [0, 1, 3].map((i) => chunkEnvelope(scope.session, gapStream, i, { data_type: 'text', data: `g${i}` })),
      );
      expect((await gapReader.read())?.data).toBe('g0');
      expect((await gapReader.read())?.data).toBe('g1');
      const started = Date.now();
      const error = await rejection(gapReader.read());
      expect(error.code).toBe('WW_STREAM_GAP');
      expect(error.message).toContain('chunk 2');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    });

    it('holds a fast producer to a slow consumer: bounded lead, bounded memory', { timeout }, async () => {
      await using scope = new Scope(url);
      const window = 8;
      const logRecords = options.inProcessLogRecords ?? 0;
      // Enough data that a consumer buffering it all would blow the bound many times over; brokers'
      // clients hold a few MB of socket buffers at times, which the bound (a third) absorbs.
      const chunkBytes = logRecords > 0 ? 1024 : 16 * 1024;
      const count = Math.max(2_400, 5 * logRecords);
      // A record in the log: the chunk in base64 plus the envelope.
      const logBytes = logRecords * (Math.ceil((chunkBytes * 4) / 3) + 1_024);
      const producers = scope.manager(await scope.bus(), 'llm', { window });
      const consumers = scope.manager(await scope.bus(), 'output', { window });
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      const reader = await consumers.open(producer.ref);
      const baseline = await retained();
      let consumed = 0;
      let maxLead = 0;
      let peakHeap = 0;
      let peak = 0;
      const sending = (async () => {
        for (let i = 0; i < count; i++) {
          await producer.send(randomBytes(chunkBytes));
          maxLead = Math.max(maxLead, producer.sentCount - consumed);
        }
        await producer.end();
      })();
      for await (const chunk of reader) {
        expect(chunk.data_type).toBe('bytes');
        consumed++;
        if (consumed % Math.ceil(count / 16) === 0) {
          await sleep(20); // the slow consumer
          const now = await retained();
          peakHeap = Math.max(peakHeap, now.heap - baseline.heap);
          peak = Math.max(peak, now.all - baseline.all);
        }
      }
      await sending;
      expect(consumed).toBe(count);
      // The producer is never more than a window (plus the grant in flight) ahead of the reader.
      expect(maxLead).toBeLessThanOrEqual(window + 1);
      const total = count * chunkBytes;
      // The JS heap holds no backlog at all; array buffers also hold the bus client's socket and
      // parser buffers (about 1 MB on each broker, measured once dead buffers are swept).
      const heapBound = total / 6 + logBytes;
      const bound = total / 2 + logBytes;
      console.info(
        `[${name}] bounded memory: ${count} chunks of ${chunkBytes} B (${total} B) streamed; retained growth at most ${peakHeap} B heap (bound ${Math.round(heapBound)}), ${peak} B heap + array buffers (bound ${Math.round(bound)}); lead ≤ ${maxLead}`,
      );
      expect(heapBound).toBeLessThan(total);
      expect(bound, 'a bound that a consumer holding the whole stream would break').toBeLessThan(total);
      expect(peakHeap, 'JS heap growth').toBeLessThan(heapBound);
      expect(peak, 'heap + array buffers growth').toBeLessThan(bound);
    });

    it('cancels the producer when the consumer stops reading, cancels, disconnects — and fails the consumer when the producer aborts', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const producers = scope.manager(bus, 'llm', { window: 4, consumerTimeoutMs: 1_500, heartbeatIntervalMs: 300 });
      const consumers = scope.manager(await scope.bus(), 'output', { window: 4, heartbeatIntervalMs: 300 });
      const sendForever = async (producer: Awaited<ReturnType<StreamManager['create']>>) => {
        for (let i = 0; ; i++) await producer.send(`x${i}`);
      };

      // 1. Break out of for-await.
      const first = await producers.create({ sessionId: scope.session, target: 'output' });
      const firstSending = rejection(sendForever(first)); // handled from the start
      let read = 0;
      for await (const _chunk of await consumers.open(first.ref)) if (++read === 3) break;
      const cancelled = await firstSending;
      expect(cancelled.code).toBe('WW_STREAM_CANCELLED');
      expect(cancelled.message).toContain('stopped reading');
      expect(first.signal.aborted).toBe(true);
      expect(first.signal.reason).toBe(cancelled);
      expect(first.sentCount).toBeLessThanOrEqual(3 + 4 + 1);
      expect((await rejection(first.send('late'))).code).toBe('WW_STREAM_CANCELLED');

      // 2. ReadableStream.cancel(reason).
      const second = await producers.create({ sessionId: scope.session, target: 'output' });
      const secondSending = rejection(sendForever(second)); // handled from the start
      const webReader = (await consumers.open(second.ref)).readable.getReader();
      await webReader.read();
      await webReader.read();
      await webReader.cancel('the user closed the tab');
      const secondError = await secondSending;
      expect(secondError.code).toBe('WW_STREAM_CANCELLED');
      expect(secondError.message).toContain('the user closed the tab');

      // 3. The consumer disconnects without a word: the producer times out.
      const lostBus = await scope.bus();
      const lost = scope.manager(lostBus, 'output', { window: 4, heartbeatIntervalMs: 300 });
      const third = await producers.create({ sessionId: scope.session, target: 'output' });
      const thirdSending = rejection(sendForever(third)); // handled from the start
      const lostReader = await lost.open(third.ref);
      await lostReader.read();
      const disconnectedAt = Date.now();
      await lostBus.close();
      const timedOut = await thirdSending;
      expect(timedOut.code).toBe('WW_STREAM_CONSUMER_TIMEOUT');
      expect(third.signal.aborted).toBe(true);
      expect(Date.now() - disconnectedAt).toBeLessThan(10_000);

      // 4. The producer aborts: the consumer reads what was sent, then gets the error.
      const fourth = await producers.create({ sessionId: scope.session, target: 'output' });
      const fourthReader = await consumers.open(fourth.ref);
      for (let i = 0; i < 3; i++) await fourth.send(`a${i}`);
      await fourth.abort(new Error('the model is overloaded'));
      expect((await fourthReader.read())?.data).toBe('a0');
      expect((await fourthReader.read())?.data).toBe('a1');
      expect((await fourthReader.read())?.data).toBe('a2');
      const aborted = await rejection(fourthReader.read());
      expect(aborted.code).toBe('WW_STREAM_ABORTED');
      expect(aborted.message).toContain('the model is overloaded');
      expect((await rejection(fourth.send('more'))).code).toBe('WW_STREAM_ABORTED');
    });

    it('ends a stream whose producer died in an error after the idle timeout', { timeout }, async () => {
      await using scope = new Scope(url);
      const idleTimeoutMs = 1_500;
      const consumerBus = await scope.bus();
      const consumers = scope.manager(consumerBus, 'output', { idleTimeoutMs, heartbeatIntervalMs: 300 });
      const streamId = `stream-${randomUUID()}`;
      let kill: () => void;
      if (consumerBus.capabilities.crossProcess) {
        // A real process, SIGKILLed mid-stream.
        const child = scope.spawnProducer({
          BUS_URL: url,
          SESSION_ID: scope.session,
          STREAM_ID: streamId,
          TARGET: 'output',
          TOPIC_PREFIX: scope.prefix,
        });
        let stderr = '';
        child.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
        const lines = createInterface({ input: child.stdout! });
        let ready = false;
        lines.on('line', (line) => {
          if (line === 'ready') ready = true;
        });
        await waitFor(() => ready || child.exitCode !== null, 30_000, 'the producer process to start');
        expect(child.exitCode, `producer process exited: ${stderr}`).toBeNull();
        kill = () => child.kill('SIGKILL');
      } else {
        // One process only: the producer's own bus connection goes away under it.
        const producerBus = await scope.bus();
        const producers = scope.manager(producerBus, 'crashing-producer', { heartbeatIntervalMs: 200 });
        const producer = await producers.create({ sessionId: scope.session, target: 'output', streamId });
        void (async () => {
          for (let i = 0; ; i++) {
            await producer.send(`token-${i} `);
            await sleep(20);
          }
        })().catch(() => undefined);
        kill = () => void producerBus.close();
      }
      const reader = await consumers.open({ sessionId: scope.session, streamId });
      for (let i = 0; i < 5; i++) expect((await reader.read())?.data).toBe(`token-${i} `);
      kill();
      const killedAt = Date.now();
      let error: WoodworkStreamError | undefined;
      try {
        for (;;) if ((await reader.read()) === undefined) break;
      } catch (caught) {
        error = caught as WoodworkStreamError;
      }
      expect(error, 'the stream must end in an error, not silently').toBeDefined();
      expect(WoodworkStreamError.isInstance(error)).toBe(true);
      expect(error!.code).toBe('WW_STREAM_IDLE_TIMEOUT');
      const waited = Date.now() - killedAt;
      expect(waited).toBeGreaterThanOrEqual(idleTimeoutMs - 400);
      expect(waited).toBeLessThan(idleTimeoutMs + 5_000);
    });

    it('restarts a stream from chunk 0 when a new producer re-creates it after the first died mid-stream', { timeout }, async () => {
      await using scope = new Scope(url);
      const consumers = scope.manager(await scope.bus(), 'output', { heartbeatIntervalMs: 300 });
      const streamId = `stream-${randomUUID()}`;
      // The first producer: its own bus connection goes away under it after three chunks (a host
      // killed mid-stream: nothing more comes from it, not even an error).
      const firstBus = await scope.bus();
      const first = await scope.manager(firstBus, 'llm', { heartbeatIntervalMs: 300 }).create({ sessionId: scope.session, target: 'output', streamId });
      const restarts: { discarded: number; restarts: number }[] = [];
      const reader = await consumers.open(first.ref, { onRestart: ({ discarded, restarts: count }) => void restarts.push({ discarded, restarts: count }) });
      for (let i = 0; i < 3; i++) await first.send(`a${i} `);
      const before: StreamChunk[] = [];
      for (let i = 0; i < 3; i++) before.push((await reader.read())!);
      expect(before.map((chunk) => chunk.data)).toEqual(['a0 ', 'a1 ', 'a2 ']);
      await firstBus.close();
      // The message that produced it goes to another instance, which produces it again under the
      // same stream id, from scratch (and not necessarily the same text: a model is not repeatable).
      const second = await scope.manager(await scope.bus(), 'llm', { heartbeatIntervalMs: 300 }).create({ sessionId: scope.session, target: 'output', streamId });
      const sending = (async () => {
        for (let i = 0; i < 4; i++) await second.send(`b${i} `);
        await second.end();
      })();
      const after = await readAll(reader);
      await sending;
      expectInOrder(after, 0, 4);
      expect(after.map((chunk) => chunk.data).join('')).toBe('b0 b1 b2 b3 ');
      expect(restarts).toEqual([{ discarded: 3, restarts: 1 }]);
      expect(reader.restarts).toBe(1);
      expect(reader.state).toBe('done');
      expect(second.state).toBe('ended');
    });

    it('tells a producer that re-creates a stream its reader already read to the end to stop, instead of leaving it waiting for credit', { timeout }, async () => {
      await using scope = new Scope(url);
      const consumers = scope.manager(await scope.bus(), 'output', { heartbeatIntervalMs: 300 });
      const streamId = `stream-${randomUUID()}`;
      // Longer than the test: a producer left waiting for credit would fail it by timing out.
      const producerOptions = { heartbeatIntervalMs: 300, consumerTimeoutMs: 10 * timeout };
      const first = await scope.manager(await scope.bus(), 'llm', producerOptions).create({ sessionId: scope.session, target: 'output', streamId });
      const reader = await consumers.open(first.ref);
      await first.send('a0 ');
      await first.end();
      expect((await readAll(reader)).map((chunk) => chunk.data)).toEqual(['a0 ']);
      expect(reader.state).toBe('done');
      // Its host died after the stream was read and before the message producing it was settled:
      // another instance produces it again, and nobody reads it (decision 13).
      const second = await scope.manager(await scope.bus(), 'llm', producerOptions).create({ sessionId: scope.session, target: 'output', streamId });
      const error = await second.send('b0 ').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(WoodworkStreamError.isInstance(error), String(error)).toBe(true);
      expect((error as WoodworkStreamError).code).toBe('WW_STREAM_CANCELLED');
      expect((error as WoodworkStreamError).message).toContain('was already read to its end by `output`');
      expect(second.signal.aborted).toBe(true);
    });

    it('tells a reader on another instance, whose stream head is a duplicate, that the stream was read elsewhere, instead of leaving it waiting for a producer that stopped', { timeout }, async () => {
      await using scope = new Scope(url);
      const streamId = `stream-${randomUUID()}`;
      // Longer than the test: only the new answer can end these waits in time.
      const waitLong = { heartbeatIntervalMs: 300, consumerTimeoutMs: 10 * timeout, idleTimeoutMs: 10 * timeout };
      const firstProducers = scope.manager(await scope.bus(), 'llm', waitLong);
      const first = await firstProducers.create({ sessionId: scope.session, target: 'output', streamId });
      const reader = await scope.manager(await scope.bus(), 'output', waitLong).open(first.ref);
      await first.end('a0');
      expect((await readAll(reader)).map((chunk) => chunk.data)).toEqual(['a0']);
      // Its host dies before the message producing it is settled (so that instance answers no one),
      // and the message runs again on another instance, which is told it came late...
      await firstProducers.close();
      const second = await scope.manager(await scope.bus(), 'llm', waitLong).create({ sessionId: scope.session, target: 'output', streamId });
      const cancelled = await second.send('b0').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect((cancelled as WoodworkStreamError).code).toBe('WW_STREAM_CANCELLED');
      // ...and its stream head reaches another instance of the reader's component (the partition
      // changed owner): no deduplication catches it, so that instance opens the stream too.
      const duplicate = await scope.manager(await scope.bus(), 'output', waitLong).open(second.ref);
      const error = await readAll(duplicate).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(WoodworkStreamError.isInstance(error), String(error)).toBe(true);
      expect((error as WoodworkStreamError).code).toBe('WW_STREAM_READ_ELSEWHERE');
      expect((error as WoodworkStreamError).message).toContain(`stream ${streamId} was already read to its end by another instance of \`output\``);
      expect(duplicate.state).toBe('failed');
    });

    it('tells a live reader that opens a stream already produced to its end for another reader that it was read elsewhere; a replaying reader still reads it from the log', { timeout }, async () => {
      await using scope = new Scope(url);
      const waitLong = { heartbeatIntervalMs: 300, consumerTimeoutMs: 10 * timeout, idleTimeoutMs: 10 * timeout };
      const bus = await scope.bus();
      const producer = await scope.manager(await scope.bus(), 'llm', waitLong).create({ sessionId: scope.session, target: 'output' });
      const reader = await scope.manager(await scope.bus(), 'output', waitLong).open(producer.ref);
      await producer.send('a0 ');
      await producer.end('a1');
      expect((await readAll(reader)).map((chunk) => chunk.data)).toEqual(['a0 ', 'a1']);
      expect(producer.state).toBe('ended');
      // The message producing it ran twice at once on two instances; the second run's stream head
      // reaches another instance of the reader's component, after the stream is over.
      const duplicate = await scope.manager(await scope.bus(), 'output', waitLong).open(producer.ref);
      const error = await readAll(duplicate).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect((error as WoodworkStreamError).code, String(error)).toBe('WW_STREAM_READ_ELSEWHERE');
      expect((error as WoodworkStreamError).message).toContain('was already produced to its end for another reader');
      if (!bus.capabilities.replay) return;
      // A stream head handed out again after its reader died replays the log: not a duplicate.
      const replaying = await scope.manager(await scope.bus(), 'output', waitLong).open(producer.ref, { from: 0 });
      expect((await readAll(replaying)).map((chunk) => chunk.data)).toEqual(['a0 ', 'a1']);
    });

    it('leaves a reader alone when another reader of its stream is told the stream was read elsewhere (the answer is addressed to one reader)', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const producer = await scope.manager(await scope.bus(), 'llm').create({ sessionId: scope.session, target: 'output' });
      const reader = await scope.manager(await scope.bus(), 'output').open(producer.ref);
      await producer.send('a0 ');
      const iterator = reader[Symbol.asyncIterator]();
      expect((await iterator.next()).value?.data).toBe('a0 ');
      // The reader waits for the next chunk when the answer comes.
      const next = iterator.next();
      // Every instance of `output` receives the data topic, and a replay reads it from the log: an
      // answer meant for a duplicate reader on another instance reaches this one too.
      await bus.publish(scope.dataTopic('output'), {
        session_id: scope.session,
        event_type: STREAM_EVENT.error,
        component_source: 'llm',
        component_target: 'output',
        stream_id: producer.streamId,
        is_stream: true,
        chunk_index: 0,
        is_final: true,
        payload: {
          error: { name: 'WoodworkStreamError', message: 'read by another instance', code: 'WW_STREAM_READ_ELSEWHERE' },
          reader_id: `another-reader-${randomUUID()}`,
        },
      });
      await sleep(300);
      await producer.end('a1');
      expect((await next).value?.data).toBe('a1');
      expect((await iterator.next()).done).toBe(true);
      expect(reader.state).toBe('done');
    });

    it('resumes a stream from a chunk index after the consumer reconnects', { timeout }, async () => {
      await using scope = new Scope(url);
      const window = 8;
      const count = 100;
      const producers = scope.manager(await scope.bus(), 'llm', { window });
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      const sending = (async () => {
        for (let i = 0; i < count; i++) await producer.send(`r${i}`);
        await producer.end();
      })();

      const firstBus = await scope.bus();
      const first = scope.manager(firstBus, 'output', { window });
      const firstReader = await first.open(producer.ref, { onStop: 'detach' });
      const before: StreamChunk[] = [];
      for await (const chunk of firstReader) {
        before.push(chunk);
        if (before.length === 10) break;
      }
      expect(firstReader.state).toBe('detached');
      expect(firstReader.nextIndex).toBe(10);
      await firstBus.close(); // the connection drops
      await waitFor(() => producer.sentCount >= 10 + window / 2, 10_000, 'the producer to use up its credit');

      const second = scope.manager(await scope.bus(), 'output', { window });
      const after = await readAll(await second.open(producer.ref, { from: firstReader.nextIndex }));
      await sending;
      expectInOrder(before, 0, 10);
      expectInOrder(after, 10, count - 10);
      expect([...before, ...after].map((chunk) => chunk.data).join(',')).toBe(Array.from({ length: count }, (_, i) => `r${i}`).join(','));
      expect(producer.state).toBe('ended');
    });

    it('coalesces chunks that queued up into one message, and the reader still yields each chunk, in order', { timeout }, async () => {
      await using scope = new Scope(url);
      const producers = scope.manager(await scope.bus(), 'llm');
      const consumers = scope.manager(await scope.bus(), 'output');
      const watched = await scope.watch(await scope.bus(), scope.dataTopic('output'));
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      // Nothing goes out before a reader grants credit, so all of these queue up.
      const sent = [
        ...Array.from({ length: 40 }, (_, i) => producer.send(`c${i} `)),
        producer.send({ data_type: 'json', data: { step: 40 }, metadata: { kind: 'tool' } }),
        producer.send(new Uint8Array([40, 41, 0, 255])),
        producer.end('last'),
      ];
      const reader = await consumers.open(producer.ref);
      const chunks: StreamChunk[] = [];
      for (let chunk = await reader.read(); chunk !== undefined; chunk = await reader.read()) chunks.push(chunk);
      await Promise.all(sent);
      expectInOrder(chunks, 0, 43);
      expect(chunks.slice(0, 40).map((chunk) => chunk.data)).toEqual(Array.from({ length: 40 }, (_, i) => `c${i} `));
      expect(chunks[40]).toMatchObject({ data_type: 'json', data: { step: 40 }, metadata: { kind: 'tool' }, is_final: false });
      expect(chunks[41]!.data_type).toBe('bytes');
      expect([...(chunks[41]!.data as Uint8Array)]).toEqual([40, 41, 0, 255]);
      expect(chunks[42]).toMatchObject({ data: 'last', is_final: true });
      expect(chunks.filter((chunk) => chunk.is_final)).toHaveLength(1);
      expect(reader.state).toBe('done');
      // On the wire: one stream.chunks message carried them all.
      const messages = await waitFor(() => {
        const found = chunkMessages(watched, producer.streamId);
        return found.flat().length >= 43 && found;
      }, 10_000, 'the watcher to see every chunk');
      expect(messages).toEqual([Array.from({ length: 43 }, (_, i) => i)]);
      expect(scope.errors).toEqual([]);
    });

    it('sends one stream.chunk a chunk to a reader that does not say it reads stream.chunks', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const producers = scope.manager(await scope.bus(), 'llm');
      const watched = await scope.watch(bus, scope.dataTopic('output'));
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      const sent = [...Array.from({ length: 20 }, (_, i) => producer.send(`c${i}`)), producer.end()];
      // A consumer written against the protocol before stream.chunks: its credit has no `coalesce`.
      // Repeated, as a consumer repeats its credit: a subscription that has only just joined (Kafka)
      // may miss the first.
      const all = Promise.all(sent);
      let done = false;
      void all.then(() => (done = true), () => (done = true));
      const deadline = Date.now() + 20_000;
      while (!done && Date.now() < deadline) {
        await bus.publish(producer.ref.control_topic, {
          session_id: scope.session,
          event_type: STREAM_EVENT.credit,
          component_source: 'foreign-consumer',
          stream_id: producer.streamId,
          payload: { reader_id: 'foreign', credit_limit: 100 },
        });
        await Promise.race([all, sleep(250)]).catch(() => undefined);
      }
      await all;
      const messages = await waitFor(() => {
        const found = chunkMessages(watched, producer.streamId);
        return found.length >= 21 && found;
      }, 10_000, 'the watcher to see every chunk');
      expect(messages).toEqual(Array.from({ length: 21 }, (_, i) => [i]));
      expect(watched.filter((envelope) => envelope.event_type === STREAM_EVENT.chunks)).toEqual([]);
    });

    it('reads coalesced messages that overlap, repeat and arrive out of order one chunk at a time, in order', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const consumers = scope.manager(bus, 'consumer');
      const streamId = `stream-${randomUUID()}`;
      const reader = await consumers.open({ sessionId: scope.session, streamId, source: 'fake-producer' });
      const text = (from: number, count: number) => Array.from({ length: count }, (_, i) => `k${from + i}`);
      const reading = readAll(reader);
      const topic = scope.dataTopic('consumer');
      await bus.publish(topic, chunksEnvelope(scope.session, streamId, 5, text(5, 5))); // 5..9, ahead of 0
      await bus.publish(topic, chunkEnvelope(scope.session, streamId, 2, { data_type: 'text', data: 'k2' }));
      await bus.publish(topic, chunksEnvelope(scope.session, streamId, 0, text(0, 4))); // 0..3, overlapping 2
      await bus.publish(topic, chunksEnvelope(scope.session, streamId, 3, text(3, 4))); // 3..6: a redelivery's worth of repeats
      await bus.publish(topic, chunksEnvelope(scope.session, streamId, 10, [...text(10, 2), 'end'], true)); // 10, 11, final 12
      await bus.publish(topic, chunksEnvelope(scope.session, streamId, 0, text(0, 10))); // all again, after the end
      const chunks = await reading;
      expectInOrder(chunks, 0, 13);
      expect(chunks.map((chunk) => chunk.data)).toEqual([...text(0, 12), 'end']);
      expect(chunks.map((chunk) => chunk.is_final)).toEqual([...Array.from({ length: 12 }, () => false), true]);
      expect(scope.errors).toEqual([]);
    });

    it('holds a producer to the byte window, and pipeFrom reads its source no further ahead than the credit', { timeout }, async () => {
      await using scope = new Scope(url);
      const chunkBytes = 16 * 1024;
      const windowBytes = 64 * 1024;
      const producers = scope.manager(await scope.bus(), 'llm', { window: 1_000, windowBytes });
      const consumers = scope.manager(await scope.bus(), 'output', { window: 1_000, windowBytes });

      // 1. Chunks of a quarter of the byte window: never more than four (plus the one being read) unread.
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      const reader = await consumers.open(producer.ref);
      const count = 200;
      let consumed = 0;
      let maxLead = 0;
      const sending = (async () => {
        for (let i = 0; i < count; i++) {
          await producer.send(randomBytes(chunkBytes));
          maxLead = Math.max(maxLead, producer.sentCount - consumed);
        }
        await producer.end();
      })();
      for await (const chunk of reader) {
        expect((chunk.data as Uint8Array).byteLength).toBe(chunkBytes);
        if (++consumed % 20 === 0) await sleep(10); // a slow consumer
      }
      await sending;
      expect(consumed).toBe(count);
      expect(maxLead).toBeLessThanOrEqual(windowBytes / chunkBytes + 1);

      // 2. A reader that stops reading (without cancelling): pipeFrom from an endless, instant source
      // stops pulling from it one chunk past the credit.
      const small = scope.manager(await scope.bus(), 'output-small', { window: 16 });
      const piped = await producers.create({ sessionId: scope.session, target: 'output-small' });
      const stalled = await small.open(piped.ref);
      let pulled = 0;
      const source = (function* () {
        for (;;) {
          pulled++;
          yield `t${pulled}`;
        }
      })();
      const piping = piped.pipeFrom(source).catch((error: unknown) => error);
      for (let i = 0; i < 5; i++) expect((await stalled.read())?.data).toBe(`t${i + 1}`);
      // Credit: 16 from the start (the grant at 8 read never came), so 16 published, and the 17th pulled and waiting.
      await waitFor(() => piped.sentCount === 16 && pulled === 17, 10_000, `the producer to use up its credit (sent ${piped.sentCount}, pulled ${pulled})`);
      await sleep(300);
      expect(piped.sentCount).toBe(16);
      expect(pulled).toBe(17);
      // Reading on lets it go on; cancelling ends the pipe.
      for (let i = 5; i < 40; i++) expect((await stalled.read())?.data).toBe(`t${i + 1}`);
      await stalled.cancel('enough');
      const error = await piping;
      expect(WoodworkStreamError.isInstance(error) && error.code).toBe('WW_STREAM_CANCELLED');
      expect(pulled).toBeLessThanOrEqual(40 + 16 + 1);
    });

    it('resumes mid-way through a coalesced message at the right chunk', { timeout }, async () => {
      await using scope = new Scope(url);
      const window = 16;
      const count = 100;
      const producers = scope.manager(await scope.bus(), 'llm', { window });
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      // Queued before any reader: they go out coalesced, a window at a time.
      const sending = Promise.all([...Array.from({ length: count }, (_, i) => producer.send(`r${i}`)), producer.end()]);

      const firstBus = await scope.bus();
      const first = scope.manager(firstBus, 'output', { window });
      const firstReader = await first.open(producer.ref, { onStop: 'detach' });
      const before: StreamChunk[] = [];
      for await (const chunk of firstReader) {
        before.push(chunk);
        if (before.length === 11) break; // inside the first coalesced message (0..15)
      }
      await firstBus.close();
      await waitFor(() => producer.sentCount >= window + window / 2, 10_000, 'the producer to use up its credit');

      const second = scope.manager(await scope.bus(), 'output', { window });
      const after = await readAll(await second.open(producer.ref, { from: 11 }));
      await sending;
      expectInOrder(before, 0, 11);
      expectInOrder(after, 11, count - 11);
      expect([...before, ...after].map((chunk) => chunk.data)).toEqual(Array.from({ length: count }, (_, i) => `r${i}`));
      const bus = await scope.bus();
      if (bus.capabilities.replay) {
        const logged: Envelope[] = [];
        for await (const { envelope } of bus.replay(scope.dataTopic('output'), { sessionId: scope.session })) logged.push(envelope);
        const messages = chunkMessages(logged, producer.streamId);
        expect(messages[0], 'the first chunks travelled coalesced').toEqual(Array.from({ length: window }, (_, i) => i));
        expect(messages.length).toBeLessThan(count);
      }
    });

    it('carries binary data byte for byte', { timeout }, async () => {
      await using scope = new Scope(url);
      const producers = scope.manager(await scope.bus(), 'tts');
      const consumers = scope.manager(await scope.bus(), 'speaker');
      const producer = await producers.create({ sessionId: scope.session, target: 'speaker' });
      const reader = await consumers.open(producer.ref);
      const sizes = [0, 1, 2, 3, 255, 1_000, 65_536, 300_000];
      const sent = sizes.map((size) => new Uint8Array(randomBytes(size)));
      const types = ['bytes', 'audio', 'image'] as const;
      const mediaTypes = ['application/octet-stream', 'audio/pcm;rate=16000', 'image/png'];
      const sending = (async () => {
        for (const [i, data] of sent.entries()) {
          const type = types[i % 3]!;
          if (type === 'bytes') await producer.send(data);
          else await producer.send({ data_type: type, data, media_type: mediaTypes[i % 3], metadata: { n: i } });
        }
        await producer.end({ data_type: 'audio', data: new Uint8Array([0, 255, 128, 10, 13]), media_type: 'audio/wav' });
      })();
      const chunks = await readAll(reader);
      await sending;
      expect(chunks).toHaveLength(sizes.length + 1);
      for (const [i, data] of sent.entries()) {
        const chunk = chunks[i]!;
        expect(chunk.data_type).toBe(types[i % 3]);
        expect(chunk.data).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(chunk.data as Uint8Array).equals(Buffer.from(data)), `chunk ${i} (${sizes[i]} bytes) differs`).toBe(true);
        if (chunk.data_type !== 'text' && chunk.data_type !== 'json') expect(chunk.media_type).toBe(mediaTypes[i % 3]);
        if (i % 3 !== 0) expect(chunk.metadata).toEqual({ n: i });
      }
      const last = chunks[sizes.length]!;
      expect(last).toMatchObject({ data_type: 'audio', media_type: 'audio/wav', is_final: true });
      expect([...(last.data as Uint8Array)]).toEqual([0, 255, 128, 10, 13]);
    });

    it('never lets a consumer read, resume, cancel or forge another session\'s stream', { timeout }, async () => {
      await using scope = new Scope(url);
      const bus = await scope.bus();
      const producers = scope.manager(bus, 'llm', { window: 4 });
      const consumers = scope.manager(await scope.bus(), 'output', { window: 4 });
      const intruders = scope.manager(await scope.bus(), 'output', { idleTimeoutMs: 1_500, heartbeatIntervalMs: 300 });
      const producer = await producers.create({ sessionId: scope.session, target: 'output' });
      const otherSession = `session-${randomUUID()}`;

      // Same stream id, another session: live, and replayed from the log.
      const live = await intruders.open({ sessionId: otherSession, streamId: producer.streamId, source: 'llm' });
      const reader = await consumers.open(producer.ref);
      const sending = (async () => {
        for (let i = 0; i < 10; i++) await producer.send(`secret-${i}`);
        await producer.end();
      })();
      // Forgeries from another session: a chunk into the stream, and a cancel to its producer.
      await bus.publish(scope.dataTopic('output'), {
        ...chunkEnvelope(otherSession, producer.streamId, 0, { data_type: 'text', data: 'forged' }),
      });
      await bus.publish(streamControlTopic('llm', scope.prefix), {
        session_id: otherSession,
        event_type: STREAM_EVENT.cancel,
        component_source: 'intruder',
        stream_id: producer.streamId,
        payload: { reader_id: 'intruder', reason: { name: 'Error', message: 'forged cancel' } },
      });
      const chunks = await readAll(reader);
      await sending;
      expect(chunks.map((chunk) => chunk.data)).toEqual(Array.from({ length: 10 }, (_, i) => `secret-${i}`));
      expect(producer.state).toBe('ended');

      const intruderChunks: unknown[] = [];
      const liveError = await rejection(
        (async () => {
          for await (const chunk of live) intruderChunks.push(chunk.data);
        })(),
      );
      // It only ever saw the forged chunk of its own session, never the real stream.
      expect(intruderChunks.filter((data) => String(data).startsWith('secret'))).toEqual([]);
      expect(liveError.code).toBe('WW_STREAM_IDLE_TIMEOUT');
      if (bus.capabilities.replay) {
        const replayed = await intruders.open({ sessionId: otherSession, streamId: producer.streamId, source: 'llm' }, { from: 0 });
        const seen: unknown[] = [];
        await rejection(
          (async () => {
            for await (const chunk of replayed) seen.push(chunk.data);
          })(),
        );
        expect(seen.filter((data) => String(data).startsWith('secret'))).toEqual([]);
      }
    });
  });
}

