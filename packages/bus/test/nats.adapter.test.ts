/**
 * NATS internals of the nats bus that the conformance suite cannot see: what lands in the stream
 * (read back with the plain NATS client and checked against the JSON Schema), server-side
 * `Nats-Msg-Id` dedup, per-key order against a foreign puller on the same durable consumer,
 * lease handover between members (graceful and silent), nak delays, `+TERM` for dead letters,
 * replay filters, and the naming and ownership rules.
 * Needs WOODWORK_TEST_NATS_URL (`bash tools/services.sh start nats`); skipped loudly without it.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AdapterDelivery, AdapterSubscription, WireRecord } from '../src/adapter.js';
import { NatsAdapter, createNatsAdapter, keyToken, nameToken, partitionOf, recordSubject, topicNames } from '../src/adapters/nats/index.js';
import { LivenessObserver, emptyDocument, planOwnership } from '../src/adapters/nats/ownership.js';
import { termBody } from '../src/adapters/nats/wire.js';
import type { GroupDocument, OwnershipIntent } from '../src/adapters/nats/ownership.js';
import { createBus } from '../src/create-bus.js';
import { createEnvelope, encodeEnvelope } from '../src/envelope.js';
import { WoodworkBusError } from '../src/errors.js';
import { assertMatchesEnvelopeSchema, waitFor } from '../src/testing/index.js';

const url = process.env.WOODWORK_TEST_NATS_URL;
if (!url) {
  console.warn(
    '\n*** nats.adapter.test.ts SKIPPED (broker part): WOODWORK_TEST_NATS_URL is not set. Start NATS with `bash tools/services.sh start nats` and export the URL it prints. ***\n',
  );
}

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
const prefix = `wwt-${randomUUID().slice(0, 8)}`;
let counter = 0;
const unique = (name: string) => `${prefix}-${name}-${++counter}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function record(session: string, payload: unknown, messageId?: string): WireRecord {
  const envelope = createEnvelope({ session_id: session, event_type: 'test.event', component_source: 'test', payload, ...(messageId ? { message_id: messageId } : {}) });
  return { messageId: envelope.message_id, key: session, body: encodeEnvelope(envelope) };
}

const payloadOf = (delivery: { record: WireRecord }) =>
  (JSON.parse(Buffer.from(delivery.record.body).toString()) as { payload: unknown }).payload;

/** Fast leases so handover tests take seconds. */
const FAST = { heartbeatMs: 200, leaseTtlMs: 1_500 };

