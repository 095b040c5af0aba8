// Unit tests of the Bus wrapper's own logic (backoff, deduplication window, validation, close)
// and of createBus's URL handling; the end-to-end promises are the conformance suite's.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  DeduplicationWindow,
  ISOLATION_LIMIT_MS,
  WoodworkBusError,
  computeBackoffDelay,
  createBus,
  createBusFromAdapter,
  createMemoryAdapter,
  deadLetterTopic,
} from '@woodwork/bus';
import type { AdapterDelivery, Bus, BusAdapterV1, Envelope } from '@woodwork/bus';
import { waitFor } from '@woodwork/bus/testing';
import { driverMissingError } from '../src/create-bus.js';

const memoryUrl = () => `memory://unit-${randomUUID().slice(0, 8)}`;

async function rejection(promise: Promise<unknown>): Promise<WoodworkBusError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!WoodworkBusError.isInstance(error)) throw new Error(`expected a WoodworkBusError, got ${String(error)}`);
  return error;
}

describe('computeBackoffDelay', () => {
  const exact = { ...DEFAULT_BACKOFF, jitter: 0 };

  it('grows exponentially from the initial delay and stops at the maximum', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => computeBackoffDelay(attempt, exact))).toEqual([100, 200, 400, 800, 1600]);
    expect(computeBackoffDelay(30, exact)).toBe(30_000);
    expect(computeBackoffDelay(10_000, exact)).toBe(30_000);
  });

  it('spreads by ±jitter and never exceeds the maximum', () => {
    const backoff = { initialDelayMs: 1000, maxDelayMs: 1100, multiplier: 3, jitter: 0.2 };
    expect(computeBackoffDelay(1, backoff, () => 0)).toBe(800);
    expect(computeBackoffDelay(1, backoff, () => 0.5)).toBe(1000);
    expect(computeBackoffDelay(1, backoff, () => 1)).toBe(1100);
    for (let index = 0; index < 100; index++) {
      const delay = computeBackoffDelay(1 + (index % 6), DEFAULT_BACKOFF);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxDelayMs);
    }
  });
});

describe('DeduplicationWindow', () => {
  it('remembers at least the last `size` ids and forgets older ones eventually', () => {
    const window = new DeduplicationWindow(100);
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    for (const [index, id] of ids.entries()) {
      expect(window.has(id)).toBe(false);
      window.add(id);
      expect(window.has(id)).toBe(true);
      // The last 100 are always remembered.
      for (const recent of ids.slice(Math.max(0, index - 99), index + 1)) expect(window.has(recent)).toBe(true);
    }
    // Anything older than twice the size is gone.
    expect(ids.slice(0, 700).some((id) => window.has(id))).toBe(false);
  });

  it('is off with size 0 and ignores repeated adds', () => {
    const off = new DeduplicationWindow(0);
    off.add('a');
    expect(off.has('a')).toBe(false);
    const window = new DeduplicationWindow(2);
    for (let index = 0; index < 10; index++) window.add('same');
    window.add('other');
    expect(window.has('same')).toBe(true);
    expect(window.has('other')).toBe(true);
  });

  it('tells apart ids that differ in one character', () => {
    const window = new DeduplicationWindow(50_000);
    const base = randomUUID();
    for (let index = 0; index < 50_000; index++) window.add(`${base}-${index}`);
    let falsePositives = 0;
    for (let index = 50_000; index < 100_000; index++) if (window.has(`${base}-${index}`)) falsePositives++;
    expect(falsePositives).toBe(0);
  });
});

