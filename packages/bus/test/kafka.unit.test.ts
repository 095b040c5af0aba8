// The kafka adapter's broker-free pieces: topic names, the offset-commit tracker, the per-key
// dispatcher, option parsing and log routing. The broker-facing behaviour is in
// kafka.adapter.test.ts and the shared suite (kafka.conformance.test.ts).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WoodworkBusError } from '../src/errors.js';
import { loadKafkaJs } from '../src/adapters/kafka/kafka-adapter.js';
import { InFlightLimiter, KeyedDispatcher, type DispatchEntry, type DispatchSettlement } from '../src/adapters/kafka/key-dispatcher.js';
import { createLogCreator, type KafkaLogLine } from '../src/adapters/kafka/log.js';
import { OffsetTracker } from '../src/adapters/kafka/offset-tracker.js';
import { groupTimings, resolveKafkaOptions, type ResolvedKafkaOptions } from '../src/adapters/kafka/options.js';
import { kafkaTopicName } from '../src/adapters/kafka/topic-name.js';
import { toKafkaMessage, wireRecordOf } from '../src/adapters/kafka/records.js';
import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { AdapterDelivery, WireRecord } from '../src/adapter.js';
import { KafkaPublisher } from '../src/adapters/kafka/publisher.js';
import { isPermanent, retryFor } from '../src/adapters/kafka/retry.js';
import { KafkaSubscription } from '../src/adapters/kafka/subscription.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Hand-outs happen in a microtask; let them run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('kafkaTopicName', () => {
  it('keeps legal names as they are', () => {
    for (const name of ['orders', 'wwc-3f9a1c-session-order', 'a.b_c-D9', 'orders.dead-letter.workers']) {
      expect(kafkaTopicName(name)).toBe(name);
    }
  });

  it('maps illegal names to legal, distinct, bounded ones', () => {
    const names = ['orders/eu', 'orders:eu', 'orders eu', 'ordérs', '.', '..', 'x'.repeat(300), 'y'.repeat(249) + '/'];
    const mapped = names.map(kafkaTopicName);
    for (const name of mapped) {
      expect(name).toMatch(/^[A-Za-z0-9._-]{1,249}$/);
      expect(name === '.' || name === '..').toBe(false);
    }
    expect(new Set(mapped).size).toBe(names.length);
    expect(kafkaTopicName('orders/eu')).toMatch(/^orders_eu-[0-9a-f]{10}$/);
    expect(kafkaTopicName('orders/eu')).toBe(kafkaTopicName('orders/eu'));
    expect(() => kafkaTopicName('')).toThrow(RangeError);
  });
});

describe('OffsetTracker', () => {
  it('never lets the commit offset pass an unsettled record', () => {
    const tracker = new OffsetTracker();
    expect(tracker.commitOffset()).toBeUndefined();
    for (const offset of [10n, 11n, 12n, 13n, 14n]) tracker.track(offset);
    expect(tracker.commitOffset()).toBe(10n);
    tracker.settle(12n);
    tracker.settle(14n);
    expect(tracker.commitOffset()).toBe(10n);
    tracker.settle(10n);
    expect(tracker.commitOffset()).toBe(11n);
    tracker.settle(11n);
    expect(tracker.commitOffset()).toBe(13n);
    expect(tracker.pending).toBe(1);
    tracker.settle(13n);
    expect(tracker.commitOffset()).toBe(15n);
    expect(tracker.pending).toBe(0);
  });

  it('knows the highest offset settled, which may lie past the commit offset', () => {
    const tracker = new OffsetTracker();
    for (const offset of [10n, 11n, 12n]) tracker.track(offset);
    expect(tracker.highestSettled).toBeUndefined();
    tracker.settle(12n);
    tracker.settle(11n);
    expect(tracker.highestSettled).toBe(12n);
    expect(tracker.commitOffset()).toBe(10n);
  });

  it('handles gaps (compaction, transaction markers) and ignores unknown or repeated settles', () => {
    const tracker = new OffsetTracker();
    for (const offset of [3n, 7n, 8n, 20n]) tracker.track(offset);
    tracker.settle(5n);
    tracker.settle(7n);
    tracker.settle(7n);
    expect(tracker.commitOffset()).toBe(3n);
    tracker.settle(3n);
    expect(tracker.commitOffset()).toBe(8n);
    tracker.settle(8n);
    tracker.settle(20n);
    expect(tracker.commitOffset()).toBe(21n);
    expect(() => tracker.track(20n)).toThrow(RangeError);
  });

  it('stays correct over a long batch settled in random order', () => {
    const tracker = new OffsetTracker();
    const count = 5_000;
    for (let offset = 0; offset < count; offset++) tracker.track(BigInt(offset * 2));
    const order = Array.from({ length: count }, (_, index) => index).sort(() => Math.random() - 0.5);
    const settled = new Set<number>();
    for (const index of order) {
      tracker.settle(BigInt(index * 2));
      settled.add(index);
      let firstUnsettled = 0;
      while (settled.has(firstUnsettled)) firstUnsettled++;
      const expected = firstUnsettled === count ? BigInt((count - 1) * 2 + 1) : BigInt(firstUnsettled * 2);
      if (tracker.commitOffset() !== expected) throw new Error(`after settling ${index}: ${tracker.commitOffset()} != ${expected}`);
    }
  });
});