describe('nats naming and ownership rules (no broker)', () => {
  it('escapes names into injective subject tokens and stream names', () => {
    expect(nameToken('agent.input')).toBe('agent_2einput');
    expect(nameToken('a_b')).toBe('a_5fb');
    expect(nameToken('a b*>')).toBe('a_20b_2a_3e');
    expect(nameToken('a.b')).not.toBe(nameToken('a_2eb'));
    const names = topicNames('ww', 'wwc-1.dead-letter.g');
    expect(names.stream).toBe('WW_wwc-1_2edead-letter_2eg');
    expect(names.stream).not.toMatch(/[.*> ]/);
    expect(nameToken('x'.repeat(300)).length).toBeLessThanOrEqual(120);
  });

  it('hashes keys onto partitions with FNV-1a and keeps safe keys readable in the subject', () => {
    expect(partitionOf('a', 2 ** 32)).toBe(0xe40c292c); // the FNV-1a test vector for "a"
    expect(partitionOf('session-1', 8)).toBe(partitionOf('session-1', 8));
    expect(keyToken('3f2a-uuid_1')).toBe('3f2a-uuid_1');
    expect(keyToken('user@example.com')).toMatch(/^~[0-9a-f]{32}$/);
    const names = topicNames('ww', 't');
    expect(recordSubject('ww', names, 8, 'abc')).toBe(`ww.t.${partitionOf('abc', 8)}.abc`);
  });

  const intent = (me: string, extra: Partial<OwnershipIntent> = {}): OwnershipIntent => ({
    me,
    leaving: false,
    releasable: new Set(),
    handoffs: new Set(),
    releasing: new Set(),
    quarantined: new Set(),
    acquiredAt: new Map(),
    busy: new Set(),
    ...extra,
  });

  it('gives a lone member every partition, and asks it to release down to its fair share', () => {
    const observer = new LivenessObserver(1_000);
    const first = planOwnership(null, 8, intent('a'), observer, 0, 500);
    expect(first.owned).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const withB: GroupDocument = { ...first.document, members: { ...first.document.members, b: 1 } };
    const second = planOwnership(withB, 8, intent('a'), observer, 100, 500);
    expect(second.startRelease).toHaveLength(4);
    expect(second.startRelease).toEqual([7, 6, 5, 4]);
    const released = planOwnership(second.document, 8, intent('a', { releasable: new Set([4, 5, 6, 7]) }), observer, 200, 500);
    const forB = planOwnership(released.document, 8, intent('b'), new LivenessObserver(1_000), 200, 500);
    expect(forB.owned).toEqual([4, 5, 6, 7]);
  });

  it('releases idle partitions before busy ones, so a rebalance does not wait on a handler', () => {
    const document: GroupDocument = { v: 1, partitions: 4, members: { a: 1, b: 1 }, owners: ['a', 'a', 'a', 'a'] };
    const plan = planOwnership(document, 4, intent('a', { busy: new Set([3, 2]) }), new LivenessObserver(1_000), 0, 500);
    expect(plan.startRelease).toEqual([1, 0]);
  });

  it('removes a member whose heartbeat stays unchanged for the TTL, on the observer’s own clock', () => {
    const observer = new LivenessObserver(1_000);
    const document: GroupDocument = { v: 1, partitions: 4, members: { a: 5, dead: 7 }, owners: ['a', 'a', 'dead', 'dead'] };
    const early = planOwnership(document, 4, intent('a'), observer, 10_000, 500);
    expect(early.document.members.dead).toBe(7);
    expect(early.owned).toEqual([0, 1]);
    const late = planOwnership(early.document, 4, intent('a'), observer, 11_000, 500);
    expect(late.document.members.dead).toBeUndefined();
    expect(late.owned).toEqual([0, 1, 2, 3]);
  });

  it('hands a stuck partition to the least-loaded member and will not take it back', () => {
    const document: GroupDocument = { v: 1, partitions: 4, members: { a: 1, b: 1, c: 1 }, owners: ['a', 'a', 'b', 'c'] };
    const plan = planOwnership(
      document,
      4,
      intent('a', { handoffs: new Set([1]), quarantined: new Set([1]) }),
      new LivenessObserver(1_000),
      0,
      500,
    );
    expect(plan.document.owners[1]).toBe('b');
    expect(plan.owned).toEqual([0]);
  });

  it('lets anyone take a partition that stayed free too long (orphan rule)', () => {
    const observer = new LivenessObserver(10_000);
    const document: GroupDocument = { v: 1, partitions: 2, members: { a: 1, b: 1 }, owners: ['a', null] };
    // b is quarantined from partition 1, and a is at its share (1): nobody takes it at first.
    const first = planOwnership(document, 2, intent('a'), observer, 0, 500);
    expect(first.document.owners[1]).toBeNull();
    const later = planOwnership(first.document, 2, intent('a'), observer, 600, 500);
    expect(later.document.owners[1]).toBe('a');
  });

  it('frees everything when leaving', () => {
    const plan = planOwnership(
      { ...emptyDocument(3), members: { a: 1, b: 1 }, owners: ['a', 'b', 'a'] },
      3,
      intent('a', { leaving: true }),
      new LivenessObserver(1_000),
      0,
      500,
    );
    expect(plan.document.members).toEqual({ b: 1 });
    expect(plan.document.owners).toEqual([null, 'b', null]);
  });
});