describe('publish validation', () => {
  it('rejects an invalid envelope with WW_BUS_INVALID_ENVELOPE naming the field', async () => {
    await using bus = await createBus(memoryUrl());
    const empty = await rejection(bus.publish('t', { session_id: '', event_type: 'x.y' }));
    expect(empty.code).toBe('WW_BUS_INVALID_ENVELOPE');
    expect(empty.message).toMatch(/session_id must be a non-empty string/);
    const attempt = await rejection(bus.publish('t', { session_id: 's', event_type: 'x.y', attempt: 0 }));
    expect(attempt.message).toMatch(/attempt must be an integer >= 1/);
    const wrongType = await rejection(bus.publish('t', { session_id: 's', event_type: 'x.y', timestamp: 'yesterday' }));
    expect(wrongType.message).toMatch(/timestamp must be an ISO 8601 date-time/);
    const notObject = await rejection(bus.publish('t', null as never));
    expect(notObject.code).toBe('WW_BUS_INVALID_ENVELOPE');
    const many = await rejection(
      bus.publishMany('t', [{ session_id: 's', event_type: 'ok.ok' }, { session_id: 's', event_type: '' }]),
    );
    expect(many.message).toMatch(/event_type/);
  });

  it('rejects topic and group names brokers cannot carry', async () => {
    await using bus = await createBus(memoryUrl());
    for (const topic of ['', 'has space', 'a/b', 'wild*', '.leading']) {
      expect((await rejection(bus.publish(topic, { session_id: 's', event_type: 'x.y' }))).code).toBe('WW_BUS_INVALID_OPTION');
    }
    expect((await rejection(bus.subscribe('t', { group: 'no good' }, () => undefined))).code).toBe('WW_BUS_INVALID_OPTION');
  });

  it('rejects bad subscribe options naming the option', async () => {
    await using bus = await createBus(memoryUrl());
    const cases: [object, RegExp][] = [
      [{ group: 'g', maxInFlight: 0 }, /maxInFlight/],
      [{ group: 'g', maxAttempts: 1.5 }, /maxAttempts/],
      [{ group: 'g', ackTimeoutMs: 0 }, /ackTimeoutMs/],
      [{ group: 'g', deduplicationWindow: -1 }, /deduplicationWindow/],
      [{ group: 'g', backoff: { jitter: 2 } }, /backoff.jitter/],
      [{ group: 'g', backoff: { multiplier: 0.5 } }, /backoff.multiplier/],
      [{}, /group/],
    ];
    for (const [options, message] of cases) {
      const error = await rejection(bus.subscribe('t', options as never, () => undefined));
      expect(error.code).toBe('WW_BUS_INVALID_OPTION');
      expect(error.message).toMatch(message);
    }
  });

  it('fills defaults and returns the envelope it published', async () => {
    await using bus = await createBus(memoryUrl());
    const envelope = await bus.publish('t', { session_id: 's', event_type: 'x.y', payload: { a: 1 } });
    expect(envelope).toMatchObject({ session_id: 's', attempt: 1, component_source: 'unknown', is_stream: false });
    expect(envelope.routing).toEqual({ next_component: null, pipe_chain: [] });
    expect(Date.parse(envelope.timestamp)).not.toBeNaN();
  });
});

describe('close', () => {
  it('is idempotent, rejects later publishes with WW_BUS_CLOSED and reports health', async () => {
    const bus = await createBus(memoryUrl());
    expect(await bus.health()).toMatchObject({ connected: true, ready: true, adapter: 'memory' });
    await Promise.all([bus.close(), bus.close()]);
    await bus.close();
    expect((await rejection(bus.publish('t', { session_id: 's', event_type: 'x.y' }))).code).toBe('WW_BUS_CLOSED');
    expect((await rejection(bus.subscribe('t', { group: 'g' }, () => undefined))).code).toBe('WW_BUS_CLOSED');
    expect(await bus.health()).toMatchObject({ connected: false, ready: false });
  });

  it('finishes in-flight handlers, aborts their signal and gives back what never started', async () => {
    const url = memoryUrl();
    const first = await createBus(url);
    let release!: () => void;
    const started: string[] = [];
    let aborted = false;
    await first.subscribe('t', { group: 'g', maxInFlight: 1 }, async (envelope, context) => {
      started.push(String(envelope.payload));
      context.signal.addEventListener('abort', () => (aborted = true));
      await new Promise<void>((resolve) => (release = resolve));
    });
    await first.publishMany('t', [
      { session_id: 'a', event_type: 'x.y', payload: 'one' },
      { session_id: 'b', event_type: 'x.y', payload: 'two' },
    ]);
    await waitFor(() => started.length === 1);
    let closed = false;
    const closing = first.close().then(() => (closed = true));
    await waitFor(() => aborted);
    expect(closed).toBe(false);
    release();
    await closing;
    expect(started).toEqual(['one']);
    // 'one' was finished and acked; 'two' never started and goes to the next member.
    await using second = await createBus(url);
    const later: string[] = [];
    await second.subscribe('t', { group: 'g' }, (envelope) => {
      later.push(String(envelope.payload));
    });
    await waitFor(() => later.length === 1);
    expect(later).toEqual(['two']);
  });

  it('supports await using on buses and subscriptions', async () => {
    const url = memoryUrl();
    let subscriptionClosed = false;
    {
      await using bus = await createBus(url);
      {
        await using subscription = await bus.subscribe('t', { group: 'g' }, () => undefined);
        expect(subscription.topic).toBe('t');
      }
      subscriptionClosed = true;
      await bus.publish('t', { session_id: 's', event_type: 'x.y' });
    }
    expect(subscriptionClosed).toBe(true);
  });
});