describe('KeyedDispatcher', () => {
  interface Delivered {
    entry: DispatchEntry<string>;
    settlement: DispatchSettlement;
  }

  function setup(limit: number) {
    const limiter = new InFlightLimiter(limit);
    const delivered: Delivered[] = [];
    const dispatcher = new KeyedDispatcher<string>({
      limiter,
      deliver: (entry, settlement) => delivered.push({ entry, settlement }),
    });
    const inFlight = () => delivered.filter(({ entry }) => entry.state === 'in-flight');
    return { limiter, dispatcher, delivered, inFlight };
  }

  it('delivers a key in order, one at a time, and different keys concurrently up to the limit', async () => {
    const { dispatcher, delivered, inFlight } = setup(3);
    for (let index = 0; index < 4; index++) {
      for (const key of ['a', 'b', 'c', 'd']) dispatcher.push(key, `${key}${index}`);
    }
    expect(delivered).toHaveLength(0);
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'b0', 'c0']);
    const byKey = new Map<string, string[]>();
    let steps = 0;
    while (!dispatcher.done && steps++ < 100) {
      const current = inFlight();
      const keys = current.map(({ entry }) => entry.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(current.length).toBeLessThanOrEqual(3);
      const pick = current[Math.floor(Math.random() * current.length)]!;
      byKey.set(pick.entry.key, [...(byKey.get(pick.entry.key) ?? []), pick.entry.item]);
      pick.settlement.ack();
      await flush();
    }
    expect(dispatcher.done).toBe(true);
    for (const key of ['a', 'b', 'c', 'd']) expect(byKey.get(key)).toEqual([0, 1, 2, 3].map((index) => `${key}${index}`));
  });

  it('shares one limit between the dispatchers of a subscription', async () => {
    const limiter = new InFlightLimiter(2);
    const seen: string[] = [];
    const settlements: DispatchSettlement[] = [];
    const deliver = (entry: DispatchEntry<string>, settlement: DispatchSettlement) => {
      seen.push(entry.item);
      settlements.push(settlement);
    };
    const first = new KeyedDispatcher<string>({ limiter, deliver });
    const second = new KeyedDispatcher<string>({ limiter, deliver });
    first.push('a', 'p0-a');
    first.push('b', 'p0-b');
    second.push('c', 'p1-c');
    await flush();
    expect(seen).toEqual(['p0-a', 'p0-b']);
    expect(limiter.inFlight).toBe(2);
    settlements[0]!.ack();
    await flush();
    expect(seen).toEqual(['p0-a', 'p0-b', 'p1-c']);
    expect(limiter.inFlight).toBe(2);
  });

  it('redelivers a nak after its delay, before later records of the key, counting deliveries', async () => {
    const { dispatcher, delivered } = setup(4);
    dispatcher.push('a', 'a0');
    dispatcher.push('a', 'a1');
    dispatcher.push('b', 'b0');
    await flush();
    const nakAt = Date.now();
    delivered[0]!.settlement.nak(60);
    expect(delivered[0]!.settlement.current).toBe(false);
    delivered[0]!.settlement.ack(); // a second settlement of one delivery is ignored
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'b0']);
    expect(dispatcher.inFlight).toBe(1);
    await sleep(20);
    expect(delivered).toHaveLength(2);
    await sleep(80);
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'b0', 'a0']);
    expect(delivered[2]!.entry.deliveredAt - nakAt).toBeGreaterThanOrEqual(55);
    expect(delivered[2]!.entry.deliveries).toBe(2);
    delivered[2]!.settlement.ack();
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'b0', 'a0', 'a1']);
    expect(delivered[3]!.entry.deliveries).toBe(1);
  });

  it('hands out nothing after stop, drops delayed records, still takes settlements of those in flight', async () => {
    const { dispatcher, delivered, limiter } = setup(2);
    dispatcher.push('a', 'a0');
    dispatcher.push('b', 'b0');
    dispatcher.push('c', 'c0');
    dispatcher.push('a', 'a1');
    await flush();
    delivered[1]!.settlement.nak(10);
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'b0', 'c0']);
    const changed = dispatcher.waitForChange(1_000);
    dispatcher.stop();
    await changed;
    expect(delivered[1]!.entry.state).toBe('abandoned');
    await sleep(30);
    delivered[0]!.settlement.ack();
    await flush();
    expect(delivered).toHaveLength(3);
    delivered[2]!.settlement.nak(0);
    expect(delivered[2]!.entry.state).toBe('abandoned');
    expect(limiter.inFlight).toBe(0);
    expect(dispatcher.inFlight).toBe(0);
    expect(dispatcher.done).toBe(false);
  });

  it('while paused, hands out only the heads it is told to (the records a commit waits for)', async () => {
    const { dispatcher, delivered } = setup(4);
    dispatcher.pause((item) => item < 'b');
    for (const [key, item] of [['a', 'a0'], ['b', 'b0'], ['a', 'a1'], ['c', 'c0']] as const) dispatcher.push(key, item);
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0']);
    delivered[0]!.settlement.ack();
    await flush();
    expect(delivered.map(({ entry }) => entry.item)).toEqual(['a0', 'a1']);
    dispatcher.pause();
    delivered[1]!.settlement.ack();
    await flush();
    expect(delivered).toHaveLength(2);
    dispatcher.resume();
    await flush();
    expect(delivered.map(({ entry }) => entry.item).sort()).toEqual(['a0', 'a1', 'b0', 'c0']);
  });

  it('reports how long the oldest record has been in flight', async () => {
    const { dispatcher, delivered } = setup(2);
    expect(dispatcher.oldestInFlightSince()).toBeUndefined();
    const before = Date.now();
    dispatcher.push('a', 'a0');
    await sleep(15);
    dispatcher.push('b', 'b0');
    await flush();
    expect(dispatcher.oldestInFlightSince()).toBeGreaterThanOrEqual(before);
    expect(dispatcher.oldestInFlightSince()).toBeLessThan(delivered[1]!.entry.deliveredAt);
    delivered[0]!.settlement.ack();
    expect(dispatcher.oldestInFlightSince()).toBe(delivered[1]!.entry.deliveredAt);
  });
});

