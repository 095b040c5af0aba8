/**
 * `context.session.wakeAt`: an input a component asks for at a time of its choosing arrives then,
 * with no other input — embedded (a timer in the process) and over Redis (a BullMQ delayed job,
 * delivered by a runtime that was not the one that scheduled it, which is gone by then).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createComponentRegistry, defineComponent, type SessionEvent } from '../src/index.js';
import { project, started, type Project } from './helpers.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required');

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

/** `arm <ms>` schedules a wake-up that far ahead, `cancel` removes it; the wake-up's input is answered `woke`. */
function registry() {
  return createComponentRegistry().register(
    defineComponent({
      kind: 'llm',
      type: 'openai',
      create: () => ({
        async handle(message, context) {
          const payload = message.payload as { woke?: number } | null;
          if (typeof payload?.woke === 'number') return `woke ${payload.woke}`;
          const [command, ms] = message.text.split(' ');
          if (command === 'arm') {
            await context.session.wakeAt('deadline', Date.now() + Number(ms), { woke: Number(ms) });
            return 'armed';
          }
          if (command === 'cancel') {
            await context.session.cancelWake('deadline');
            return 'cancelled';
          }
          return message.text;
        },
      }),
    }),
  );
}

const wiring = `a = llm openai { model = "m" }\n`;
const replies = (events: readonly SessionEvent[]) => events.filter((event) => event.event_type === 'session.replied').map((event) => event.payload);

async function until(events: AsyncIterable<SessionEvent>, count: number): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  let completed = 0;
  for await (const event of events) {
    seen.push(event);
    if (event.event_type === 'turn.completed' && ++completed === count) break;
  }
  return seen;
}

describe('wake-ups (context.session.wakeAt)', () => {
  it('delivers the input at its time with nothing else sent, as a turn of its own', async () => {
    current = await project({ 'main.ww': wiring });
    const { runtime } = await started(await current.load(), { registry: registry() });
    try {
      const sessionId = await runtime.create();
      const seen = until(runtime.events(sessionId, { from: 'live' }), 2);
      expect((await runtime.ask(sessionId, 'arm 100', { to: 'a' })).text).toBe('armed');
      expect(replies(await seen)).toEqual(['armed', 'woke 100']);
    } finally {
      await runtime.stop();
    }
  });

  it('a cancelled wake-up does not come; one of a session that ended does not either', async () => {
    current = await project({ 'main.ww': wiring });
    const { runtime } = await started(await current.load(), { registry: registry() });
    try {
      const sessionId = await runtime.create();
      const seen = until(runtime.events(sessionId, { from: 'live' }), 3);
      await runtime.ask(sessionId, 'arm 100', { to: 'a' });
      await runtime.ask(sessionId, 'cancel', { to: 'a' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await runtime.ask(sessionId, 'done', { to: 'a' });
      expect(replies(await seen)).toEqual(['armed', 'cancelled', 'done']);

      const ended = await runtime.create();
      await runtime.ask(ended, 'arm 100', { to: 'a' });
      await runtime.end(ended);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await runtime.get(ended)).toBeUndefined(); // not reopened by the wake-up
    } finally {
      await runtime.stop();
    }
  });

  it.skipIf(url === undefined)('over Redis, is delivered by a runtime that did not schedule it after the one that did stopped', { timeout: 60_000 }, async () => {
    current = await project({ 'main.ww': wiring });
    const topology = await current.load();
    const options = { registry: registry(), bus: url!, sessions: { redis: url! }, namespace: `wake-${randomUUID().slice(0, 8)}` };
    const { runtime: client } = await started(topology, { ...options, components: [] });
    try {
      const sessionId = await client.create();
      const seen = until(client.events(sessionId, { from: 'live' }), 2);
      const { runtime: first } = await started(topology, { ...options, components: ['a'] });
      expect((await client.ask(sessionId, 'arm 1500', { to: 'a' })).text).toBe('armed');
      await first.stop();
      const { runtime: second } = await started(topology, { ...options, components: ['a'] });
      try {
        expect(replies(await seen)).toEqual(['armed', 'woke 1500']);
      } finally {
        await second.stop();
      }
    } finally {
      await client.stop();
    }
  });
});
