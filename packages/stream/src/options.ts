/**
 * The stream manager's options: each with its default and why, checked once at creation.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '@woodwork/bus';
import { WoodworkStreamError } from './errors.js';
import { DEFAULT_TOPIC_PREFIX } from './protocol.js';

export interface StreamManagerOptions {
  /** The bus the streams travel on. The manager never closes it. */
  readonly bus: Bus;
  /**
   * The component this manager belongs to: streams it creates come from it, and streams opened
   * by `{ sessionId, streamId }` are read from its data topic. Letters, digits, `.`, `_`, `-`.
   */
  readonly component: string;
  /**
   * This process's name among the instances of the component; names the bus groups, so every
   * instance receives the messages of the streams it holds. Default: random.
   */
  readonly instanceId?: string;
  /** Prefix of the topics (`<prefix>.data.<component>`, `<prefix>.control.<component>`). Default `ww.stream`. */
  readonly topicPrefix?: string;
  /**
   * How many chunks a producer may be ahead of what its consumer has read (the credit window).
   * Default 64: a token stream never waits on a grant round trip (grants go out every half
   * window), while a consumer buffers at most 64 chunks, and never more than `windowBytes` of
   * data plus one chunk. Across processes a stream moves at most a window per credit round trip
   * (two bus hops): 256 moves two to four times as many chunks a second at full speed (README,
   * "Figures"), at the cost of a producer that may run further ahead of its reader.
   */
  readonly window?: number;
  /**
   * How much data (bytes of binary, characters of text and JSON) a producer may have published
   * beyond what its consumer has read. Default 4 MiB: it bounds the memory of a stream of large
   * chunks (images, long tool output) where a window of chunks does not (64 × maxChunkBytes is
   * 32 MiB, 256 × 128 MiB), and never binds for tokens or audio frames. A producer may overshoot
   * it by one chunk, so a chunk larger than the whole window still goes through.
   */
  readonly windowBytes?: number;
  /**
   * The largest chunk `send` accepts, in bytes of data (before base64). Default 512 KiB: after
   * base64 and the envelope a chunk stays under the 1 MB message limit Kafka and NATS ship with.
   */
  readonly maxChunkBytes?: number;
  /**
   * A reader fails with WW_STREAM_IDLE_TIMEOUT when nothing (no chunk, no heartbeat) came from
   * the producer for this long: the producer died. Default 30 000 ms, five heartbeats.
   */
  readonly idleTimeoutMs?: number;
  /**
   * An idle producer sends a heartbeat, and a reader repeats its credit, this often. Default
   * 5 000 ms: negligible traffic (one small message per idle stream), and several chances to be
   * heard before any timeout. Must be under half of the timeouts.
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * A producer fails with WW_STREAM_CONSUMER_TIMEOUT when no consumer opened the stream, or its
   * consumer was silent (no credit, which readers repeat every heartbeat), for this long: a
   * consumer that disconnected without a word stops its producer. Default 30 000 ms, which also
   * leaves a crashed consumer time to reconnect and resume.
   */
  readonly consumerTimeoutMs?: number;
  /**
   * A chunk that is missing while later ones arrived is waited for (and, where the bus can
   * replay, fetched from the log) this long before the reader fails with WW_STREAM_GAP.
   * Default 10 000 ms: longer than any redelivery a healthy broker makes.
   */
  readonly gapTimeoutMs?: number;
  /**
   * How long a publish the bus failed with a retryable error (a broker restarting: Redis
   * reconnecting, a Kafka publish outlasting its confirmation timeout) is tried again, with
   * backoff (0.2 s doubling to 5 s), counted from the first failure. Chunks, the end and errors go
   * again as the same envelopes under the same message ids, and chunks keep their order (later
   * ones wait behind); credits and cancels go again too. Meanwhile neither side counts the
   * other's silence against its timeouts: it is the bus's. Past it the stream fails with
   * WW_STREAM_PUBLISH_FAILED, naming the stream and the component. 0: fail at the first failure.
   * Default 120 000 ms, the Woodwork runtime's own bound (its `turnTimeoutMs`, past which nobody
   * waits for the reply): a Kafka publish to a stopped broker itself fails only after 30 s, and a
   * Kafka restart took about a minute to be over in the project's fault run.
   */
  readonly publishRetryMs?: number;
  /**
   * Errors the manager survives but someone should see (a heartbeat the bus refused, a
   * malformed chunk from a foreign producer). Default: `console.error`.
   */
  readonly onError?: (error: unknown) => void;
}

