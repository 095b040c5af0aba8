/**
 * The producing end of a stream: assigns chunk indexes, publishes chunks no further than its
 * consumer's credit allows, coalesces what queued up behind a publish in flight into one message,
 * heartbeats while idle, and fails (with an AbortSignal that fires) when the consumer cancels or
 * goes silent.
 */
import { randomUUID } from 'node:crypto';
import { serializeError } from '@woodwork/bus';
import type { Envelope, EnvelopeInit, EnvelopeTrace } from '@woodwork/bus';
import { encodeChunk, payloadDataSize, payloadWireBytes } from './chunk.js';
import type { StreamChunkInput, StreamChunkPayload } from './chunk.js';
import { describeReason, deserializeError, WoodworkStreamError } from './errors.js';
import { STREAM_EVENT } from './protocol.js';
import type { StreamCancelPayload, StreamChunksPayload, StreamCreditPayload, StreamRef } from './protocol.js';
import type { StreamHost } from './host.js';
import { iterate } from './iterate.js';
import { formatDuration, isRetryable, outageHint, publishAgain } from './publish-retry.js';
import type { ChunkSource } from './iterate.js';

/** What `pipeFrom` reads: an AI SDK `textStream`, any async iterable, web stream or array of chunks. */
export type StreamChunkSource = ChunkSource<StreamChunkInput>;

export interface PipeFromOptions {
  /** End the stream when the source is exhausted. Default true. */
  readonly end?: boolean;
}

/** `open`: sending; `ended`: the final chunk is published; `failed`: aborted, cancelled or timed out. */
export type StreamProducerState = 'open' | 'ended' | 'failed';

export interface StreamProducer extends AsyncDisposable {
  /** Hand this to the consumer (it is plain JSON) so it can `open()` the stream. */
  readonly ref: StreamRef;
  readonly streamId: string;
  readonly sessionId: string;
  /**
   * Aborts when the stream can take no more chunks for a reason other than `end()`: the consumer
   * cancelled it, went silent, `abort()` was called, or the manager closed. `signal.reason` is
   * the WoodworkStreamError that says why; pass the signal on to the work that feeds the stream
   * (the LLM call) so it stops too.
   */
  readonly signal: AbortSignal;
  readonly state: StreamProducerState;
  /** Chunks published so far. */
  readonly sentCount: number;
  /**
   * Publishes one chunk. Waits while the consumer is a full window behind (backpressure), so
   * `await` it. Rejects with WW_STREAM_CANCELLED / WW_STREAM_CONSUMER_TIMEOUT / WW_STREAM_ABORTED
   * once the stream failed, WW_STREAM_CLOSED after `end()`, WW_STREAM_INVALID_CHUNK or
   * WW_STREAM_CHUNK_TOO_LARGE for a chunk that cannot be sent.
   */
  send(chunk: StreamChunkInput): Promise<void>;
  /** Publishes the final chunk (with data, or a bare end marker) after everything sent before. */
  end(final?: StreamChunkInput): Promise<void>;
  /**
   * Fails the stream: the consumer reads the chunks already sent, then gets WW_STREAM_ABORTED
   * carrying `reason`'s message and code. Pending sends reject. Does nothing once ended or failed.
   */
  abort(reason?: unknown): Promise<void>;
  /**
   * Sends every chunk of `source` (an AI SDK `streamText(...).textStream`, any async iterable,
   * ReadableStream or array of strings, bytes or chunk objects), then ends the stream. When the stream
   * is cancelled the source is cancelled too; when the source throws the stream is aborted with
   * that error, and the error is rethrown.
   */
  pipeFrom(source: StreamChunkSource, options?: PipeFromOptions): Promise<void>;
  /** A WritableStream view: `readable.pipeTo(producer.writable)` sends, closes (ends) and aborts. */
  readonly writable: WritableStream<StreamChunkInput>;
}

