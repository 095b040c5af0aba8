/**
 * Errors of @woodwork/stream. One base class with a stable `code`; `isInstance` works across
 * duplicate installs (a Symbol.for marker), and `toJSON` is how an error travels inside a
 * `stream.error` or `stream.cancel` envelope to the other side of a stream.
 */
import { serializeError } from '@woodwork/bus';
import type { SerializedError } from '@woodwork/bus';

const marker = Symbol.for('woodwork.stream.error');

export type StreamErrorCode =
  /** Producer side: the consumer cancelled the stream (the message says why). */
  | 'WW_STREAM_CANCELLED'
  /** Consumer side: the producer aborted the stream; producer side: `send` after `abort()`. */
  | 'WW_STREAM_ABORTED'
  /** Consumer side: no chunk and no heartbeat from the producer for `idleTimeoutMs` (it died). */
  | 'WW_STREAM_IDLE_TIMEOUT'
  /** Producer side: no consumer opened the stream, or the consumer went silent, for `consumerTimeoutMs`. */
  | 'WW_STREAM_CONSUMER_TIMEOUT'
  /** Consumer side: a missing chunk did not arrive (nor could be replayed) within `gapTimeoutMs`. */
  | 'WW_STREAM_GAP'
  /** `open({ from })` on a bus whose adapter cannot replay its log. */
  | 'WW_STREAM_RESUME_UNSUPPORTED'
  /** The stream was already ended, or the manager is closed. */
  | 'WW_STREAM_CLOSED'
  /** The same stream is already open in this manager. */
  | 'WW_STREAM_ALREADY_OPEN'
  /** A chunk that cannot be sent or read (bad type, missing media type, malformed payload). */
  | 'WW_STREAM_INVALID_CHUNK'
  /** A chunk larger than `maxChunkBytes`. */
  | 'WW_STREAM_CHUNK_TOO_LARGE'
  | 'WW_STREAM_INVALID_OPTION'
  /**
   * Producer side: the bus refused a chunk, or kept failing it (a broker down) for longer than
   * `publishRetryMs`; the stream is failed (a hole would follow). Consumer side: the bus kept
   * failing its credit that long. The message names the component, the stream and the topic.
   */
  | 'WW_STREAM_PUBLISH_FAILED'
  /**
   * Consumer side: the stream was already read by a reader of another instance (to its end, or
   * until it failed or was cancelled there), and its producer, produced again, was told to stop.
   * The message that opened this reader is a duplicate of one that instance handled (decision 13).
   */
  | 'WW_STREAM_READ_ELSEWHERE'
  /** A Server-Sent Events body ended before its `end` event. */
  | 'WW_STREAM_TRUNCATED';

export interface WoodworkStreamErrorOptions {
  readonly cause?: unknown;
  readonly isRetryable?: boolean;
  readonly streamId?: string;
}

export class WoodworkStreamError extends Error {
  readonly [marker] = true;
  readonly code: StreamErrorCode;
  /** Trying again (publishing again, resuming the stream) may succeed. */
  readonly isRetryable: boolean;
  /** The stream the error is about, when there is one. */
  readonly streamId: string | undefined;

  constructor(code: StreamErrorCode, message: string, options: WoodworkStreamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WoodworkStreamError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
    this.streamId = options.streamId;
  }

  static isInstance(value: unknown): value is WoodworkStreamError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }

  toJSON(): SerializedError {
    return serializeError(this);
  }
}

/** An error received from the other side of a stream, as a plain Error with its name and code. */
export function deserializeError(value: unknown): Error {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Partial<SerializedError>;
  const error = new Error(typeof record.message === 'string' ? record.message : String(value));
  if (typeof record.name === 'string') error.name = record.name;
  if (typeof record.code === 'string') (error as Error & { code?: string }).code = record.code;
  return error;
}

/** Short text of why something failed, for messages. */
export function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (reason === undefined) return 'no reason given';
  return typeof reason === 'string' ? reason : JSON.stringify(reason) ?? String(reason);
}
