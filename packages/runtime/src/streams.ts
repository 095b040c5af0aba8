/**
 * Chunk streams between components, behind a small seam (`StreamTransport`) so that
 * @woodwork/stream can carry them across processes once it exists. Today's transport is
 * in-process: one bounded channel per stream and reader, with backpressure (a write waits while the
 * reader is `highWaterMark` chunks behind) and cancellation both ways (a reader that stops reading
 * aborts the producer's `signal`; a producer that aborts makes the reader throw).
 *
 * With a bus that crosses processes the runtime does not use this transport: a streamed result
 * still reaches the session chunk by chunk (`stream.chunk` events), and the next component gets it
 * whole. See README "Streaming".
 */
import { WoodworkRuntimeError } from './errors.js';
import type { StreamChunk } from './types.js';

export interface StreamSink {
  write(chunk: StreamChunk): Promise<void>;
  /** The producer failed: the reader throws this. */
  abort(reason: unknown): void;
  /** Aborted when the reader cancelled. */
  readonly signal: AbortSignal;
}

export interface StreamTransport {
  /** Whether a reader in another process can read what a producer here writes. */
  readonly crossProcess: boolean;
  /** The producer side of one stream to one reader (`key` names the reader: a component, a call). */
  open(streamId: string, key: string): StreamSink;
  /** The reader side. Throws WW_RUNTIME_STREAM when the stream was aborted or already read. */
  read(streamId: string, key: string): AsyncIterable<StreamChunk>;
  /** Aborts every open stream (runtime stop). */
  closeAll(reason: unknown): void;
}

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
  private wakeReader: (() => void) | undefined;
  private wakeWriters: (() => void)[] = [];

  constructor(
    readonly id: string,
    private readonly highWaterMark: number,
    private readonly onDone: () => void,
  ) {}

  async write(chunk: StreamChunk): Promise<void> {
    if (this.cancel.signal.aborted || this.failure !== undefined) return;
    while (this.queue.length >= this.highWaterMark && !this.cancel.signal.aborted) {
      await new Promise<void>((resolve) => this.wakeWriters.push(resolve));
    }
    if (this.cancel.signal.aborted) return;
    this.queue.push(chunk);
    if (chunk.isFinal) this.ended = true;
    this.wake();
  }

  fail(reason: unknown): void {
    if (this.ended || this.failure !== undefined) return;
    this.failure = reason ?? new Error('the producer aborted the stream');
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

  async next(idleTimeoutMs: number): Promise<StreamChunk | undefined> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        const wake = this.wakeWriters.shift();
        wake?.();
        return chunk;
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
        throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${this.id} sent nothing for ${idleTimeoutMs} ms; its producer is presumed gone`, {
          isRetryable: false,
        });
      }
    }
  }
}

class InProcessTransport implements StreamTransport {
  readonly crossProcess = false;
  private readonly channels = new Map<string, Channel>();
  /** Streams read to the end recently, so a redelivered head fails fast instead of waiting. */
  private readonly finished = new Set<string>();
  private readonly highWaterMark: number;
  private readonly idleTimeoutMs: number;

  constructor(options: InProcessTransportOptions) {
    this.highWaterMark = options.highWaterMark ?? 64;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  }

  private channel(streamId: string, key: string): Channel {
    const id = `${streamId}\u0000${key}`;
    let channel = this.channels.get(id);
    if (!channel) {
      channel = new Channel(streamId, this.highWaterMark, () => {
        this.channels.delete(id);
        this.finished.add(id);
        if (this.finished.size > 10_000) this.finished.delete(this.finished.values().next().value as string);
      });
      this.channels.set(id, channel);
    }
    return channel;
  }

  open(streamId: string, key: string): StreamSink {
    const channel = this.channel(streamId, key);
    return {
      write: (chunk) => channel.write(chunk),
      abort: (reason) => channel.fail(reason),
      signal: channel.cancel.signal,
    };
  }

  read(streamId: string, key: string): AsyncIterable<StreamChunk> {
    const id = `${streamId}\u0000${key}`;
    if (this.finished.has(id)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${streamId} was already read; a stream can be read once`);
    }
    const channel = this.channel(streamId, key);
    if (channel.reading) throw new WoodworkRuntimeError('WW_RUNTIME_STREAM', `stream ${streamId} is already being read`);
    channel.reading = true;
    const idleTimeoutMs = this.idleTimeoutMs;
    return {
      [Symbol.asyncIterator]() {
        let done = false;
        return {
          async next(): Promise<IteratorResult<StreamChunk>> {
            if (done) return { done: true, value: undefined };
            try {
              const chunk = await channel.next(idleTimeoutMs);
              if (chunk === undefined) {
                done = true;
                channel.cancelled(undefined);
                return { done: true, value: undefined };
              }
              if (chunk.isFinal) {
                done = true;
                channel.cancelled(undefined);
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
              channel.cancelled(new WoodworkRuntimeError('WW_RUNTIME_STREAM', `the reader of stream ${streamId} stopped reading`));
            }
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  closeAll(reason: unknown): void {
    for (const channel of [...this.channels.values()]) {
      channel.fail(reason);
      channel.cancelled(reason);
    }
  }
}

export function createInProcessTransport(options: InProcessTransportOptions = {}): StreamTransport {
  return new InProcessTransport(options);
}

/** What a streamed result adds up to, for readers that want it whole. */
export class StreamAggregate {
  private text: string[] = [];
  private json: unknown[] = [];
  private bytes = 0;
  private kinds = new Set<string>();

  add(chunk: StreamChunk): void {
    if (chunk.isFinal && (chunk.data === '' || chunk.data === null)) return;
    this.kinds.add(chunk.dataType);
    if (chunk.dataType === 'text') this.text.push(String(chunk.data));
    else if (chunk.dataType === 'json') this.json.push(chunk.data);
    else this.bytes += (chunk.data as Uint8Array).byteLength ?? 0;
  }

  /** Text chunks joined; JSON chunks as an array; bytes as `{ bytes: <count> }`; mixed as `{ text, json }`. */
  result(): unknown {
    if (this.kinds.size === 0 || (this.kinds.size === 1 && this.kinds.has('text'))) return this.text.join('');
    if (this.kinds.size === 1 && this.kinds.has('json')) return this.json;
    if (this.kinds.size === 1 && this.kinds.has('bytes')) return { bytes: this.bytes };
    return { text: this.text.join(''), json: this.json, bytes: this.bytes };
  }
}
