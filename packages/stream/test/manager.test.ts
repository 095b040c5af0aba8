// The manager's own promises on the memory bus: options, errors, pipes and the HTTP helpers end to end.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import type { Bus } from '@woodwork/bus';
import {
  createStreamManager,
  DEFAULT_STREAM_OPTIONS,
  STREAM_EVENT,
  streamDataTopic,
  fromServerSentEvents,
  resumeIndexFromLastEventId,
  toServerSentEvents,
  toTextStream,
  WoodworkStreamError,
} from '@woodwork/stream';
import type { StreamChunk } from '@woodwork/stream';

const streamOf = <T,>(items: T[]) =>
  new ReadableStream<T>({
    start(controller) {
      for (const item of items) controller.enqueue(item);
      controller.close();
    },
  });

const memoryUrl = () => `memory://stream-unit-${randomUUID().slice(0, 8)}`;

async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(WoodworkStreamError.isInstance(error), String(error)).toBe(true);
    return (error as WoodworkStreamError).code;
  }
  throw new Error('expected a WoodworkStreamError');
}

describe('createStreamManager', () => {
  it('checks its options and documents its defaults', async () => {
    await using bus = await createBus(memoryUrl());
    expect(await codeOf(() => createStreamManager({ bus, component: 'has space' }))).toBe('WW_STREAM_INVALID_OPTION');
    expect(await codeOf(() => createStreamManager({ bus, component: 'a', window: 0 }))).toBe('WW_STREAM_INVALID_OPTION');
    expect(await codeOf(() => createStreamManager({ bus, component: 'a', windowBytes: 1.5 }))).toBe('WW_STREAM_INVALID_OPTION');
    expect(await codeOf(() => createStreamManager({ bus, component: 'a', heartbeatIntervalMs: 20_000 }))).toBe('WW_STREAM_INVALID_OPTION');
    expect(await codeOf(() => createStreamManager({ bus: {} as Bus, component: 'a' }))).toBe('WW_STREAM_INVALID_OPTION');
    expect(await codeOf(() => createStreamManager({ bus, component: 'a', publishRetryMs: -1 }))).toBe('WW_STREAM_INVALID_OPTION');
    createStreamManager({ bus, component: 'a', publishRetryMs: 0 }); // 0: no trying again
    expect(DEFAULT_STREAM_OPTIONS).toEqual({
      topicPrefix: 'ww.stream',
      window: 64,
      windowBytes: 4_194_304,
      maxChunkBytes: 524_288,
      idleTimeoutMs: 30_000,
      heartbeatIntervalMs: 5_000,
      consumerTimeoutMs: 30_000,
      gapTimeoutMs: 10_000,
      publishRetryMs: 120_000,
    });
  });

  it('refuses a resume where the bus cannot replay, a second reader, and use after close', async () => {
    await using bus = await createBus(memoryUrl());
    const noReplay: Bus = Object.create(bus, { capabilities: { value: { ...bus.capabilities, replay: false } } });
    await using streams = createStreamManager({ bus: noReplay, component: 'output' });
    const resume = await streams.open({ sessionId: 's', streamId: 'x' }, { from: 5 }).catch((error: WoodworkStreamError) => error);
    expect(WoodworkStreamError.isInstance(resume) && resume.code).toBe('WW_STREAM_RESUME_UNSUPPORTED');
    expect((resume as Error).message).toContain('cannot replay');
    await streams.open({ sessionId: 's', streamId: 'y' });
    expect(await codeOf(streams.open({ sessionId: 's', streamId: 'y' }))).toBe('WW_STREAM_ALREADY_OPEN');
    expect(await codeOf(streams.open({ sessionId: 's', streamId: 'z' }, { from: -1 }))).toBe('WW_STREAM_INVALID_OPTION');
    await streams.close();
    expect(await codeOf(streams.create({ sessionId: 's', target: 'output' }))).toBe('WW_STREAM_CLOSED');
  });

  it('fails a producer nobody reads after consumerTimeoutMs, and aborts what is open on close', async () => {
    await using bus = await createBus(memoryUrl());
    await using streams = createStreamManager({ bus, component: 'llm', consumerTimeoutMs: 300, heartbeatIntervalMs: 100 });
    const orphan = await streams.create({ sessionId: 's', target: 'nobody' });
    const error = await orphan.send('hello?').catch((caught: WoodworkStreamError) => caught);
    expect(WoodworkStreamError.isInstance(error) && error.code).toBe('WW_STREAM_CONSUMER_TIMEOUT');
    expect((error as Error).message).toContain('no consumer opened');
    expect(orphan.signal.aborted).toBe(true);

    await using readers = createStreamManager({ bus, component: 'nobody' });
    const open = await streams.create({ sessionId: 's', target: 'nobody' });
    const reader = await readers.open(open.ref);
    await streams.close();
    expect(await codeOf(reader.read())).toBe('WW_STREAM_ABORTED');
  });

  it('aborts an undisposed-of producer at scope end (await using), so the consumer never sees a silent end', async () => {
    await using bus = await createBus(memoryUrl());
    await using producers = createStreamManager({ bus, component: 'llm' });
    await using consumers = createStreamManager({ bus, component: 'output' });
    let reader;
    {
      await using producer = await producers.create({ sessionId: 's', target: 'output' });
      reader = await consumers.open(producer.ref);
      await producer.send('partial');
    }
    expect((await reader.read())?.data).toBe('partial');
    const error = await reader.read().catch((caught: WoodworkStreamError) => caught);
    expect(WoodworkStreamError.isInstance(error) && error.code).toBe('WW_STREAM_ABORTED');
    expect((error as Error).message).toContain('disposed before end()');
  });

  it('pipes async iterables, web streams and a WritableStream; a failing source aborts; a cancel stops the source', async () => {
    await using bus = await createBus(memoryUrl());
    await using producers = createStreamManager({ bus, component: 'llm', window: 2 });
    await using consumers = createStreamManager({ bus, component: 'output', window: 2 });
    const pipeAndRead = async (pipe: (producer: Awaited<ReturnType<typeof producers.create>>) => Promise<void>) => {
      const producer = await producers.create({ sessionId: 's', target: 'output' });
      const reader = await consumers.open(producer.ref);
      const [text] = await Promise.all([reader.text(), pipe(producer)]);
      return text;
    };
    async function* words() {
      yield 'a';
      yield 'b';
      yield 'c';
    }
    expect(await pipeAndRead((producer) => producer.pipeFrom(words()))).toBe('abc');
    expect(await pipeAndRead((producer) => producer.pipeFrom(streamOf(['x', 'y'])))).toBe('xy');
    expect(await pipeAndRead((producer) => streamOf(['w', 'r']).pipeTo(producer.writable))).toBe('wr');

    // The source throws: the consumer gets the error.
    const failing = await producers.create({ sessionId: 's', target: 'output' });
    const failingReader = await consumers.open(failing.ref);
    async function* broken() {
      yield 'ok';
      throw new Error('rate limited');
    }
    await expect(failing.pipeFrom(broken())).rejects.toThrow('rate limited');
    expect((await failingReader.read())?.data).toBe('ok');
    const error = await failingReader.read().catch((caught: WoodworkStreamError) => caught);
    expect((error as Error).message).toContain('rate limited');

    // The consumer cancels while the source is thinking: the source is cancelled too.
    let sourceCancelled: unknown;
    const thinking = new ReadableStream<string>({
      start(controller) {
        controller.enqueue('first');
      },
      pull: () => new Promise(() => undefined), // never produces more
      cancel(reason) {
        sourceCancelled = reason;
      },
    });
    const cancelled = await producers.create({ sessionId: 's', target: 'output' });
    const cancelledReader = await consumers.open(cancelled.ref);
    const piping = cancelled.pipeFrom(thinking);
    expect((await cancelledReader.read())?.data).toBe('first');
    await cancelledReader.cancel('enough');
    expect(await codeOf(piping)).toBe('WW_STREAM_CANCELLED');
    expect(WoodworkStreamError.isInstance(sourceCancelled) && sourceCancelled.code).toBe('WW_STREAM_CANCELLED');
  });

  it('serves a stream as Server-Sent Events and resumes it from Last-Event-ID after the browser reconnects', async () => {
    await using bus = await createBus(memoryUrl());
    await using producers = createStreamManager({ bus, component: 'agent', window: 4 });
    await using gateway = createStreamManager({ bus, component: 'api', window: 4 });
    const producer = await producers.create({ sessionId: 's', target: 'api' });
    const sending = (async () => {
      for (let i = 0; i < 12; i++) await producer.send(`tok${i} `);
      await producer.end();
    })();

    // First connection: the browser reads five events, then the connection drops.
    const first = toServerSentEvents(await gateway.open(producer.ref, { onStop: 'detach' }));
    const seen: StreamChunk[] = [];
    let lastEventId: string | undefined;
    const parsed = fromServerSentEvents(first);
    for await (const chunk of parsed) {
      seen.push(chunk);
      lastEventId = String(chunk.chunk_index);
      if (seen.length === 5) break; // cancels the body: the reader detaches, the producer waits
    }
    expect(producer.state).toBe('open');

    // Reconnect with Last-Event-ID: 4.
    const from = resumeIndexFromLastEventId(lastEventId);
    expect(from).toBe(5);
    const second = toServerSentEvents(await gateway.open(producer.ref, { from }));
    for await (const chunk of fromServerSentEvents(second)) seen.push(chunk);
    await sending;
    expect(seen.map((chunk) => chunk.data).join('')).toBe(Array.from({ length: 12 }, (_, i) => `tok${i} `).join(''));
  });

  it('offers a stream as a text stream', async () => {
    await using bus = await createBus(memoryUrl());
    await using producers = createStreamManager({ bus, component: 'llm' });
    await using consumers = createStreamManager({ bus, component: 'output' });
    const producer = await producers.create({ sessionId: 's', target: 'output' });
    const textStream = toTextStream(await consumers.open(producer.ref));
    void (async () => {
      await producer.send('Hel');
      await producer.send({ data_type: 'json', data: { skipped: true } });
      await producer.end('lo');
    })();
    expect(await new Response(textStream.pipeThrough(new TextEncoderStream())).text()).toBe('Hello');
  });
  it('keeps reading a new producer heard live when the log it replays names the dead one after (a head handed out again)', async () => {
    await using bus = await createBus(memoryUrl());
    const sessionId = `s-${randomUUID()}`;
    const streamId = `stream-${randomUUID()}`;
    const topic = streamDataTopic('output');
    // The first producer's traces in the log: an announcement and one chunk, then it died.
    const dead = { session_id: sessionId, component_source: 'llm', component_target: 'output', stream_id: streamId, is_stream: true };
    await bus.publish(topic, { ...dead, event_type: STREAM_EVENT.heartbeat, payload: { next_index: 1, producer_id: 'dead-producer' } });
    await bus.publish(topic, { ...dead, event_type: STREAM_EVENT.chunk, chunk_index: 0, is_final: false, payload: { data: 'old ' } });
    // The reader replays the log; here the log is read only once the new producer was heard live.
    let openLog!: () => void;
    const logHeld = new Promise<void>((resolve) => (openLog = resolve));
    const heldBus: Bus = Object.create(bus, {
      replay: {
        value: async function* (...args: Parameters<Bus['replay']>) {
          await logHeld;
          yield* bus.replay(...args);
        },
      },
    });
    const timings = { heartbeatIntervalMs: 100, idleTimeoutMs: 3_000, consumerTimeoutMs: 3_000 };
    await using readers = createStreamManager({ bus: heldBus, component: 'output', ...timings });
    await using producers = createStreamManager({ bus, component: 'llm', ...timings });
    const reader = await readers.open({ sessionId, streamId, source: 'llm' }, { from: 0 });
    // The message producing the stream ran again: the new producer re-creates it from chunk 0.
    const producer = await producers.create({ sessionId, target: 'output', streamId });
    await producer.send('new ');
    const first = await reader.read();
    expect(first?.data).toBe('new ');
    openLog();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await producer.end('end');
    expect((await reader.read())?.data).toBe('end');
    expect(reader.state).toBe('done');
    expect(producer.state).toBe('ended');
  });
  it('answers at once a producer that announces itself after the reader opened (the first credit reached no one)', async () => {
    await using bus = await createBus(memoryUrl());
    const sessionId = `s-${randomUUID()}`;
    const streamId = `stream-${randomUUID()}`;
    // Longer than the test: a credit sent again on the heartbeat cannot be what ends the wait.
    const timings = { heartbeatIntervalMs: 60_000, idleTimeoutMs: 120_000, consumerTimeoutMs: 120_000 };
    await using readers = createStreamManager({ bus, component: 'output', ...timings });
    await using producers = createStreamManager({ bus, component: 'llm', ...timings });
    // The stream head came before its producer (the message producing it runs again elsewhere).
    const reader = await readers.open({ sessionId, streamId, source: 'llm' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const producer = await producers.create({ sessionId, target: 'output', streamId });
    await producer.send('hello ');
    await producer.end('there');
    expect(await reader.text()).toBe('hello there');
  });
});
