/**
 * Session timeouts as BullMQ delayed jobs against a real Redis (`tools/services.sh start redis`):
 * several "hosts" (a store, a timer and a session manager each) share one namespace. Skipped without
 * WOODWORK_TEST_REDIS_URL, unless brokers are required.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createBullmqSessionTimer,
  createRedisSessionStore,
  createRuntime,
  SESSION_TIMEOUT_QUEUE,
  SessionManager,
  type BullmqSessionTimerOptions,
  type SessionEvent,
} from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { project } from './helpers.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';

if (url === undefined && required) throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');

interface Host extends AsyncDisposable {
  readonly manager: SessionManager;
  /** `[session, reason, at]` for every `onEnded` call. */
  readonly ended: [string, string, number][];
  readonly errors: unknown[];
  close(): Promise<void>;
}

async function until<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`not true after ${timeoutMs} ms: ${String(check)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(url === undefined)('session timeouts as BullMQ delayed jobs', () => {
  let redis: Redis;
  let prefix: string;
  const hosts: Host[] = [];

  const keys = async (pattern: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found.sort();
  };
  const queueKey = (name: string) => `${prefix}:bull:${SESSION_TIMEOUT_QUEUE}:${name}`;
  const jobKeys = () => keys(queueKey('session-*'));

  async function host(
    options: { timeoutMs?: number; onEnded?: (id: string, reason: string) => void; timer?: Partial<BullmqSessionTimerOptions> } = {},
  ): Promise<Host> {
    const store = await createRedisSessionStore({ url: url!, prefix });
    const timer = await createBullmqSessionTimer({ url: url!, prefix, ...options.timer });
    const ended: [string, string, number][] = [];
    const errors: unknown[] = [];
    const manager = new SessionManager(store, {
      timeoutMs: options.timeoutMs ?? 1_000,
      timer,
      onEnded: (id, reason) => {
        options.onEnded?.(id, reason);
        ended.push([id, reason, Date.now()]);
      },
    });
    manager.startSweeping((error) => errors.push(error));
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await manager.stopSweeping();
      await timer.close();
      await store.close();
    };
    const created: Host = { manager, ended, errors, close, [Symbol.asyncDispose]: close };
    hosts.push(created);
    return created;
  }

  beforeAll(() => {
    redis = new Redis(url!);
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = `test-timer-${randomUUID().slice(0, 8)}`;
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((each) => each.close()));
    const left = await keys(`${prefix}:*`);
    if (left.length > 0) await redis.del(...left);
  });

  it('ends a session at its deadline exactly once with two hosts sharing Redis', async () => {
    const first = await host();
    const second = await host();
    const opened = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? first : second).manager.open(`s${index}`)));
    expect(await jobKeys()).toHaveLength(20);
    const all = () => [...first.ended, ...second.ended];
    await until(() => all().length >= 20);
    // Every job is done (and removed), so nothing can fire again.
    await until(async () => (await jobKeys()).length === 0);
    expect(all().map(([id]) => id).sort()).toEqual(opened.map(({ info }) => info.id).sort());
    expect(new Set(all().map(([id]) => id)).size).toBe(20);
    for (const [id, reason, at] of all()) {
      expect(reason).toBe('timeout');
      expect(at).toBeGreaterThanOrEqual(opened.find(({ info }) => info.id === id)!.info.expiresAt);
      expect(await first.manager.get(id)).toBeUndefined();
    }
    expect([...first.errors, ...second.errors]).toEqual([]);
  });

  it('postpones expiry while the session is active, with one job that re-arms itself', async () => {
    const first = await host({ timeoutMs: 600 });
    const second = await host({ timeoutMs: 600 });
    const { info } = await first.manager.open('busy:user@example.com');
    const until1500 = Date.now() + 1_500;
    let lastTouch = 0;
    while (Date.now() < until1500) {
      // Taken before the call: the touch stamps the session at some moment during it, not after.
      lastTouch = Date.now();
      expect(await second.manager.touch(info.id)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect([...first.ended, ...second.ended]).toEqual([]); // more than twice the timeout, and still alive
    // Its job fired at the first deadline and went back to the delayed set (it did not spin or vanish).
    // (Polled: at the instant of one look the job may be on its way between the sets.)
    await until(async () => (await redis.zscore(queueKey('delayed'), 'session-busy~user@example.com')) !== null, 500);
    await until(() => first.ended.length + second.ended.length > 0);
    const [id, reason, at] = [...first.ended, ...second.ended][0]!;
    expect([id, reason]).toEqual([info.id, 'timeout']);
    expect(at).toBeGreaterThanOrEqual(lastTouch + 600);
    expect(await jobKeys()).toEqual([]);
  });

  it('keeps the timeout of a host that died: another one (started later) fires it', async () => {
    const dying = await host();
    const { info } = await dying.manager.open(undefined);
    await dying.close(); // no worker left anywhere; the delayed job waits in Redis
    expect(await jobKeys()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, info.expiresAt - Date.now())));
    const survivor = await host();
    await until(() => survivor.ended.length === 1);
    expect(survivor.ended[0]!.slice(0, 2)).toEqual([info.id, 'timeout']);
    expect(dying.ended).toEqual([]);
    await until(async () => (await jobKeys()).length === 0);
  });

  it('cancels the job when a session is ended explicitly', async () => {
    const first = await host({ timeoutMs: 400 });
    const second = await host({ timeoutMs: 400 });
    const { info } = await first.manager.open('ended-early');
    expect(await jobKeys()).toEqual([queueKey('session-ended-early')]);
    expect(await second.manager.end(info.id)).toBe(true);
    expect(await jobKeys()).toEqual([]);
    expect(await redis.zcard(queueKey('delayed'))).toBe(0);
    expect(second.ended.map(([id, reason]) => [id, reason])).toEqual([[info.id, 'ended']]);
    // The same id again is a new session with its own timer.
    const again = await first.manager.open('ended-early');
    expect(again.created).toBe(true);
    await until(() => first.ended.length + second.ended.length === 2);
    expect([...first.ended, ...second.ended].map(([, reason]) => reason).sort()).toEqual(['ended', 'timeout']);
  });

  it('retries a failing end without claiming twice, and keeps what never succeeds in the failed set', async () => {
    let failures = 1;
    const flaky = await host({
      timeoutMs: 200,
      timer: { backoffMs: 50, attempts: 3 },
      onEnded: (id) => {
        if (id.startsWith('flaky') && failures-- > 0) throw new Error('the bus is down');
        if (id.startsWith('broken')) throw new Error('always down');
      },
    });
    await flaky.manager.open('flaky');
    await flaky.manager.open('broken');
    await until(() => flaky.ended.some(([id]) => id === 'flaky'));
    expect(flaky.ended.filter(([id]) => id === 'flaky')).toHaveLength(1);
    // An operator's view: BullMQ's own Queue on the same prefix.
    const connection = new Redis(url!);
    const queue = new Queue(SESSION_TIMEOUT_QUEUE, { connection, prefix: `${prefix}:bull` });
    try {
      const failed = await until(async () => (await queue.getFailed())[0]);
      expect(failed).toMatchObject({ id: 'session-broken', data: { id: 'broken', claimed: true }, attemptsMade: 3, failedReason: 'always down' });
    } finally {
      await queue.close();
      // BullMQ leaves a connection it was given to its owner.
      await connection.quit().catch(() => connection.disconnect());
    }
    expect(await flaky.manager.get('broken')).toBeUndefined(); // claimed once, on the first try
    expect(flaky.errors.length).toBeGreaterThanOrEqual(4); // one per failed try: flaky once, broken three times
    expect(await jobKeys()).toEqual([queueKey('session-broken')]); // the failed one only
  });

  it('keeps every BullMQ key under <prefix>:bull, and leaves no job behind', async () => {
    const only = await host({ timeoutMs: 200 });
    await only.manager.open('a');
    await only.manager.open('b');
    await only.manager.end('b');
    await until(() => only.ended.length === 2);
    await until(async () => (await jobKeys()).length === 0);
    const ours = await keys(`*${prefix}*`);
    expect(ours.every((key) => key.startsWith(`${prefix}:bull:${SESSION_TIMEOUT_QUEUE}:`))).toBe(true); // the sessions are gone too
    expect(ours.filter((key) => /:(delayed|wait|active|completed|failed)$/.test(key))).toEqual([]);
  });

  it('gives a runtime with sessions in Redis its session.ended on timeout', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const runtime = createRuntime(await dir.load(), { sessions: { redis: url!, prefix }, sessionTimeoutMs: 300, logger: silentLogger });
    await runtime.start();
    try {
      const { sessionId } = await runtime.ask(undefined, 'hi');
      expect(await jobKeys()).toHaveLength(1);
      let last: SessionEvent | undefined;
      for await (const event of runtime.events(sessionId)) {
        last = event;
        if (event.event_type === 'session.ended') break;
      }
      expect(last!.payload).toEqual({ reason: 'timeout' });
      expect(await runtime.get(sessionId)).toBeUndefined();
    } finally {
      await runtime.stop();
      await dir.remove();
    }
  });
});
