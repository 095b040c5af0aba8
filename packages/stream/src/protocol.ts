/**
 * The stream protocol on the bus: topic names, event types and the payloads of the control
 * messages. Everything here is plain JSON in ordinary envelopes, so a component in another
 * language can produce or consume a stream (see the README's "Wire protocol").
 *
 *   data topic    `<prefix>.data.<target>`      stream.chunk, stream.chunks, stream.error, stream.heartbeat  (producer → consumer)
 *   control topic `<prefix>.control.<source>`   stream.credit, stream.cancel                  (consumer → producer)
 */
import type { SerializedError } from '@woodwork/bus';
import type { StreamChunkPayload } from './chunk.js';

export const STREAM_EVENT = {
  /** One chunk: is_stream, stream_id, chunk_index, is_final; payload StreamChunkPayload. */
  chunk: 'stream.chunk',
  /**
   * Consecutive chunks coalesced into one message: is_stream, stream_id, chunk_index (of the
   * first), is_final (of the last); payload StreamChunksPayload. Sent only to readers whose
   * credit says `coalesce: true`.
   */
  chunks: 'stream.chunks',
  /** The producer aborted: chunk_index = the index after the last chunk sent; payload StreamErrorPayload. */
  error: 'stream.error',
  /** The producer is alive: payload StreamHeartbeatPayload. Sent when idle, and to answer a new reader. */
  heartbeat: 'stream.heartbeat',
  /** The consumer lets the producer send more: payload StreamCreditPayload. Repeated as the consumer's heartbeat. */
  credit: 'stream.credit',
  /** The consumer stopped reading: payload StreamCancelPayload. */
  cancel: 'stream.cancel',
} as const;

export type StreamEventType = (typeof STREAM_EVENT)[keyof typeof STREAM_EVENT];

/** The payload of a `stream.chunks` envelope: chunk `chunk_index + i` is `chunks[i]`. */
export interface StreamChunksPayload {
  chunks: StreamChunkPayload[];
}

export interface StreamErrorPayload {
  error: SerializedError;
  /**
   * Set when the error concerns one reader only (`WW_STREAM_READ_ELSEWHERE`): every instance of the
   * reading component receives the data topic, and a reader that replays the stream reads it from
   * the log later, so the other readers of the stream must know it is not theirs.
   */
  reader_id?: string;
}

export interface StreamHeartbeatPayload {
  /** How many chunks the producer has published so far (the next chunk_index it will use). */
  next_index: number;
  /**
   * Which incarnation of the producer this is: a random id per `create()`. When the message that
   * produces a stream is handed to another instance after its first producer died, the new one
   * creates the stream again under the same `stream_id`, and its first heartbeat (an announcement,
   * sent before any chunk) carries a new id: the reader drops what it had and reads the stream
   * again from chunk 0 (a *restart*). Absent (a producer that predates it): never a restart.
   */
  producer_id?: string;
  /**
   * Set while no reader has sent this producer credit. A reader that knows the control topic sends
   * its first credit as it opens; when it opens before the producer exists (a stream produced again
   * after its producer died), that credit reaches nobody, and its next one would go only a heartbeat
   * interval (5 s) later. So a reader answers such a heartbeat at once.
   */
  awaiting_credit?: boolean;
}

export interface StreamCreditPayload {
  reader_id: string;
  /** The producer may publish chunks whose chunk_index is below this. Absolute, so repeats and reordering are harmless. */
  credit_limit: number;
  /**
   * The reader's position: it has read every chunk below this. With `window_bytes`, the producer
   * keeps what it published from here on to at most `window_bytes` of data (plus one chunk).
   */
  next_index?: number;
  /**
   * The byte window (the manager's `windowBytes`). A chunk counts its data's size: bytes of binary
   * data, UTF-16 code units of text, characters of a JSON value's JSON text, 0 for a bare end
   * marker. Absent: only `credit_limit` bounds the producer.
   */
  window_bytes?: number;
  /**
   * The reader reads `stream.chunks`, so the producer may coalesce chunks that queued up into
   * one message. Absent (a reader that predates it, or one in another language that does not
   * read it): every chunk travels in its own `stream.chunk`.
   */
  coalesce?: boolean;
  /**
   * The reader was opened with `from`: what came before it is read from the bus's log, so it needs
   * no live producer. A producer's manager answers only readers without it with
   * `WW_STREAM_READ_ELSEWHERE` (see `StreamCancelPayload.ended_elsewhere`).
   */
  replaying?: boolean;
  /**
   * The producer incarnation (its heartbeats' `producer_id`) this credit is for; a producer with
   * another id ignores it, so a re-created stream does not take the credit its dead predecessor
   * was given. Absent: for whoever produces the stream.
   */
  producer_id?: string;
}

export interface StreamCancelPayload {
  reader_id: string;
  reason: SerializedError;
  /** As in `StreamCreditPayload`: only this producer incarnation is cancelled. */
  producer_id?: string;
  /**
   * Set when the cancel answers a producer that came late: the stream had already ended for a
   * reader of another instance (read to its end, failed or cancelled there). The producer's
   * manager then answers every other reader of that stream with a `stream.error` of code
   * `WW_STREAM_READ_ELSEWHERE`: their stream head is a duplicate, and nobody produces it now.
   */
  ended_elsewhere?: 'done' | 'failed' | 'cancelled';
}

/**
 * What a producer hands to its consumer (usually inside the payload of the message that starts
 * the consumer's work) so it can `open()` the stream. Plain JSON.
 */
export interface StreamRef {
  readonly stream_id: string;
  readonly session_id: string;
  /** The producing component. */
  readonly source: string;
  /** The component the stream is for. */
  readonly target: string;
  /** The data topic the chunks are published to. */
  readonly topic: string;
  /** The topic the consumer sends credits and cancellation to. */
  readonly control_topic: string;
}

/** The default topic prefix: `ww.stream.data.<component>`, `ww.stream.control.<component>`. */
export const DEFAULT_TOPIC_PREFIX = 'ww.stream';

/** The topic streams aimed at `component` are published to. */
export function streamDataTopic(component: string, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}.data.${component}`;
}

/** The topic credits and cancellations for streams produced by `component` go to. */
export function streamControlTopic(component: string, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}.control.${component}`;
}

/** Map key of one stream; the session is part of it, so another session's stream is never found. */
export function streamKey(sessionId: string, streamId: string): string {
  return `${sessionId}\u0000${streamId}`;
}
