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

/**
 * One event as an SSE message, as Hono's `writeSSE` writes it (`event:`, `data:`, `id:`). The data is
 * JSON, so it is one line; the event type and id are checked for line breaks all the same.
 */
export function sseMessage(event: SessionEvent): string {
  if (/[\r\n]/.test(event.event_type) || /[\r\n]/.test(event.message_id)) throw new Error('an event type or id must not contain "\\r" or "\\n"');
  return `event: ${event.event_type}\ndata: ${JSON.stringify(event)}\nid: ${event.message_id}\n\n`;
}

/**
 * How many microtask turns a source gets to hand over an event it already holds. A session's
 * reader answers `next()` from its queue in a few; one whose queue is empty waits for the bus, and
 * the batch goes out without it. A source slower than this only makes smaller batches.
 */
const READY_TICKS = 8;
const NOT_READY = Symbol('not ready');

async function settledSoon<T>(promise: Promise<T>): Promise<T | typeof NOT_READY> {
  let settled: { value: T } | { error: unknown } | undefined;
  promise.then(
    (value) => (settled = { value }),
    (error: unknown) => (settled = { error }),
  );
  for (let tick = 0; tick < READY_TICKS && settled === undefined; tick++) await undefined;
  if (settled === undefined) return NOT_READY;
  if ('error' in settled) throw settled.error;
  return settled.value;
}

/**
 * A source's items in batches: each batch is the next item (waited for) and every item after it that
 * the source already holds, up to `max`. A stream's tokens often arrive together (a `stream.chunks`
 * envelope is many `stream.chunk` events at once); written as one piece they cost one write to the
 * socket instead of one each, while a lone event goes out as soon as it comes, as before. Order is
 * the source's.
 */
export async function* inBatches<T>(source: AsyncIterable<T>, max = 256): AsyncGenerator<T[], void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  let pending: Promise<IteratorResult<T>> | undefined;
  try {
    pending = iterator.next();
    for (;;) {
      const first: IteratorResult<T> = await (pending ?? iterator.next());
      pending = undefined;
      if (first.done) {
        finished = true;
        return;
      }
      const batch = [first.value];
      let failure: { error: unknown } | undefined;
      while (batch.length < max) {
        const next = iterator.next();
        let ready: IteratorResult<T> | typeof NOT_READY;
        try {
          ready = await settledSoon(next);
        } catch (error) {
          // The items before the failure go out first.
          failure = { error };
          finished = true;
          break;
        }
        if (ready === NOT_READY) {
          pending = next;
          break;
        }
        if (ready.done) {
          finished = true;
          break;
        }
        batch.push(ready.value);
      }
      yield batch;
      if (failure) throw failure.error;
      if (finished) return;
    }
  } finally {
    if (!finished) {
      if (pending === undefined) {
        await iterator.return?.();
      } else {
        // A `next()` is still waiting for the source (an async generator runs `return()` after it):
        // the caller's abort ends that wait, and the source cleans up then.
        pending.catch(() => undefined);
        void iterator.return?.()?.catch(() => undefined);
      }
    }
  }
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
      for await (const batch of inBatches(events)) {
        await notice;
        await stream.write(batch.map(sseMessage).join(''));
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
