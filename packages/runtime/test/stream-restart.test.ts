/**
 * A streamed reply whose producer dies mid-stream is produced again, not failed after 30 s (issue
 * #16; fault report finding 4). The producer's stream id is derived from the message that
 * produces it, so when that message is handed to another instance the stream is the same stream:
 * the reading component restarts on the new producer (@woodwork/stream, "Restart") and keeps
 * only the new producer's text, and the session is told `stream.restarted` before the new
 * producer's first chunk. The turn's timeout is far longer than the test's: nothing here waits
 * for one, and nothing asserts on wall-clock time.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBus, type Bus } from '@woodwork/bus';
import { createStreamManager } from '@woodwork/stream';
import { derivedMessageId } from '../src/host.js';
import { createBusTransport, StreamAggregate } from '../src/streams.js';
import { componentGroup, componentTopic, createComponentRegistry, type SessionEvent, type StreamChunk } from '../src/index.js';
import { eventsUntil, project, started, waitFor, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

const TOPOLOGY = 'in = input cli {}\nshout = transform uppercase { to = [out] }\nout = output api {}\n';
const TURN_TIMEOUT_MS = 3_600_000;

type BusTransport = ReturnType<typeof createBusTransport>;

/** Produces `texts` as one stream through `transport`, and reads it to its end there: one instance's work. */
async function produceAndRead(transport: BusTransport, address: Parameters<BusTransport['open']>[0], texts: string[]): Promise<string[]> {
  const sink = await transport.open(address);
  const reading = (async () => {
    const read: string[] = [];
    for await (const chunk of await transport.read(address)) if (chunk.data_type === 'text') read.push(chunk.data);
    return read;
  })();
  for (const text of texts) await sink.write(text);
  await sink.end();
  return reading;
}

function chunk(index: number, data: string): StreamChunk {
  return { stream_id: 's', chunk_index: index, is_final: false, metadata: {}, data_type: 'text', data };
}

