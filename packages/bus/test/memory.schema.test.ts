// What the memory bus stores, read back as raw bytes through the adapter (its "plain client"),
// validates against the published JSON Schema — messages, dead letters and re-drive markers alike.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBus, createMemoryAdapter, deadLetterTopic } from '@woodwork/bus';
import { assertMatchesEnvelopeSchema, waitFor } from '@woodwork/bus/testing';

describe('memory bus records match the envelope schema', () => {
  it('for published envelopes, dead letters and re-drive markers', async () => {
    const url = `memory://schema-${randomUUID().slice(0, 8)}?serialize=true`;
    await using bus = await createBus(url);
    let healthy = false;
    await bus.subscribe('orders', { group: 'billing', maxAttempts: 1 }, (envelope) => {
      if (envelope.session_id === 'bad' && !healthy) throw new Error('no');
    });
    await bus.publish('orders', {
      session_id: 'good',
      event_type: 'order.placed',
      payload: { items: [1, 2] },
      trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      is_stream: true,
      stream_id: 'st',
      chunk_index: 0,
    });
    await bus.publish('orders', { session_id: 'bad', event_type: 'order.placed' });
    const plain = createMemoryAdapter(new URL(url));
    await plain.doConnect();
    const read = async (topic: string) => {
      const bodies: unknown[] = [];
      for await (const { record } of plain.doReplay({ topic })) bodies.push(JSON.parse(new TextDecoder().decode(record.body)));
      return bodies;
    };
    await waitFor(async () => (await read(deadLetterTopic('orders', 'billing'))).length === 1);
    healthy = true;
    expect(await bus.redrive('orders', 'billing')).toBe(1);
    const all = [...(await read('orders')), ...(await read(deadLetterTopic('orders', 'billing')))];
    expect(all.map((body) => (body as { event_type: string }).event_type)).toEqual([
      'order.placed',
      'order.placed',
      'order.placed',
      'bus.dead_letter',
      'bus.redriven',
    ]);
    for (const body of all) assertMatchesEnvelopeSchema(body);
    expect(() => assertMatchesEnvelopeSchema({ ...(all[0] as object), timestamp: 'soon' })).toThrow(/timestamp/);
    await plain.doClose();
  });
});
