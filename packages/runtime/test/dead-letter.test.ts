/**
 * A message the bus dead-letters ends its session's turn at once with `WW_RUNTIME_DEAD_LETTERED`
 * (issue #16; fault report finding 3), instead of leaving the turn to wait for its timeout.
 *
 * The bus handler of one component is replaced by one that always throws — what a host looks like
 * to the bus when it cannot handle or even report a message (and, from the next host's side, what
 * a message that crashed its hosts looks like: both end in the dead-letter topic). The turn's
 * timeout is set far longer than the test's own, so the turn can only complete through the dead
 * letter; nothing is asserted on wall-clock time.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createBus, deadLetterTopic, type Bus, type DeadLetter } from '@woodwork/bus';
import type { AgentErrorPayload } from '../src/events.js';
import { componentGroup, componentTopic } from '../src/topics.js';
import { project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

/** The same bus, except that `topic`'s handler always throws (so the bus retries, then dead-letters). */
function withBrokenHandler(bus: Bus, topic: string, tries: { count: number }): Bus {
  return new Proxy(bus, {
    get(target, property) {
      if (property === 'subscribe') {
        const subscribe: Bus['subscribe'] = (subscribedTopic, options, handler) =>
          target.subscribe(
            subscribedTopic,
            options,
            subscribedTopic === topic
              ? () => {
                  tries.count++;
                  throw new Error('the host could not handle or report it');
                }
              : handler,
          );
        return subscribe;
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const TOPOLOGY = 'in = input cli {}\nfirst = transform echo { prefix = "> ", to = [second] }\nsecond = transform uppercase {}\n';
/** Far longer than the test itself may run: only the dead letter can complete the turn. */
const TURN_TIMEOUT_MS = 3_600_000;

async function deadLetteredTurn(busUrl: string): Promise<void> {
  current = await project({ 'main.ww': TOPOLOGY });
  const namespace = `dl${randomUUID().slice(0, 8)}`;
  const bus = await createBus(busUrl);
  const tries = { count: 0 };
  const { runtime } = await started(await current.load(), {
    bus: withBrokenHandler(bus, componentTopic(namespace, 'second'), tries),
    namespace,
    maxAttempts: 3,
    turnTimeoutMs: TURN_TIMEOUT_MS,
  });
  try {
    const session = await runtime.session();
    const turn = await session.send('hi');
    const result = await turn.result;
    expect(result.ok).toBe(false);
    expect(result.replies).toEqual([]);
    expect(result.errors).toHaveLength(1);
    const payload = result.errors[0]!.payload as AgentErrorPayload;
    expect(payload).toMatchObject({ component: 'second', stage: 'dead_letter', error: { code: 'WW_RUNTIME_DEAD_LETTERED' } });
    const letterTopic = deadLetterTopic(componentTopic(namespace, 'second'), componentGroup('second'));
    expect(payload.error.message).toContain('component `second`');
    expect(payload.error.message).toContain(`session ${session.id}`);
    expect(payload.error.message).toContain('after 3 attempts');
    expect(payload.error.message).toContain('the host could not handle or report it');
    expect(payload.error.hint).toContain(letterTopic);
    expect(payload.error.hint).toMatch(/re-drive/);
    expect(tries.count).toBe(3);
    // The letter is where the error says, and names the same message.
    const letters: DeadLetter[] = [];
    for await (const letter of bus.deadLetters(componentTopic(namespace, 'second'), componentGroup('second'))) letters.push(letter);
    expect(letters.map((letter) => letter.envelope?.message_id)).toEqual([payload.message_id]);
    expect(payload.error.hint).toContain(letters[0]!.id);
    // The session goes on: its next turn is handled (and dead-lettered) the same way.
    const again = await (await session.send('again')).result;
    expect(again.errors.map((error) => (error.payload as AgentErrorPayload).error.code)).toEqual(['WW_RUNTIME_DEAD_LETTERED']);
  } finally {
    await runtime.stop();
    await bus.close();
  }
}

describe('a dead-lettered message ends its turn with an error', () => {
  it('embedded (memory bus)', { timeout: 60_000 }, async () => {
    await deadLetteredTurn(`memory://dead-letter-${randomUUID().slice(0, 8)}`);
  });

  const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
  if (redisUrl === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') {
    throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');
  }
  it.skipIf(redisUrl === undefined)('over Redis', { timeout: 120_000 }, async () => {
    await deadLetteredTurn(redisUrl!);
  });
});