describe('a stream whose producer died is produced again', () => {
  it('StreamAggregate starts over when chunk 0 comes again', () => {
    const aggregate = new StreamAggregate();
    for (const [index, data] of [[0, 'a0 '], [1, 'a1 '], [0, 'b0 '], [1, 'b1 '], [2, 'b2']] as const) aggregate.add(chunk(index, data));
    expect(aggregate.result()).toBe('b0 b1 b2');
    expect(aggregate.restarts).toBe(1);
  });

  it('the reader restarts on the new producer of the same stream id and replies with its text only (bus transport)', { timeout: 60_000 }, async () => {
    current = await project({ 'main.ww': TOPOLOGY });
    const busUrl = `memory://restart-${randomUUID().slice(0, 8)}`;
    const bus = await createBus(busUrl);
    let producing: { messageId: string; sessionId: string } | undefined;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The first producer streams two chunks, then its host "dies": nothing more comes from it
    // (its handler only returns once the test is over).
    const registry = createComponentRegistry().register(
      'transform',
      'uppercase',
      () => ({
        async handle(message, context) {
          producing = { messageId: message.id, sessionId: message.sessionId };
          const writer = context.stream();
          await writer.write('A0 ');
          await writer.write('A1 ');
          await released;
          return undefined;
        },
      }),
      { replace: true },
    );
    const namespace = `sr${randomUUID().slice(0, 8)}`;
    const { runtime } = await started(await current.load(), {
      bus,
      namespace,
      registry,
      streams: 'bus',
      turnTimeoutMs: TURN_TIMEOUT_MS,
    });
    const second = createStreamManager({ bus, component: componentGroup('shout'), instanceId: 'the-other-instance', topicPrefix: `${namespace}.stream` });
    try {
      const session = await runtime.session();
      const events = session.events();
      const turn = await session.send('hello');
      await waitFor(() => producing !== undefined);
      // The id the runtime gives the stream: derived from the message that produces it.
      const streamId = derivedMessageId(producing!.messageId, 'shout', 'stream');
      const seen: SessionEvent[] = [];
      for await (const event of events) {
        seen.push(event);
        if (seen.filter((item) => item.event_type === 'stream.chunk').length === 2) break;
      }
      expect(seen.filter((event) => event.event_type === 'stream.chunk').map((event) => event.stream_id)).toEqual([streamId, streamId]);
      // Another instance handles the message again and produces the stream again, under that id.
      const producer = await second.create({ sessionId: producing!.sessionId, target: componentGroup('out'), streamId });
      for (const word of ['B0 ', 'B1 ', 'B2']) await producer.send(word);
      await producer.end();
      const result = await turn.result;
      expect(result).toMatchObject({ ok: true, text: 'B0 B1 B2' });
    } finally {
      release();
      await second.close();
      await runtime.stop();
      await bus.close();
    }
  });

  it('a redelivered stream head reads the stream from the log, so a stream that already ended is read whole', { timeout: 60_000 }, async () => {
    const bus = await createBus(`memory://restart-${randomUUID().slice(0, 8)}`);
    const errors: unknown[] = [];
    const namespace = `sr${randomUUID().slice(0, 8)}`;
    const first = createBusTransport({ bus, namespace, instanceId: 'first', onError: (error) => errors.push(error) });
    const second = createBusTransport({ bus, namespace, instanceId: 'second', onError: (error) => errors.push(error) });
    try {
      const address = { sessionId: `s-${randomUUID()}`, streamId: randomUUID(), source: 'shout', target: 'out' };
      // The first reader reads it all; then its host dies before it could settle the stream head.
      expect(await produceAndRead(first, address, ['x ', 'y'])).toEqual(['x ', 'y']);
      // The stream head, handed to another instance: the stream is over, its producer gone.
      const texts: string[] = [];
      for await (const chunk of await second.read({ ...address, fromStart: true })) if (chunk.data_type === 'text') texts.push(chunk.data);
      expect(texts).toEqual(['x ', 'y']);
      expect(errors).toEqual([]);
    } finally {
      await first.close(undefined);
      await second.close(undefined);
      await bus.close();
    }
  });

  it('a stream head whose stream another instance already read is dropped as a duplicate: no error, no reply, no 30 s wait', { timeout: 60_000 }, async () => {
    current = await project({ 'main.ww': TOPOLOGY });
    const bus = await createBus(`memory://restart-${randomUUID().slice(0, 8)}`);
    const namespace = `sr${randomUUID().slice(0, 8)}`;
    const { runtime } = await started(await current.load(), { bus, namespace, streams: 'bus', turnTimeoutMs: TURN_TIMEOUT_MS });
    // Another instance of both `shout` and `out`: the first run of the message producing the
    // stream, and the reader that read it to its end and answered.
    const other = createBusTransport({ bus, namespace, instanceId: 'the-other-instance', onError: () => undefined });
    try {
      const session = await runtime.session();
      const events = session.events();
      const address = { sessionId: session.id, streamId: randomUUID(), source: 'shout', target: 'out' };
      expect(await produceAndRead(other, address, ['X'])).toEqual(['X']);
      // The message ran again, and this run's stream head reaches this instance of `out` (the
      // partition changed owner), which never saw the first head.
      await bus.publish(componentTopic(namespace, 'out'), {
        session_id: session.id,
        event_type: 'shout.response',
        component_source: 'shout',
        component_target: 'out',
        payload: null,
        trace: null,
        stream_id: address.streamId,
        is_stream: true,
        routing: { next_component: 'out' },
      });
      // The stream's idle timeout is 30 s: only the answer from the producer's instance ends it sooner.
      await waitFor(() => (runtime.stats().out?.duplicateHeads ?? 0) === 1, 20_000);
      expect(runtime.stats().out).toMatchObject({ duplicateHeads: 1, failed: 0 });
      await session.send('after');
      const seen = await eventsUntil(events, 'session.replied');
      expect(seen.filter((event) => event.event_type === 'agent.error')).toEqual([]);
    } finally {
      await other.close(undefined);
      await runtime.stop();
      await bus.close();
    }
  });

  it('a redelivered message that streams tells the session the stream restarted, before its first chunk', { timeout: 60_000 }, async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nshout = transform uppercase { streaming = true }\n' });
    const namespace = `sr${randomUUID().slice(0, 8)}`;
    const bus = await createBus(`memory://restart-${randomUUID().slice(0, 8)}`);
    // What the bus hands a host after the one before it died holding the message: attempt 2.
    const redelivering: Bus = new Proxy(bus, {
      get(target, property) {
        if (property === 'subscribe') {
          const subscribe: Bus['subscribe'] = (topic, options, handler) =>
            target.subscribe(topic, options, topic === componentTopic(namespace, 'shout') ? (envelope, context) => handler({ ...envelope, attempt: 2 }, context) : handler);
          return subscribe;
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { runtime } = await started(await current.load(), { bus: redelivering, namespace, turnTimeoutMs: TURN_TIMEOUT_MS });
    try {
      const session = await runtime.session();
      const events = session.events();
      const result = await session.ask('one two');
      expect(result).toMatchObject({ ok: true, text: 'ONE TWO' });
      const seen = await eventsUntil(events, 'turn.completed');
      const types = seen.map((event) => event.event_type).filter((type) => type.startsWith('stream.'));
      expect(types[0]).toBe('stream.restarted');
      const restarted = seen.find((event) => event.event_type === 'stream.restarted')!;
      const firstChunk = seen.find((event) => event.event_type === 'stream.chunk')!;
      expect(restarted.stream_id).toBe(firstChunk.stream_id);
      expect(restarted.payload).toMatchObject({ component: 'shout', attempt: 2, stream_id: firstChunk.stream_id });
      expect((restarted.payload as { reason: string }).reason).toMatch(/starts over/);
    } finally {
      await runtime.stop();
      await bus.close();
    }
  });
});