describe('nats +TERM body', () => {
  it('adds the reason only for servers that read it (2.10.4+); older ones confirm but ignore it', () => {
    expect(termBody('dead letter x', '2.9.10')).toBe('+TERM');
    expect(termBody('dead letter x', '2.10.3')).toBe('+TERM');
    expect(termBody('dead letter x', '2.10.4')).toBe('+TERM dead letter x');
    expect(termBody('dead letter x', '2.11.0-RC.1')).toBe('+TERM dead letter x');
    expect(termBody('dead letter x', '3.0.0')).toBe('+TERM dead letter x');
    expect(termBody('dead letter x', undefined)).toBe('+TERM');
    expect(termBody('', '2.15.3')).toBe('+TERM');
  });
});

describe('nats driver loading', () => {
  it('says what to install when the driver packages are missing', async () => {
    vi.resetModules();
    vi.doMock('@nats-io/jetstream', () => {
      throw Object.assign(new Error("Cannot find package '@nats-io/jetstream'"), { code: 'ERR_MODULE_NOT_FOUND' });
    });
    try {
      const { loadNatsDriver } = await import('../src/adapters/nats/driver.js');
      const error = await loadNatsDriver().catch((caught: unknown) => caught);
      expect(WoodworkBusError.isInstance(error)).toBe(true);
      expect((error as WoodworkBusError).code).toBe('WW_BUS_DRIVER_MISSING');
      expect((error as WoodworkBusError).message).toBe('install @nats-io/transport-node and @nats-io/jetstream to use the nats bus');
    } finally {
      vi.doUnmock('@nats-io/jetstream');
      vi.resetModules();
    }
  });
});

