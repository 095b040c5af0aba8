/**
 * The API gateway (`input api`) end to end: a real runtime, a real server on 127.0.0.1 port 0, a
 * real HTTP client (fetch), a real WebSocket client (ws) and the official `openai` client.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  createApiInput,
  createComponentRegistry,
  defineComponent,
  startGateway,
  type ApiInputOptions,
  type ComponentRegistry,
  type Gateway,
  type Runtime,
  type RuntimeOptions,
  type SessionEvent,
} from '../src/index.js';
import { Credentials } from '../src/gateway/auth.js';
import { ACCEPTING_LEASE_MS, IdempotentRequest } from '../src/gateway/idempotency.js';
import { eventsUntil, project, started, waitFor, type Project } from './helpers.js';
import { connect, events, readSse, sseReader, subscribe, type SseMessage } from './gateway-client.js';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const ECHO = `
in = input api { auth = { token = "\${KEY_A}" } }
t = transform echo { streaming = true }
`;

interface Served {
  readonly url: string;
  readonly runtime: Runtime;
  readonly project: Project;
}

const open: Served[] = [];
afterEach(async () => {
  for (const served of open.splice(0)) {
    await served.runtime.stop();
    await served.project.remove();
  }
});

/** A topology with its `input api` on an ephemeral loopback port; `WOODWORK_API_*` from `env` only. */
async function serve(
  ww: string,
  options: ApiInputOptions = {},
  extra: { registry?: ComponentRegistry; env?: Record<string, string>; runtime?: RuntimeOptions } = {},
): Promise<Served> {
  const dir = await project({ 'main.ww': ww });
  let gateway: Gateway | undefined;
  const registry = (extra.registry ?? createComponentRegistry()).register(
    createApiInput({ host: '127.0.0.1', port: 0, env: { WOODWORK_API_KEYS: KEY_B, ...extra.env }, ...options, onListening: (value) => (gateway = value) }),
    { replace: true },
  );
  try {
    const { runtime } = await started(await dir.load({ KEY_A }), { ...extra.runtime, registry });
    const served = { url: gateway!.url, runtime, project: dir };
    open.push(served);
    return served;
  } catch (error) {
    await dir.remove();
    throw error;
  }
}

function auth(key: string, headers: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...headers };
}

async function post(url: string, body: unknown, key = KEY_A, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: auth(key, { 'content-type': 'application/json', ...headers }), body: JSON.stringify(body) });
}

/** The status of a refused WebSocket handshake. */
function refusedStatus(url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), options);
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => reject(new Error('the handshake was accepted')));
    socket.once('error', () => undefined);
  });
}