describe('retries and dead letters', () => {
  it('waits the backoff between tries and passes the attempt to the handler', async () => {
    await using bus = await createBus(memoryUrl());
    const times: number[] = [];
    const attempts: number[] = [];
    await bus.subscribe(
      't',
      { group: 'g', maxAttempts: 3, backoff: { initialDelayMs: 40, multiplier: 2, jitter: 0 } },
      (envelope, context) => {
        times.push(performance.now());
        attempts.push(context.attempt);
        expect(envelope.attempt).toBe(context.attempt);
        if (context.attempt < 3) throw new Error('again');
      },
    );
    await bus.publish('t', { session_id: 's', event_type: 'x.y' });
    await waitFor(() => attempts.length === 3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(35);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(75);
  });

  it('writes dead letters as envelopes on <topic>.dead-letter.<group>', async () => {
    await using bus = await createBus(memoryUrl());
    await bus.subscribe('orders', { group: 'billing', maxAttempts: 1 }, () => {
      throw new TypeError('bad order');
    });
    const original = await bus.publish('orders', { session_id: 's1', event_type: 'order.placed', payload: { id: 7 } });
    const letters: Envelope[] = [];
    await waitFor(async () => {
      letters.length = 0;
      for await (const { envelope } of bus.replay(deadLetterTopic('orders', 'billing'))) letters.push(envelope);
      return letters.length === 1;
    });
    expect(deadLetterTopic('orders', 'billing')).toBe('orders.dead-letter.billing');
    expect(letters[0]).toMatchObject({
      event_type: 'bus.dead_letter',
      session_id: 's1',
      component_source: 'bus',
      payload: {
        envelope: original,
        raw_body: null,
        topic: 'orders',
        group: 'billing',
        attempts: 1,
        last_error: { name: 'TypeError', message: 'bad order' },
      },
    });
  });
});

/** A valid envelope as wire bytes, for adapters built by hand. */
function wireEnvelope(messageId: string, session: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      message_id: messageId, session_id: session, event_type: 'x.y', component_source: 'c', component_target: null,
      timestamp: new Date().toISOString(), stream_id: null, is_stream: false, chunk_index: null, is_final: false,
      payload: null, routing: { next_component: null, pipe_chain: [] }, attempt: 1, trace: null,
    }),
  );
}

/** An adapter that hands every subscriber `deliveries` at once and keeps what is published. */
function fakeAdapter(deliveries: readonly AdapterDelivery[], published: { topic: string; body: string }[]): BusAdapterV1 {
  return {
    specificationVersion: 'v1',
    adapterName: 'fake',
    capabilities: createMemoryAdapter(new URL(memoryUrl())).capabilities,
    doConnect: async () => undefined,
    doPublish: async (topic, records) => {
      for (const record of records) published.push({ topic, body: new TextDecoder().decode(record.body) });
    },
    doSubscribe: async (request) => {
      for (const delivery of deliveries) request.onDelivery(delivery);
      return { close: async () => undefined };
    },
    doReplay: async function* () {},
    doHealth: async () => ({ connected: true, ready: true, adapter: 'fake' }),
    doClose: async () => undefined,
  };
}

