/**
 * Two gateway instances of one distributed topology (one bus, one Redis session store), as
 * `woodwork build`'s replicas behind a Service: a client that read part of a session from one
 * resumes on the other, started after those events, with `Last-Event-ID`. The second instance keeps
 * none of them and reads them from the bus log. Over each broker whose WOODWORK_TEST_*_URL is set,
 * sessions in Redis; required with WOODWORK_TEST_REQUIRE_BROKERS=1.
 */
import type { Topology } from '@woodwork/parser';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiInput, createComponentRegistry, createRuntime, type Gateway, type Runtime, type SessionEvent } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { connect, events, sseReader, subscribe, type SseMessage } from './gateway-client.js';
import { project, waitFor, type Project } from './helpers.js';

const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
const redis = process.env.WOODWORK_TEST_REDIS_URL;
const buses = (['redis', 'nats', 'kafka'] as const).map((name) => {
  const url = process.env[`WOODWORK_TEST_${name.toUpperCase()}_URL`];
  if (url === undefined && required) throw new Error(`WOODWORK_TEST_${name.toUpperCase()}_URL is not set but brokers are required (tools/services.sh start)`);
  return { name, url };
});

const KEY = 'key-resume-0123456789abcdef';
const headers = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${KEY}`, ...extra });
const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
const completed = (count: number) => (_message: SseMessage, all: readonly SseMessage[]) =>
  events(all).filter((event) => event.event_type === 'turn.completed').length === count;
const ids = (list: readonly SessionEvent[]) => list.map((event) => event.message_id);

const cleanups: (() => Promise<void>)[] = [];
/** Drops the event streams' connections at the end, so the gateways close at once. */
let connections = new AbortController();
afterEach(async () => {
  connections.abort();
  connections = new AbortController();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const stream = (url: string, extra: Record<string, string> = {}) => fetch(url, { headers: headers(extra), signal: connections.signal }).then(sseReader);

interface Instance {
  readonly url: string;
  readonly runtime: Runtime;
}

/** One gateway instance: the whole topology, its `input api` on an ephemeral loopback port. */
async function instance(topology: Topology, bus: string, namespace: string, name: string): Promise<Instance> {
  let gateway: Gateway | undefined;
  const registry = createComponentRegistry().register(
    createApiInput({ host: '127.0.0.1', port: 0, env: { WOODWORK_API_KEYS: KEY }, onListening: (value) => (gateway = value) }),
    { replace: true },
  );
  const runtime = createRuntime(topology, {
    bus,
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

for (const { name, url } of buses) {
  describe.skipIf(url === undefined || redis === undefined)(`resuming on another gateway instance (${name} bus)`, () => {
    it('sends exactly the events after Last-Event-ID from the bus log, then live ones, over SSE and WebSocket', { timeout: 90_000 }, async () => {
      const dir: Project = await project({ 'main.ww': 'in = input api {}\nt = transform echo { streaming = true }\n' });
      cleanups.push(() => dir.remove());
      const topology = await dir.load();
      const namespace = `gwresume${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

      // Instance A serves the session; its client reads two turns.
      const a = await instance(topology, url!, namespace, 'a');
      const session = (await (await post(`${a.url}/v1/sessions`, {})).json()) as { session_id: string; events_url: string; ws_url: string };
      const onA = await subscribe(`${a.url}${session.events_url}`, headers(), connections.signal);
      await post(`${a.url}/v1/sessions/${session.session_id}/messages`, { input: 'one two three' });
      await post(`${a.url}/v1/sessions/${session.session_id}/messages`, { input: 'four five' });
      const seen = events(await onA.until(completed(2)));
      expect(seen.length).toBeGreaterThan(10);

      // Instance B starts after those events: it keeps none of them.
      const b = await instance(topology, url!, namespace, 'b');
      const n = 4; // the client saw events 1…4, the fourth a chunk in the middle of the first turn
      expect(seen[n - 1]!.event_type).toBe('stream.chunk');
      const lastEventId = seen[n - 1]!.message_id;
      const onB = await stream(`${b.url}${session.events_url}`, { 'last-event-id': lastEventId });
      // A third turn through A while B reads the log: its events may reach B from the log, live, or
      // both, and must come once.
      expect((await post(`${a.url}/v1/sessions/${session.session_id}/messages`, { input: 'six seven', wait: false })).status).toBe(202);
      const resumed = events(await onB.until(completed(3)));
      const onAThree = events(await onA.until(completed(3)));
      expect(ids(resumed)).toEqual(ids(onAThree.slice(n)));
      expect(onB.messages.some((message) => message.comment?.includes('not found'))).toBe(false);

      // A fourth turn, through B: live on both, once.
      await post(`${b.url}/v1/sessions/${session.session_id}/messages`, { input: 'eight' });
      const onAFour = events(await onA.until(completed(4)));
      const onBFour = events(await onB.until(completed(4)));
      expect(ids(onBFour)).toEqual(ids(onAFour.slice(n)));
      expect(new Set(ids(onBFour)).size).toBe(onBFour.length);

      // The WebSocket resumes the same way (`?last_event_id=`).
      const { socket, frames } = await connect(`${b.url}${session.ws_url}?last_event_id=${lastEventId}`, { headers: headers() });
      cleanups.push(async () => void socket.terminate());
      const overSocket = () => frames.flatMap((frame) => (frame.type === 'event' ? [frame.event] : []));
      await waitFor(() => overSocket().filter((event) => event.event_type === 'turn.completed').length === 4, 30_000);
      expect(ids(overSocket())).toEqual(ids(onAFour.slice(n)));

      // An id in neither B's memory nor the log: B's kept history (what it saw live: turns three
      // and four), said in a comment.
      const unknown = await stream(`${b.url}${session.events_url}?last_event_id=no-such-event`);
      const fallback = events(await unknown.until(completed(2)));
      expect(unknown.messages.find((message) => message.comment?.includes('not found'))?.comment).toBe(
        'last-event-id "no-such-event" not found; sending the kept history',
      );
      const turnEnds = onAFour.flatMap((event, index) => (event.event_type === 'turn.completed' ? [index] : []));
      expect(ids(fallback)).toEqual(ids(onAFour.slice(turnEnds[1]! + 1)));
    });
  });
}
