/**
 * Chunk streams between components, behind one seam (`StreamTransport`) with two implementations:
 *
 * - in-process (the default on the in-memory bus): one bounded channel per stream and reader, with
 *   backpressure (a write waits while the reader is `highWaterMark` chunks behind) and
 *   cancellation both ways (a reader that stops reading aborts the producer's `signal`; a producer
 *   that aborts makes the reader throw). No bus traffic at all for the chunks themselves.
 * - over the bus with @woodwork/stream (the default on a bus that crosses processes, and
 *   `streams: 'bus'` anywhere): credit-based backpressure, heartbeats, ordered delivery, resume —
 *   so a stream works between components in different processes or containers.
 *
 * Either way the chunk type is @woodwork/stream's `StreamChunk`, and every chunk is also copied to
 * the session's events as a `stream.chunk` event (host.ts), which is how clients see tokens live.
 */
import { createStreamManager, type StreamChunk, type StreamChunkInput, type StreamManager } from '@woodwork/stream';
import type { Bus, EnvelopeTrace } from '@woodwork/bus';
import { WoodworkRuntimeError } from './errors.js';
import { componentGroup } from './topics.js';

/** Which stream, between which components. */
export interface StreamAddress {
  readonly sessionId: string;
  readonly streamId: string;
  /** The producing component. */
  readonly source: string;
  /** The reading component (or the caller, for a streamed call). */
  readonly target: string;
  readonly trace?: EnvelopeTrace | null;
  /**
   * Read from the stream's first chunk in the bus log, not only live: the stream head was handed
   * out before (the reader holding it died), so the stream may be half-way or over already, its
   * producer gone. Without it, a reader of a stream that already ended waited `idleTimeoutMs`.
   */
  readonly fromStart?: boolean;
}

/** The producer side of one stream to one reader. */
export interface StreamSink {
  /** Waits while the reader is a full window behind. */
  write(chunk: StreamChunkInput): Promise<void>;
  /** Sends the end of the stream. */
  end(): Promise<void>;
  /** The producer failed: the reader throws an error carrying this reason. */
  abort(reason: unknown): Promise<void>;
  /** Aborted when the reader cancelled or went away. */
  readonly signal: AbortSignal;
}

export interface StreamTransport {
  /** Whether a reader in another process can read what a producer here writes. */
  readonly crossProcess: boolean;
  open(address: StreamAddress): Promise<StreamSink>;
  /** The reader side. Rejects (or its iteration throws) with the producer's failure. */
  read(address: StreamAddress): Promise<AsyncIterable<StreamChunk>>;
  /** Aborts every open stream (runtime stop). */
  close(reason: unknown): Promise<void>;
}

/** A chunk input as a chunk (the in-process transport's job; @woodwork/stream does its own). */
export function toChunk(input: StreamChunkInput, streamId: string, index: number, isFinal: boolean): StreamChunk {
  const base = { stream_id: streamId, chunk_index: index, is_final: isFinal, metadata: {} };
  if (typeof input === 'string') return { ...base, data_type: 'text', data: input };
  if (input instanceof Uint8Array) return { ...base, data_type: 'bytes', data: input, media_type: 'application/octet-stream' };
  if (typeof input !== 'object' || input === null || typeof (input as { data_type?: unknown }).data_type !== 'string') {
    throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', 'a chunk must be a string, a Uint8Array or { data_type, data }', { userError: false });
  }
  const metadata = input.metadata ?? {};
  if (input.data_type === 'text') return { ...base, metadata, data_type: 'text', data: String(input.data) };
  if (input.data_type === 'json') return { ...base, metadata, data_type: 'json', data: input.data };
  return {
    ...base,
    metadata,
    data_type: input.data_type,
    data: input.data,
    media_type: input.media_type ?? 'application/octet-stream',
  };
}

// ---------------------------------------------------------------------------------------------
// In-process

export interface InProcessTransportOptions {
  /** Chunks a reader may be behind before writes wait. Default 64: smooths bursts of tokens, bounds memory. */
  readonly highWaterMark?: number;
  /** A reader whose producer writes nothing for this long fails. Default 120 000 ms. */
  readonly idleTimeoutMs?: number;
}

class Channel {
  readonly queue: StreamChunk[] = [];
  readonly cancel = new AbortController();
  failure: unknown = undefined;
  ended = false;
  reading = false;
  next = 0;
  private wakeReader: (() => void) | undefined;
  private wakeWriters: (() => void)[] = [];

