/**
 * Server-Sent Events: a stream of chunks as a `text/event-stream` body for browsers (with
 * `id:` = chunk_index, so a reconnecting EventSource's `Last-Event-ID` says where to resume),
 * and such a body parsed back into chunks.
 *
 * Events written: `chunk` (data: the chunk as JSON, bytes in base64), `end` (the stream ended),
 * `stream-error` (data: { name, message, code }), and `:` comments as keep-alives.
 */
import { serializeError } from '@woodwork/bus';
import { chunkFromJson, chunkToJson } from './chunk.js';
import type { StreamChunk } from './chunk.js';
import { deserializeError, WoodworkStreamError } from './errors.js';
import type { StreamErrorCode } from './errors.js';
import { iterate } from './iterate.js';
import type { ChunkSource } from './iterate.js';

/** Response headers for an event stream: no caching, no proxy buffering. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
});

export interface ServerSentEventsOptions {
  /**
   * A comment is written after this long without an event, so proxies and load balancers keep
   * an idle connection open. Default 15 000 ms (common idle cut-offs are 30-60 s). 0 disables.
   */
  readonly keepAliveMs?: number;
  /** Written once as `retry:`, the browser's reconnection delay. Default: not written (browser default). */
  readonly retryMs?: number;
}

/** One parsed event. */
export interface ServerSentEvent {
  /** `message` when the event named none. */
  readonly event: string;
  readonly data: string;
  /** The last event id seen so far (what a browser would send as `Last-Event-ID`). */
  readonly id: string | undefined;
  /** A `retry:` the server sent with this event, if any. */
  readonly retry: number | undefined;
}

const encoder = new TextEncoder();

function frame(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * A `text/event-stream` body of a stream of chunks (a StreamReader, or any async iterable or
 * ReadableStream of chunks). Cancelling the body (the HTTP client went away) stops the source:
 * a StreamReader then cancels its producer, or detaches when opened with `onStop: 'detach'`.
 */
export function toServerSentEvents(source: ChunkSource<StreamChunk>, options: ServerSentEventsOptions = {}): ReadableStream<Uint8Array> {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const iterator = iterate(source);
  let pending: Promise<IteratorResult<StreamChunk>> | undefined;
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (options.retryMs !== undefined) controller.enqueue(frame(`retry: ${Math.max(0, Math.floor(options.retryMs))}\n\n`));
      },
      async pull(controller) {
        if (finished) return;
        pending ??= iterator.next();
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const result =
            keepAliveMs > 0
              ? await Promise.race([
                  pending,
                  new Promise<'keep-alive'>((resolve) => {
                    timer = setTimeout(() => resolve('keep-alive'), keepAliveMs);
                  }),
                ])
              : await pending;
          if (result === 'keep-alive') {
            controller.enqueue(frame(': keep-alive\n\n'));
            return;
          }
          pending = undefined;
          if (result.done) {
            finished = true;
            controller.enqueue(frame('event: end\ndata: {}\n\n'));
            controller.close();
            return;
          }
          const chunk = result.value;
          controller.enqueue(frame(`id: ${chunk.chunk_index}\nevent: chunk\ndata: ${JSON.stringify(chunkToJson(chunk))}\n\n`));
          if (chunk.is_final) {
            finished = true;
            controller.enqueue(frame('event: end\ndata: {}\n\n'));
            controller.close();
          }
        } catch (error) {
          // The HTTP response ends cleanly and says why; the browser sees a `stream-error` event.
          finished = true;
          controller.enqueue(frame(`event: stream-error\ndata: ${JSON.stringify(serializeError(error))}\n\n`));
          controller.close();
        } finally {
          if (timer !== undefined) clearTimeout(timer);
        }
      },
      async cancel(reason) {
        finished = true;
        await iterator.return?.(reason ?? 'the event stream was cancelled');
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * The chunk index to resume from, given a `Last-Event-ID` header (the id of the last chunk the
 * client got): that id + 1, or undefined when there is none or it is not a chunk index.
 */
export function resumeIndexFromLastEventId(lastEventId: string | null | undefined): number | undefined {
  if (typeof lastEventId !== 'string' || !/^\d{1,15}$/.test(lastEventId.trim())) return undefined;
  return Number(lastEventId.trim()) + 1;
}

/**
 * Parses a `text/event-stream` body (bytes or text) into events, as the HTML standard says:
 * CRLF, LF and CR line ends, a leading BOM, comments, multi-line data, `id` and `retry`.
 */
export async function* parseServerSentEvents(body: ChunkSource<Uint8Array | string>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  const iterator = iterate(body);
  let buffer = '';
  let first = true;
  let eventType = '';
  let data = '';
  let hasData = false;
  let lastEventId: string | undefined;
  let retry: number | undefined;

  const onLine = (line: string): ServerSentEvent | undefined => {
    if (line === '') {
      const event = hasData ? { event: eventType || 'message', data: data.endsWith('\n') ? data.slice(0, -1) : data, id: lastEventId, retry } : undefined;
      eventType = '';
      data = '';
      hasData = false;
      retry = undefined;
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') eventType = value;
    else if (field === 'data') {
      data += `${value}\n`;
      hasData = true;
    } else if (field === 'id') {
      if (!value.includes('\u0000')) lastEventId = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    return undefined;
  };

  try {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) break;
      let text = typeof value === 'string' ? value : decoder.decode(value, { stream: true });
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      buffer += text;
      let start = 0;
      for (;;) {
        let end = start;
        while (end < buffer.length && buffer[end] !== '\n' && buffer[end] !== '\r') end++;
        if (end >= buffer.length) break;
        // A CR at the very end may be the first half of a CRLF: wait for the next piece.
        if (buffer[end] === '\r' && end + 1 === buffer.length) break;
        const event = onLine(buffer.slice(start, end));
        start = end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1);
        if (event) yield event;
      }
      buffer = buffer.slice(start);
    }
    buffer += decoder.decode();
    // A final line without its end: a lone CR is a complete line end.
    if (buffer.endsWith('\r')) {
      const event = onLine(buffer.slice(0, -1));
      if (event) yield event;
    }
    // Per the standard, an event not followed by a blank line is discarded.
  } finally {
    await iterator.return?.();
  }
}