describe('records', () => {
  const body = new TextEncoder().encode(JSON.stringify({ message_id: 'id-1', session_id: 's' }));
  const message = (value: Buffer | null, headers: KafkaMessage['headers'] = {}): KafkaMessage =>
    ({ key: Buffer.from('s'), value, headers, offset: '7', timestamp: '1', attributes: 0 }) as KafkaMessage;

  it('writes the session as key, the bytes untouched, the publish time, and no headers', () => {
    const written = toKafkaMessage({ messageId: 'id-1', key: 's', body }, '123');
    expect(written.key).toBe('s');
    expect(Buffer.compare(written.value as Buffer, Buffer.from(body))).toBe(0);
    expect(written.timestamp).toBe('123');
    expect(written.headers).toBeUndefined();
    const text = JSON.stringify({ message_id: 'id-2' });
    expect(toKafkaMessage({ messageId: 'id-2', key: 's', body: new TextEncoder().encode(text), text }, '123').value).toBe(text);
  });

  it('reads key and body as they are and finds the message id only when asked', () => {
    const record = wireRecordOf('t', 2, message(Buffer.from(body)));
    expect(record.key).toBe('s');
    expect(Buffer.from(record.body).toString()).toBe(Buffer.from(body).toString());
    expect(record.messageId).toBe('id-1');
    expect(wireRecordOf('t', 2, message(Buffer.from(body), { message_id: Buffer.from('from-header') })).messageId).toBe('from-header');
    expect(wireRecordOf('t', 2, message(Buffer.from('not json'))).messageId).toBe('t:2:7');
    expect(wireRecordOf('t', 2, message(null)).body).toHaveLength(0);
  });
});

