/**
 * The session store suite against a real Redis (`tools/services.sh start redis`), and a runtime
 * keeping its sessions there. Skipped without WOODWORK_TEST_REDIS_URL, unless brokers are required.
 */
import { describe, expect, it } from 'vitest';
import { createRedisSessionStore, createRuntime } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { project } from './helpers.js';
import { sessionStoreSuite } from './session-store-suite.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';

if (url === undefined && required) throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');

describe.skipIf(url === undefined)('Redis', () => {
  sessionStoreSuite('redis', (prefix) => createRedisSessionStore({ url: url!, prefix }));

  it('keeps a runtime\'s sessions and their state in Redis, shared by two runtimes', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const topology = await dir.load();
    const prefix = `test-${Date.now()}`;
    const make = () => createRuntime(topology, { sessions: { redis: url!, prefix }, logger: silentLogger });
    const first = make();
    const second = make();
    await first.start();
    await second.start();
    try {
      const { sessionId } = await first.ask(undefined, 'hi');
      expect(await second.get(sessionId)).toMatchObject({ id: sessionId });
      await second.end(sessionId);
      expect(await first.get(sessionId)).toBeUndefined();
    } finally {
      await first.stop();
      await second.stop();
      await dir.remove();
    }
  });

  it('runs one topology as two hosts over the Redis bus: the turn completes across them, streams included', async () => {
    const dir = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { streaming = true, to = [u] }\nu = transform uppercase {}\n',
    });
    const topology = await dir.load();
    const namespace = `it${Date.now().toString(36)}`;
    const common = { bus: url!, sessions: { redis: url!, prefix: `woodwork:${namespace}` }, namespace, logger: silentLogger };
    const front = createRuntime(topology, { ...common, components: ['in', 't'], instanceId: `${namespace}-front` });
    const back = createRuntime(topology, { ...common, components: ['u'], instanceId: `${namespace}-back` });
    await back.start();
    await front.start();
    try {
      const session = await front.session();
      const events = session.events();
      const result = await session.ask('over redis');
      expect(result).toMatchObject({ ok: true, text: 'OVER REDIS' });
      const seen: string[] = [];
      for await (const event of events) {
        seen.push(`${event.component_source}:${event.event_type}`);
        if (event.event_type === 'turn.completed') break;
      }
      expect(seen).toContain('t:stream.chunk');
      expect(seen).toContain('u:stream.chunk');
      expect(seen.at(-2)).toBe('u:session.replied');
    } finally {
      await front.stop();
      await back.stop();
      await dir.remove();
    }
  });

  it('explains an unreachable Redis', async () => {
    await expect(createRedisSessionStore({ url: 'redis://127.0.0.1:1' })).rejects.toMatchObject({
      code: 'WW_RUNTIME_STATE',
      message: expect.stringMatching(/cannot connect to the session store at redis:\/\/127\.0\.0\.1:1/),
    });
  });
});