interface Queued {
  readonly index: number;
  readonly payload: StreamChunkPayload;
  readonly isFinal: boolean;
  /** An upper bound of its size in the envelope (payloadWireBytes). */
  readonly bytes: number;
  /** What it counts for in the byte window (payloadDataSize). */
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The most chunks one pass of the pump publishes (in one message when coalescing, else in one `publishMany`). */
const MAX_BATCH = 256;
/** First re-announcement delay before a consumer answered; doubles up to the heartbeat interval. */
const FIRST_ANNOUNCE_MS = 25;

const END_MARKER: StreamChunkPayload = Object.freeze({ data_type: null, data: null }) as StreamChunkPayload;

function isClosedBus(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'WW_BUS_CLOSED';
}

function chunksNamed(batch: readonly Queued[]): string {
  const first = batch[0]!.index;
  const last = batch[batch.length - 1]!.index;
  return first === last ? `chunk ${first}` : `chunks ${first}-${last}`;
}

export class Producer implements StreamProducer {
  readonly ref: StreamRef;
  /** This incarnation of the stream's producer (heartbeats' `producer_id`): a re-created stream gets a new one. */
  readonly producerId = randomUUID();
  private readonly controller = new AbortController();
  private status: StreamProducerState = 'open';
  private failure: WoodworkStreamError | undefined;
  /** The index the next `send` gets. */
  private assigned = 0;
  /** Chunks the bus has (indexes below this are published). */
  private published = 0;
  /** Chunks with an index below this may be published. Starts at 0: nothing goes out before a consumer is there. */
  private creditLimit = 0;
  /** The consumer reads `stream.chunks` (its credit said so): chunks that queued up go out as one message. */
  private coalesce = false;
  /** The consumer's byte window (its credit's `window_bytes`); Infinity when it sets none. */
  private windowBytes = Infinity;
  /**
   * Data sizes of the chunks published from index `unreadBase` on, which the consumer had not
   * read when it last said (`unread` from `unreadHead`), and their sum: what the byte window bounds.
   */
  private readonly unread: number[] = [];
  private unreadHead = 0;
  private unreadBase = 0;
  private unreadBytes = 0;
  /** Data sizes of the chunks queued and not yet published. */
  private queuedBytes = 0;
  private readonly queue: Queued[] = [];
  private pumping = false;
  private pumpIdle: Promise<void> = Promise.resolve();
  private wakePump: (() => void) | undefined;
  private ending: Promise<void> | undefined;
  private readonly readers = new Set<string>();
  private lastHeardAt: number;
  private lastPublishAt = 0;
  private announceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Chunks the bus failed are being tried again: until that gives up, the stream is not the consumer's to time out. */
  private retryingPublish = false;
  private writableStream: WritableStream<StreamChunkInput> | undefined;

  constructor(
    private readonly host: StreamHost,
    ref: StreamRef,
    private readonly trace: EnvelopeTrace | null,
  ) {
    this.ref = Object.freeze({ ...ref });
    this.lastHeardAt = Date.now();
  }

  get streamId(): string {
    return this.ref.stream_id;
  }