describe('resolveKafkaOptions', () => {
  it('reads brokers and settings from the URL, with defaults', () => {
    const options = resolveKafkaOptions(new URL('kafka://127.0.0.1:9093?clientId=svc&partitions=3&brokers=b2:9094,b3:9095'), {});
    expect(options.brokers).toEqual(['127.0.0.1:9093', 'b2:9094', 'b3:9095']);
    expect(options.clientId).toBe('svc');
    expect(options.partitions).toBe(3);
    expect(options.replicationFactor).toBe(-1);
    expect(options.logLevel).toBe('error');
    expect(resolveKafkaOptions(new URL('kafka://h1,h2:9093'), {}).brokers).toEqual(['h1:9093', 'h2:9093']);
    expect(resolveKafkaOptions(new URL('kafka://localhost'), {}).brokers).toEqual(['localhost:9092']);
    expect(resolveKafkaOptions(new URL('kafka://localhost:1'), {}).partitions).toBe(6);
    expect(resolveKafkaOptions(new URL('kafka://localhost:1'), {}).recordStarts).toBe('lazy');
    expect(resolveKafkaOptions(new URL('kafka://localhost:1?recordStarts=before-handler'), {}).recordStarts).toBe('before-handler');
  });

  it('lets adapter options win over the URL and turns credentials into SASL', () => {
    const options = resolveKafkaOptions(new URL('kafka://user:p%40ss@h:1?partitions=3&sasl=scram-sha-256&ssl=true'), {
      partitions: 12,
      brokers: ['x:1'],
    });
    expect(options.partitions).toBe(12);
    expect(options.brokers).toEqual(['x:1']);
    expect(options.kafkaConfig.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'user', password: 'p@ss' });
    expect(options.kafkaConfig.ssl).toBe(true);
  });

  it('rejects bad settings with WW_BUS_INVALID_OPTION', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['kafka://h:1?partitions=0', {}],
      ['kafka://h:1?logLevel=loud', {}],
      ['kafka://h:1', { publishTimeoutMs: -1 }],
      ['kafka://h:1', { brokers: 'h:1' }],
      ['kafka://h:1?sasl=kerberos', {}],
      ['kafka://h:1?recordStarts=eager', {}],
    ];
    for (const [url, options] of bad) {
      const error = (() => {
        try {
          resolveKafkaOptions(new URL(url.replace('kafka://h:1?sasl', 'kafka://u:p@h:1?sasl')), options);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(WoodworkBusError.isInstance(error) && error.code, url).toBe('WW_BUS_INVALID_OPTION');
    }
    expect(() => resolveKafkaOptions(new URL('redis://h:1'), {})).toThrow(/kafka:\/\//);
  });

  it('derives consumer-group timings from the lease', () => {
    const options = resolveKafkaOptions(new URL('kafka://h:1'), {});
    expect(groupTimings(options, 30_000)).toEqual({ sessionTimeoutMs: 30_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 60_000 });
    expect(groupTimings(options, 1_500)).toEqual({ sessionTimeoutMs: 3_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 });
    const explicit = resolveKafkaOptions(new URL('kafka://h:1'), { sessionTimeoutMs: 9_000 });
    expect(groupTimings(explicit, 1_500).sessionTimeoutMs).toBe(9_000);
  });
});

describe('createLogCreator', () => {
  function logger(level: Parameters<typeof createLogCreator>[0], now: () => number = Date.now) {
    const lines: KafkaLogLine[] = [];
    const log = createLogCreator(level, (line) => lines.push(line), { repeatWindowMs: 1_000, now })(1);
    const entry = (entryLevel: number, namespace: string, message: string, extra: Record<string, unknown> = {}) =>
      log({ namespace, level: entryLevel, label: '', log: { message, timestamp: 'now', logger: 'kafkajs', ...extra } });
    return { lines, entry };
  }

  it('keeps errors, drops what is below the level and per-request noise', () => {
    const { lines, entry } = logger('error');
    entry(1, 'Consumer', 'Crash: KafkaJSNumberOfRetriesExceeded', { error: 'connect ECONNREFUSED' });
    entry(2, 'Consumer', 'a warning');
    entry(4, 'Runner', 'Consumer has joined the group');
    entry(1, 'Connection', 'Response Heartbeat(key: 12, version: 3)', { error: 'The group is rebalancing' });
    entry(1, 'Connection', 'Connection error: connect ECONNREFUSED 127.0.0.1:1', { stack: 'Error: connect ECONNREFUSED\n    at …' });
    entry(1, 'BrokerPool', 'Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED');
    expect(lines).toEqual([
      { level: 'error', namespace: 'Consumer', message: 'Crash: KafkaJSNumberOfRetriesExceeded', extra: { error: 'connect ECONNREFUSED' } },
    ]);
  });

  it('prints a repeated line once per window, then says how often it repeated', () => {
    let now = 0;
    const { lines, entry } = logger('warn', () => now);
    for (let index = 0; index < 5; index++) entry(1, 'Consumer', 'Crash: KafkaJSConnectionError');
    expect(lines).toHaveLength(1);
    now = 1_500;
    entry(1, 'Consumer', 'Crash: KafkaJSConnectionError');
    expect(lines.map((line) => line.message)).toEqual([
      'Crash: KafkaJSConnectionError',
      'Crash: KafkaJSConnectionError (and 4 more like it)',
    ]);
  });

  it('names the group of a line, and counts its repeats apart from another group\'s', () => {
    const { lines, entry } = logger('warn');
    const rejoining = 'The coordinator is not aware of this member, re-joining the group';
    entry(1, 'Runner', rejoining, { groupId: 'orders:billing' });
    entry(1, 'Runner', rejoining, { groupId: 'orders:audit' });
    entry(1, 'Runner', rejoining, { groupId: 'orders:billing' });
    expect(lines.map((line) => line.message)).toEqual([`${rejoining} [group orders:billing]`, `${rejoining} [group orders:audit]`]);
  });
});

describe('retryFor', () => {
  it('retries until success, gives up on permanent errors and at the deadline', async () => {
    let calls = 0;
    expect(
      await retryFor(5_000, async () => {
        if (++calls < 3) throw Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' });
        return 'ok';
      }),
    ).toBe('ok');
    expect(calls).toBe(3);
    const auth = Object.assign(new Error('bad password'), { name: 'KafkaJSSASLAuthenticationError' });
    calls = 0;
    await expect(retryFor(5_000, async () => { calls++; throw auth; })).rejects.toBe(auth);
    expect(calls).toBe(1);
    const started = Date.now();
    await expect(retryFor(500, async () => { throw new Error('down'); })).rejects.toThrow('down');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(isPermanent({ errors: [{ type: 'INVALID_CONFIG' }] })).toBe(true);
    expect(isPermanent({ errors: [{ type: 'INVALID_REPLICATION_FACTOR' }] })).toBe(false);
    expect(isPermanent({ errors: [{ type: 'NOT_CONTROLLER' }, { type: 'INVALID_CONFIG' }] })).toBe(false);
  });
});

describe('missing driver', () => {
  it('says to install kafkajs', async () => {
    const missing = Object.assign(new Error("Cannot find package 'kafkajs' imported from adapter"), { code: 'ERR_MODULE_NOT_FOUND' });
    const error = await loadKafkaJs(() => Promise.reject(missing)).catch((caught: unknown) => caught);
    expect(WoodworkBusError.isInstance(error) && error.code).toBe('WW_BUS_DRIVER_MISSING');
    expect((error as Error).message).toMatch(/install kafkajs to use the kafka bus/);
    expect((error as Error).cause).toBe(missing);
    const loaded = await loadKafkaJs();
    expect(typeof loaded.Kafka).toBe('function');
  });
});

describe('busyStickyAssigner', () => {
  it('keeps each partition with the member whose handler has it, and spreads the rest evenly', async () => {
    const { AssignerProtocol } = await loadKafkaJs();
    const { busyStickyAssigner } = await import('../src/adapters/kafka/subscription.js');
    const busyOf: Record<string, number[]> = { a: [], b: [4, 5], c: [] };
    const members = Object.keys(busyOf).map((memberId) => {
      const assigner = busyStickyAssigner(AssignerProtocol, () => busyOf[memberId]!)({
        cluster: {} as never,
        groupId: 'g',
        logger: {} as never,
      });
      return { memberId, memberMetadata: assigner.protocol({ topics: ['t'] }).metadata };
    });
    const leader = busyStickyAssigner(AssignerProtocol, () => [])({
      cluster: { findTopicPartitionMetadata: () => [0, 1, 2, 3, 4, 5].map((partitionId) => ({ partitionId })) } as never,
      groupId: 'g',
      logger: {} as never,
    });
    const result = await leader.assign({ members, topics: ['t'] });
    const assigned = Object.fromEntries(
      result.map(({ memberId, memberAssignment }) => [memberId, AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment['t'] ?? []]),
    );
    expect(assigned['b']).toEqual(expect.arrayContaining([4, 5]));
    expect([...assigned['a']!, ...assigned['b']!, ...assigned['c']!].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const partitions of Object.values(assigned)) expect(partitions).toHaveLength(2);
  });
});

describe('attempts metadata', () => {
  it('reads what a commit wrote, and nothing from metadata it does not know', async () => {
    const { parseAttemptsMetadata } = await import('../src/adapters/kafka/subscription.js');
    const parsed = parseAttemptsMetadata('{"v":1,"h":"1041","s":{"41":2,"43":1}}');
    expect(parsed.reserved).toBe(1041n);
    expect([...parsed.starts]).toEqual([
      [41n, 2],
      [43n, 1],
    ]);
    for (const foreign of [null, '', 'event-id-3', '{"v":2}', '{"s":{"1":1}}']) {
      expect(parseAttemptsMetadata(foreign)).toEqual({ reserved: -1n, starts: new Map() });
    }
  });
});

/** A subscription of group `g` on `topic` whose kafkajs client makes its consumers with `consumer`. */
async function fakeSubscription(
  consumer: () => unknown,
  options: ResolvedKafkaOptions,
  dependencies: { admin?: Admin; onError?: (error: unknown) => void; onDelivery?: (delivery: AdapterDelivery) => void } = {},
): Promise<KafkaSubscription> {
  const kafkajs = await loadKafkaJs();
  const created = new KafkaSubscription(
    'topic',
    {
      topic: 'topic',
      group: 'g',
      consumerName: 'c',
      maxInFlight: 4,
      leaseMs: 3_000,
      ackTimeoutMs: 3_000,
      fromBeginning: true,
      onDelivery: dependencies.onDelivery ?? (() => undefined), // handlers that never finish, unless told
      onError: dependencies.onError ?? (() => undefined),
    },
    {
      createClient: () => ({ consumer }) as unknown as Kafka,
      admin: dependencies.admin ?? ({} as Admin),
      options,
      log: options.log,
      assignerProtocol: kafkajs.AssignerProtocol,
      roundRobin: kafkajs.PartitionAssigners.roundRobin,
    },
  );
  await created.start();
  return created;
}

describe('KafkaSubscription: a consumer kafkajs does not restart', () => {
  /** A kafkajs consumer stand-in: joins when run, crashes when told, fails to connect `failures` times. */
  class FakeConsumer {
    readonly events = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join', FETCH: 'consumer.fetch' };
    readonly emitter = new EventEmitter();
    disconnected = false;
    constructor(readonly failConnect: boolean) {}
    on(event: string, listener: (event: unknown) => void) {
      this.emitter.on(event, listener);
    }
    async connect() {
      if (this.failConnect) throw Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9'), { name: 'KafkaJSConnectionError' });
    }
    async subscribe() {}
    async run() {
      setTimeout(() => this.emitter.emit(this.events.GROUP_JOIN, { payload: { memberAssignment: { topic: [] } } }), 5);
    }
    async disconnect() {
      this.disconnected = true;
    }
    async commitOffsets() {}
    /** What kafkajs emits after KafkaJSGroupCoordinatorNotFound (it disconnected the consumer first). */
    crash() {
      const cause = Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound', retriable: false });
      const error = Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSNonRetriableError', retriable: false, cause });
      this.disconnected = true;
      this.emitter.emit(this.events.CRASH, { payload: { error, groupId: 'topic:g', restart: false } });
    }
  }

  async function subscription(failuresAfterFirst: number, recoveryTimeoutMs: number) {
    const consumers: FakeConsumer[] = [];
    const errors: unknown[] = [];
    const logs: KafkaLogLine[] = [];
    const options = resolveKafkaOptions(new URL('kafka://127.0.0.1:9'), { recoveryTimeoutMs, retryTimeoutMs: 100, log: (line: KafkaLogLine) => logs.push(line) });
    const consumer = () => {
      const made = new FakeConsumer(consumers.length > 0 && consumers.length <= failuresAfterFirst);
      consumers.push(made);
      return made;
    };
    const created = await fakeSubscription(consumer, options, { onError: (error) => errors.push(error) });
    return { created, consumers, errors, logs };
  }

  it('recreates it with backoff, and says it is down until the new one has joined', async () => {
    const { created, consumers, errors, logs } = await subscription(2, 60_000);
    expect(created.down).toBeUndefined();
    consumers[0]!.crash();
    expect(created.down).toMatch(/consumer of group topic:g is down since .*Failed to find group coordinator.*recreating it/);
    // Two connects fail (0.5 s, then 1 s of backoff, ±20 %), the third consumer joins.
    const started = Date.now();
    while (created.down !== undefined && Date.now() - started < 10_000) await sleep(20);
    expect(created.down).toBeUndefined();
    expect(consumers).toHaveLength(4);
    expect(consumers.slice(0, 3).every((consumer) => consumer.disconnected)).toBe(true);
    expect(consumers[3]!.disconnected).toBe(false);
    expect(errors).toEqual([]);
    // Logged once the join has been waited for (the join itself clears `down`).
    while (!logs.some((line) => /runs again/.test(line.message)) && Date.now() - started < 10_000) await sleep(20);
    expect(logs.map((line) => line.message)).toContainEqual(expect.stringMatching(/runs again \(recreated after \d+ ms, 3 tries\)/));
    // And again, should the new one crash the same way.
    consumers[3]!.crash();
    while (created.down !== undefined && Date.now() - started < 20_000) await sleep(20);
    expect(consumers).toHaveLength(5);
    await created.close();
    expect(consumers[4]!.disconnected).toBe(true);
  });

  it('gives up after recoveryTimeoutMs: onError gets a non-retryable WW_BUS_CONNECTION and it stays down', async () => {
    const { created, consumers, errors } = await subscription(Number.MAX_SAFE_INTEGER, 1_200);
    consumers[0]!.crash();
    const started = Date.now();
    while (errors.length === 0 && Date.now() - started < 10_000) await sleep(20);
    expect(errors).toHaveLength(1);
    const error = errors[0] as WoodworkBusError;
    expect(WoodworkBusError.isInstance(error)).toBe(true);
    expect(error.code).toBe('WW_BUS_CONNECTION');
    expect(error.isRetryable).toBe(false);
    expect(error.message).toMatch(/consumer of group topic:g stopped and could not be recreated within \d+ ms \(\d+ tries\).*restart the process/);
    expect(created.down).toMatch(/could not be recreated/);
    expect(created.failed).toBe(true);
    await created.close();
    expect(created.failed).toBe(false);
    expect(created.down).toBeUndefined();
  });

  it('stops recreating once closed', async () => {
    const { created, consumers } = await subscription(Number.MAX_SAFE_INTEGER, 60_000);
    consumers[0]!.crash();
    await sleep(50);
    await created.close();
    const count = consumers.length;
    await sleep(1_500);
    expect(consumers.length).toBe(count);
  });
});

describe('KafkaSubscription: a rebalance seen in a batch', () => {
  /** Runs one batch through a subscription whose commits never answer (a coordinator still loading after a pause). */
  async function batchDuringRebalance(errorType: 'UNKNOWN_MEMBER_ID' | 'REBALANCE_IN_PROGRESS') {
    let eachBatch: ((payload: unknown) => Promise<void>) | undefined;
    let commits = 0;
    const consumer = {
      events: { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join', FETCH: 'consumer.fetch', REBALANCING: 'consumer.rebalancing' },
      emitter: new EventEmitter(),
      on(event: string, listener: (event: unknown) => void) {
        this.emitter.on(event, listener);
      },
      async connect() {},
      async subscribe() {},
      async run(config: { eachBatch: (payload: unknown) => Promise<void> }) {
        eachBatch = config.eachBatch;
        setTimeout(() => this.emitter.emit(this.events.GROUP_JOIN, { payload: { memberAssignment: { topic: [0] } } }), 5);
      },
      async disconnect() {},
      commitOffsets: () => {
        commits++;
        return new Promise<void>(() => undefined);
      },
    };
    const options = resolveKafkaOptions(new URL('kafka://127.0.0.1:9'), { retryTimeoutMs: 100, log: () => undefined });
    const created = await fakeSubscription(() => consumer, options, { admin: { fetchOffsets: async () => [] } as unknown as Admin });
    while (eachBatch === undefined) await sleep(5);
    const message = { key: Buffer.from('s'), value: Buffer.from('{}'), headers: {}, offset: '0', timestamp: String(Date.now()), attributes: 0 };
    const group = Object.assign(new Error(errorType), { type: errorType });
    const outcome = eachBatch({
      batch: { topic: 'topic', partition: 0, messages: [message], lastOffset: () => '0' },
      resolveOffset: () => undefined,
      pause: () => () => undefined,
      heartbeat: async () => {
        throw group;
      },
    }).then(
      () => 'returned',
      (error: unknown) => (error === group ? 'rethrown' : error),
    );
    return { outcome, commits: () => commits, created };
  }

  it('an evicted member rethrows at once, so kafkajs rejoins, without waiting for commits the coordinator refuses', async () => {
    // A commit from before the eviction never answers.
    const { outcome, created } = await batchDuringRebalance('UNKNOWN_MEMBER_ID');
    expect(await outcome).toBe('rethrown');
    await created.close();
  });

  it('a member in a rebalance waits for its commit only a bounded time, then rejoins', async () => {
    const { outcome, commits, created } = await batchDuringRebalance('REBALANCE_IN_PROGRESS');
    // Before: it waited as long as commits went on, which kept members out of the group for minutes.
    expect(await outcome).toBe('rethrown');
    expect(commits()).toBeGreaterThan(0);
    await created.close();
  });
});

describe('KafkaSubscription: a membership kafkajs does not recover by itself', () => {
  /** A kafkajs consumer stand-in whose events the test drives: joins once when run, commits as told. */
  class DrivenConsumer {
    readonly events = {
      CRASH: 'consumer.crash',
      GROUP_JOIN: 'consumer.group_join',
      FETCH: 'consumer.fetch',
      FETCH_START: 'consumer.fetch_start',
      REBALANCING: 'consumer.rebalancing',
      HEARTBEAT: 'consumer.heartbeat',
      REQUEST: 'consumer.network.request',
    };
    readonly emitter = new EventEmitter();
    eachBatch: ((payload: unknown) => Promise<void>) | undefined;
    disconnected = false;
    commitError: Error | undefined;
    /** Commits wait for this before they answer. */
    commitAnswer: Promise<void> | undefined;
    on(event: string, listener: (event: unknown) => void) {
      this.emitter.on(event, listener);
    }
    async connect() {}
    async subscribe() {}
    async run(config: { eachBatch: (payload: unknown) => Promise<void> }) {
      this.eachBatch = config.eachBatch;
      setTimeout(() => this.emit('GROUP_JOIN', { memberAssignment: { topic: [0] } }), 5);
    }
    async disconnect() {
      this.disconnected = true;
    }
    async commitOffsets() {
      const error = this.commitError;
      await this.commitAnswer;
      if (error !== undefined) throw error;
    }
    emit(event: keyof DrivenConsumer['events'], payload: unknown = {}) {
      this.emitter.emit(this.events[event], { payload });
    }
    /** One fetched batch of partition 0, its heartbeat answered. */
    async batch(offsets: number[]) {
      while (this.eachBatch === undefined) await sleep(5);
      const messages = offsets.map((offset) => ({
        key: Buffer.from(`s${offset}`),
        value: Buffer.from('{}'),
        headers: {},
        offset: String(offset),
        timestamp: String(Date.now()),
        attributes: 0,
      }));
      await this.eachBatch({
        batch: { topic: 'topic', partition: 0, messages, lastOffset: () => String(offsets[offsets.length - 1]) },
        resolveOffset: () => undefined,
        pause: () => () => undefined,
        heartbeat: async () => undefined,
      });
    }
  }

  async function subscription() {
    const consumers: DrivenConsumer[] = [];
    const deliveries: AdapterDelivery[] = [];
    const logs: KafkaLogLine[] = [];
    // leaseMs 3 000: a session timeout of 3 s; a commit tick (and membership check) every 100 ms.
    const options = resolveKafkaOptions(new URL('kafka://127.0.0.1:9'), { retryTimeoutMs: 100, commitIntervalMs: 100, log: (line: KafkaLogLine) => logs.push(line) });
    const created = await fakeSubscription(
      () => {
        const made = new DrivenConsumer();
        consumers.push(made);
        return made;
      },
      options,
      { admin: { fetchOffsets: async () => [] } as unknown as Admin, onDelivery: (delivery) => deliveries.push(delivery) },
    );
    return { created, consumers, deliveries, logs };
  }

  /**
   * Records in handlers, then the first settled while the coordinator refuses commits for
   * membership (answered once `commitAnswer` resolves, if given).
   */
  async function refusedAfterSettle(type: 'UNKNOWN_MEMBER_ID' | 'ILLEGAL_GENERATION', offsets = [0, 1], commitAnswer?: Promise<void>) {
    const made = await subscription();
    const first = made.consumers[0]!;
    await first.batch(offsets);
    await until(() => made.deliveries.length === offsets.length);
    const message = type === 'UNKNOWN_MEMBER_ID' ? 'The coordinator is not aware of this member' : 'Specified group generation id is not valid';
    first.commitAnswer = commitAnswer;
    first.commitError = Object.assign(new Error(message), { type });
    await made.deliveries[0]!.ack();
    return { ...made, first };
  }

  async function until(condition: () => boolean, timeoutMs = 10_000) {
    const started = Date.now();
    while (!condition() && Date.now() - started < timeoutMs) await sleep(20);
  }

  it('a rejoin that failed while kafkajs fetches on in its membership: records go out again once a heartbeat succeeds', async () => {
    const { created, consumers, deliveries, logs } = await subscription();
    const consumer = consumers[0]!;
    await consumer.batch([0]);
    await until(() => deliveries.length === 1);
    await deliveries[0]!.ack();
    // kafkajs learnt of a rebalance and joins; the join fails (a coordinator that moved), so it
    // goes back to fetching in the generation it had: no GROUP_JOIN comes.
    consumer.emit('REBALANCING');
    consumer.emit('REQUEST', { apiName: 'JoinGroup' });
    consumer.emit('FETCH_START');
    await consumer.batch([1]);
    await sleep(200);
    expect(deliveries).toHaveLength(1);
    // Before: paused until the next GROUP_JOIN, which may never come; the record never went out.
    consumer.emit('HEARTBEAT', { memberId: 'm', groupGenerationId: 1 });
    await until(() => deliveries.length === 2);
    expect(deliveries.map((delivery) => delivery.position)).toEqual(['0:0', '0:1']);
    expect(logs.map((line) => line.message)).toContainEqual(expect.stringMatching(/its rejoin failed, and a heartbeat shows its membership still holds/));
    expect(consumers).toHaveLength(1);
    await created.close();
  });

  it('kafkajs fetching without a member id after a failed join (it never heartbeats again): a new consumer after a session timeout', async () => {
    // Evicted during a broker pause: a commit is refused, kafkajs clears its member id and joins.
    const { created, consumers, deliveries, logs, first } = await refusedAfterSettle('UNKNOWN_MEMBER_ID');
    // While its join goes on (it may wait for the others up to the rebalance timeout), nothing is done.
    first.emit('FETCH_START');
    for (let second = 0; second < 4; second++) {
      first.emit('REQUEST', { apiName: 'JoinGroup' });
      await sleep(1_000);
    }
    expect(consumers).toHaveLength(1);
    // The join failed; kafkajs fetches on with no member id, so no heartbeat is ever sent.
    first.emit('FETCH_START');
    await until(() => consumers.length === 2);
    expect(consumers).toHaveLength(2);
    expect(first.disconnected).toBe(true);
    expect(logs.map((line) => line.message)).toContainEqual(expect.stringMatching(/lost track of its group membership: its join failed and it has fetched without a heartbeat for \d+ ms; creating a new one/));
    await until(() => created.down === undefined);
    expect(created.down).toBeUndefined();
    // The record still in its handler is settled through the new consumer's commits.
    await deliveries[1]!.ack();
    await created.close();
    expect(consumers[1]!.disconnected).toBe(true);
  });

  it('commits refused for membership while heartbeats succeed (a join whose sync failed): a new consumer after a session timeout', async () => {
    const { created, consumers, logs, first } = await refusedAfterSettle('ILLEGAL_GENERATION');
    // kafkajs heartbeats in the generation it joined, fetches and commits in the one before.
    first.emit('FETCH_START');
    const heartbeats = setInterval(() => first.emit('HEARTBEAT', { memberId: 'm', groupGenerationId: 2 }), 300);
    await until(() => consumers.length === 2);
    clearInterval(heartbeats);
    expect(consumers).toHaveLength(2);
    expect(first.disconnected).toBe(true);
    expect(logs.map((line) => line.message)).toContainEqual(expect.stringMatching(/its commits have been refused for membership for \d+ ms while its heartbeats succeed/));
    await created.close();
  });

  it('a commit refused after a join since it was sent (it spoke for the generation before): nothing is recreated', async () => {
    let answer: () => void = () => undefined;
    const { created, consumers, first } = await refusedAfterSettle('ILLEGAL_GENERATION', [0], new Promise<void>((resolve) => (answer = resolve)));
    await sleep(300);
    // The partition moved in a rebalance; the commit's refusal comes after the join.
    first.emit('GROUP_JOIN', { memberAssignment: { topic: [] } });
    first.commitError = undefined;
    answer();
    const heartbeats = setInterval(() => {
      first.emit('FETCH_START');
      first.emit('HEARTBEAT', { memberId: 'm', groupGenerationId: 2 });
    }, 300);
    await sleep(4_500);
    clearInterval(heartbeats);
    expect(consumers).toHaveLength(1);
    expect(created.down).toBeUndefined();
    await created.close();
  });

  it('commits refused during an ordinary rejoin: the same consumer joins again, nothing is recreated', async () => {
    const { created, consumers, first } = await refusedAfterSettle('UNKNOWN_MEMBER_ID', [0]);
    first.emit('FETCH_START');
    await sleep(500);
    first.commitError = undefined;
    first.emit('GROUP_JOIN', { memberAssignment: { topic: [0] } });
    first.emit('FETCH_START');
    first.emit('HEARTBEAT', { memberId: 'm2', groupGenerationId: 2 });
    await sleep(4_000);
    expect(consumers).toHaveLength(1);
    expect(created.down).toBeUndefined();
    await created.close();
  });
});

describe('KafkaPublisher: a broker restarting', () => {
  const wire = (id: string): WireRecord => ({ messageId: id, key: 's', body: Buffer.from(`{"id":"${id}"}`) });
  /** kafkajs's error after it gave up reconnecting: non-retriable wrapper, retriable cause. */
  const refused = () =>
    Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9093'), {
      name: 'KafkaJSNonRetriableError',
      retriable: false,
      cause: Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9093'), { name: 'KafkaJSConnectionError', retriable: true }),
    });

  it('sends again after a retriable failure, in order, until it goes through', async () => {
    const sent: string[][] = [];
    let failures = 3;
    const producer = {
      sendBatch: async ({ topicMessages }: { topicMessages: { messages: { value: Buffer | string }[] }[] }) => {
        if (failures-- > 0) throw refused();
        sent.push(topicMessages.flatMap((entry) => entry.messages.map((message) => JSON.parse(String(message.value)).id as string)));
      },
    } as unknown as Producer;
    const publisher = new KafkaPublisher(producer, { publishTimeoutMs: 10_000, maxBatchRecords: 100, maxBatchBytes: 1_000_000 });
    await Promise.all([publisher.publish('t', [wire('a')]), publisher.publish('t', [wire('b')])]);
    expect(sent.flat()).toEqual(['a', 'b']);
  });

  it('rejects when the publish timeout passes first, and at once on an error no retry fixes', async () => {
    const producer = { sendBatch: async () => Promise.reject(refused()) } as unknown as Producer;
    const publisher = new KafkaPublisher(producer, { publishTimeoutMs: 600, maxBatchRecords: 100, maxBatchBytes: 1_000_000 });
    await expect(publisher.publish('t', [wire('a')])).rejects.toMatchObject({ code: 'WW_BUS_PUBLISH_FAILED', isRetryable: true, message: /did not confirm 1 record\(s\) on "t" within 600 ms; they may still be written/ });
    await publisher.close(1_000);
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', retriable: false });
    const strict = new KafkaPublisher({ sendBatch: async () => Promise.reject(tooLarge) } as unknown as Producer, { publishTimeoutMs: 10_000, maxBatchRecords: 100, maxBatchBytes: 1_000_000 });
    const started = Date.now();
    await expect(strict.publish('t', [wire('b')])).rejects.toMatchObject({ code: 'WW_BUS_PUBLISH_FAILED', isRetryable: false });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('KafkaPublisher: the broker lost the producer state', () => {
  it('makes a new producer on OUT_OF_ORDER_SEQUENCE_NUMBER (kafkajs never resets its sequence) and sends again', async () => {
    const outOfOrder = Object.assign(new Error('The broker received an out of order sequence number'), {
      name: 'KafkaJSProtocolError',
      type: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
      retriable: false,
    });
    const sentBy: number[] = [];
    let made = 0;
    const producerNumber = (number: number) =>
      ({
        sendBatch: async () => {
          // The first producer's state is gone for good: it fails every time, as kafkajs's does.
          if (number === 0) throw outOfOrder;
          sentBy.push(number);
        },
        disconnect: async () => undefined,
      }) as unknown as Producer;
    const publisher = new KafkaPublisher(producerNumber(0), { publishTimeoutMs: 10_000, maxBatchRecords: 100, maxBatchBytes: 1_000_000 }, async () => producerNumber(++made));
    await publisher.publish('t', [{ messageId: 'a', key: 's', body: Buffer.from('{}') }]);
    await publisher.publish('t', [{ messageId: 'b', key: 's', body: Buffer.from('{}') }]);
    expect(made).toBe(1);
    expect(sentBy).toEqual([1, 1]);
    // Without a way to make a new one, the error is the caller's, not retried.
    const stuck = new KafkaPublisher(producerNumber(0), { publishTimeoutMs: 10_000, maxBatchRecords: 100, maxBatchBytes: 1_000_000 });
    await expect(stuck.publish('t', [{ messageId: 'c', key: 's', body: Buffer.from('{}') }])).rejects.toMatchObject({ isRetryable: false });
  });
});