function remoteError(data: string): WoodworkStreamError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    parsed = { message: data };
  }
  const remote = deserializeError(parsed);
  const code = (remote as Error & { code?: string }).code;
  const streamCode = typeof code === 'string' && code.startsWith('WW_STREAM_') ? (code as StreamErrorCode) : 'WW_STREAM_ABORTED';
  return new WoodworkStreamError(streamCode, remote.message, { cause: remote });
}

/**
 * Reads chunks back from a body written by `toServerSentEvents` (a `fetch` response's `body`):
 * ends at the `end` event, throws the stream's error at a `stream-error` event, and throws
 * WW_STREAM_TRUNCATED when the body stops before `end` (a dropped connection is not an end).
 * Repeated chunks (a server that resumed too early) are skipped; a missing one is WW_STREAM_GAP.
 */
export async function* fromServerSentEvents(body: ChunkSource<Uint8Array | string>): AsyncGenerator<StreamChunk> {
  let next: number | undefined;
  for await (const event of parseServerSentEvents(body)) {
    if (event.event === 'chunk') {
      let chunk: StreamChunk;
      try {
        chunk = chunkFromJson(JSON.parse(event.data));
      } catch (error) {
        throw WoodworkStreamError.isInstance(error)
          ? error
          : new WoodworkStreamError('WW_STREAM_INVALID_CHUNK', `a chunk event's data is not JSON: ${(error as Error).message}`, { cause: error });
      }
      if (next !== undefined && chunk.chunk_index < next) continue;
      if (next !== undefined && chunk.chunk_index > next) {
        throw new WoodworkStreamError('WW_STREAM_GAP', `chunk ${next} of stream ${chunk.stream_id} is missing from the event stream (got ${chunk.chunk_index})`, {
          streamId: chunk.stream_id,
          isRetryable: true,
        });
      }
      next = chunk.chunk_index + 1;
      yield chunk;
      if (chunk.is_final) return;
    } else if (event.event === 'end') {
      return;
    } else if (event.event === 'stream-error') {
      throw remoteError(event.data);
    }
  }
  throw new WoodworkStreamError('WW_STREAM_TRUNCATED', 'the event stream ended before its end event (the connection dropped?)', {
    isRetryable: true,
  });
}

/**
 * The text of a stream of chunks as a ReadableStream of strings (what AI SDK helpers such as
 * `createTextStreamResponse({ stream })` take). Chunks of other types are skipped.
 */
export function toTextStream(source: ChunkSource<StreamChunk>): ReadableStream<string> {
  const iterator = iterate(source);
  return new ReadableStream<string>(
    {
      async pull(controller) {
        for (;;) {
          const { value, done } = await iterator.next();
          if (done) {
            controller.close();
            return;
          }
          if (value.data_type === 'text') {
            controller.enqueue(value.data);
            return;
          }
        }
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