describe.skipIf(!url)('nats adapter internals', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const adapters: NatsAdapter[] = [];

  const open = async (options: Record<string, unknown> = {}): Promise<NatsAdapter> => {
    const adapter = createNatsAdapter(new URL(url!), options) as NatsAdapter;
    await adapter.doConnect();
    adapters.push(adapter);
    return adapter;
  };

  interface Collector {
    deliveries: AdapterDelivery[];
    subscription: AdapterSubscription;
  }

  const subscribe = async (
    adapter: NatsAdapter,
    topic: string,
    group: string,
    options: { maxInFlight?: number; ackTimeoutMs?: number; autoAck?: boolean; consumerName?: string } = {},
  ): Promise<Collector> => {
    const deliveries: AdapterDelivery[] = [];
    const subscription = await adapter.doSubscribe({
      topic,
      group,
      consumerName: options.consumerName ?? `c-${randomUUID().slice(0, 6)}`,
      maxInFlight: options.maxInFlight ?? 10,
      leaseMs: options.ackTimeoutMs ?? 30_000,
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      fromBeginning: true,
      onDelivery: (delivery) => {
        deliveries.push(delivery);
        if (options.autoAck) void delivery.ack();
      },
      onError: () => undefined,
    });
    return { deliveries, subscription };
  };

  const readAll = async (stream: string): Promise<JsMsg[]> => {
    const consumer = await js.consumers.get(stream);
    const messages: JsMsg[] = [];
    const info = await consumer.info(true);
    if (info.num_pending === 0) return messages;
    for await (const message of await consumer.fetch({ max_messages: 1_000, expires: 1_000 })) {
      messages.push(message);
      if (message.info.pending === 0) break;
    }
    return messages;
  };

  const groupDocument = async (topic: string, group: string): Promise<GroupDocument | null> => {
    const message = await jsm.streams.getMessage('KV_ww-leases', {
      last_by_subj: `$KV.ww-leases.${topicNames('ww', topic).token}.${nameToken(group)}`,
    });
    return message === null ? null : (message.json() as GroupDocument);
  };

  beforeAll(async () => {
    nc = await connect({ servers: new URL(url!).host });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await Promise.allSettled(adapters.map((adapter) => adapter.doClose()));
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`WW_${prefix}`)) await jsm.streams.delete(name).catch(() => undefined);
    }
    await nc.close();
  });

  it('writes envelopes the plain client reads, on documented subjects, matching the JSON Schema', async () => {
    const bus = await createBus(url!);
    const topic = unique('schema');
    const published = [];
    try {
      published.push(await bus.publish(topic, { session_id: 'schema-session', event_type: 'input.received', payload: { text: 'hi' } }));
      published.push(
        await bus.publish(topic, {
          session_id: 'user@example.com',
          event_type: 'stream.chunk',
          is_stream: true,
          stream_id: 'st-1',
          chunk_index: 0,
          payload: 'tok',
          trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        }),
      );
    } finally {
      await bus.close();
    }
    const names = topicNames('ww', topic);
    const info = await jsm.streams.info(names.stream);
    expect(info.config.subjects).toEqual([`ww.${names.token}.*.*`]);
    expect(info.config.storage).toBe('file');
    expect(info.config.description).toContain('partitions=8');
    const messages = await readAll(names.stream);
    expect(messages).toHaveLength(2);
    for (const [index, message] of messages.entries()) {
      const envelope = message.json<{ message_id: string; session_id: string }>();
      assertMatchesEnvelopeSchema(envelope);
      expect(envelope.message_id).toBe(published[index]!.message_id);
      expect(message.headers?.get('Nats-Msg-Id')).toBe(envelope.message_id);
      expect(message.subject).toBe(recordSubject('ww', names, 8, envelope.session_id));
    }
    // A key that is not subject-safe travels hashed in the subject and whole in a header.
    expect(messages[1]!.subject).toMatch(/\.~[0-9a-f]{32}$/);
    expect(messages[1]!.headers?.get('Ww-Key')).toBe('user@example.com');
  });

  it('lets JetStream itself drop a republished Nats-Msg-Id inside the duplicate window', async () => {
    const adapter = await open({ duplicateWindowMs: 60_000 });
    const topic = unique('dedup');
    const once = record('s', 'once');
    await adapter.doPublish(topic, [once]);
    await adapter.doPublish(topic, [once, record('s', 'other')]);
    const names = topicNames('ww', topic);
    const ack = await js.publish(recordSubject('ww', names, 8, 's'), once.body, { msgID: once.messageId });
    expect(ack.duplicate).toBe(true);
    const info = await jsm.streams.info(names.stream);
    expect(info.state.messages).toBe(2);
    expect(info.config.duplicate_window).toBe(60_000 * 1_000_000);
  });

  it('delivers each key in publish order with deliveryCount 1 and stream-sequence positions', async () => {
    const adapter = await open();
    const topic = unique('order');
    const records = Array.from({ length: 200 }, (_, n) => record(['a', 'b', 'c', 'd'][n % 4]!, { n }));
    await adapter.doPublish(topic, records);
    const { deliveries } = await subscribe(adapter, topic, 'g', { autoAck: true, maxInFlight: 4 });
    await waitFor(() => deliveries.length >= 200, { message: () => `${deliveries.length}/200` });
    const seen = new Map<string, number>();
    for (const delivery of deliveries) {
      const n = (payloadOf(delivery) as { n: number }).n;
      expect(n).toBeGreaterThan(seen.get(delivery.record.key) ?? -1);
      seen.set(delivery.record.key, n);
      expect(delivery.deliveryCount).toBe(1);
      expect(delivery.position).toMatch(/^\d+$/);
    }
  });

  it('holds a key back while a foreign puller has its earlier record, and lets other keys pass', async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('foreign');
    const names = topicNames('ww', topic);
    await adapter.doPublish(topic, [record('x', { n: 0 }), record('x', { n: 1 })]);
    // maxInFlight 1: the member holds x0 with its subscriber and x1 behind it, a full partition
    // (2 x maxInFlight), so it has no pull open.
    const { deliveries } = await subscribe(adapter, topic, 'g', { maxInFlight: 1 });
    await waitFor(() => deliveries.length === 1, { message: 'x0 never arrived' });
    await waitFor(async () => {
      const info = await jsm.consumers.info(names.stream, 'g_p0');
      return info.num_ack_pending === 2 && info.num_waiting === 0;
    });
    // A stranger pulls from the same durable consumer, like a stale member would, and keeps what it gets.
    await jsm.consumers.update(names.stream, 'g_p0', { max_ack_pending: 10 });
    const ghost = await js.consumers.get(names.stream, 'g_p0');
    const stolen = await ghost.fetch({ max_messages: 1, expires: 5_000 });
    await adapter.doPublish(topic, [record('b', { n: 0 }), record('b', { n: 1 }), record('c', { n: 0 })]);
    let held: JsMsg | undefined;
    for await (const message of stolen) held = message;
    expect(held?.subject).toBe(recordSubject('ww', names, 1, 'b'));
    // From now on our subscriber acks at once. The member's next delivery (b1) follows a gap in
    // the consumer's delivery sequence: it rescans, learns b0 is out with someone else, and keeps
    // b1 back while c0 goes through.
    let acked = 0;
    const ackAll = async () => {
      while (acked < deliveries.length) await deliveries[acked++]!.ack();
    };
    await waitFor(async () => (await ackAll(), deliveries.some((delivery) => delivery.record.key === 'c')), {
      message: () => `c0 never came: ${deliveries.map((delivery) => delivery.record.key).join(',')}`,
    });
    await sleep(500);
    await ackAll();
    expect(deliveries.map((delivery) => delivery.record.key)).toEqual(['x', 'x', 'c']);
    held!.ack();
    await waitFor(async () => (await ackAll(), deliveries.length === 4), { message: 'b1 never came after the stranger acked b0' });
    expect(deliveries[3]!.record.key).toBe('b');
    expect(payloadOf(deliveries[3]!)).toEqual({ n: 1 });
  });

  it('brings a nak’d record back no sooner than its delay, before the key’s next record', async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('nakdelay');
    await adapter.doPublish(topic, [record('k', { n: 0 }), record('k', { n: 1 }), record('other', { n: 0 })]);
    const { deliveries } = await subscribe(adapter, topic, 'g', { maxInFlight: 4 });
    await waitFor(() => deliveries.length === 2, { message: 'k0 and other0 never arrived' });
    const first = deliveries.find((delivery) => delivery.record.key === 'k')!;
    const nakedAt = Date.now();
    await first.nak(600);
    await waitFor(() => deliveries.length === 3, { message: 'k0 never came back' });
    const back = deliveries[2]!;
    expect(Date.now() - nakedAt).toBeGreaterThanOrEqual(550);
    expect(payloadOf(back)).toEqual({ n: 0 });
    expect(back.deliveryCount).toBe(2);
    await back.ack();
    await waitFor(() => deliveries.length === 4, { message: 'k1 never came' });
    expect(payloadOf(deliveries[3]!)).toEqual({ n: 1 });
  });

  it('terminates a dead-lettered record (+TERM): the server advises MSG_TERMINATED and keeps nothing pending', async () => {
    const topic = unique('term');
    const names = topicNames('ww', topic);
    const advisories: { stream: string; consumer: string; stream_seq: number; deliveries: number; reason?: string }[] = [];
    const watch = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${names.stream}.*`, {
      callback: (_error, message) => void advisories.push(message.json()),
    });
    await nc.flush();
    try {
      await using bus = await createBus(url!);
      const positions: string[] = [];
      // ackTimeoutMs 1 s: anything left pending would be redelivered well within the wait below.
      const options = { group: 'g', maxAttempts: 2, ackTimeoutMs: 1_000, backoff: { initialDelayMs: 10, jitter: 0 } };
      await bus.subscribe(topic, options, (_envelope, context) => {
        positions.push(context.position);
        throw new Error('always fails');
      });
      const original = await bus.publish(topic, { session_id: 'term-session', event_type: 'x.y' });
      await waitFor(() => advisories.length > 0, { message: 'no MSG_TERMINATED advisory' });
      const letters = [];
      for await (const letter of bus.deadLetters(topic, 'g')) letters.push(letter);
      expect(letters).toHaveLength(1);
      expect(letters[0]!.envelope?.message_id).toBe(original.message_id);
      expect(letters[0]!.attempts).toBe(2);

      const sequence = Number(positions[0]);
      const consumer = `${nameToken('g')}_p${partitionOf('term-session', 8)}`;
      expect(advisories[0]).toMatchObject({ stream: names.stream, consumer, stream_seq: sequence, deliveries: 1 });
      // 2.9 would confirm `+TERM <reason>` and ignore it, so the adapter sends the reason only to 2.10.4+.
      const [major = 0, minor = 0, patch = 0] = nc.info!.version.split('.').map((part) => Number.parseInt(part, 10));
      if (major * 1_000_000 + minor * 1_000 + patch >= 2_010_004) {
        expect(advisories[0]!.reason).toBe(`dead letter ${letters[0]!.id} on ${topic}.dead-letter.g`);
      } else {
        expect(advisories[0]!.reason).toBeUndefined();
      }

      // Past the ack wait: nothing pending, nothing redelivered, the handler never ran again.
      await sleep(1_500);
      const info = await jsm.consumers.info(names.stream, consumer);
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_redelivered).toBe(0);
      expect(info.ack_floor.stream_seq).toBe(sequence);
      expect(positions).toEqual([String(sequence), String(sequence)]);
      expect(advisories.every((advisory) => advisory.stream_seq === sequence)).toBe(true);
    } finally {
      watch.unsubscribe();
    }
  });

  it('hands partitions over between members without breaking per-key order', async () => {
    const topic = unique('handover');
    const group = 'g';
    const a = await open(FAST);
    const b = await open(FAST);
    const order = new Map<string, number[]>();
    const busy = new Set<string>();
    let overlaps = 0;
    const members: AdapterSubscription[] = [];
    const join = async (adapter: NatsAdapter, name: string) => {
      const subscription = await adapter.doSubscribe({
        topic,
        group,
        consumerName: name,
        maxInFlight: 8,
        leaseMs: 30_000,
        ackTimeoutMs: 30_000,
        fromBeginning: true,
        onDelivery: (delivery) => {
          const key = delivery.record.key;
          if (busy.has(key)) overlaps++;
          busy.add(key);
          setTimeout(() => {
            busy.delete(key);
            const list = order.get(key) ?? [];
            list.push((payloadOf(delivery) as { n: number }).n);
            order.set(key, list);
            void delivery.ack();
          }, Math.random() * 3);
        },
        onError: () => undefined,
      });
      members.push(subscription);
      return subscription;
    };
    const first = await join(a, 'a');
    await waitFor(async () => (await groupDocument(topic, group))?.owners.every((owner) => owner?.startsWith('a#')), {
      message: 'a never owned all partitions',
    });
    const keys = Array.from({ length: 16 }, (_, index) => `key-${index}`);
    const counters = new Map<string, number>();
    const publishSome = async (count: number) => {
      for (let start = 0; start < count; start += 32) {
        await a.doPublish(
          topic,
          Array.from({ length: 32 }, (_, offset) => {
            const key = keys[(start + offset) % keys.length]!;
            const n = counters.get(key) ?? 0;
            counters.set(key, n + 1);
            return record(key, { n });
          }),
        );
      }
    };
    await publishSome(320);
    await join(b, 'b');
    await publishSome(320);
    await waitFor(
      async () => {
        const owners = (await groupDocument(topic, group))?.owners ?? [];
        return owners.filter((owner) => owner?.startsWith('a#')).length === 4 && owners.filter((owner) => owner?.startsWith('b#')).length === 4;
      },
      { message: 'partitions were never shared 4/4' },
    );
    await publishSome(320);
    await first.close();
    await waitFor(async () => (await groupDocument(topic, group))?.owners.every((owner) => owner?.startsWith('b#')), {
      message: 'b never took over a’s partitions',
    });
    await publishSome(320);
    const total = [...counters.values()].reduce((sum, value) => sum + value, 0);
    await waitFor(() => [...order.values()].reduce((sum, list) => sum + list.length, 0) >= total, {
      timeoutMs: 30_000,
      message: () => `${[...order.values()].reduce((sum, list) => sum + list.length, 0)}/${total}`,
    });
    expect(overlaps).toBe(0);
    for (const [key, list] of order) expect(list, key).toEqual(Array.from({ length: counters.get(key)! }, (_, n) => n));
  });

  it('takes over from a member that went silent, after the lease TTL, with its unacked record first', async () => {
    const topic = unique('silent');
    const group = 'g';
    const survivor = await open({ ...FAST, partitions: 1 });
    const silent = await open({ ...FAST, partitions: 1 });
    const ghost = await subscribe(silent, topic, group, { maxInFlight: 1, ackTimeoutMs: 1_000 });
    await survivor.doPublish(topic, [record('k', { n: 0 }), record('k', { n: 1 })]);
    await waitFor(() => ghost.deliveries.length === 1, { message: 'the silent member never got k0' });
    const live = await subscribe(survivor, topic, group, { maxInFlight: 4, ackTimeoutMs: 1_000, autoAck: true });
    // Cut the member's connection without leaving: no lease renewals, no acks, like a frozen process.
    await (silent as unknown as { connected: { nc: NatsConnection } }).connected.nc.close();
    const cutAt = Date.now();
    await waitFor(() => live.deliveries.length === 2, { timeoutMs: 15_000, message: 'the survivor never took over' });
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(1_000);
    expect(live.deliveries.map((delivery) => payloadOf(delivery))).toEqual([{ n: 0 }, { n: 1 }]);
    expect(live.deliveries[0]!.deliveryCount).toBeGreaterThanOrEqual(2);
    adapters.splice(adapters.indexOf(silent), 1);
  });

  it('keeps a publisher’s order across a broker restart: re-sends in order, JetStream drops what it had', async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('restart-order');
    const records = Array.from({ length: 4_000 }, (_, n) => record('k', { n }));
    // Batches are pipelined (up to maxPendingPublishes in flight): a restart lands in the middle of one.
    const publishing = (async () => {
      for (let start = 0; start < records.length; start += 200) await adapter.doPublish(topic, records.slice(start, start + 200));
    })();
    await sleep(30);
    await promisify(execFile)('bash', ['tools/services.sh', 'restart', 'nats'], { cwd: repositoryRoot, timeout: 60_000 });
    await publishing;
    const stored = [];
    for await (const item of adapter.doReplay({ topic })) stored.push(item.record.messageId);
    expect(stored).toEqual(records.map((item) => item.messageId));
  }, 90_000);

  it('replays the log in order, one key through a subject filter, and after a position', async () => {
    const adapter = await open();
    const topic = unique('replay');
    const records = Array.from({ length: 30 }, (_, n) => record(`s-${n % 3}`, { n }));
    await adapter.doPublish(topic, records);
    const all = [];
    for await (const item of adapter.doReplay({ topic })) all.push(item);
    expect(all.map((item) => item.record.messageId)).toEqual(records.map((item) => item.messageId));
    const one = [];
    for await (const item of adapter.doReplay({ topic, key: 's-1' })) one.push(item);
    expect(one.map((item) => item.record.key)).toEqual(Array(10).fill('s-1'));
    const after = [];
    for await (const item of adapter.doReplay({ topic, afterPosition: all[19]!.position })) after.push(item);
    expect(after.map((item) => item.record.messageId)).toEqual(records.slice(20).map((item) => item.messageId));
    const none = [];
    for await (const item of adapter.doReplay({ topic: unique('never-written') })) none.push(item);
    expect(none).toEqual([]);
  });

  it('reports health, and rejects work after close', async () => {
    const adapter = await open();
    const health = await adapter.doHealth();
    expect(health).toMatchObject({ connected: true, ready: true, adapter: 'nats' });
    expect(health.detail).toContain('nats-server');
    await adapter.doClose();
    expect((await adapter.doHealth()).ready).toBe(false);
    const error = await adapter.doPublish(unique('closed'), [record('s', 1)]).catch((caught: unknown) => caught);
    expect((error as WoodworkBusError).code).toBe('WW_BUS_CLOSED');
  });

  it('fails to connect with a retryable WW_BUS_CONNECTION after connectTimeoutMs', async () => {
    const adapter = new NatsAdapter(new URL('nats://127.0.0.1:1'), { connectTimeoutMs: 600 });
    const startedAt = Date.now();
    const error = await adapter.doConnect().catch((caught: unknown) => caught);
    expect((error as WoodworkBusError).code).toBe('WW_BUS_CONNECTION');
    expect((error as WoodworkBusError).isRetryable).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await adapter.doClose();
  });
});