describe('poison messages', () => {
  it('dead-letters a record delivered more than maxAttempts times without running it', async () => {
    const published: { topic: string; body: string }[] = [];
    let acked = false;
    let ran = false;
    const adapter = fakeAdapter(
      [
        {
          record: { messageId: 'm-1', key: 's', body: wireEnvelope('m-1', 's') },
          deliveryCount: 6,
          position: '42',
          ack: async () => {
            acked = true;
          },
          nak: async () => undefined,
        },
      ],
      published,
    );
    await using bus = await createBusFromAdapter(adapter);
    await bus.subscribe('t', { group: 'g', maxAttempts: 5 }, () => {
      ran = true;
    });
    await waitFor(() => acked);
    expect(ran).toBe(false);
    expect(published).toHaveLength(1);
    expect(published[0]!.topic).toBe('t.dead-letter.g');
    const letter = JSON.parse(published[0]!.body) as Envelope<{ attempts: number; last_error: { message: string } }>;
    expect(letter.event_type).toBe('bus.dead_letter');
    expect(letter.payload.attempts).toBe(5);
    expect(letter.payload.last_error.message).toMatch(/handed to a handler 5 times without being settled/);
  });

  it('settles a dead letter with term where the adapter offers it (spec v1.2), else ack; a duplicate is acked', async () => {
    const published: { topic: string; body: string }[] = [];
    const settled: string[] = [];
    const errors: unknown[] = [];
    const refused = new WoodworkBusError('WW_BUS_CONNECTION', 'term not confirmed', { isRetryable: true });
    const delivery = (messageId: string, key: string, term?: (reason: string) => Promise<void>): AdapterDelivery => ({
      record: { messageId, key, body: wireEnvelope(messageId, key) },
      deliveryCount: 6, // more than maxAttempts: dead-lettered without running
      position: '1',
      ack: async () => void settled.push(`${messageId} ack`),
      nak: async () => void settled.push(`${messageId} nak`),
      ...(term === undefined ? {} : { term }),
    });
    const terms = (messageId: string) => async (reason: string) => void settled.push(`${messageId} term ${reason}`);
    const adapter = fakeAdapter(
      [
        delivery('m-1', 'a', terms('m-1')),
        delivery('m-1', 'a', terms('m-1')), // the same message again, behind it in its session's lane
        delivery('m-2', 'b'), // an adapter without term
        delivery('m-3', 'c', () => Promise.reject(refused)),
      ],
      published,
    );
    await using bus = await createBusFromAdapter(adapter);
    await bus.subscribe('t', { group: 'g', maxAttempts: 5, onError: (error) => errors.push(error) }, () => undefined);
    await waitFor(() => settled.length === 3 && errors.length === 1, { message: () => settled.join('; ') });
    const letters = published.map((item) => JSON.parse(item.body) as Envelope<{ envelope: { message_id: string } }>);
    expect(letters.map((letter) => letter.payload.envelope.message_id).sort()).toEqual(['m-1', 'm-2', 'm-3']);
    const letterOfFirst = letters.find((letter) => letter.payload.envelope.message_id === 'm-1')!;
    const of = (messageId: string) => settled.filter((entry) => entry.startsWith(`${messageId} `));
    // The duplicate of m-1 is acked without a second letter, after the first copy's term.
    expect(of('m-1')).toEqual([`m-1 term dead letter ${letterOfFirst.message_id} on t.dead-letter.g`, 'm-1 ack']);
    expect(of('m-2')).toEqual(['m-2 ack']);
    // A term the broker refused is reported like a refused ack; the broker gives the record back.
    expect(errors).toEqual([refused]);
  });
});

describe('onDeadLetter', () => {
  it('tells the subscriber of each dead letter once it is stored, before the message is settled', async () => {
    await using bus = await createBus(memoryUrl());
    const told: { id: string; attempts: number; listed: boolean; depth: number | undefined }[] = [];
    await bus.subscribe(
      't',
      {
        group: 'g',
        maxAttempts: 2,
        backoff: { initialDelayMs: 1, maxDelayMs: 5, jitter: 0 },
        onDeadLetter: async (letter) => {
          const listed: string[] = [];
          for await (const stored of bus.deadLetters('t', 'g')) listed.push(stored.id);
          told.push({
            id: letter.envelope!.message_id,
            attempts: letter.attempts,
            listed: listed.includes(letter.id),
            depth: await bus.queueDepth('t', 'g'),
          });
        },
      },
      () => {
        throw new Error('always');
      },
    );
    const sent = await bus.publish('t', { session_id: 's', event_type: 'x.y', payload: 1 });
    await waitFor(() => told.length === 1);
    // Listed already, and still unsettled while the subscriber is being told.
    expect(told).toEqual([{ id: sent.message_id, attempts: 2, listed: true, depth: 1 }]);
    await waitFor(async () => (await bus.queueDepth('t', 'g')) === 0);
  });

  it('reports a failing onDeadLetter to onError and settles the message anyway', async () => {
    await using bus = await createBus(memoryUrl());
    const errors: unknown[] = [];
    await bus.subscribe(
      't',
      {
        group: 'g',
        maxAttempts: 1,
        onError: (error) => errors.push(error),
        onDeadLetter: () => {
          throw new Error('listener broke');
        },
      },
      () => {
        throw new Error('always');
      },
    );
    await bus.publish('t', { session_id: 's', event_type: 'x.y', payload: 1 });
    await waitFor(() => errors.length === 1);
    expect((errors[0] as WoodworkBusError).code).toBe('WW_BUS_HANDLER_FAILED');
    expect((errors[0] as WoodworkBusError).message).toMatch(/onDeadLetter of t \(group g\) failed/);
    await waitFor(async () => (await bus.queueDepth('t', 'g')) === 0);
  });
});

