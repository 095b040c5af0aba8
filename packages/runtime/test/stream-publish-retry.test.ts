/**
 * The runtime's `publishRetryMs` is the bound of its streams on the bus transport too: a chunk the
 * bus fails with a retryable error (a broker restarting) is published again for as long as the
 * hosts' own messages would be. The broker restart itself is @woodwork/stream's test
 * (`broker-restart.integration.test.ts`, a private Redis stopped mid-stream); here the in-memory
 * bus fails the first publishes of stream chunks the way a restarting broker does, so that what
 * is checked is only which bound the transport gives its streams.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBus, WoodworkBusError, type Bus, type EnvelopeInit } from '@woodwork/bus';
import { createBusTransport } from '../src/streams.js';

/** The bus, failing the first `count` publishes of stream chunks with the error a broker down gives. */
function failingChunks(bus: Bus, count: number): Bus & { readonly failed: number } {
  let failed = 0;
  const isChunk = (envelope: EnvelopeInit) => envelope.event_type === 'stream.chunk' || envelope.event_type === 'stream.chunks';
  const fail = () => {
    failed++;
    return Promise.reject(new WoodworkBusError('WW_BUS_PUBLISH_FAILED', 'could not publish: the broker is restarting', { isRetryable: true }));
  };
  return Object.create(bus, {
    publish: { value: (topic: string, envelope: EnvelopeInit) => (isChunk(envelope) && failed < count ? fail() : bus.publish(topic, envelope)) },
    publishMany: { value: (topic: string, envelopes: EnvelopeInit[]) => (envelopes.some(isChunk) && failed < count ? fail() : bus.publishMany(topic, envelopes)) },
    failed: { get: () => failed },
  }) as Bus & { readonly failed: number };
}

async function stream(publishRetryMs: number) {
  const bus = await createBus(`memory://stream-retry-${randomUUID().slice(0, 8)}`);
  const flaky = failingChunks(bus, 2);
  const errors: unknown[] = [];
  const transport = createBusTransport({ bus: flaky, namespace: `spr${randomUUID().slice(0, 8)}`, instanceId: 'one', onError: (error) => errors.push(error), publishRetryMs });
  const address = { sessionId: `s-${randomUUID()}`, streamId: randomUUID(), source: 'llm', target: 'out' };
  const sink = await transport.open(address);
  const source = await transport.read(address);
  const reading = (async () => {
    const texts: string[] = [];
    for await (const chunk of source) if (chunk.data_type === 'text') texts.push(chunk.data);
    return texts;
  })();
  reading.catch(() => undefined);
  return {
    flaky,
    errors,
    sink,
    reading,
    close: async () => {
      await transport.close(undefined);
      await bus.close();
    },
  };
}

describe('streams on the bus transport and the runtime publishRetryMs', () => {
  it('publishes a chunk the bus failed again, within the bound the runtime gives', { timeout: 30_000 }, async () => {
    const { flaky, errors, sink, reading, close } = await stream(60_000);
    try {
      await sink.write('a ');
      await sink.write('b');
      await sink.end();
      expect(await reading).toEqual(['a ', 'b']);
      expect(flaky.failed).toBe(2);
      expect(String(errors[0])).toContain('trying again for up to 60.0 s');
    } finally {
      await close();
    }
  });

  it('fails the stream at the first failure with publishRetryMs 0', { timeout: 30_000 }, async () => {
    const { sink, reading, close } = await stream(0);
    try {
      const error = await sink.write('a ').then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ code: 'WW_STREAM_PUBLISH_FAILED' });
      expect((error as Error).message).toMatch(/^component `llm` could not publish chunk 0 of stream [\w-]+ \(session s-[\w-]+\) to `spr\w+\.stream\.data\.out`, so the stream is failed: could not publish: the broker is restarting$/);
      await expect(reading).rejects.toMatchObject({ code: 'WW_STREAM_ABORTED' });
    } finally {
      await close();
    }
  });
});
