/**
 * `Idempotency-Key` across gateway instances: two runtimes of one distributed topology (a Redis
 * bus, sessions in Redis), each with its `input api`. A client whose POST was answered by the first
 * sends it again to the second after the first stopped — as after a gateway died with the request
 * — and gets the first answer back, with no second turn. Needs WOODWORK_TEST_REDIS_URL (required
 * with WOODWORK_TEST_REQUIRE_BROKERS=1).
 */
import type { Topology } from '@woodwork/parser';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiInput, createComponentRegistry, createRuntime, defineComponent, type Gateway, type Runtime } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { project, type Project } from './helpers.js';

const redis = process.env.WOODWORK_TEST_REDIS_URL;
if (redis === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') {
  throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start)');
}

const KEY = 'key-idempotency-0123456789abcdef';
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the transform handled, over both instances (they run in this process). */
const handled: string[] = [];

async function instance(topology: Topology, namespace: string, name: string): Promise<{ url: string; runtime: Runtime }> {
  let gateway: Gateway | undefined;
  const registry = createComponentRegistry()
    .register(createApiInput({ host: '127.0.0.1', port: 0, env: { WOODWORK_API_KEYS: KEY }, onListening: (value) => (gateway = value) }), { replace: true })
    .register(
      defineComponent({
        kind: 'transform',
        type: 'echo',
        create: () => ({
          handle: (message) => {
            handled.push(message.text);
            return message.text.toUpperCase();
          },
        }),
      }),
      { replace: true },
    );
  const runtime = createRuntime(topology, {
    bus: redis!,
    sessions: { redis: redis!, prefix: `woodwork:${namespace}` },
    namespace,
    instanceId: `${namespace}-${name}`,
    registry,
    logger: silentLogger,
  });
  await runtime.start();
  cleanups.push(() => runtime.stop());
  return { url: gateway!.url, runtime };
}

describe.skipIf(redis === undefined)('Idempotency-Key across gateway instances (redis)', () => {
  it('answers a POST sent again to another instance, after the first stopped, with the first answer and no second turn', { timeout: 90_000 }, async () => {
    handled.length = 0;
    const dir: Project = await project({ 'main.ww': 'in = input api {}\nt = transform echo {}\n' });
    cleanups.push(() => dir.remove());
    const topology = await dir.load();
    const namespace = `gwidem${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const a = await instance(topology, namespace, 'a');
    const b = await instance(topology, namespace, 'b');

    // A new session with its first input, and a message, each under a key, answered by A.
    const created = await post(`${a.url}/v1/sessions`, { input: 'first' }, { 'idempotency-key': 'create-1' });
    expect(created.status).toBe(201);
    const session = (await created.json()) as { session_id: string; turn_id: string; reply: string };
    expect(session.reply).toBe('FIRST');
    const messages = (url: string) => `${url}/v1/sessions/${session.session_id}/messages`;
    const sent = await post(messages(a.url), { input: 'second' }, { 'idempotency-key': 'message-1' });
    expect(sent.status).toBe(200);
    const answer = (await sent.json()) as { turn_id: string; reply: string };
    expect(answer.reply).toBe('SECOND');

    await a.runtime.stop();

    // The same requests again, to B: the same answers, marked as replays, and no turn ran again.
    const createdAgain = await post(`${b.url}/v1/sessions`, { input: 'first' }, { 'idempotency-key': 'create-1' });
    expect(createdAgain.status).toBe(201);
    expect(createdAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(await createdAgain.json()).toEqual(session);
    const sentAgain = await post(messages(b.url), { input: 'second' }, { 'idempotency-key': 'message-1' });
    expect(sentAgain.status).toBe(200);
    expect(sentAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(await sentAgain.json()).toEqual(answer);
    expect(handled).toEqual(['first', 'second']);

    // Another body under a used key is refused on B too.
    const reused = await post(messages(b.url), { input: 'other' }, { 'idempotency-key': 'message-1' });
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_reused');

    // Without the header, B runs every POST, as before.
    for (const input of ['plain', 'plain']) expect((await post(messages(b.url), { input })).status).toBe(200);
    expect(handled).toEqual(['first', 'second', 'plain', 'plain']);
  });
});