describe('input api: sessions over HTTP', () => {
  it('answers /health without credentials and every /v1 route only with a configured key', async () => {
    const { url } = await serve(ECHO);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const anonymous = await fetch(`${url}/v1/sessions`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'unauthorized', type: 'authentication_error' } });

    const wrong = await fetch(`${url}/v1/models`, { headers: auth('not-a-key') });
    expect(wrong.status).toBe(401);
    // A key from the .ww file and one from WOODWORK_API_KEYS both work.
    expect((await fetch(`${url}/v1/models`, { headers: auth(KEY_A) })).status).toBe(200);
    expect((await fetch(`${url}/v1/models`, { headers: auth(KEY_B) })).status).toBe(200);

    const unknown = await fetch(`${url}/v1/nothing`, { headers: auth(KEY_A) });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('starts a session with a first input, continues it, shows it and ends it', async () => {
    const { url } = await serve(ECHO);
    const first = await post(`${url}/v1/sessions`, { input: 'hello there', metadata: { app: 'test', owner: 'spoofed' } });
    expect(first.status).toBe(201);
    const created = (await first.json()) as { session_id: string; turn_id: string; reply: string; ok: boolean; events_url: string };
    expect(created).toMatchObject({ status: 'completed', ok: true, reply: 'hello there' });
    expect(first.headers.get('location')).toBe(`/v1/sessions/${created.session_id}`);
    expect(created.events_url).toBe(`/v1/sessions/${created.session_id}/events?turn_id=${created.turn_id}`);

    const second = await post(`${url}/v1/sessions/${created.session_id}/messages`, { input: 'and again' });
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ session_id: created.session_id, reply: 'and again', ok: true });

    const shown = await fetch(`${url}/v1/sessions/${created.session_id}`, { headers: auth(KEY_A) });
    expect(await shown.json()).toMatchObject({ session_id: created.session_id, metadata: { app: 'test' } });

    const ended = await fetch(`${url}/v1/sessions/${created.session_id}`, { method: 'DELETE', headers: auth(KEY_A) });
    expect(ended.status).toBe(204);
    expect((await fetch(`${url}/v1/sessions/${created.session_id}`, { headers: auth(KEY_A) })).status).toBe(404);
    expect((await post(`${url}/v1/sessions/${created.session_id}/messages`, { input: 'too late' })).status).toBe(404);

    // Without input, a session is only created.
    const bare = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: auth(KEY_A) });
    expect(bare.status).toBe(201);
    expect(await bare.json()).toMatchObject({ session_id: expect.any(String), events_url: expect.stringMatching(/\/events$/) });
  });

  it('never lets one key read or write the sessions of another', async () => {
    const { url } = await serve(ECHO);
    const mine = (await (await post(`${url}/v1/sessions`, { input: 'secret' }, KEY_A)).json()) as { session_id: string };
    const { runtime } = open[0]!;
    const before = await runtime.get(mine.session_id);
    const theirs = { headers: auth(KEY_B) };
    for (const response of [
      await fetch(`${url}/v1/sessions/${mine.session_id}`, theirs),
      await fetch(`${url}/v1/sessions/${mine.session_id}/events`, theirs),
      await post(`${url}/v1/sessions/${mine.session_id}/messages`, { input: 'hijack' }, KEY_B),
      await fetch(`${url}/v1/sessions/${mine.session_id}`, { method: 'DELETE', ...theirs }),
      await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: auth(KEY_B, { 'content-type': 'application/json', 'x-woodwork-session-id': mine.session_id }),
        body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hijack' }] }),
      }),
    ]) {
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    expect(await refusedStatus(`${url}/v1/sessions/${mine.session_id}/ws`, { headers: auth(KEY_B) })).toBe(404);
    // The owner is checked as the session is touched: another key's message touched nothing.
    expect((await runtime.get(mine.session_id))?.lastActiveAt).toBe(before?.lastActiveAt);
    // Sessions started elsewhere (not through the gateway) belong to no key.
    const internal = await runtime.create();
    expect((await fetch(`${url}/v1/sessions/${internal}`, { headers: auth(KEY_A) })).status).toBe(404);
    expect((await post(`${url}/v1/sessions/${internal}/messages`, { input: 'mine now?' }, KEY_A)).status).toBe(404);
    expect((await post(`${url}/v1/sessions/never-created/messages`, { input: 'hello?' }, KEY_A)).status).toBe(404);
    expect(await runtime.get('never-created')).toBeUndefined();
    // The owner still has it.
    expect((await fetch(`${url}/v1/sessions/${mine.session_id}`, { headers: auth(KEY_A) })).status).toBe(200);
  });

  it('rejects malformed, mistyped, incomplete and oversized bodies with JSON errors', async () => {
    const { url } = await serve(ECHO, { maxBodyBytes: 1_000 });
    const send = (body: BodyInit, type = 'application/json') =>
      fetch(`${url}/v1/sessions`, { method: 'POST', headers: auth(KEY_A, { 'content-type': type }), body });

    const malformed = await send('{"input": "unterminated');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'invalid_json', type: 'invalid_request_error' } });

    const notObject = await send('["input"]');
    expect(notObject.status).toBe(400);
    expect(await notObject.json()).toMatchObject({ error: { code: 'invalid_request' } });

    const wrongType = await send('input=hello', 'application/x-www-form-urlencoded');
    expect(wrongType.status).toBe(415);
    expect(await wrongType.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });

    const tooLarge = await send(JSON.stringify({ input: 'x'.repeat(2_000) }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'payload_too_large' } });

    // Without Content-Length (chunked), the limit holds as the body streams in.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let index = 0; index < 4; index++) controller.enqueue(new TextEncoder().encode('x'.repeat(400)));
        controller.close();
      },
    });
    const streamed = await fetch(`${url}/v1/sessions`, {
      method: 'POST',
      headers: auth(KEY_A, { 'content-type': 'application/json' }),
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);

    const session = (await (await send('{}')).json()) as { session_id: string };
    const missing = await post(`${url}/v1/sessions/${session.session_id}/messages`, { text: 'no input field' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'invalid_request', param: 'input' } });
    const badWait = await post(`${url}/v1/sessions/${session.session_id}/messages`, { input: 'x', wait: 'no' });
    expect(badWait.status).toBe(400);
  });

  it('rate limits each key with a token bucket and says when to retry', async () => {
    const { url } = await serve(`${ECHO.replace('input api {', 'input api { rate_limit = { requests_per_minute = 6, burst = 2 },')}`);
    const models = (key: string) => fetch(`${url}/v1/models`, { headers: auth(key) });
    expect((await models(KEY_A)).status).toBe(200);
    expect((await models(KEY_A)).status).toBe(200);
    const limited = await models(KEY_A);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited', type: 'rate_limit_error', retry_after_ms: expect.any(Number) } });
    // Another key has its own bucket.
    expect((await models(KEY_B)).status).toBe(200);
    // Guessing keys drains the address's bucket too.
    expect((await models('guess-1')).status).toBe(401);
    expect((await models('guess-2')).status).toBe(401);
    expect((await models('guess-3')).status).toBe(429);
  });

  it('answers CORS preflights only for the configured origins', async () => {
    const { url } = await serve(ECHO, { cors: { origins: ['https://app.example'] } });
    const preflight = (origin: string) =>
      fetch(`${url}/v1/sessions`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight('https://app.example');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    const other = await preflight('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const actual = await fetch(`${url}/v1/models`, { headers: auth(KEY_A, { origin: 'https://app.example' }) });
    expect(actual.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('sends no CORS headers when CORS is not configured', async () => {
    const { url } = await serve(ECHO);
    const preflight = await fetch(`${url}/v1/sessions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.status).toBe(401);
  });

  it('reports a failed turn as ok: false with the error, not as a bad request', async () => {
    const registry = createComponentRegistry().register(
      defineComponent({
        kind: 'transform',
        type: 'echo',
        create: () => ({
          handle: () => {
            throw new Error('the model is down');
          },
        }),
      }),
      { replace: true },
    );
    const { url } = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const response = await post(`${url}/v1/sessions`, { input: 'hi' });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { ok: boolean; errors: { error: { message: string } }[] };
    expect(body.ok).toBe(false);
    expect(body.errors[0]!.error.message).toContain('the model is down');

    // Chat completions have no `ok`: a failure is a 502, or an error message once streaming.
    const client = new OpenAI({ apiKey: KEY_A, baseURL: `${url}/v1`, maxRetries: 0 });
    const failed = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
    expect(failed).toMatchObject({ status: 502, code: 'turn_failed', message: expect.stringContaining('the model is down') });
    const stream = await client.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const streamed = (async () => {
      for await (const chunk of stream) void chunk;
    })();
    await expect(streamed).rejects.toMatchObject({ message: expect.stringContaining('the model is down') });
  });
});

describe('input api: streaming a session', () => {
  it('answers 202 with the turn stream, which carries the turn in order and ends with it', async () => {
    const { url } = await serve(ECHO);
    const accepted = await post(`${url}/v1/sessions`, { input: 'one two three', wait: false });
    expect(accepted.status).toBe(202);
    const body = (await accepted.json()) as { session_id: string; turn_id: string; status: string; events_url: string; ws_url: string };
    expect(body.status).toBe('accepted');
    expect(accepted.headers.get('location')).toBe(body.events_url);

    const stream = await fetch(`${url}${body.events_url}`, { headers: auth(KEY_A) });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const messages = await readSse(stream);
    const seen = events(messages);
    const types = seen.map((event) => event.event_type);
    expect(types[0]).toBe('input.received');
    expect(types.at(-1)).toBe('turn.completed');
    const chunks = seen.filter((event) => event.event_type === 'stream.chunk');
    expect(chunks.map((event) => (event.payload as { data: unknown }).data)).toEqual(['one ', 'two ', 'three', null]);
    expect(chunks.map((event) => event.chunk_index)).toEqual([0, 1, 2, 3]);
    expect(types.indexOf('session.replied')).toBeGreaterThan(types.lastIndexOf('stream.chunk'));
    expect(seen.find((event) => event.event_type === 'session.replied')?.payload).toBe('one two three');
    // Each SSE message names its event and carries the message id for Last-Event-ID.
    for (const message of messages.filter((item) => item.event !== undefined)) {
      const event = JSON.parse(message.data) as SessionEvent;
      expect(message.id).toBe(event.message_id);
      expect(message.event).toBe(event.event_type);
    }
  });

  it('streams a whole session live, resumes after Last-Event-ID, and keeps a quiet stream alive', async () => {
    const { url } = await serve(ECHO, { keepAliveMs: 50 });
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { session_id: string; events_url: string };
    const live = await subscribe(`${url}${session.events_url}`, auth(KEY_A));
    await live.until((message) => message.comment === 'keep-alive');
    await post(`${url}/v1/sessions/${session.session_id}/messages`, { input: 'first' });
    await post(`${url}/v1/sessions/${session.session_id}/messages`, { input: 'second' });
    const seen = events(await live.until((_message, all) => events(all).filter((event) => event.event_type === 'turn.completed').length === 2));
    await live.close();
    const replies = seen.filter((event) => event.event_type === 'session.replied').map((event) => event.payload);
    expect(replies).toEqual(['first', 'second']);

    // Resume after the first turn's completion: only the second turn comes again.
    const firstDone = seen.find((event) => event.event_type === 'turn.completed')!;
    const resumed = await fetch(`${url}${session.events_url}`, { headers: auth(KEY_A, { 'last-event-id': firstDone.message_id }) });
    const again = events(await readSse(resumed, (_message, all) => events(all).some((event) => event.event_type === 'turn.completed')));
    expect(again.map((event) => event.message_id)).toEqual(seen.slice(seen.indexOf(firstDone) + 1).map((event) => event.message_id));

    // Ending the session ends its streams.
    const closing = await subscribe(`${url}${session.events_url}?from=live`, auth(KEY_A));
    await fetch(`${url}/v1/sessions/${session.session_id}`, { method: 'DELETE', headers: auth(KEY_A) });
    const last = events(await closing.until());
    expect(last.map((event) => event.event_type)).toEqual(['session.ended']);
  });

  it('resumes after an event the instance no longer keeps from the bus log, then goes on live, each event once', async () => {
    // Ten events kept per session (a turn is seven here, and a live reader may fall that far
    // behind): after three turns the first is forgotten.
    const { url } = await serve(ECHO, {}, { runtime: { sessionHistory: 10 } });
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { session_id: string; events_url: string };
    const live = await subscribe(`${url}${session.events_url}`, auth(KEY_A));
    for (const input of ['one two', 'three four', 'five six']) await post(`${url}/v1/sessions/${session.session_id}/messages`, { input });
    const done = (count: number) => (_message: unknown, all: readonly SseMessage[]) => events(all).filter((event) => event.event_type === 'turn.completed').length === count;
    const seen = events(await live.until(done(3)));
    expect(seen.length).toBeGreaterThan(12);

    const after = seen[1]!;
    const resumed = sseReader(await fetch(`${url}${session.events_url}`, { headers: auth(KEY_A, { 'last-event-id': after.message_id }) }));
    const replayed = events(await resumed.until(done(3)));
    expect(replayed.map((event) => event.message_id)).toEqual(seen.slice(2).map((event) => event.message_id));
    expect(resumed.messages.some((message) => message.comment?.includes('not found'))).toBe(false);

    // A new turn comes once, after the replayed part.
    await post(`${url}/v1/sessions/${session.session_id}/messages`, { input: 'seven' });
    const more = events(await live.until(done(4)));
    const all = events(await resumed.until(done(4)));
    await live.close();
    await resumed.close();
    expect(all.map((event) => event.message_id)).toEqual(more.slice(2).map((event) => event.message_id));
  });

  it('answers an unknown Last-Event-ID with the kept history, and a comment saying so', async () => {
    const { url, runtime } = await serve(ECHO);
    const created = (await (await post(`${url}/v1/sessions`, { input: 'hello' })).json()) as { session_id: string };
    const eventsUrl = `${url}/v1/sessions/${created.session_id}/events`;
    const whole = await eventsUntil(runtime.events(created.session_id), 'turn.completed');
    const unknown = await readSse(await fetch(`${eventsUrl}?last_event_id=no-such-event%0Aid:%20x`, { headers: auth(KEY_A) }), (message) => message.event === 'turn.completed');
    expect(unknown.find((message) => message.comment?.includes('not found'))?.comment).toBe(
      'last-event-id "no-such-event\\nid: x" not found; sending the kept history',
    );
    expect(unknown.filter((message) => message.id === 'x')).toEqual([]);
    expect(events(unknown).map((event) => event.message_id)).toEqual(whole.map((event) => event.message_id));
  });

  it('does a WebSocket round trip: input frames in, the session events out', async () => {
    const { url } = await serve(ECHO, { keepAliveMs: 50 });
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { session_id: string; ws_url: string };
    const { socket, frames } = await connect(`${url}${session.ws_url}`, { headers: auth(KEY_A) });
    const pinged = new Promise<void>((resolve) => socket.once('ping', () => resolve()));
    try {
      await pinged;
      socket.send(JSON.stringify({ type: 'input', input: 'over the socket', ref: 'r1' }));
      await waitFor(() => frames.some((frame) => frame.type === 'event' && frame.event.event_type === 'turn.completed'));
      const accepted = frames.find((frame) => frame.type === 'accepted');
      expect(accepted).toMatchObject({ type: 'accepted', ref: 'r1', turn_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
      const seen = frames.flatMap((frame) => (frame.type === 'event' ? [frame.event] : []));
      expect(seen.find((event) => event.event_type === 'session.replied')?.payload).toBe('over the socket');
      const chunks = seen.filter((event) => event.event_type === 'stream.chunk').map((event) => (event.payload as { data: unknown }).data);
      expect(chunks).toEqual(['over ', 'the ', 'socket', null]);

      // Bad frames get an error frame; the socket stays open.
      socket.send('not json');
      socket.send(JSON.stringify({ type: 'shout', ref: 'r2' }));
      await waitFor(() => frames.filter((frame) => frame.type === 'error').length === 2);
      const errors = frames.filter((frame) => frame.type === 'error');
      expect(errors[0]).toMatchObject({ error: { code: 'invalid_json' } });
      expect(errors[1]).toMatchObject({ ref: 'r2', error: { code: 'invalid_request' } });
      expect(socket.readyState).toBe(WebSocket.OPEN);

      // Ending the session closes the socket normally.
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await fetch(`${url}/v1/sessions/${session.session_id}`, { method: 'DELETE', headers: auth(KEY_A) });
      expect(await closed).toBe(1000);
    } finally {
      socket.terminate();
    }
  });

  it('drops a WebSocket client that stops answering pings', async () => {
    const { url } = await serve(ECHO, { keepAliveMs: 50 });
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { ws_url: string };
    const { socket } = await connect(`${url}${session.ws_url}`, { headers: auth(KEY_A), autoPong: false });
    const code = await new Promise<number>((resolve) => socket.once('close', (closeCode) => resolve(closeCode)));
    expect(code).toBe(1006);
  });

  it('authenticates WebSockets by header or, for browsers, by subprotocol', async () => {
    const { url } = await serve(ECHO);
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { ws_url: string };
    expect(await refusedStatus(`${url}${session.ws_url}`)).toBe(401);
    expect(await refusedStatus(`${url}${session.ws_url}`, { headers: auth('wrong') })).toBe(401);
    const { socket } = await connect(`${url}${session.ws_url}`, {}, ['woodwork', `bearer.${KEY_A}`]);
    expect(socket.protocol).toBe('woodwork');
    socket.terminate();
    // A plain GET on the socket route is told to use a WebSocket.
    const plain = await fetch(`${url}${session.ws_url}`, { headers: auth(KEY_A) });
    expect(plain.status).toBe(400);
  });

  it('answers 202 when the reply takes longer than reply_timeout_ms, and the turn still completes', async () => {
    const registry = createComponentRegistry().register(
      defineComponent({
        kind: 'transform',
        type: 'echo',
        create: () => ({
          handle: async (message) => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            return message.text;
          },
        }),
      }),
      { replace: true },
    );
    const { url } = await serve('in = input api {\n reply_timeout_ms = 50\n}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const response = await post(`${url}/v1/sessions`, { input: 'slow' });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { events_url: string };
    const seen = events(await readSse(await fetch(`${url}${body.events_url}`, { headers: auth(KEY_A) })));
    expect(seen.find((event) => event.event_type === 'session.replied')?.payload).toBe('slow');
  });
});

describe('input api: OpenAI compatibility', () => {
  it('serves the official openai client, streaming and not, and continues a session per user', async () => {
    const { url } = await serve(ECHO);
    const client = new OpenAI({ apiKey: KEY_A, baseURL: `${url}/v1`, maxRetries: 0 });

    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toHaveLength(1);
    const model = models.data[0]!.id;

    const completion = await client.chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'hello woodwork' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe(model);
    expect(completion.choices[0]!.message.content).toBe('hello woodwork');
    expect(completion.choices[0]!.finish_reason).toBe('stop');

    const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three four' }] }] });
    const deltas: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const choice = chunk.choices[0]!;
      if (choice.delta.content) deltas.push(choice.delta.content);
      finish = choice.finish_reason ?? finish;
    }
    expect(deltas).toEqual(['one ', 'two ', 'three ', 'four']);
    expect(finish).toBe('stop');

    // `user` keeps one session per key and user; the session id comes back in a header.
    const first = await client.chat.completions.create({ model, user: 'alice', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    const second = await client.chat.completions.create({ model, user: 'alice', messages: [{ role: 'user', content: 'again' }] }).withResponse();
    const sessionId = first.response.headers.get('x-woodwork-session-id');
    expect(sessionId).toMatch(/^chat-/);
    expect(second.response.headers.get('x-woodwork-session-id')).toBe(sessionId);
    const other = new OpenAI({ apiKey: KEY_B, baseURL: `${url}/v1`, maxRetries: 0 });
    const theirs = await other.chat.completions.create({ model, user: 'alice', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(theirs.response.headers.get('x-woodwork-session-id')).not.toBe(sessionId);
    const history = await fetch(`${url}/v1/sessions/${sessionId}/events`, { headers: auth(KEY_A) });
    const replies = events(await readSse(history, (_message, all) => events(all).filter((event) => event.event_type === 'turn.completed').length === 2))
      .filter((event) => event.event_type === 'session.replied')
      .map((event) => event.payload);
    expect(replies).toEqual(['hi', 'again']);
  });

  it('turns gateway errors into the openai client errors', async () => {
    const { url } = await serve(ECHO);
    const stranger = new OpenAI({ apiKey: 'wrong', baseURL: `${url}/v1`, maxRetries: 0 });
    await expect(stranger.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const client = new OpenAI({ apiKey: KEY_A, baseURL: `${url}/v1`, maxRetries: 0 });
    const invalid = client.chat.completions.create({ model: 'm', messages: [{ role: 'assistant', content: 'no user message' }] });
    await expect(invalid).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(invalid.catch((error: InstanceType<typeof OpenAI.APIError>) => error.code)).resolves.toBe('invalid_request');
  });
});

describe('input api: secure by default', () => {
  it('refuses to listen beyond loopback without credentials', async () => {
    const dir = await project({ 'main.ww': 'in = input api { host = "0.0.0.0" }\nt = transform echo {}\n' });
    try {
      const registry = createComponentRegistry().register(createApiInput({ port: 0, env: {} }), { replace: true });
      await expect(started(await dir.load(), { registry })).rejects.toMatchObject({ code: 'WW_RUNTIME_INVALID_TOPOLOGY', message: expect.stringContaining('without credentials') });
    } finally {
      await dir.remove();
    }
  });

  it('serves loopback without keys, and anything with auth = "none" on purpose', async () => {
    const { url } = await serve('in = input api {}\nt = transform echo {}\n', { env: {} });
    const response = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"input":"open"}' });
    expect(response.status).toBe(201);
    await expect(startGateway(open[0]!.runtime, { host: '0.0.0.0', port: 0, env: {} })).rejects.toMatchObject({ code: 'WW_RUNTIME_INVALID_TOPOLOGY' });
    await using gateway = await startGateway(open[0]!.runtime, { host: '127.0.0.1', port: 0, auth: 'none', env: {} });
    expect((await fetch(`${gateway.url}/v1/models`)).status).toBe(200);
  });

  it('closes streams and sockets when the runtime stops', async () => {
    const served = await serve(ECHO);
    const session = (await (await post(`${served.url}/v1/sessions`, {})).json()) as { events_url: string; ws_url: string };
    const stream = await subscribe(`${served.url}${session.events_url}?from=live`, auth(KEY_A));
    const { socket } = await connect(`${served.url}${session.ws_url}`, { headers: auth(KEY_A) });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await served.runtime.stop();
    expect(await closed).toBe(1001);
    expect(events(await stream.until())).toEqual([]);
    await expect(fetch(`${served.url}/health`)).rejects.toThrow();
  });
});

describe('input api: Idempotency-Key', () => {
  /** An echo transform that counts the inputs it handled: a turn run twice shows as 2. */
  function counting(): { registry: ComponentRegistry; handled: string[] } {
    const handled: string[] = [];
    const registry = createComponentRegistry().register(
      defineComponent({
        kind: 'transform',
        type: 'echo',
        create: () => ({
          handle: (message) => {
            handled.push(message.text);
            return message.text;
          },
        }),
      }),
      { replace: true },
    );
    return { registry, handled };
  }
  const keyed = (key: string) => ({ 'idempotency-key': key });
  const principalOf = (key: string) => new Credentials({ keys: [key], header: 'authorization', disabled: false }).principal(key)!;

  it('answers a message sent again with its key as the first time, without a second turn', async () => {
    const { registry, handled } = counting();
    const { url } = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A, KEY_B] } }, { registry });
    const session = (await (await post(`${url}/v1/sessions`, {})).json()) as { session_id: string };
    const messages = `${url}/v1/sessions/${session.session_id}/messages`;

    const first = await post(messages, { input: 'once' }, KEY_A, keyed('order-1'));
    const again = await post(messages, { input: 'once', wait: true }, KEY_A, keyed('"order-1"'));
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const body = (await first.json()) as { turn_id: string; reply: string };
    expect(body.reply).toBe('once');
    expect(await again.json()).toEqual(body);
    expect(handled).toEqual(['once']);

    // The same key with another body is refused; another key's same string is its own.
    const reused = await post(messages, { input: 'twice' }, KEY_A, keyed('order-1'));
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'idempotency_key_reused', param: 'Idempotency-Key' });
    const invalid = await post(messages, { input: 'x' }, KEY_A, keyed(''));
    expect(invalid.status).toBe(400);
    expect(handled).toEqual(['once']);

    // Without the header, every POST is a turn of its own, as before.
    await post(messages, { input: 'plain' });
    await post(messages, { input: 'plain' });
    expect(handled).toEqual(['once', 'plain', 'plain']);
  });

  it('creates one session with one turn for POST /v1/sessions sent again, and replays a turn first answered 202', async () => {
    const { registry, handled } = counting();
    const { url } = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const first = await post(`${url}/v1/sessions`, { input: 'hello', metadata: { tag: 'a' } }, KEY_A, keyed('create-1'));
    const again = await post(`${url}/v1/sessions`, { input: 'hello', metadata: { tag: 'a' } }, KEY_A, keyed('create-1'));
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    const body = (await first.json()) as { session_id: string };
    expect(await again.json()).toEqual(body);
    expect(handled).toEqual(['hello']);

    // First answered 202 (the client would not wait): a retry that waits gets the turn's result.
    const messages = `${url}/v1/sessions/${body.session_id}/messages`;
    const accepted = await post(messages, { input: 'later', wait: false }, KEY_A, keyed('async-1'));
    expect(accepted.status).toBe(202);
    const { turn_id } = (await accepted.json()) as { turn_id: string };
    const replayed = await post(messages, { input: 'later' }, KEY_A, keyed('async-1'));
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(await replayed.json()).toMatchObject({ turn_id, reply: 'later' });
    expect(handled).toEqual(['hello', 'later']);
  });

  it('answers 409 while the first request is being accepted, and takes over one its gateway abandoned', async () => {
    const { registry, handled } = counting();
    const served = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const session = (await (await post(`${served.url}/v1/sessions`, {})).json()) as { session_id: string };
    const messages = `${served.url}/v1/sessions/${session.session_id}/messages`;
    // Another gateway instance claimed the key and has not sent the input yet.
    const elsewhere = (key: string) =>
      new IdempotentRequest(served.runtime.records!, 60_000, principalOf(KEY_A), session.session_id, key, 'POST /v1/sessions/:id/messages', { input: 'racing' }, 200);
    expect(await elsewhere('race-1').claim(session.session_id)).toBeUndefined();
    const inUse = await post(messages, { input: 'racing' }, KEY_A, keyed('race-1'));
    expect(inUse.status).toBe(409);
    expect(inUse.headers.get('retry-after')).toBe('1');
    expect(((await inUse.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_in_use');
    expect(handled).toEqual([]);

    // A claim older than the lease was left by a gateway that died: the retry sends the input itself.
    const abandoned = elsewhere('race-2');
    const record = { ...(await abandoned.claim(session.session_id).then(() => served.runtime.records!.get(abandoned.recordKey)) as object), accepted_at: Date.now() - ACCEPTING_LEASE_MS - 1 };
    await served.runtime.records!.put(abandoned.recordKey, record as never, 60_000);
    const takenOver = await post(messages, { input: 'racing' }, KEY_A, keyed('race-2'));
    expect(takenOver.status).toBe(200);
    expect(await takenOver.json()).toMatchObject({ turn_id: abandoned.turnId, reply: 'racing' });
    expect(handled).toEqual(['racing']);
  });

  it('answers a retry of a turn whose gateway died mid-turn from the session events, and records the answer', async () => {
    const handled: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const registry = createComponentRegistry().register(
      defineComponent({
        kind: 'transform',
        type: 'echo',
        create: () => ({
          handle: async (message) => {
            handled.push(message.text);
            await gate;
            return message.text;
          },
        }),
      }),
      { replace: true },
    );
    const served = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const records = served.runtime.records!;
    const session = (await (await post(`${served.url}/v1/sessions`, {})).json()) as { session_id: string };
    // What a gateway that died after sending the input left: a started record, a turn under way.
    const dead = new IdempotentRequest(records, 60_000, principalOf(KEY_A), session.session_id, 'orphan-1', 'POST /v1/sessions/:id/messages', { input: 'orphan' }, 200);
    expect(await dead.claim(session.session_id)).toBeUndefined();
    await served.runtime.submit(session.session_id, 'orphan', { messageId: dead.messageId, turnId: dead.turnId });
    await dead.started();

    const retry = post(`${served.url}/v1/sessions/${session.session_id}/messages`, { input: 'orphan' }, KEY_A, keyed('orphan-1'));
    await waitFor(() => handled.length === 1);
    release();
    const response = await retry;
    expect(response.status).toBe(200);
    expect(response.headers.get('idempotent-replayed')).toBe('true');
    expect(await response.json()).toMatchObject({ turn_id: dead.turnId, status: 'completed', ok: true, reply: 'orphan' });
    await waitFor(async () => ((await records.get(dead.recordKey)) as { state?: string } | undefined)?.state === 'completed');
    expect(handled).toEqual(['orphan']);
  });

  it('sends an input again under the same message id as one message: the bus drops the copy', async () => {
    const { registry, handled } = counting();
    const served = await serve('in = input api {}\nt = transform echo {}\n', { auth: { keys: [KEY_A] } }, { registry });
    const sessionId = await served.runtime.create();
    const ids = { messageId: '0f0e0d0c-0b0a-4908-8706-050403020100', turnId: '0123456789abcdef0123456789abcdef' };
    const first = await served.runtime.submit(sessionId, 'only once', ids);
    expect(first.turnId).toBe(ids.turnId);
    expect((await first.result).text).toBe('only once');
    // The copy counts a branch that never ends, so its wait is cut short; a later input of the
    // same session, handled after it, shows whether the copy ran.
    const copy = served.runtime.ask(sessionId, 'only once', { ...ids, timeoutMs: 100 }).catch((error: unknown) => error);
    expect((await served.runtime.ask(sessionId, 'after')).text).toBe('after');
    expect(handled).toEqual(['only once', 'after']);
    expect(await copy).toMatchObject({ code: 'WW_RUNTIME_TIMEOUT' });
  });
});