export interface ResolvedStreamManagerOptions {
  readonly bus: Bus;
  readonly component: string;
  readonly instanceId: string;
  readonly topicPrefix: string;
  readonly window: number;
  readonly windowBytes: number;
  readonly maxChunkBytes: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly consumerTimeoutMs: number;
  readonly gapTimeoutMs: number;
  readonly publishRetryMs: number;
  readonly onError: (error: unknown) => void;
}

export const DEFAULT_STREAM_OPTIONS = {
  topicPrefix: DEFAULT_TOPIC_PREFIX,
  window: 64,
  windowBytes: 4 * 1024 * 1024,
  maxChunkBytes: 512 * 1024,
  idleTimeoutMs: 30_000,
  heartbeatIntervalMs: 5_000,
  consumerTimeoutMs: 30_000,
  gapTimeoutMs: 10_000,
  publishRetryMs: 120_000,
} as const;

/** Topic and group names must stay within what every broker accepts (see @woodwork/bus). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function invalid(message: string): never {
  throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', message);
}

function checkName(name: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    invalid(`${name} must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit; got ${JSON.stringify(value)}`);
  }
  return value;
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    invalid(`${name} must be a ${integer ? 'positive integer' : 'positive number'}; got ${String(value)}`);
  }
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) invalid(`${name} must be a number of milliseconds >= 0; got ${String(value)}`);
  return value;
}

export function checkComponentName(name: string, value: unknown): string {
  return checkName(name, value);
}

export function resolveOptions(options: StreamManagerOptions): ResolvedStreamManagerOptions {
  if (typeof options !== 'object' || options === null) invalid('createStreamManager needs an options object with bus and component');
  const bus = options.bus;
  if (typeof bus !== 'object' || bus === null || typeof bus.publish !== 'function' || typeof bus.subscribe !== 'function') {
    invalid('createStreamManager needs a bus (from createBus)');
  }
  const resolved: ResolvedStreamManagerOptions = {
    bus,
    component: checkName('component', options.component),
    instanceId: checkName('instanceId', options.instanceId ?? randomInstanceId()),
    topicPrefix: checkName('topicPrefix', options.topicPrefix ?? DEFAULT_STREAM_OPTIONS.topicPrefix),
    window: positive('window', options.window, DEFAULT_STREAM_OPTIONS.window, true),
    windowBytes: positive('windowBytes', options.windowBytes, DEFAULT_STREAM_OPTIONS.windowBytes, true),
    maxChunkBytes: positive('maxChunkBytes', options.maxChunkBytes, DEFAULT_STREAM_OPTIONS.maxChunkBytes, true),
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_STREAM_OPTIONS.idleTimeoutMs),
    heartbeatIntervalMs: positive('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULT_STREAM_OPTIONS.heartbeatIntervalMs),
    consumerTimeoutMs: positive('consumerTimeoutMs', options.consumerTimeoutMs, DEFAULT_STREAM_OPTIONS.consumerTimeoutMs),
    gapTimeoutMs: positive('gapTimeoutMs', options.gapTimeoutMs, DEFAULT_STREAM_OPTIONS.gapTimeoutMs),
    publishRetryMs: nonNegative('publishRetryMs', options.publishRetryMs, DEFAULT_STREAM_OPTIONS.publishRetryMs),
    onError: options.onError ?? ((error: unknown) => console.error('[@woodwork/stream]', error)),
  };
  const shortest = Math.min(resolved.idleTimeoutMs, resolved.consumerTimeoutMs);
  if (resolved.heartbeatIntervalMs * 2 > shortest) {
    invalid(
      `heartbeatIntervalMs (${resolved.heartbeatIntervalMs}) must be at most half of idleTimeoutMs and consumerTimeoutMs (${shortest}), or a live peer would time out`,
    );
  }
  return resolved;
}

function randomInstanceId(): string {
  return randomUUID().slice(0, 8);
}