  get sessionId(): string {
    return this.ref.session_id;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get state(): StreamProducerState {
    return this.status;
  }

  get sentCount(): number {
    return this.published;
  }

  /** Called by the manager once registered: tell a consumer that may be listening that we exist. */
  start(): void {
    this.announce(FIRST_ANNOUNCE_MS);
  }

  send(chunk: StreamChunkInput): Promise<void> {
    try {
      return this.accept(chunk);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  end(final?: StreamChunkInput): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ending) return final === undefined ? this.ending : Promise.reject(this.closed('end() was already called'));
    let payload = END_MARKER;
    if (final !== undefined) {
      try {
        payload = encodeChunk(final, this.host.options.maxChunkBytes, this.streamId);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.ending = this.enqueue(payload, true).then(() => {
      if (this.status === 'open') this.status = 'ended';
      this.stopAnnouncing();
      this.host.releaseProducer(this);
    });
    return this.ending;
  }

  async abort(reason?: unknown): Promise<void> {
    const error = new WoodworkStreamError(
      'WW_STREAM_ABORTED',
      `stream ${this.streamId} was aborted by its producer: ${describeReason(reason)}`,
      { cause: reason, streamId: this.streamId },
    );
    if (!this.fail(error)) return;
    await this.publishError(reason ?? error);
  }

  async pipeFrom(source: StreamChunkSource, options: PipeFromOptions = {}): Promise<void> {
    const iterator = iterate(source);
    const stopped = new Promise<never>((_, reject) => {
      const onAbort = () => reject(this.signal.reason);
      if (this.signal.aborted) onAbort();
      else this.signal.addEventListener('abort', onAbort, { once: true });
    });
    stopped.catch(() => undefined);
    let last: Promise<void> | undefined;
    try {
      for (;;) {
        // Race the source with the signal: an LLM that is thinking must not hold up a cancellation.
        const next = await Promise.race([iterator.next(), stopped]);
        if (next.done) break;
        const sent = this.write(next.value);
        last = sent.published;
        if (sent.beyondCredit) await Promise.race([sent.published, stopped]);
      }
      if (last && !(options.end ?? true)) await last;
    } catch (error) {
      iterator.return?.(error)?.catch(() => undefined);
      if (this.status === 'open') await this.abort(error);
      throw error;
    }
    if (options.end ?? true) await this.end();
  }

  get writable(): WritableStream<StreamChunkInput> {
    this.writableStream ??= new WritableStream<StreamChunkInput>({
      write: (chunk) => {
        const sent = this.write(chunk);
        return sent.beyondCredit ? sent.published : undefined;
      },
      close: () => this.end(),
      abort: (reason) => this.abort(reason),
    });
    return this.writableStream;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ending) {
      await this.ending.catch(() => undefined);
      return;
    }
    await this.abort(new Error('the producer was disposed before end() was called'));
  }

  // ---- manager side ----

  /** The readers that asked this producer for credit. */
  get readerIds(): ReadonlySet<string> {
    return this.readers;
  }

  /** A `stream.credit` or `stream.cancel` from a reader of this stream (same session, checked by the manager). */
  onControl(envelope: Envelope): void {
    if (envelope.session_id !== this.sessionId || this.status !== 'open') return;
    // Meant for another incarnation of this stream's producer (the reader has moved on to a
    // re-created stream, or not yet to this one): not ours.
    const addressee = (envelope.payload as { producer_id?: unknown } | null)?.producer_id;
    if (typeof addressee === 'string' && addressee !== this.producerId) return;
    this.lastHeardAt = Date.now();
    if (envelope.event_type === STREAM_EVENT.credit) {
      const payload = envelope.payload as Partial<StreamCreditPayload> | null;
      const limit = payload?.credit_limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit)) return;
      const readerId = typeof payload?.reader_id === 'string' ? payload.reader_id : '';
      if (!this.readers.has(readerId)) {
        // A new reader (first open, or a resume): stop announcing, and tell it at once how far
        // the stream got, so it knows what to fetch from the log.
        this.readers.add(readerId);
        this.stopAnnouncing();
        this.heartbeat();
      }
      this.coalesce = payload?.coalesce === true;
      const windowBytes = payload?.window_bytes;
      this.windowBytes = typeof windowBytes === 'number' && windowBytes > 0 ? windowBytes : Infinity;
      const read = payload?.next_index;
      if (typeof read === 'number' && Number.isInteger(read)) this.markRead(read);
      if (limit > this.creditLimit) this.creditLimit = limit;
      this.wake();
    } else if (envelope.event_type === STREAM_EVENT.cancel) {
      const payload = envelope.payload as Partial<StreamCancelPayload> | null;
      const reason = deserializeError(payload?.reason ?? 'no reason given');
      this.fail(
        new WoodworkStreamError('WW_STREAM_CANCELLED', `stream ${this.streamId} was cancelled by its consumer: ${reason.message}`, {
          cause: reason,
          streamId: this.streamId,
        }),
      );
    }
  }

  /** Periodic: heartbeat when idle; fail when the consumer has been silent too long. */
  tick(now: number): void {
    if (this.status !== 'open') return;
    const { consumerTimeoutMs, heartbeatIntervalMs } = this.host.options;
    if (!this.retryingPublish && this.host.silenceSince(this.lastHeardAt, now) > consumerTimeoutMs) {
      const what =
        this.readers.size === 0
          ? `no consumer opened stream ${this.streamId} within ${consumerTimeoutMs} ms (hand stream.ref to the consumer before sending)`
          : `the consumer of stream ${this.streamId} has been silent for ${consumerTimeoutMs} ms; it has probably disconnected`;
      const error = new WoodworkStreamError('WW_STREAM_CONSUMER_TIMEOUT', what, { streamId: this.streamId, isRetryable: true });
      if (this.fail(error)) void this.publishError(error);
      return;
    }
    if (now - this.lastPublishAt >= heartbeatIntervalMs) this.heartbeat();
  }

  /** The manager is closing. */
  async shutdown(): Promise<void> {
    const error = this.closed('the stream manager closed before the stream ended');
    if (this.fail(error)) await this.publishError(error);
  }

