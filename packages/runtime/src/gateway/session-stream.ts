/**
 * A session's events as Server-Sent Events: `GET /v1/sessions/:id/events`. Each event is one SSE
 * message — `id:` its `message_id` (send it back as `Last-Event-ID` to resume after it), `event:` its
 * `event_type`, `data:` the envelope as JSON — in the order the session saw them. A comment line
 * every `keepAliveMs` keeps proxies from closing a quiet stream. The stream ends when the session
 * ends, when the client goes, when the gateway closes, or (with `?turn_id=`) after that turn's
 * `turn.completed`.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { errorMessage, WoodworkRuntimeError } from '../errors.js';
import { EventTypes } from '../events.js';
import { traceIdOf } from '../trace.js';
import type { EventsOptions, EventsResume, SessionEvent } from '../types.js';
import type { GatewayDeps, GatewayEnv } from './context.js';
import { GatewayRequestError } from './http-error.js';

export interface StreamQuery {
  /** Only this turn's events; the stream ends after its `turn.completed`. */
  readonly turnId: string | undefined;
  /** Resume after this event. */
  readonly after: string | undefined;
  /** `live`: only events from now on. Default: the kept history first. */
  readonly from: 'history' | 'live';
}

const TURN_ID = /^[0-9a-f]{32}$/;

/** The stream options of a request (`turn_id`, `from`, `Last-Event-ID` or `last_event_id`). */
export function streamQuery(c: Context): StreamQuery {
  const turnId = c.req.query('turn_id');
  if (turnId !== undefined && !TURN_ID.test(turnId)) throw new GatewayRequestError('invalid_request', '`turn_id` must be a turn id (32 hex digits)', { param: 'turn_id' });
  const from = c.req.query('from') ?? 'history';
  if (from !== 'history' && from !== 'live') throw new GatewayRequestError('invalid_request', '`from` must be "history" or "live"', { param: 'from' });
  const after = c.req.header('last-event-id') ?? c.req.query('last_event_id');
  return { turnId, after: after === undefined || after === '' ? undefined : after, from };
}

/**
 * The session's events for a query: filtered to the turn, ending after it when asked. The reader is
 * registered with the runtime at once, so nothing published after this call is missed; iterate the
 * result (to its end or with `break`) so the reader is released.
 */
export function sessionEvents(
  deps: GatewayDeps,
  sessionId: string,
  query: StreamQuery,
  signal: AbortSignal,
  onResume?: (found: EventsResume) => void,
): AsyncIterable<SessionEvent> {
  const options: EventsOptions = {
    from: query.from,
    signal,
    ...(query.after === undefined ? {} : { after: query.after }),
    ...(onResume === undefined ? {} : { onResume }),
  };
  const source = deps.client.events(sessionId, options)[Symbol.asyncIterator]();
  return (async function* () {
    try {
      for (;;) {
        const next = await source.next();
        if (next.done) return;
        const event = next.value;
        if (query.turnId !== undefined && traceIdOf(event.trace) !== query.turnId && event.event_type !== EventTypes.sessionEnded) continue;
        yield event;
        if (query.turnId !== undefined && event.event_type === EventTypes.turnCompleted) return;
      }
    } finally {
      await source.return?.();
    }
  })();
}

/** Writes SSE comments every `intervalMs` until stopped; a failed write aborts `controller`. */
export function keepAlive(stream: SSEStreamingApi, intervalMs: number, controller: AbortController): () => void {
  const timer = setInterval(() => {
    stream.write(': keep-alive\n\n').catch(() => controller.abort());
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** An abort controller that fires when the client goes, the stream is cancelled or the gateway closes. */
export function streamController(c: Context<GatewayEnv>, stream: SSEStreamingApi, deps: GatewayDeps): AbortController {
  const controller = new AbortController();
  const abort = () => controller.abort();
  stream.onAbort(abort);
  if (c.req.raw.signal.aborted || deps.closing.aborted) abort();
  c.req.raw.signal.addEventListener('abort', abort, { once: true });
  deps.closing.addEventListener('abort', abort, { once: true });
  controller.signal.addEventListener(
    'abort',
    () => {
      c.req.raw.signal.removeEventListener('abort', abort);
      deps.closing.removeEventListener('abort', abort);
    },
    { once: true },
  );
  return controller;
}

export function sessionEventStream(c: Context<GatewayEnv>, deps: GatewayDeps, sessionId: string, query: StreamQuery): Response {
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    const controller = streamController(c, stream, deps);
    const stopKeepAlive = keepAlive(stream, deps.settings.keepAliveMs, controller);
    try {
      let notice: Promise<unknown> | undefined;
      const events = sessionEvents(deps, sessionId, query, controller.signal, (found) => {
        // The id is client input: JSON keeps a line break in it from ending the comment.
        if (found === 'not-found') notice = stream.write(`: last-event-id ${JSON.stringify(query.after)} not found; sending the kept history\n\n`);
      });
      // Sends the headers at once: from this comment on, the client misses no event.
      await stream.write(': connected\n\n');
      for await (const event of events) {
        await notice;
        await stream.writeSSE({ id: event.message_id, event: event.event_type, data: JSON.stringify(event) });
      }
    } catch (error) {
      if (WoodworkRuntimeError.isInstance(error) && error.code === 'WW_RUNTIME_READER_BEHIND') {
        // Every event up to the last one sent went out: the client reconnects with Last-Event-ID.
        await stream.write(': fell behind; reconnect with Last-Event-ID\n\n').catch(() => undefined);
      } else if (!controller.signal.aborted) {
        // A client that went away is not an error; anything else is worth a line in the log.
        deps.logger.warn('an event stream failed', { session: sessionId, error: errorMessage(error) });
      }
    } finally {
      stopKeepAlive();
      controller.abort();
    }
  });
}