/**
 * A Bus over an adapter the test hands deliveries to, one by one; each delivery's settlements are
 * written to `events`, and `more` adds members to it.
 */
async function handOut(more: (messageId: string, events: string[]) => Partial<AdapterDelivery> = () => ({})): Promise<{
  bus: Bus;
  onDelivery: () => (delivery: AdapterDelivery) => void;
  delivery: (messageId: string, deliveryCount: number) => AdapterDelivery;
  events: string[];
}> {
  let onDelivery: ((delivery: AdapterDelivery) => void) | undefined;
  const adapter: BusAdapterV1 = {
    ...fakeAdapter([], []),
    doSubscribe: async (request) => {
      onDelivery = request.onDelivery;
      return { close: async () => undefined };
    },
  };
  const events: string[] = [];
  const delivery = (messageId: string, deliveryCount: number): AdapterDelivery => ({
    record: { messageId, key: `session-${messageId}`, body: wireEnvelope(messageId, `session-${messageId}`) },
    deliveryCount,
    position: messageId,
    ack: async () => void events.push(`${messageId} ack`),
    nak: async (delayMs, neverStarted) => void events.push(`${messageId} nak ${delayMs >= 100 ? '>=100' : delayMs} ${neverStarted === true}`),
    ...more(messageId, events),
  });
  return { bus: await createBusFromAdapter(adapter), onDelivery: () => onDelivery!, delivery, events };
}