  // ---- internals ----

  private closed(why: string): WoodworkStreamError {
    return new WoodworkStreamError('WW_STREAM_CLOSED', `stream ${this.streamId}: ${why}`, { streamId: this.streamId });
  }

  /** `send` without the promise wrapping: throws what it would reject with before queueing. */
  private accept(chunk: StreamChunkInput): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.ending) throw this.closed('send() after end()');
    return this.enqueue(encodeChunk(chunk, this.host.options.maxChunkBytes, this.streamId), false);
  }

  /**
   * How `pipeFrom` and `writable` send: a chunk within the consumer's credit is not waited for,
   * so the source is read on while a publish is in flight and what it yields meanwhile goes out
   * coalesced; a chunk beyond the credit is (that is the backpressure, and it bounds the queue
   * to the chunks within credit plus one). A publish that fails fails the stream, so the next
   * write, `end()` and the signal report it.
   */
  private write(chunk: StreamChunkInput): { published: Promise<void>; beyondCredit: boolean } {
    const published = this.accept(chunk);
    // Its failure is reported by what comes next; a caller that waits on it still sees it.
    published.catch(() => undefined);
    return { published, beyondCredit: this.assigned > this.creditLimit || this.unreadBytes + this.queuedBytes > this.windowBytes };
  }

  private enqueue(payload: StreamChunkPayload, isFinal: boolean): Promise<void> {
    const size = payloadDataSize(payload);
    const bytes = payloadWireBytes(payload, size);
    this.queuedBytes += size;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ index: this.assigned++, payload, isFinal, bytes, size, resolve, reject });
      if (!this.pumping) {
        this.pumping = true;
        this.pumpIdle = this.pump();
      }
    });
  }

  private wake(): void {
    const wake = this.wakePump;
    this.wakePump = undefined;
    wake?.();
  }

  /** Publishes queued chunks in order, as credit allows, coalescing (or batching) what queued up. */
  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        if (this.failure) {
          this.queuedBytes = 0;
          for (const item of this.queue.splice(0)) item.reject(this.failure);
          return;
        }
        const head = this.queue[0]!;
        if (head.index >= this.creditLimit || this.unreadBytes >= this.windowBytes) {
          await new Promise<void>((resolve) => {
            this.wakePump = resolve;
          });
          continue;
        }
        // Within both windows; the byte window may be overshot by the last chunk taken, so a
        // chunk larger than the whole window still goes out (alone).
        let count = 1;
        let bytes = this.unreadBytes + head.size;
        while (count < this.queue.length && count < MAX_BATCH && this.queue[count]!.index < this.creditLimit && bytes < this.windowBytes) {
          bytes += this.queue[count++]!.size;
        }
        const batch = this.queue.splice(0, count);
        for (const item of batch) this.queuedBytes -= item.size;
        let envelopes: EnvelopeInit[] | undefined;
        try {
          envelopes = this.envelopesOf(batch);
          await this.publishEnvelopes(envelopes);
        } catch (cause) {
          // The pump waits here while the batch is tried again, so the chunks queued behind it
          // cannot overtake it.
          const error = envelopes === undefined ? this.publishFailed(batch, cause) : await this.publishBatchAgain(batch, envelopes, cause);
          if (error !== undefined) {
            for (const item of batch) item.reject(error);
            if (this.fail(error)) void this.publishError(error, true);
            continue;
          }
        }
        this.published = batch[batch.length - 1]!.index + 1;
        for (const item of batch) {
          if (item.index < this.unreadBase) continue; // the consumer said it has it already (a resume ahead of us)
          this.unread.push(item.size);
          this.unreadBytes += item.size;
        }
        this.lastPublishAt = Date.now();
        for (const item of batch) item.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  private async publishEnvelopes(envelopes: readonly EnvelopeInit[]): Promise<void> {
    if (envelopes.length === 1) await this.host.bus.publish(this.ref.topic, envelopes[0]!);
    else await this.host.bus.publishMany(this.ref.topic, envelopes);
  }

  /**
   * A publish of chunks failed: publishes the same envelopes (the same message ids, so the bus
   * drops a copy of one that was written after all, and readers drop a chunk they have by its
   * index) again while the failure is retryable, for up to `publishRetryMs`. Resolves with the
   * error that fails the stream, or undefined once they are on the bus.
   */
  private async publishBatchAgain(batch: readonly Queued[], envelopes: readonly EnvelopeInit[], cause: unknown): Promise<WoodworkStreamError | undefined> {
    const { publishRetryMs, component, onError } = this.host.options;
    if (!isRetryable(cause) || publishRetryMs === 0) return this.publishFailed(batch, cause);
    this.host.busFailing();
    this.retryingPublish = true;
    const outcome = await publishAgain(() => this.publishEnvelopes(envelopes), cause, {
      retryMs: publishRetryMs,
      signal: this.signal,
      onRetrying: (error, forMs) =>
        onError(
          new WoodworkStreamError(
            'WW_STREAM_PUBLISH_FAILED',
            `component \`${component}\`: publishing ${chunksNamed(batch)} of stream ${this.streamId} (session ${this.sessionId}) to \`${this.ref.topic}\` failed, trying again for up to ${formatDuration(forMs)}: ${describeReason(error)}`,
            { cause: error, isRetryable: true, streamId: this.streamId },
          ),
        ),
    }).finally(() => (this.retryingPublish = false));
    if (outcome.published) {
      this.host.busWorking();
      return undefined;
    }
    if (outcome.reason === 'stopped') return this.failure ?? this.publishFailed(batch, outcome.error);
    if (outcome.reason === 'not-retryable') return this.publishFailed(batch, outcome.error);
    return new WoodworkStreamError(
      'WW_STREAM_PUBLISH_FAILED',
      `component \`${component}\` could not publish ${chunksNamed(batch)} of stream ${this.streamId} (session ${this.sessionId}) to \`${this.ref.topic}\` for ${formatDuration(outcome.elapsedMs)} (${outcome.tries} tries), so the stream is failed: ${describeReason(outcome.error).replace(/\.$/, '')}; ${outageHint(publishRetryMs)}`,
      { cause: outcome.error, isRetryable: true, streamId: this.streamId },
    );
  }

  private publishFailed(batch: readonly Queued[], cause: unknown): WoodworkStreamError {
    return new WoodworkStreamError(
      'WW_STREAM_PUBLISH_FAILED',
      `component \`${this.host.options.component}\` could not publish ${chunksNamed(batch)} of stream ${this.streamId} (session ${this.sessionId}) to \`${this.ref.topic}\`, so the stream is failed: ${describeReason(cause)}`,
      { cause, isRetryable: isRetryable(cause), streamId: this.streamId },
    );
  }

  /** The consumer has read every chunk below `index`: their data no longer counts against the byte window. */
  private markRead(index: number): void {
    while (this.unreadBase < index && this.unreadHead < this.unread.length) {
      this.unreadBytes -= this.unread[this.unreadHead++]!;
      this.unreadBase++;
    }
    if (this.unreadBase < index) this.unreadBase = index;
    if (this.unreadHead >= 1_024 && this.unreadHead * 2 >= this.unread.length) {
      this.unread.splice(0, this.unreadHead);
      this.unreadHead = 0;
    }
  }

  /**
   * One message per chunk, or, for a consumer that reads `stream.chunks`, runs of consecutive
   * chunks in one message each, no larger than one lone chunk may be (maxChunkBytes, by an
   * upper bound), so a coalesced message fits wherever a chunk does.
   */
  private envelopesOf(batch: readonly Queued[]): EnvelopeInit[] {
    if (!this.coalesce) return batch.map((item) => this.chunkEnvelope(item));
    const budget = this.host.options.maxChunkBytes;
    const envelopes: EnvelopeInit[] = [];
    for (let start = 0; start < batch.length; ) {
      let end = start + 1;
      let bytes = batch[start]!.bytes;
      while (end < batch.length && bytes + batch[end]!.bytes <= budget) bytes += batch[end++]!.bytes;
      envelopes.push(end - start === 1 ? this.chunkEnvelope(batch[start]!) : this.chunksEnvelope(batch.slice(start, end)));
      start = end;
    }
    return envelopes;
  }

  /**
   * A chunk message's id, fixed before the first try so that a try again carries the same one:
   * this incarnation and the index of the message's first chunk (each is published once). It
   * costs what the bus's own id would have.
   */
  private messageId(index: number): string {
    return `${this.producerId}:${index}`;
  }

  private chunksEnvelope(items: readonly Queued[]): EnvelopeInit<StreamChunksPayload> {
    const last = items[items.length - 1]!;
    return {
      message_id: this.messageId(items[0]!.index),
      session_id: this.sessionId,
      event_type: STREAM_EVENT.chunks,
      component_source: this.ref.source,
      component_target: this.ref.target,
      stream_id: this.streamId,
      is_stream: true,
      chunk_index: items[0]!.index,
      is_final: last.isFinal,
      payload: { chunks: items.map((item) => item.payload) },
      trace: this.trace,
    };
  }

  private chunkEnvelope(item: Queued): EnvelopeInit<StreamChunkPayload> {
    return {
      message_id: this.messageId(item.index),
      session_id: this.sessionId,
      event_type: STREAM_EVENT.chunk,
      component_source: this.ref.source,
      component_target: this.ref.target,
      stream_id: this.streamId,
      is_stream: true,
      chunk_index: item.index,
      is_final: item.isFinal,
      payload: item.payload,
      trace: this.trace,
    };
  }

  /** Moves to `failed` once; returns false when already ended or failed. */
  private fail(error: WoodworkStreamError): boolean {
    if (this.status !== 'open' || this.failure) return false;
    this.failure = error;
    this.status = 'failed';
    this.stopAnnouncing();
    this.controller.abort(error);
    if (!this.pumping) {
      this.queuedBytes = 0;
      for (const item of this.queue.splice(0)) item.reject(error);
    }
    this.wake();
    this.host.releaseProducer(this);
    return true;
  }

  /**
   * Publishes `stream.error` right after the last chunk the bus has, so the consumer reads what
   * was sent and then fails. Waits for a publish in flight to settle first, to know that index.
   */
  private async publishError(reason: unknown, quiet = false): Promise<void> {
    await this.pumpIdle.catch(() => undefined);
    const envelope: EnvelopeInit = {
      message_id: `${this.producerId}:error`,
      session_id: this.sessionId,
      event_type: STREAM_EVENT.error,
      component_source: this.ref.source,
      component_target: this.ref.target,
      stream_id: this.streamId,
      is_stream: true,
      chunk_index: this.published,
      is_final: true,
      payload: { error: serializeError(reason instanceof Error ? reason : new Error(describeReason(reason))) },
      trace: this.trace,
    };
    const publish = () => this.host.bus.publish(this.ref.topic, envelope);
    try {
      await publish();
      return;
    } catch (error) {
      // The consumer reads the end of the stream from it: worth riding out an outage for, unless
      // the manager is closing (what closes it should not wait for a broker).
      const { publishRetryMs, onError } = this.host.options;
      if (isRetryable(error) && publishRetryMs > 0 && !this.host.closing.aborted) {
        this.host.busFailing();
        const outcome = await publishAgain(publish, error, { retryMs: publishRetryMs, signal: this.host.closing });
        if (outcome.published) {
          this.host.busWorking();
          return;
        }
        error = outcome.error;
      }
      if (!quiet && !isClosedBus(error)) onError(error);
    }
  }

  private heartbeat(): void {
    this.lastPublishAt = Date.now();
    this.host.bus
      .publish(this.ref.topic, {
        session_id: this.sessionId,
        event_type: STREAM_EVENT.heartbeat,
        component_source: this.ref.source,
        component_target: this.ref.target,
        stream_id: this.streamId,
        payload: { next_index: this.published, producer_id: this.producerId, ...(this.readers.size === 0 ? { awaiting_credit: true } : {}) },
        trace: this.trace,
      })
      .then(
        () => this.host.busWorking(),
        (error: unknown) => {
          // Not tried again: the next one, on the timer, says as much. An outage is reported
          // once, as it begins.
          if (isRetryable(error) ? this.host.busFailing() : !isClosedBus(error)) this.host.options.onError(error);
        },
      );
  }

  /**
   * Until a consumer answers, heartbeat at 25, 50, 100 … ms (up to the heartbeat interval): a
   * consumer that opened the stream by `{ sessionId, streamId }` learns from it where to send
   * credit, within about the time it took to open.
   */
  private announce(delayMs: number): void {
    this.heartbeat();
    if (delayMs >= this.host.options.heartbeatIntervalMs) return;
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined;
      if (this.status === 'open' && this.readers.size === 0) this.announce(delayMs * 2);
    }, delayMs);
  }

  private stopAnnouncing(): void {
    if (this.announceTimer !== undefined) clearTimeout(this.announceTimer);
    this.announceTimer = undefined;
  }
}
