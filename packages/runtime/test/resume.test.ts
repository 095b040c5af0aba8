/**
 * `events({ after })` past what the runtime kept: the session is read from the bus log, each event
 * once, then live. On the in-memory bus always, and on each broker whose WOODWORK_TEST_*_URL is set
 * (required with WOODWORK_TEST_REQUIRE_BROKERS=1).
 */
import { createBus, type Bus } from '@woodwork/bus';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, eventsTopic, type EventsResume, type Runtime, type Session, type SessionEvent } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { project, type Project } from './helpers.js';

const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
const brokers = (['redis', 'nats', 'kafka'] as const).map((name) => {
  const url = process.env[`WOODWORK_TEST_${name.toUpperCase()}_URL`];
  if (url === undefined && required) throw new Error(`WOODWORK_TEST_${name.toUpperCase()}_URL is not set but brokers are required (tools/services.sh start)`);
  return { name, url };
});
const buses = [{ name: 'memory', url: 'memory://' as string | undefined }, ...brokers];

/** Four events a turn (input.received, transform.response, session.replied, turn.completed); six kept. */
const TOPOLOGY = 'in = input cli {}\nt = transform echo {}\n';
const KEPT = 6;

interface Setup {
  readonly runtime: Runtime;
  readonly bus: Bus;
  readonly namespace: string;
  /** How often the runtime read the bus log. */
  replays(): number;
  /** Runs once, on the next log read, after the log was read and before it is handed over. */
  duringReplay(work: () => Promise<unknown>): void;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(url: string): Promise<Setup> {
  const dir: Project = await project({ 'main.ww': TOPOLOGY });
  cleanups.push(() => dir.remove());
  const namespace = `resume${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const bus = await createBus(url === 'memory://' ? `memory://${namespace}` : url);
  cleanups.push(() => bus.close());
  let replays = 0;
  let during: (() => Promise<unknown>) | undefined;
  const counting = new Proxy(bus, {
    get(target, property) {
      if (property === 'replay') {
        return (...args: Parameters<Bus['replay']>) => {
          replays += 1;
          const work = during;
          during = undefined;
          if (work === undefined) return target.replay(...args);
          return (async function* () {
            const read = [];
            for await (const record of target.replay(...args)) read.push(record);
            await work();
            yield* read;
          })();
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const runtime = createRuntime(await dir.load(), { bus: counting, namespace, sessionHistory: KEPT, logger: silentLogger });
  await runtime.start();
  cleanups.push(() => runtime.stop());
  return {
    runtime,
    bus,
    namespace,
    replays: () => replays,
    duringReplay: (work) => {
      during = work;
    },
  };
}

/** The session's events as the bus log has them. */
async function logged(setup: Setup, sessionId: string): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  for await (const { envelope } of setup.bus.replay(eventsTopic(setup.namespace), { sessionId })) events.push(envelope);
  return events;
}

/** Reads until `count` events of `type` came, failing after `timeoutMs` instead of hanging. */
async function readUntil(source: AsyncIterator<SessionEvent>, type: string, count: number, timeoutMs = 20_000): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (seen.filter((event) => event.event_type === type).length < count) {
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      source.next(),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(deadline - Date.now(), 0)))),
    ]).finally(() => clearTimeout(timer));
    if (next === 'timeout') throw new Error(`no ${count}th ${type} within ${timeoutMs} ms; got ${seen.map((event) => event.event_type).join(', ')}`);
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

const ids = (events: readonly SessionEvent[]) => events.map((event) => event.message_id);

/** A runtime with a session of two turns (nine events, six kept), and the log of that session. */
async function twoTurns(url: string) {
  const ctx = await setup(url);
  const session = await ctx.runtime.session();
  await session.ask('one');
  await session.ask('two');
  return { ctx, session, before: await logged(ctx, session.id) };
}

/** A reader resuming after `after` (registered now), and where `onResume` said it found it. */
function resuming(session: Session, after: string) {
  const found: EventsResume[] = [];
  const reader = session.events({ after, onResume: (where) => found.push(where) })[Symbol.asyncIterator]();
  return { reader, found };
}

for (const { name, url } of buses) {
  describe.skipIf(url === undefined)(`resuming from the bus log (${name})`, () => {
    it('sends what follows an event it no longer keeps, each once and in order, then live events', { timeout: 60_000 }, async () => {
      const { ctx, session, before } = await twoTurns(url!);
      expect(before.length).toBeGreaterThan(KEPT + 2);
      const { reader, found } = resuming(session, before[1]!.message_id);
      // A turn after the reader registered and before it reads: its events are in the log and in
      // the reader's live buffer, and must come once.
      await session.ask('three');
      const resumed = await readUntil(reader, 'turn.completed', 3);
      expect(found).toEqual(['log']);
      const now = await logged(ctx, session.id);
      expect(ids(resumed)).toEqual(ids(now.slice(2)));

      // Then live: a turn sent while reading comes once.
      const [more] = await Promise.all([readUntil(reader, 'turn.completed', 1), session.ask('four')]);
      const final = await logged(ctx, session.id);
      expect(ids([...resumed, ...more])).toEqual(ids(final.slice(2)));
      expect(ctx.replays()).toBe(1);
      await reader.return?.();
    });

    it('stops a reader that falls too far behind with where to resume, and the resume loses nothing', { timeout: 60_000 }, async () => {
      const ctx = await setup(url!);
      const session = await ctx.runtime.session();
      // A live reader that does not read while three turns (twelve events) happen: twice what is kept.
      const slow = session.events({ from: 'live' })[Symbol.asyncIterator]();
      for (const text of ['one', 'two', 'three']) await session.ask(text);
      const all = await logged(ctx, session.id);
      expect(all.length).toBeGreaterThanOrEqual(2 * KEPT);
      const got: SessionEvent[] = [];
      let failure: unknown;
      try {
        for (;;) {
          const next = await slow.next();
          if (next.done) break;
          got.push(next.value);
        }
      } catch (error) {
        failure = error;
      }
      // It got KEPT events in order from where it started (session.started may come before the
      // reader on some buses), none dropped, then an error naming the last one.
      const start = all.findIndex((event) => event.message_id === got[0]?.message_id);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(all.slice(0, start).every((event) => event.event_type === 'session.started')).toBe(true);
      expect(ids(got)).toEqual(ids(all.slice(start, start + KEPT)));
      expect(failure).toMatchObject({ code: 'WW_RUNTIME_READER_BEHIND' });
      expect(String((failure as Error).message)).toContain(`it got every event up to ${got.at(-1)!.message_id}`);
      // Resuming after that event brings the rest, each once.
      const { reader } = resuming(session, got.at(-1)!.message_id);
      const rest = await readUntil(reader, 'turn.completed', 2);
      expect(ids([...got, ...rest])).toEqual(ids(all.slice(start)));
      await reader.return?.();
    });

    it('misses nothing published while it reads the log', { timeout: 60_000 }, async () => {
      const { ctx, session, before } = await twoTurns(url!);
      // A whole turn after the log was read: its events reach the reader only live.
      ctx.duringReplay(() => session.ask('three'));
      const { reader } = resuming(session, before[1]!.message_id);
      const resumed = await readUntil(reader, 'turn.completed', 3);
      const now = await logged(ctx, session.id);
      expect(now.length).toBe(before.length + 4);
      expect(ids(resumed)).toEqual(ids(now.slice(2)));
      await reader.return?.();
    });

    it('reads no log without an id or when the id is kept', { timeout: 60_000 }, async () => {
      const { ctx, session, before } = await twoTurns(url!);
      // The kept six end the first turn and hold the whole second one.
      const kept = before.slice(-KEPT);
      const whole = session.events()[Symbol.asyncIterator]();
      expect(ids(await readUntil(whole, 'turn.completed', 2))).toEqual(ids(kept));
      const { reader: resumed, found } = resuming(session, kept[0]!.message_id);
      expect(ids(await readUntil(resumed, 'turn.completed', 2))).toEqual(ids(kept.slice(1)));
      expect(found).toEqual(['history']);
      expect(ctx.replays()).toBe(0);
      await whole.return?.();
      await resumed.return?.();
    });

    it('sends the whole kept history for an id in neither, and says so', { timeout: 60_000 }, async () => {
      const { ctx, session, before } = await twoTurns(url!);
      const { reader, found } = resuming(session, 'no-such-event');
      expect(ids(await readUntil(reader, 'turn.completed', 2))).toEqual(ids(before.slice(-KEPT)));
      expect(found).toEqual(['not-found']);
      expect(ctx.replays()).toBe(1);
      await reader.return?.();
    });

    it('ends after the session.ended the log holds', { timeout: 60_000 }, async () => {
      const { ctx, session } = await twoTurns(url!);
      await session.end();
      const all = await logged(ctx, session.id);
      expect(all.at(-1)?.event_type).toBe('session.ended');
      const reader = ctx.runtime.events(session.id, { after: all[0]!.message_id })[Symbol.asyncIterator]();
      const resumed = await readUntil(reader, 'never', 1);
      expect(ids(resumed)).toEqual(ids(all.slice(1)));
    });
  });
}
