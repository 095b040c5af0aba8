/**
 * Redis internals of the redis bus that the conformance suite cannot see: what lands in the
 * streams (read back with plain ioredis and checked against the JSON Schema), trimming that never
 * drops pending entries, takeover of abandoned entries, partition lease handover, the handover
 * consumer, nak delays, replay across partitions, and the missing-driver message.
 * Needs WOODWORK_TEST_REDIS_URL (`bash tools/services.sh start redis`); skipped loudly without it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterDelivery, AdapterSubscription, BusAdapterV1, WireRecord } from '../src/adapter.js';
import { createRedisAdapter, REDIS_HANDOVER_CONSUMER, redisPartitionFor, redisTopicKeys } from '../src/adapters/redis/index.js';
import type { RedisBusAdapter } from '../src/adapters/redis/index.js';
import { loadRedisDriver } from '../src/adapters/redis/driver.js';
import { createEnvelope, encodeEnvelope } from '../src/envelope.js';
import { WoodworkBusError } from '../src/errors.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (!url) {
  console.warn(
    '\n*** redis.adapter.test.ts SKIPPED: WOODWORK_TEST_REDIS_URL is not set. Start Redis with `bash tools/services.sh start redis` and export the URL it prints. ***\n',
  );
}

const prefix = `wwt-${randomUUID().slice(0, 8)}`;
let counter = 0;
const unique = (name: string) => `${prefix}-${name}-${++counter}`;

async function until<T>(check: () => T | Promise<T>, message: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function record(session: string, payload: unknown): WireRecord {
  const envelope = createEnvelope({ session_id: session, event_type: 'test.event', component_source: 'test', payload });
  return { messageId: envelope.message_id, key: session, body: encodeEnvelope(envelope) };
}

const payloadOf = (delivery: { record: WireRecord }) =>
  (JSON.parse(Buffer.from(delivery.record.body).toString()) as { payload: unknown }).payload;

interface Collector {
  deliveries: AdapterDelivery[];
  subscription: AdapterSubscription;
}

describe.skipIf(!url)('redis adapter internals', () => {
  let raw: Redis;
  const adapters: BusAdapterV1[] = [];

  const open = async (options: Record<string, unknown> = {}): Promise<RedisBusAdapter> => {
    const adapter = createRedisAdapter(new URL(url!), options) as RedisBusAdapter;
    await adapter.doConnect();
    adapters.push(adapter);
    return adapter;
  };

  const subscribe = async (
    adapter: BusAdapterV1,
    topic: string,
    group: string,
    options: { maxInFlight?: number; ackTimeoutMs?: number; consumerName?: string; autoAck?: boolean } = {},
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
      onError: (error) => {
        throw error;
      },
    });
    return { deliveries, subscription };
  };

  beforeAll(() => {
    raw = new Redis(url!);
    raw.on('error', () => {}); // the conformance suite may restart the broker meanwhile; ioredis retries
  });

  afterAll(async () => {
    await Promise.allSettled(adapters.map((adapter) => adapter.doClose()));
    const keys = await raw.keys(`ww:{${prefix}-*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('writes entries other tools can read: envelope, message_id and session_id fields', async () => {
    const adapter = await open();
    const topic = unique('fields');
    const records = [record('s-1', { n: 1 }), record('s-2', { n: 2 })];
    await adapter.doPublish(topic, records);
    const keys = redisTopicKeys('ww', topic);
    expect(await raw.hget(keys.meta, 'partitions')).toBe('8');
    for (const written of records) {
      const stream = keys.stream(redisPartitionFor(written.key, 8));
      const entries = await raw.xrange(stream, '-', '+');
      const entry = entries.find(([, fields]) => fields[3] === written.messageId);
      expect(entry).toBeDefined();
      const fields = entry![1];
      expect(fields[0]).toBe('envelope');
      expect(fields[1]).toBe(Buffer.from(written.body).toString());
      expect(fields.slice(2)).toEqual(['message_id', written.messageId, 'session_id', written.key]);
    }
  });

  it('delivers in order per session with deliveryCount 1 and a position', async () => {
    const adapter = await open();
    const topic = unique('order');
    const sessions = ['a', 'b', 'c', 'd'];
    const records = Array.from({ length: 200 }, (_, n) => record(sessions[n % 4]!, { n }));
    await adapter.doPublish(topic, records);
    const { deliveries } = await subscribe(adapter, topic, 'g', { autoAck: true, maxInFlight: 4 });
    await until(() => deliveries.length >= 200, 'all 200 delivered');
    const seen = new Map<string, number>();
    for (const delivery of deliveries) {
      const n = (payloadOf(delivery) as { n: number }).n;
      const previous = seen.get(delivery.record.key) ?? -1;
      expect(n).toBeGreaterThan(previous);
      seen.set(delivery.record.key, n);
      expect(delivery.deliveryCount).toBe(1);
      expect(delivery.position).toMatch(/^p\d+-\d+-\d+$/);
    }
  });

  it('reads back with plain ioredis as envelopes that match the JSON Schema', async () => {
    const { createBus } = await import('../src/create-bus.js');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const addFormats = (await import('ajv-formats')).default as unknown as (ajv: unknown) => void;
    const schema = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../schema/envelope.schema.json', import.meta.url), 'utf8'));
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const bus = await createBus(url!);
    const topic = unique('schema');
    try {
      await bus.publish(topic, { session_id: 'schema-session', event_type: 'input.received', payload: { text: 'hi' } });
      await bus.publish(topic, {
        session_id: 'schema-session-2',
        event_type: 'stream.chunk',
        is_stream: true,
        stream_id: 'st-1',
        chunk_index: 0,
        payload: 'tok',
        trace: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      });
    } finally {
      await bus.close();
    }
    const keys = redisTopicKeys('ww', topic);
    let checked = 0;
    for (let partition = 0; partition < 8; partition++) {
      for (const [, fields] of await raw.xrange(keys.stream(partition), '-', '+')) {
        const map = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
        const envelope = JSON.parse(map.envelope!) as { message_id: string; session_id: string };
        expect(validate(envelope), JSON.stringify(validate.errors)).toBe(true);
        expect(map.message_id).toBe(envelope.message_id);
        expect(map.session_id).toBe(envelope.session_id);
        expect(partition).toBe(redisPartitionFor(envelope.session_id, 8));
        checked++;
      }
    }
    expect(checked).toBe(2);
  });

  it('takes over entries another consumer abandoned, first and in order, holding their sessions back meanwhile', async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('takeover');
    const keys = redisTopicKeys('ww', topic);
    await adapter.doPublish(topic, [record('x', { n: 0 }), record('y', { n: 0 }), record('x', { n: 1 }), record('y', { n: 1 })]);
    // A consumer that read two entries and died without acknowledging them (plain ioredis).
    await raw.xgroup('CREATE', keys.stream(0), 'g', '0', 'MKSTREAM');
    const abandonedAt = Date.now();
    const taken = (await raw.xreadgroup('GROUP', 'g', 'ghost', 'COUNT', 2, 'STREAMS', keys.stream(0), '>')) as [string, unknown[]][];
    expect(taken[0]![1]).toHaveLength(2);
    await adapter.doPublish(topic, [record('z', { n: 0 })]);
    const arrivals: { key: string; n: number; count: number; at: number }[] = [];
    const { deliveries } = await subscribe(adapter, topic, 'g', { ackTimeoutMs: 1_500 });
    const track = async () => {
      for (;;) {
        const delivery = deliveries.shift();
        if (delivery === undefined) return;
        arrivals.push({ key: delivery.record.key, n: (payloadOf(delivery) as { n: number }).n, count: delivery.deliveryCount, at: Date.now() });
        await delivery.ack();
      }
    };
    await until(async () => (await track(), arrivals.length >= 5), 'all five delivered');
    // z was never blocked; x and y waited for the ghost's entries to be idle past the ack timeout.
    const z = arrivals.find((arrival) => arrival.key === 'z')!;
    expect(z.at).toBeLessThan(Math.min(...arrivals.filter((arrival) => arrival.key !== 'z').map((arrival) => arrival.at)));
    for (const key of ['x', 'y']) {
      const mine = arrivals.filter((arrival) => arrival.key === key);
      expect(mine.map((arrival) => arrival.n)).toEqual([0, 1]);
      expect(mine[0]!.count).toBe(2);
      expect(mine[1]!.count).toBe(1);
      expect(mine[0]!.at - abandonedAt).toBeGreaterThanOrEqual(1_400);
    }
    expect(await raw.xpending(keys.stream(0), 'g')).toEqual([0, null, null, null]);
  });

  it('claims abandoned work with XAUTOCLAIM and leaves the delivery count of its own waiting entries alone', async () => {
    const xautoclaimCalls = async () => Number(/cmdstat_xautoclaim:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0);
    const callsBefore = await xautoclaimCalls();
    const adapter = await open({ partitions: 1, claimIntervalMs: 100 });
    const topic = unique('autoclaim');
    const keys = redisTopicKeys('ww', topic);
    await adapter.doPublish(topic, [record('x', { n: 0 }), ...[0, 1, 2, 3, 4, 5].map((n) => record('y', { n }))]);
    // A ghost consumer takes x0 and keeps it alive (as a working consumer does) for 800 ms, then dies.
    await raw.xgroup('CREATE', keys.stream(0), 'g', '0', 'MKSTREAM');
    const taken = (await raw.xreadgroup('GROUP', 'g', 'ghost', 'COUNT', 1, 'STREAMS', keys.stream(0), '>')) as [string, [string, string[] | null][]][];
    const x0 = taken[0]![1][0]![0];
    const aliveUntil = Date.now() + 800;
    const keepAlive = setInterval(() => {
      if (Date.now() < aliveUntil) void raw.xclaim(keys.stream(0), 'g', 'ghost', 0, x0, 'JUSTID');
      else clearInterval(keepAlive);
    }, 100);
    const arrivals: { key: string; n: number; count: number; redisCount: number }[] = [];
    const { deliveries } = await subscribe(adapter, topic, 'g', { ackTimeoutMs: 1_000, maxInFlight: 3 });
    // Read-ahead (2 × maxInFlight) holds y0..y5 from the start; each y takes 800 ms, so y3..y5 have
    // waited in Redis' pending list past the ack timeout when x0 goes idle, and the XAUTOCLAIM that
    // takes x0 (it scans from x0 on) claims them too.
    const handle = async () => {
      for (;;) {
        const delivery = deliveries.shift();
        if (delivery === undefined) return;
        // Redis' own counter is what a member taking over after a crash would see. An entry that
        // waited in the buffer is counted when handed out, by a command of the same tick: read it
        // once the handler has run a while.
        if (delivery.record.key === 'y') await new Promise((resolve) => setTimeout(resolve, 800));
        const id = delivery.position.replace(/^p0-/, '');
        const [[, , , redisCount]] = (await raw.xpending(keys.stream(0), 'g', id, id, 1)) as [[string, string, number, number]];
        arrivals.push({ key: delivery.record.key, n: (payloadOf(delivery) as { n: number }).n, count: delivery.deliveryCount, redisCount });
        await delivery.ack();
      }
    };
    await until(async () => (await handle(), arrivals.length >= 7), 'all seven delivered', 20_000);
    clearInterval(keepAlive);
    expect(arrivals.filter((arrival) => arrival.key === 'y')).toEqual(
      [0, 1, 2, 3, 4, 5].map((n) => ({ key: 'y', n, count: 1, redisCount: 1 })),
    );
    expect(arrivals.find((arrival) => arrival.key === 'x')).toEqual({ key: 'x', n: 0, count: 2, redisCount: 2 });
    expect(await xautoclaimCalls()).toBeGreaterThan(callsBefore);
    expect(await raw.xpending(keys.stream(0), 'g')).toEqual([0, null, null, null]);
  });

  it("hands a closing member's unstarted entries to the next owner at once, after its unsettled one", async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('handover');
    const keys = redisTopicKeys('ww', topic);
    await adapter.doPublish(topic, Array.from({ length: 4 }, (_, n) => record('s', { n })));
    const first = await subscribe(adapter, topic, 'g', { maxInFlight: 1, consumerName: 'first' });
    await until(() => first.deliveries.length === 1, 'first delivery');
    // s0 is being worked on; s1 waits in first's buffer (read, pending, never started).
    await until(async () => ((await raw.xpending(keys.stream(0), 'g')) as [number])[0] >= 2, 'read ahead');
    await first.subscription.close();
    // The buffered entry moved to the handover consumer with its delivery count lowered back.
    const pending = (await raw.xpending(keys.stream(0), 'g', '-', '+', 10)) as [string, string, number, number][];
    expect(pending.find(([, consumer]) => consumer === 'first')).toBeDefined();
    const handedOver = pending.filter(([, consumer]) => consumer === REDIS_HANDOVER_CONSUMER);
    expect(handedOver.length).toBeGreaterThanOrEqual(1);
    expect(handedOver.every(([, , , count]) => count === 0)).toBe(true);

    const second = await subscribe(adapter, topic, 'g', { maxInFlight: 1, consumerName: 'second', ackTimeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // s0 is still unsettled with the first member: nothing of session s may go to the second.
    expect(second.deliveries).toHaveLength(0);
    const startedAt = Date.now();
    await first.deliveries[0]!.nak(0);
    const got: { n: number; count: number }[] = [];
    await until(async () => {
      const delivery = second.deliveries.shift();
      if (delivery !== undefined) {
        got.push({ n: (payloadOf(delivery) as { n: number }).n, count: delivery.deliveryCount });
        await delivery.ack();
      }
      return got.length === 4;
    }, 'second gets all four');
    expect(Date.now() - startedAt).toBeLessThan(5_000); // not the 30 s ack timeout
    expect(got).toEqual([
      { n: 0, count: 2 },
      { n: 1, count: 1 },
      { n: 2, count: 1 },
      { n: 3, count: 1 },
    ]);
  });

  it('shares partitions between members by lease and keeps each session in order across the handover', async () => {
    const options = { partitions: 4 };
    const one = await open(options);
    const two = await open(options);
    const topic = unique('lease');
    const keys = redisTopicKeys('ww', topic);
    const log: { key: string; n: number; member: string; deliveredAt: number; ackedAt: number }[] = [];
    const consume = async (adapter: BusAdapterV1, member: string) =>
      adapter.doSubscribe({
        topic,
        group: 'g',
        consumerName: member,
        maxInFlight: 5,
        leaseMs: 2_000,
        ackTimeoutMs: 2_000,
        fromBeginning: true,
        onDelivery: (delivery) => {
          const entry = { key: delivery.record.key, n: (payloadOf(delivery) as { n: number }).n, member, deliveredAt: performance.now(), ackedAt: 0 };
          log.push(entry);
          setTimeout(() => {
            entry.ackedAt = performance.now();
            void delivery.ack();
          }, Math.random() * 4);
        },
        onError: (error) => {
          throw error;
        },
      });
    const owners = async () => Promise.all(Array.from({ length: 4 }, (_, partition) => raw.get(keys.lease('g', partition))));
    const a = await consume(one, 'member-a');
    expect(await owners()).toEqual(['member-a', 'member-a', 'member-a', 'member-a']);
    let published = 0;
    const publishing = (async () => {
      for (let batch = 0; batch < 40; batch++) {
        await one.doPublish(topic, Array.from({ length: 10 }, () => record(`session-${published % 12}`, { n: published++ })));
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const b = await consume(two, 'member-b');
    await until(async () => {
      const held = await owners();
      return held.filter((owner) => owner === 'member-a').length === 2 && held.filter((owner) => owner === 'member-b').length === 2;
    }, 'two partitions each');
    await publishing;
    await until(() => log.length >= 400 && log.every((entry) => entry.ackedAt > 0), 'all 400 delivered and acked');
    expect(new Set(log.map((entry) => entry.member))).toEqual(new Set(['member-a', 'member-b']));
    const bySession = new Map<string, typeof log>();
    for (const entry of log) bySession.set(entry.key, [...(bySession.get(entry.key) ?? []), entry]);
    for (const [, entries] of bySession) {
      entries.sort((x, y) => x.deliveredAt - y.deliveredAt);
      for (let index = 1; index < entries.length; index++) {
        expect(entries[index]!.n).toBeGreaterThan(entries[index - 1]!.n);
        // Never handed to any member before the previous one of its session was acknowledged.
        expect(entries[index]!.deliveredAt).toBeGreaterThanOrEqual(entries[index - 1]!.ackedAt);
      }
    }
    expect(log).toHaveLength(400);
    await a.close();
    await until(async () => (await owners()).every((owner) => owner === 'member-b'), 'b owns all after a leaves');
    await b.close();
  });

  it('lets the next owner take a partition whose owner lost its lease, and the old owner hands back', async () => {
    const options = { partitions: 1, leaseMs: 1_000 };
    const one = await open(options);
    const two = await open(options);
    const topic = unique('lost');
    const keys = redisTopicKeys('ww', topic);
    await one.doPublish(topic, Array.from({ length: 3 }, (_, n) => record('s', { n })));
    const a = await subscribe(one, topic, 'g', { maxInFlight: 1, consumerName: 'a', ackTimeoutMs: 10_000 });
    await until(() => a.deliveries.length === 1, 'a has s0');
    const b = await subscribe(two, topic, 'g', { maxInFlight: 1, consumerName: 'b', ackTimeoutMs: 10_000, autoAck: true });
    // As if a had paused past its lease and b had taken the partition meanwhile.
    await raw.set(keys.lease('g', 0), 'b', 'PX', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // both heartbeats ran
    // a's unsettled s0 holds the session until a settles it (or it idles past the ack timeout).
    expect(b.deliveries).toHaveLength(0);
    await a.deliveries[0]!.ack();
    await until(() => b.deliveries.length === 2, 'b gets s1 and s2');
    expect(b.deliveries.map((delivery) => (payloadOf(delivery) as { n: number }).n)).toEqual([1, 2]);
    expect(a.deliveries).toHaveLength(1);
  });

  it('renews the lease of a delivery whose handler runs past it: no other member gets it, then the session goes on', async () => {
    const options = { partitions: 1, leaseMs: 1_000 };
    const one = await open(options);
    const two = await open(options);
    const topic = unique('lease');
    const keys = redisTopicKeys('ww', topic);
    await one.doPublish(topic, [record('s', { n: 0 }), record('s', { n: 1 })]);
    const a = await subscribe(one, topic, 'g', { maxInFlight: 1, consumerName: 'a', ackTimeoutMs: 1_000 });
    await until(() => a.deliveries.length === 1, 'a has s0');
    const b = await subscribe(two, topic, 'g', { maxInFlight: 1, consumerName: 'b', ackTimeoutMs: 1_000 });
    // a's handler holds s0 for three leases. Before spec v1.4 a gave the partition up after one
    // (marked orphaned) and b ran s0 a second time.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(b.deliveries).toHaveLength(0);
    const [[, holder, idle, count]] = (await raw.xpending(keys.stream(0), 'g', '-', '+', 1)) as [[string, string, number, number]];
    expect(holder).toBe('a');
    expect(idle).toBeLessThan(1_000);
    expect(count).toBe(1);
    expect(await raw.get(keys.orphan('g', 0))).toBeNull();
    await a.deliveries[0]!.ack();
    await until(() => a.deliveries.length + b.deliveries.length === 2, 's1 delivered');
    const next = [...a.deliveries.slice(1), ...b.deliveries][0]!;
    expect(payloadOf(next)).toEqual({ n: 1 });
    expect(next.deliveryCount).toBe(1);
  });

  it("redelivers a nak after its delay, before the session's next entry, counting the delivery", async () => {
    const adapter = await open({ partitions: 2 });
    const topic = unique('nak');
    await adapter.doPublish(topic, [record('s', { n: 0 }), record('s', { n: 1 })]);
    const { deliveries } = await subscribe(adapter, topic, 'g', { maxInFlight: 4 });
    await until(() => deliveries.length === 1, 'first delivery');
    const nakAt = Date.now();
    await deliveries[0]!.nak(300);
    await until(() => deliveries.length === 2, 'redelivery');
    expect(Date.now() - nakAt).toBeGreaterThanOrEqual(290);
    expect(payloadOf(deliveries[1]!)).toEqual({ n: 0 });
    expect(deliveries[1]!.deliveryCount).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(deliveries).toHaveLength(2);
    await deliveries[1]!.ack();
    await until(() => deliveries.length === 3, 'next entry');
    expect(payloadOf(deliveries[2]!)).toEqual({ n: 1 });
  });

  it('counts the queue depth from XINFO GROUPS, and counts entries itself where Redis cannot tell the lag', async () => {
    const adapter = await open({ partitions: 1 });
    const topic = unique('depth');
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(0);
    await adapter.doPublish(topic, [0, 1, 2, 3, 4].map((n) => record('s', { n })));
    const stream = redisTopicKeys('ww', topic).stream(0);
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(0);
    await raw.xgroup('CREATE', stream, 'g', '0');
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(5);
    const read = (await raw.xreadgroup('GROUP', 'g', 'reader', 'COUNT', 2, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const entries = read[0]![1];
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(5);
    await raw.xack(stream, 'g', entries[0]![0]);
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(4);
    // An entry deleted by hand after the group's last-delivered id: Redis reports the lag as nil.
    const undelivered = (await raw.xrange(stream, '-', '+')).slice(2).map(([id]) => id);
    await raw.xdel(stream, undelivered[0]!);
    const info = (await raw.xinfo('GROUPS', stream)) as unknown[][];
    expect(info[0]![info[0]!.indexOf('lag') + 1]).toBeNull();
    expect(await adapter.doQueueDepth(topic, 'g')).toBe(3);
  });

  it('trims acknowledged entries past the retention and never one a group still needs', async () => {
    const adapter = await open({ partitions: 1, maxLen: 5, retentionMs: 3_600_000, trimIntervalMs: 3_600_000 });
    const topic = unique('trim');
    const keys = redisTopicKeys('ww', topic);
    const stream = keys.stream(0);
    await adapter.doPublish(topic, Array.from({ length: 50 }, (_, n) => record(`s-${n}`, { n })));
    const ids = (await raw.xrange(stream, '-', '+')).map(([id]) => id);
    // g1 works on three entries and has read three more ahead; g2 has delivered up to entry 20.
    const g1 = await subscribe(adapter, topic, 'g1', { maxInFlight: 3 });
    await until(() => g1.deliveries.length === 3, 'three in flight');
    await raw.xgroup('CREATE', stream, 'g2', ids[20]!);
    await g1.deliveries[1]!.ack();
    await g1.deliveries[2]!.ack();
    expect(await adapter.trim(topic)).toBe(0); // g1 still needs entry 0
    await g1.deliveries[0]!.ack();
    await until(async () => {
      const pending = (await raw.xpending(stream, 'g1')) as [number, string];
      return pending[0] > 0 && pending[1] !== ids[0];
    }, 'entry 0 acknowledged');
    const oldestPending = ((await raw.xpending(stream, 'g1')) as [number, string])[1];
    await adapter.trim(topic);
    const left = (await raw.xrange(stream, '-', '+')).map(([id]) => id);
    expect(left[0]).toBe(oldestPending); // exactly up to g1's oldest pending entry
    expect(left).toEqual(ids.slice(ids.indexOf(oldestPending)));
    // g1 finishes everything; g2 still has not received 21..49.
    for (;;) {
      const delivery = g1.deliveries.find((candidate) => !(candidate as unknown as { acked?: boolean }).acked);
      if (delivery === undefined && g1.deliveries.length >= 50) break;
      if (delivery !== undefined) {
        (delivery as unknown as { acked?: boolean }).acked = true;
        await delivery.ack();
      } else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await until(async () => ((await raw.xpending(stream, 'g1')) as [number])[0] === 0, 'g1 done');
    await adapter.trim(topic);
    expect((await raw.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(ids.slice(20)); // g2's floor
    // Once g2 has everything too, the length bound applies.
    await raw.xgroup('SETID', stream, 'g2', '$');
    await adapter.trim(topic);
    expect((await raw.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(ids.slice(45));
  });

  it('trims by age once acknowledged', async () => {
    const adapter = await open({ partitions: 1, retentionMs: 0, maxLen: 0, trimIntervalMs: 3_600_000 });
    const topic = unique('age');
    const stream = redisTopicKeys('ww', topic).stream(0);
    await adapter.doPublish(topic, Array.from({ length: 10 }, (_, n) => record(`s-${n}`, { n })));
    const { deliveries } = await subscribe(adapter, topic, 'g', { autoAck: true });
    await until(() => deliveries.length === 10, 'all delivered');
    await until(async () => ((await raw.xpending(stream, 'g')) as [number])[0] === 0, 'all acknowledged');
    await adapter.trim(topic);
    // The last delivered entry is kept (the floor is inclusive); everything before it is gone.
    expect(await raw.xlen(stream)).toBe(1);
  });

  it('replays across partitions in entry-id order, by session, and after a position', async () => {
    const adapter = await open({ partitions: 4 });
    const topic = unique('replay');
    await adapter.doPublish(topic, Array.from({ length: 20 }, (_, n) => record(`s-${n % 5}`, { n })));
    await Promise.all(Array.from({ length: 20 }, (_, n) => adapter.doPublish(topic, [record(`s-${(n + 20) % 5}`, { n: n + 20 })])));
    const all: { n: number; position: string; key: string }[] = [];
    for await (const replayed of adapter.doReplay({ topic })) {
      all.push({ n: (payloadOf(replayed) as { n: number }).n, position: replayed.position, key: replayed.record.key });
    }
    // One id clock per topic: merged by id, the partitions give back exactly the publish order.
    expect(all.map((entry) => entry.n)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    const session: number[] = [];
    for await (const replayed of adapter.doReplay({ topic, key: 's-2' })) session.push((payloadOf(replayed) as { n: number }).n);
    expect(session).toEqual([2, 7, 12, 17, 22, 27, 32, 37]);
    const rest: number[] = [];
    for await (const replayed of adapter.doReplay({ topic, afterPosition: all[24]!.position })) rest.push((payloadOf(replayed) as { n: number }).n);
    expect(rest).toEqual(all.slice(25).map((entry) => entry.n));
    const none: unknown[] = [];
    for await (const replayed of adapter.doReplay({ topic: unique('never-written') })) none.push(replayed);
    expect(none).toEqual([]);
  });

  it('reports health and refuses work after close', async () => {
    const adapter = await open();
    expect(await adapter.doHealth()).toMatchObject({ connected: true, ready: true, adapter: 'redis' });
    await adapter.doClose();
    expect(await adapter.doHealth()).toMatchObject({ connected: false, ready: false });
    const error = await adapter.doPublish(unique('closed'), [record('s', 1)]).catch((caught: unknown) => caught);
    expect((error as WoodworkBusError).code).toBe('WW_BUS_CLOSED');
  });
});

describe('redis driver loading', () => {
  it('says how to install ioredis when it is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'ioredis' imported from /app/x.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    const error = await loadRedisDriver(() => Promise.reject(missing)).catch((caught: unknown) => caught);
    expect(WoodworkBusError.isInstance(error)).toBe(true);
    expect((error as WoodworkBusError).code).toBe('WW_BUS_DRIVER_MISSING');
    expect((error as WoodworkBusError).message).toContain('install ioredis to use the redis bus');
  });

  it('loads the real driver', async () => {
    expect(typeof (await loadRedisDriver())).toBe('function');
  });
});