describe('suspects run alone (decision 0012)', () => {

  it('runs a redelivered, never-settled message alone and gives back unstarted what comes meanwhile', async () => {
    const { bus, onDelivery, delivery, events } = await handOut();
    await using _bus = bus;
    const gates = new Map<string, () => void>();
    let running = 0;
    let mostBesideSuspect = 0;
    let suspectRunning = false;
    await bus.subscribe('t', { group: 'g', maxInFlight: 8, maxAttempts: 3 }, async (envelope, context) => {
      running++;
      if (envelope.message_id === 'suspect') suspectRunning = true;
      if (suspectRunning) mostBesideSuspect = Math.max(mostBesideSuspect, running - 1);
      events.push(`${envelope.message_id} start ${context.attempt}`);
      await new Promise<void>((resolve) => gates.set(envelope.message_id, resolve));
      if (envelope.message_id === 'suspect') suspectRunning = false;
      running--;
    });
    onDelivery()(delivery('suspect', 2)); // its earlier hand-out never settled: its consumer crashed
    onDelivery()(delivery('during', 1)); // arrives while the suspect runs alone
    onDelivery()(delivery('other-suspect', 2));
    await waitFor(() => events.includes('other-suspect nak >=100 true'));
    expect(events).toEqual(['suspect start 2', 'during nak >=100 true', 'other-suspect nak >=100 true']);
    gates.get('suspect')!();
    await waitFor(() => events.includes('suspect ack'));
    expect(mostBesideSuspect).toBe(0);
    // Settled: isolation is over, fresh messages run beside each other again.
    onDelivery()(delivery('after-1', 1));
    onDelivery()(delivery('after-2', 1));
    await waitFor(() => events.includes('after-2 start 1'));
    expect(events.slice(-2)).toEqual(['after-1 start 1', 'after-2 start 1']);
    gates.get('after-1')!();
    gates.get('after-2')!();
    await waitFor(() => events.includes('after-1 ack') && events.includes('after-2 ack'));
  });

  it('makes a suspect wait for what already runs (holding back what comes meanwhile), and not for ever', async () => {
    const { bus, onDelivery, delivery, events } = await handOut();
    await using _bus = bus;
    const gates = new Map<string, () => void>();
    await bus.subscribe('t', { group: 'g', maxInFlight: 8, maxAttempts: 3 }, async (envelope, context) => {
      events.push(`${envelope.message_id} start ${context.attempt}`);
      await new Promise<void>((resolve) => gates.set(envelope.message_id, resolve));
    });
    onDelivery()(delivery('fresh', 1));
    onDelivery()(delivery('suspect', 2));
    onDelivery()(delivery('meanwhile', 1)); // arrives while the suspect waits for `fresh`
    // Not started next to `fresh` right away; what comes meanwhile is given back unstarted.
    expect(events).toEqual(['fresh start 1', 'meanwhile nak >=100 true']);
    // `fresh` never finishes (it may be waiting for something the isolation holds back): the
    // suspect runs anyway after ISOLATION_DRAIN_LIMIT_MS.
    await waitFor(() => events.includes('suspect start 2'), { timeoutMs: 30_000 });
    gates.get('suspect')!();
    gates.get('fresh')!();
    await waitFor(() => events.includes('suspect ack') && events.includes('fresh ack'));
  });

  it('lets fresh deliveries run beside a suspect once it has run ISOLATION_LIMIT_MS alone, never another suspect', async () => {
    const { bus, onDelivery, delivery, events } = await handOut();
    await using _bus = bus;
    const gates = new Map<string, () => void>();
    await bus.subscribe('t', { group: 'g', maxInFlight: 8, maxAttempts: 3 }, async (envelope, context) => {
      events.push(`${envelope.message_id} start ${context.attempt}`);
      await new Promise<void>((resolve) => gates.set(envelope.message_id, resolve));
    });
    onDelivery()(delivery('suspect', 2));
    onDelivery()(delivery('early', 1));
    expect(events).toEqual(['suspect start 2', 'early nak >=100 true']);
    // Timers fire in order: once this one has, the isolation's has too.
    await new Promise((resolve) => setTimeout(resolve, ISOLATION_LIMIT_MS + 100));
    onDelivery()(delivery('late', 1));
    expect(events.at(-1)).toBe('late start 1');
    // Another suspect still waits until this one is settled.
    onDelivery()(delivery('late-suspect', 2));
    expect(events.at(-1)).toBe('late-suspect nak >=100 true');
    gates.get('late')!();
    gates.get('suspect')!();
    await waitFor(() => events.includes('suspect ack') && events.includes('late ack'));
  });

  it('does not isolate what the subscriber\'s isolate() exempts', async () => {
    const { bus, onDelivery, delivery, events } = await handOut();
    await using _bus = bus;
    const gates = new Map<string, () => void>();
    await bus.subscribe(
      't',
      { group: 'g', maxInFlight: 8, maxAttempts: 3, isolate: (envelope) => envelope.message_id !== 'exempt' },
      async (envelope, context) => {
        events.push(`${envelope.message_id} start ${context.attempt}`);
        await new Promise<void>((resolve) => gates.set(envelope.message_id, resolve));
      },
    );
    onDelivery()(delivery('exempt', 2));
    onDelivery()(delivery('fresh', 1));
    expect(events).toEqual(['exempt start 2', 'fresh start 1']);
    gates.get('exempt')!();
    gates.get('fresh')!();
    await waitFor(() => events.includes('exempt ack') && events.includes('fresh ack'));
  });

  it('does not isolate a message over maxAttempts: it is dead-lettered without running', async () => {
    const published: { topic: string; body: string }[] = [];
    const settled: string[] = [];
    const delivery = (messageId: string, deliveryCount: number): AdapterDelivery => ({
      record: { messageId, key: messageId, body: wireEnvelope(messageId, messageId) },
      deliveryCount,
      position: messageId,
      ack: async () => void settled.push(`${messageId} ack`),
      nak: async () => void settled.push(`${messageId} nak`),
    });
    await using bus = await createBusFromAdapter(fakeAdapter([delivery('dead', 4), delivery('fresh', 1)], published));
    const ran: string[] = [];
    await bus.subscribe('t', { group: 'g', maxAttempts: 3 }, (envelope) => void ran.push(envelope.message_id));
    await waitFor(() => settled.length === 2, { message: () => settled.join('; ') });
    expect(ran).toEqual(['fresh']);
    expect(settled.sort()).toEqual(['dead ack', 'fresh ack']);
    expect(published.map((item) => item.topic)).toEqual(['t.dead-letter.g']);
  });
});