  constructor(
    readonly id: string,
    private readonly highWaterMark: number,
    private readonly onDone: () => void,
  ) {}

  async write(input: StreamChunkInput): Promise<void> {
    if (this.cancel.signal.aborted || this.failure !== undefined || this.ended) return;
    while (this.queue.length >= this.highWaterMark && !this.cancel.signal.aborted) {
      await new Promise<void>((resolve) => this.wakeWriters.push(resolve));
    }
    if (this.cancel.signal.aborted) return;
    this.queue.push(toChunk(input, this.id, this.next++, false));
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(reason: unknown): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = reason ?? new WoodworkRuntimeError('WW_RUNTIME_STREAM', 'the producer aborted the stream');
    this.wake();
  }

  cancelled(reason: unknown): void {
    if (!this.cancel.signal.aborted) this.cancel.abort(reason);
    for (const wake of this.wakeWriters.splice(0)) wake();
    this.onDone();
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
  }

  /** The next chunk; undefined at the end. The last chunk before the end is marked final. */
  async take(idleTimeoutMs: number): Promise<StreamChunk | undefined> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.wakeWriters.shift()?.();
        return this.queue.length === 0 && this.ended ? { ...chunk, is_final: true } : chunk;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = await new Promise<boolean>((resolve) => {
        this.wakeReader = () => resolve(false);
        timer = setTimeout(() => resolve(true), idleTimeoutMs);
      });
      clearTimeout(timer);
      if (idle && this.queue.length === 0 && !this.ended && this.failure === undefined) {
        throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${this.id} sent nothing for ${idleTimeoutMs} ms; its producer is presumed gone`);
      }
    }
  }
}

class InProcessTransport implements StreamTransport {
  readonly crossProcess = false;
  private readonly channels = new Map<string, Channel>();
  /** Streams read to the end recently, so a redelivered stream head fails fast instead of waiting. */
  private readonly finished = new Set<string>();
  private readonly highWaterMark: number;
  private readonly idleTimeoutMs: number;

  constructor(options: InProcessTransportOptions) {
    this.highWaterMark = options.highWaterMark ?? 64;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  }

  private key(address: StreamAddress): string {
    return `${address.sessionId}\u0000${address.streamId}\u0000${address.target}`;
  }

  private channel(address: StreamAddress): Channel {
    const key = this.key(address);
    let channel = this.channels.get(key);
    if (!channel) {
      channel = new Channel(address.streamId, this.highWaterMark, () => {
        this.channels.delete(key);
        this.finished.add(key);
        if (this.finished.size > 10_000) this.finished.delete(this.finished.values().next().value as string);
      });
      this.channels.set(key, channel);
    }
    return channel;
  }

  async open(address: StreamAddress): Promise<StreamSink> {
    const channel = this.channel(address);
    return {
      write: (chunk) => channel.write(chunk),
      end: async () => channel.end(),
      abort: async (reason) => channel.fail(reason),
      signal: channel.cancel.signal,
    };
  }

  async read(address: StreamAddress): Promise<AsyncIterable<StreamChunk>> {
    const key = this.key(address);
    if (this.finished.has(key)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${address.streamId} was already read; a stream can be read once`);
    }
    const channel = this.channel(address);
    if (channel.reading) throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${address.streamId} is already being read`);
    channel.reading = true;
    const idleTimeoutMs = this.idleTimeoutMs;
    return {
      [Symbol.asyncIterator]() {
        let done = false;
        return {
          async next(): Promise<IteratorResult<StreamChunk>> {
            if (done) return { done: true, value: undefined };
            try {
              const chunk = await channel.take(idleTimeoutMs);
              if (chunk === undefined) {
                done = true;
                channel.cancelled(undefined);
                return { done: true, value: undefined };
              }
              return { done: false, value: chunk };
            } catch (error) {
              done = true;
              channel.cancelled(error);
              throw error;
            }
          },
          async return(): Promise<IteratorResult<StreamChunk>> {
            if (!done) {
              done = true;
              channel.cancelled(new WoodworkRuntimeError('WW_RUNTIME_STREAM', `the reader of stream ${address.streamId} stopped reading`));
            }
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  async close(reason: unknown): Promise<void> {
    for (const channel of [...this.channels.values()]) {
      channel.fail(reason);
      channel.cancelled(reason);
    }
  }
}

export function createInProcessTransport(options: InProcessTransportOptions = {}): StreamTransport {
  return new InProcessTransport(options);
}

// ---------------------------------------------------------------------------------------------
// Over the bus, with @woodwork/stream

export interface BusTransportOptions {
  readonly bus: Bus;
  /** Topics become `<namespace>.stream.data.<component>` and `<namespace>.stream.control.<component>`. */
  readonly namespace: string;
  readonly instanceId: string;
  readonly onError: (error: unknown) => void;
  /**
   * How long a chunk, credit or end the bus failed with a retryable error (a broker restarting)
   * is published again before the stream fails: the runtime's `publishRetryMs`, so a stream rides
   * out what the hosts' own messages ride out. Default @woodwork/stream's (120 s).
   */
  readonly publishRetryMs?: number;
}

class BusTransport implements StreamTransport {
  readonly crossProcess = true;
  private readonly managers = new Map<string, StreamManager>();

  constructor(private readonly options: BusTransportOptions) {}

  /** One stream manager per component this process produces or reads streams for. */
  private manager(component: string): StreamManager {
    const name = componentGroup(component);
    let manager = this.managers.get(name);
    if (!manager) {
      manager = createStreamManager({
        bus: this.options.bus,
        component: name,
        instanceId: this.options.instanceId,
        topicPrefix: `${this.options.namespace}.stream`,
        onError: this.options.onError,
        ...(this.options.publishRetryMs === undefined ? {} : { publishRetryMs: this.options.publishRetryMs }),
      });
      this.managers.set(name, manager);
    }
    return manager;
  }

  async open(address: StreamAddress): Promise<StreamSink> {
    const producer = await this.manager(address.source).create({
      sessionId: address.sessionId,
      target: componentGroup(address.target),
      streamId: address.streamId,
      ...(address.trace ? { trace: address.trace } : {}),
    });
    return {
      write: (chunk) => producer.send(chunk),
      end: () => producer.end(),
      abort: (reason) => producer.abort(reason),
      signal: producer.signal,
    };
  }

  async read(address: StreamAddress): Promise<AsyncIterable<StreamChunk>> {
    return this.manager(address.target).open(
      {
        sessionId: address.sessionId,
        streamId: address.streamId,
        source: componentGroup(address.source),
      },
      address.fromStart === true && this.options.bus.capabilities.replay ? { from: 0 } : {},
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.managers.values()].map((manager) => manager.close().catch(() => undefined)));
    this.managers.clear();
  }
}

export function createBusTransport(options: BusTransportOptions): StreamTransport {
  return new BusTransport(options);
}

// ---------------------------------------------------------------------------------------------

/**
 * What a streamed result adds up to, for readers that want it whole. A chunk whose `chunk_index`
 * is 0 after others means the stream restarted (a new producer re-created it after the first died
 * mid-stream, see @woodwork/stream's README, "Restart"): what was added before is dropped.
 */
export class StreamAggregate {
  private text: string[] = [];
  private json: unknown[] = [];
  private bytes = 0;
  private readonly kinds = new Set<string>();
  private added = 0;
  /** How often the stream restarted. */
  restarts = 0;

  add(chunk: StreamChunk): void {
    if (chunk.chunk_index === 0 && this.added > 0) {
      this.restarts++;
      this.text = [];
      this.json = [];
      this.bytes = 0;
      this.kinds.clear();
    }
    this.added++;
    if (chunk.data_type === 'text') {
      this.kinds.add('text');
      this.text.push(chunk.data);
    } else if (chunk.data_type === 'json') {
      this.kinds.add('json');
      this.json.push(chunk.data);
    } else {
      this.kinds.add('bytes');
      this.bytes += chunk.data.byteLength;
    }
  }

  /** Text chunks joined; JSON chunks as an array; binary as `{ bytes: <count> }`; mixed as `{ text, json, bytes }`. */
  result(): unknown {
    if (this.kinds.size === 0 || (this.kinds.size === 1 && this.kinds.has('text'))) return this.text.join('');
    if (this.kinds.size === 1 && this.kinds.has('json')) return this.json;
    if (this.kinds.size === 1 && this.kinds.has('bytes')) return { bytes: this.bytes };
    return { text: this.text.join(''), json: this.json, bytes: this.bytes };
  }
}