describe('createBus', () => {
  it('defaults to the process-wide memory bus', async () => {
    await using one = await createBus();
    await using two = await createBus('memory://default');
    const got: string[] = [];
    const topic = `t-${randomUUID()}`;
    await two.subscribe(topic, { group: 'g' }, (envelope) => {
      got.push(envelope.message_id);
    });
    const sent = await one.publish(topic, { session_id: 's', event_type: 'x.y' });
    await waitFor(() => got.length === 1);
    expect(got).toEqual([sent.message_id]);
    expect(one.adapterName).toBe('memory');
    expect(one.capabilities).toMatchObject({ persistent: false, crossProcess: false, replay: true });
  });

  it('rejects an unknown scheme naming it and the supported ones, without echoing credentials', async () => {
    const error = await rejection(createBus('amqp://user:secret@localhost:5672'));
    expect(error.code).toBe('WW_BUS_UNSUPPORTED_URL');
    expect(error.message).toContain('amqp://localhost:5672');
    expect(error.message).not.toContain('secret');
    for (const scheme of ['memory://', 'redis://', 'rediss://', 'nats://', 'kafka://']) expect(error.message).toContain(scheme);
    expect((await rejection(createBus('not a url'))).code).toBe('WW_BUS_UNSUPPORTED_URL');
  });

  it('turns a missing driver into an install instruction', () => {
    const notFound = Object.assign(new Error("Cannot find package 'ioredis' imported from /x/adapter.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const error = driverMissingError('redis', ['ioredis'], notFound)!;
    expect(error.code).toBe('WW_BUS_DRIVER_MISSING');
    expect(error.message).toBe('install ioredis to use the redis bus (npm install ioredis)');
    expect(error.cause).toBe(notFound);
    const other = Object.assign(new Error("Cannot find module './x.js'"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(driverMissingError('redis', ['ioredis'], other)).toBeUndefined();
    expect(driverMissingError('nats', ['@nats-io/transport-node', '@nats-io/jetstream'], notFound)).toBeUndefined();
  });

  it('closes an adapter whose connect failed', async () => {
    let closed = false;
    const adapter = {
      ...createMemoryAdapter(new URL(memoryUrl())),
      specificationVersion: 'v1',
      doConnect: async () => {
        throw new WoodworkBusError('WW_BUS_CONNECTION', 'refused', { isRetryable: true });
      },
      doClose: async () => {
        closed = true;
      },
    } as BusAdapterV1;
    expect((await rejection(createBusFromAdapter(adapter))).code).toBe('WW_BUS_CONNECTION');
    expect(closed).toBe(true);
  });
});

describe('memory adapter', () => {
  it('keeps handling when handlers outlast the lease (issue #16, finding 1: it used to stall for good)', async () => {
    await using bus: Bus = await createBus(memoryUrl());
    const handled: string[] = [];
    await bus.subscribe('t', { group: 'g', leaseMs: 50 }, async (envelope) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      handled.push(envelope.session_id);
    });
    for (let session = 0; session < 6; session++) await bus.publish('t', { session_id: `s${session}`, event_type: 'x.y' });
    await waitFor(() => handled.length >= 6, { timeoutMs: 10_000, message: () => `handled ${handled.length} of 6` });
    await waitFor(async () => (await bus.queueDepth('t', 'g')) === 0, { timeoutMs: 10_000 });
    expect(handled.sort()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);
  });

  it('does not count an attempt for a delivery given back unstarted (nak neverStarted), and counts a tried one', async () => {
    const adapter = createMemoryAdapter(new URL(memoryUrl()));
    await adapter.doConnect();
    const record = { messageId: 'm-1', key: 's', body: new TextEncoder().encode('{}') };
    await adapter.doPublish('t', [record]);
    const counts: number[] = [];
    const deliveries: AdapterDelivery[] = [];
    await adapter.doSubscribe({
      topic: 't',
      group: 'g',
      consumerName: 'c',
      maxInFlight: 1,
      leaseMs: 1_000,
      ackTimeoutMs: 1_000,
      fromBeginning: true,
      onDelivery: (delivery) => {
        counts.push(delivery.deliveryCount);
        deliveries.push(delivery);
      },
      onError: (error) => {
        throw error;
      },
    });
    await waitFor(() => deliveries.length === 1);
    await deliveries[0]!.nak(0, true);
    await waitFor(() => deliveries.length === 2);
    await deliveries[1]!.nak(0);
    await waitFor(() => deliveries.length === 3);
    await deliveries[2]!.ack();
    expect(counts).toEqual([1, 1, 2]);
    await adapter.doClose();
  });

  it('makes publish wait while a live group lags by maxBacklog', async () => {
    await using bus: Bus = await createBus(`${memoryUrl()}?maxBacklog=20`);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await bus.subscribe('t', { group: 'g', maxInFlight: 1 }, () => gate);
    let published = 0;
    const producing = (async () => {
      for (let index = 0; index < 100; index++) {
        await bus.publish('t', { session_id: `s${index}`, event_type: 'x.y' });
        published++;
      }
    })();
    await waitFor(() => published >= 19);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(published).toBeLessThanOrEqual(20);
    release();
    await producing;
    expect(published).toBe(100);
  });

  it('trims the log to its retention but keeps unacknowledged work', async () => {
    await using bus = await createBus(`${memoryUrl()}?retention=1000`);
    const got: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await bus.subscribe<number>('t', { group: 'g', maxInFlight: 1 }, async (envelope) => {
      await gate;
      got.push(envelope.payload);
    });
    for (let start = 0; start < 5000; start += 500) {
      await bus.publishMany(
        't',
        Array.from({ length: 500 }, (_, offset) => ({ session_id: 's', event_type: 'x.y', payload: start + offset })),
      );
    }
    let retained = 0;
    for await (const _ of bus.replay('t')) retained++;
    expect(retained).toBeGreaterThanOrEqual(1000);
    expect(retained).toBeLessThanOrEqual(1000 + 1024);
    release();
    await waitFor(() => got.length === 5000);
    expect(got).toEqual(Array.from({ length: 5000 }, (_, index) => index));
  });

  it('copies envelopes when serialize=true and shares them by default', async () => {
    for (const serialize of [false, true]) {
      await using bus = await createBus(`${memoryUrl()}?serialize=${serialize}`);
      let received: Envelope | undefined;
      await bus.subscribe('t', { group: 'g' }, (envelope) => {
        received = envelope;
      });
      const sent = await bus.publish('t', { session_id: 's', event_type: 'x.y', payload: { n: 1 } });
      await waitFor(() => received);
      expect(received).toEqual(sent);
      expect(received === sent).toBe(!serialize);
    }
  });
});

describe('createEnvelope', () => {
  it('gives every envelope a distinct RFC 4122 version 4 UUID', async () => {
    const { createEnvelope } = await import('@woodwork/bus');
    const ids = new Set<string>();
    for (let index = 0; index < 20_000; index++) {
      const id = createEnvelope({ session_id: 's', event_type: 'x.y' }).message_id;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(20_000);
  });
});

describe('beforeHandler (adapter spec v1.6)', () => {
  /** Deliveries that each wait for their gate in `beforeHandler`. */
  async function gated() {
    const gates = new Map<string, { resolve: () => void; reject: (error: unknown) => void }>();
    const subscription = await handOut((messageId, events) => ({
      term: async () => void events.push(`${messageId} term`),
      beforeHandler: () => {
        events.push(`${messageId} recording`);
        return new Promise<void>((resolve, reject) => gates.set(messageId, { resolve, reject }));
      },
    }));
    return { ...subscription, gates };
  }

  it('runs the handler only once the adapter has recorded the hand-out, and only for hand-outs that run', async () => {
    const { bus, onDelivery, delivery, events, gates } = await gated();
    await using _bus = bus;
    await bus.subscribe('t', { group: 'g', maxAttempts: 3 }, (envelope, context) => {
      events.push(`${envelope.message_id} handler ${context.attempt}`);
    });
    onDelivery()(delivery('over', 4)); // over maxAttempts: dead-lettered without running
    await waitFor(() => events.includes('over term'));
    onDelivery()(delivery('first', 2));
    onDelivery()(delivery('held-back', 2)); // a second suspect: given back unstarted, never recorded
    await waitFor(() => events.includes('held-back nak >=100 true'), { message: () => events.join('; ') });
    expect(events.filter((event) => event.endsWith('recording'))).toEqual(['first recording']);
    expect(events).not.toContain('first handler 2');
    gates.get('first')!.resolve();
    await waitFor(() => events.includes('first ack'));
    expect(events.filter((event) => event.startsWith('first '))).toEqual(['first recording', 'first handler 2', 'first ack']);
  });

  it('reports a failed recording and runs the handler anyway', async () => {
    const { bus, onDelivery, delivery, events, gates } = await gated();
    await using _bus = bus;
    const errors: unknown[] = [];
    await bus.subscribe('t', { group: 'g', onError: (error) => errors.push(error) }, (envelope) => {
      events.push(`${envelope.message_id} handler`);
    });
    onDelivery()(delivery('m', 2));
    await waitFor(() => gates.has('m'));
    const refused = new Error('bucket away');
    gates.get('m')!.reject(refused);
    await waitFor(() => events.includes('m ack'));
    expect(errors).toEqual([refused]);
    expect(events).toEqual(['m recording', 'm handler', 'm ack']);
  });

  it('gives a hand-out back unstarted when the subscription closes while it is being recorded', async () => {
    const { bus, onDelivery, delivery, events, gates } = await gated();
    await using _bus = bus;
    const subscription = await bus.subscribe('t', { group: 'g' }, (envelope) => {
      events.push(`${envelope.message_id} handler`);
    });
    onDelivery()(delivery('m', 2));
    await waitFor(() => gates.has('m'));
    const closed = subscription.close();
    gates.get('m')!.resolve();
    await closed;
    expect(events).toEqual(['m recording', 'm nak 0 true']);
  });
});
