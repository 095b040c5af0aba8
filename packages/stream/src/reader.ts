/**
 * The consuming end of a stream: puts chunks back in order, drops duplicates, grants the
 * producer credit as the application reads, fetches what is missing from the bus's log (resume,
 * and gaps that do not fill by themselves), and turns a silent producer or a lasting gap into an
 * error. Read it as an AsyncIterable, a web ReadableStream, or with `read()`.
 */
import { randomUUID } from 'node:crypto';
import { serializeError } from '@woodwork/bus';
import type { Envelope, EnvelopeInit } from '@woodwork/bus';
import { chunkDataSize, decodeChunk } from './chunk.js';
import type { StreamChunk } from './chunk.js';
import { describeReason, deserializeError, WoodworkStreamError } from './errors.js';
import type { StreamHost } from './host.js';
import { formatDuration, isRetryable, outageHint, publishAgain } from './publish-retry.js';
import { STREAM_EVENT, streamControlTopic } from './protocol.js';
import type { StreamChunksPayload, StreamErrorPayload, StreamHeartbeatPayload } from './protocol.js';
import { ReorderBuffer } from './reorder-buffer.js';

/** What stopping to read does to the producer: `cancel` it (default), or `detach` and leave it for a resume. */
export type StopBehavior = 'cancel' | 'detach';

export interface OpenStreamOptions {
  /**
   * Read from this chunk index on: a consumer that reconnects passes the index after the last
   * chunk it handled (`Last-Event-ID` + 1). The chunks before what is live are replayed from
   * the bus's log; a bus that cannot replay rejects with WW_STREAM_RESUME_UNSUPPORTED.
   * Default: from the start, live.
   */
  readonly from?: number;
  /**
   * What breaking out of `for await`, `readable.cancel()` or disposing the reader does:
   * `cancel` tells the producer to stop (its next send rejects with WW_STREAM_CANCELLED);
   * `detach` only stops reading, so a reconnecting consumer can resume (the producer then times
   * out after `consumerTimeoutMs` if nobody does). Default `cancel`.
   */
  readonly onStop?: StopBehavior;
  /**
   * Called when the stream restarts: its producer died mid-stream and a new one (the message that
   * produces it, handed to another instance) creates it again from chunk 0. What was read before
   * is void; the next read returns chunk 0 of the new producer. Without it, a restart shows as a
   * chunk whose `chunk_index` is 0 again.
   */
  readonly onRestart?: (restart: StreamRestart) => void;
}

/** What `onRestart` is told. */
export interface StreamRestart {
  readonly streamId: string;
  /** Chunks the reader had read from the producer it gave up on (now void). */
  readonly discarded: number;
  /** Restarts of this stream so far, this one included. */
  readonly restarts: number;
}

/** A reader that is over, as its manager remembers it (see the manager's `answerLateProducer`). */
export interface EndedStream {
  readonly state: 'done' | 'failed' | 'cancelled';
  readonly readerId: string;
  readonly producer: string | undefined;
  readonly controlTopic: string | undefined;
  /** Producer incarnations it read or gave up on; a heartbeat of any other is a late one. */
  readonly producers: Set<string>;
}

/** `open`: being read; `done`: the final chunk was read; `failed`; `cancelled`; `detached`. */
export type StreamReaderState = 'open' | 'done' | 'failed' | 'cancelled' | 'detached';

export interface StreamReader extends AsyncIterable<StreamChunk>, AsyncDisposable {
  readonly streamId: string;
  readonly sessionId: string;
  readonly state: StreamReaderState;
  /** The chunk_index the next read returns: resume from here after a disconnect. */
  readonly nextIndex: number;
  /** How often the stream restarted: a new producer re-created it from chunk 0 (see `onRestart`). */
  readonly restarts: number;
  /**
   * The next chunk in order; undefined once the stream ended (or was cancelled or detached).
   * Rejects with the stream's error: WW_STREAM_ABORTED, WW_STREAM_IDLE_TIMEOUT, WW_STREAM_GAP,
   * WW_STREAM_INVALID_CHUNK.
   */
  read(): Promise<StreamChunk | undefined>;
  /** A web ReadableStream of the chunks (pull-based: nothing is read ahead of the window). */
  readonly readable: ReadableStream<StreamChunk>;
  /** Reads to the end and joins the text chunks. */
  text(): Promise<string>;
  /** Stops reading and tells the producer why (its send rejects with WW_STREAM_CANCELLED). */
  cancel(reason?: unknown): Promise<void>;
  /** Stops reading without telling the producer, to resume elsewhere. */
  detach(): Promise<void>;
}

/** A `null` item is the data-less end marker. */
type Item = StreamChunk | null;

export class Reader implements StreamReader {
  readonly readerId = randomUUID();
  private buffer: ReorderBuffer<Item>;
  private status: StreamReaderState = 'open';
  private failure: Error | undefined;
  private readonly waiters: (() => void)[] = [];
  /** The earliest `stream.error` seen: it fails the reader once everything before it was read. */
  private abortAt: { index: number; error: WoodworkStreamError } | undefined;
  private controlTopic: string | undefined;
  private producer: string | undefined;
  private lastHeardAt = Date.now();
  private gapSince: number | undefined;
  /** The credit_limit last sent, and when. */
  private granted = -1;
  private lastCreditAt = 0;
  /** Data read since the credit last sent (chunkDataSize), for the byte window. */
  private bytesSinceGrant = 0;
  private replaying = false;
  private replayPosition: string | undefined;
  private lastReplayError: unknown;
  private readableStream: ReadableStream<StreamChunk> | undefined;
  private readonly onStop: StopBehavior;
  private readonly onRestart: ((restart: StreamRestart) => void) | undefined;
  /** The producer incarnation being read (from its heartbeats' `producer_id`); those given up on. */
  private producerId: string | undefined;
  private readonly retired = new Set<string>();
  private restartCount = 0;
  /** In the log, the producer of the latest heartbeat read so far (`catchUp`). */
  private replayProducer: string | undefined;
  /** After a restart, chunks from the log count only after the current producer's heartbeat there. */
  private strictReplay = false;
  /**
   * Whether the log, as read so far, has reached the current producer (one of its heartbeats). Until
   * it has, a producer the log names is older than one heard live, and is never switched to.
   */
  private replayReachedProducer = false;
  /** Aborts when the reader is done, whatever the reason: its credit is no longer tried again. */
  private readonly over = new AbortController();
  /** A credit the bus failed is being tried again (one loop a reader; it sends the newest credit). */
  private creditRetrying = false;

  constructor(
    private readonly host: StreamHost,
    readonly sessionId: string,
    readonly streamId: string,
    private readonly topic: string,
    source: string | undefined,
    controlTopic: string | undefined,
    private readonly from: number | undefined,
    onStop: StopBehavior | undefined,
    onRestart?: (restart: StreamRestart) => void,
  ) {
    this.onRestart = onRestart;
    this.buffer = new ReorderBuffer<Item>(from ?? 0, host.options.window);
    this.producer = source;
    this.controlTopic = controlTopic ?? (source === undefined ? undefined : streamControlTopic(source, host.options.topicPrefix));
    this.onStop = onStop ?? 'cancel';
  }

  get state(): StreamReaderState {
    return this.status;
  }

  get nextIndex(): number {
    return this.buffer.next;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /** Called by the manager once the subscription is live and the reader registered. */
  start(): void {
    this.grant(true);
    if (this.from !== undefined && this.host.bus.capabilities.replay) void this.catchUp();
  }

  async read(): Promise<StreamChunk | undefined> {
    for (;;) {
      if (this.status === 'failed') throw this.failure;
      if (this.status !== 'open') return undefined;
      const item = this.buffer.take();
      if (item !== undefined) {
        this.bytesSinceGrant += chunkDataSize(item);
        this.afterTake();
        if (item === null) {
          this.finish('done');
          return undefined;
        }
        if (item.is_final) this.finish('done');
        return item;
      }
      if (this.abortAt && this.buffer.next >= this.abortAt.index) {
        this.fail(this.abortAt.error, false);
        continue;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  get readable(): ReadableStream<StreamChunk> {
    this.readableStream ??= new ReadableStream<StreamChunk>(
      {
        pull: async (controller) => {
          const chunk = await this.read();
          // After a cancel the controller is closed already; nothing more to hand over.
          if (this.status === 'cancelled' || this.status === 'detached') return;
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
        cancel: (reason) => this.stop(reason ?? 'the ReadableStream was cancelled'),
      },
      { highWaterMark: 0 },
    );
    return this.readableStream;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    try {
      for (;;) {
        const chunk = await this.read();
        if (chunk === undefined) return;
        yield chunk;
      }
    } finally {
      if (this.status === 'open') await this.stop('the consumer stopped reading');
    }
  }

  async text(): Promise<string> {
    let text = '';
    for (let chunk = await this.read(); chunk !== undefined; chunk = await this.read()) {
      if (chunk.data_type === 'text') text += chunk.data;
    }
    return text;
  }

  async cancel(reason?: unknown): Promise<void> {
    if (this.status !== 'open') return;
    this.finish('cancelled');
    await this.sendCancel(reason ?? 'the consumer cancelled the stream');
  }

  async detach(): Promise<void> {
    if (this.status === 'open') this.finish('detached');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.status === 'open' ? this.stop('the reader was disposed') : Promise.resolve();
  }

  // ---- manager side ----

  /** An envelope of this stream from the data topic (live) or from the log (replay). */
  onEnvelope(envelope: Envelope): void {
    if (this.status !== 'open' || envelope.session_id !== this.sessionId || envelope.stream_id !== this.streamId) return;
    this.lastHeardAt = Date.now();
    if (this.controlTopic === undefined && envelope.component_source) {
      this.producer = envelope.component_source;
      this.controlTopic = streamControlTopic(envelope.component_source, this.host.options.topicPrefix);
      this.grant(true);
    }
    const index = envelope.chunk_index;
    switch (envelope.event_type) {
      case STREAM_EVENT.chunk: {
        if (typeof index !== 'number' || index < this.buffer.next) return;
        let item: Item;
        try {
          item = decodeChunk(envelope.payload, this.streamId, index, envelope.is_final);
        } catch (error) {
          this.fail(error as Error, true);
          return;
        }
        if (this.buffer.offer(index, item) === 'accepted' && index === this.buffer.next) this.wakeReaders();
        break;
      }
      case STREAM_EVENT.chunks: {
        const payloads = (envelope.payload as Partial<StreamChunksPayload> | null)?.chunks;
        if (typeof index !== 'number' || !Array.isArray(payloads)) {
          this.fail(new WoodworkStreamError('WW_STREAM_INVALID_CHUNK', `a stream.chunks message of stream ${this.streamId} has no chunk_index or chunks`, { streamId: this.streamId }), true);
          return;
        }
        const last = payloads.length - 1;
        const waiting = this.buffer.next;
        try {
          // Each chunk on its own through the reorder buffer: the application reads them one by
          // one, and a redelivered or replayed message's chunks already read are duplicates.
          for (let i = Math.max(0, waiting - index); i <= last; i++) {
            if (!this.buffer.fits(index + i)) {
              // Beyond the window, as a lone chunk would be: known to exist, dropped, fetched later.
              this.buffer.know(index + last);
              break;
            }
            this.buffer.offer(index + i, decodeChunk(payloads[i], this.streamId, index + i, envelope.is_final && i === last));
          }
        } catch (error) {
          this.fail(error as Error, true);
          return;
        }
        if (this.buffer.hasNext && index <= waiting) this.wakeReaders();
        break;
      }
      case STREAM_EVENT.error: {
        const payload = envelope.payload as Partial<StreamErrorPayload> | null;
        // Addressed to one reader: another reader of this stream (another instance, or a replay of the log) is not concerned.
        if (typeof index !== 'number' || (typeof payload?.reader_id === 'string' && payload.reader_id !== this.readerId)) return;
        const remote = deserializeError(payload?.error);
        if (this.abortAt === undefined || index < this.abortAt.index) {
          const readElsewhere = (remote as { code?: unknown }).code === 'WW_STREAM_READ_ELSEWHERE';
          this.abortAt = {
            index,
            error: readElsewhere
              ? new WoodworkStreamError('WW_STREAM_READ_ELSEWHERE', remote.message, { cause: remote, streamId: this.streamId })
              : new WoodworkStreamError('WW_STREAM_ABORTED', `stream ${this.streamId} was aborted by its producer: ${remote.message}`, {
                  cause: remote,
                  streamId: this.streamId,
                }),
          };
        }
        this.buffer.know(index - 1);
        this.wakeReaders();
        break;
      }
      case STREAM_EVENT.heartbeat: {
        const payload = envelope.payload as Partial<StreamHeartbeatPayload> | null;
        const producerId = payload?.producer_id;
        if (typeof producerId === 'string' && producerId !== '') {
          if (this.retired.has(producerId)) return; // one we moved on from (late, or from the log)
          if (this.producerId === undefined) this.producerId = producerId;
          else if (producerId !== this.producerId) this.restart(producerId);
        }
        // Our credit reached no one (we opened before this producer existed): answer now, not a
        // heartbeat interval later.
        if (payload?.awaiting_credit === true) this.grant(true);
        const next = payload?.next_index;
        if (typeof next === 'number' && Number.isInteger(next)) this.buffer.know(next - 1);
        break;
      }
      default:
        return;
    }
    if (!this.buffer.hasGap) this.gapSince = undefined;
  }

  /** Periodic: idle and gap timeouts, log repair, credit repeated as a heartbeat. */
  tick(now: number): void {
    if (this.status !== 'open') return;
    const { idleTimeoutMs, gapTimeoutMs, heartbeatIntervalMs } = this.host.options;
    if (this.buffer.hasGap) {
      this.gapSince ??= now;
      const waited = this.silenceSince(this.gapSince, now);
      if (waited > gapTimeoutMs) {
        this.fail(this.abortAt?.error ?? this.gapError(), this.abortAt === undefined);
        return;
      }
      if (!this.replaying && this.host.bus.capabilities.replay && waited >= Math.min(200, gapTimeoutMs / 4)) void this.catchUp();
    } else {
      this.gapSince = undefined;
      // Idle only counts while the reader waits: chunks in hand for a slow application are not idleness.
      if (!this.buffer.hasNext && !this.replaying && this.silenceSince(this.lastHeardAt, now) > idleTimeoutMs) {
        this.fail(
          new WoodworkStreamError(
            'WW_STREAM_IDLE_TIMEOUT',
            `nothing came from the producer of stream ${this.streamId}${this.producer ? ` (${this.producer})` : ''} for ${idleTimeoutMs} ms: it has probably died`,
            { streamId: this.streamId, isRetryable: true },
          ),
          true,
        );
        return;
      }
    }
    if (now - this.lastCreditAt >= heartbeatIntervalMs) this.grant(true);
  }

  /**
   * Silence not counted while the bus fails our credit (that loop gives up with its own error)
   * or this manager's publishes: the bus kept us apart, the producer may be fine.
   */
  private silenceSince(since: number, now: number): number {
    return this.creditRetrying ? 0 : this.host.silenceSince(since, now);
  }

  /** The manager is closing. */
  shutdown(): Promise<void> {
    return this.status === 'open' ? this.stop('the consumer closed') : Promise.resolve();
  }

  // ---- internals ----

  private stop(reason: unknown): Promise<void> {
    return this.onStop === 'detach' ? this.detach() : this.cancel(reason);
  }

  /**
   * A new producer re-created the stream (its predecessor died mid-stream and the message that
   * produces it went to another instance): forget the old one's chunks and read the new one's
   * from chunk 0. The old producer is retired: its late heartbeats are ignored, never switched back to.
   */
  private restart(producerId: string): void {
    const discarded = this.buffer.next;
    if (this.producerId !== undefined) this.retired.add(this.producerId);
    this.producerId = producerId;
    this.restartCount++;
    this.buffer.reset(0);
    this.abortAt = undefined;
    this.gapSince = undefined;
    this.granted = -1;
    this.bytesSinceGrant = 0;
    // The log is read again from the start of the session, skipping what came before the new
    // producer's announcement.
    this.replayPosition = undefined;
    this.replayProducer = undefined;
    this.replayReachedProducer = false;
    this.strictReplay = true;
    try {
      this.onRestart?.({ streamId: this.streamId, discarded, restarts: this.restartCount });
    } catch (error) {
      this.host.options.onError(error);
    }
    this.grant(true);
    this.wakeReaders();
  }

  /** Whether a chunk read from the log belongs to the producer being read (see `catchUp`). */
  private fromCurrentProducer(): boolean {
    if (this.strictReplay) return this.replayProducer !== undefined && this.replayProducer === this.producerId;
    return this.replayProducer === undefined || this.producerId === undefined || this.replayProducer === this.producerId;
  }

  private gapError(): WoodworkStreamError {
    const replay = this.host.bus.capabilities.replay
      ? ' nor could it be read from the bus log (trimmed by retention?)'
      : ' and this bus cannot replay its log';
    return new WoodworkStreamError(
      'WW_STREAM_GAP',
      `chunk ${this.buffer.next} of stream ${this.streamId} never arrived (chunks up to ${this.buffer.highestKnown} exist) within ${this.host.options.gapTimeoutMs} ms,${replay}`,
      { streamId: this.streamId, isRetryable: true, cause: this.lastReplayError },
    );
  }

  private afterTake(): void {
    this.grant(false);
    this.wakeReaders();
  }

  /**
   * Tells the producer it may send up to `next + window`, and up to `windowBytes` of data beyond
   * `next`: every half window of chunks or of bytes read, or when `force`d.
   */
  private grant(force: boolean): void {
    if (this.status !== 'open' || this.controlTopic === undefined) return;
    const { window, windowBytes } = this.host.options;
    const limit = this.buffer.next + window;
    if (!force && limit - this.granted < Math.ceil(window / 2) && this.bytesSinceGrant * 2 < windowBytes) return;
    this.granted = Math.max(this.granted, limit);
    this.bytesSinceGrant = 0;
    this.lastCreditAt = Date.now();
    this.publishCredit().then(
      () => this.host.busWorking(),
      (error: unknown) => this.creditFailed(error),
    );
  }

  /** The credit as it stands: up to `next + window`. Absolute, so a late or repeated one does no harm. */
  private publishCredit(): Promise<unknown> {
    const { window, windowBytes } = this.host.options;
    return this.host.bus.publish(this.controlTopic!, {
      session_id: this.sessionId,
      event_type: STREAM_EVENT.credit,
      component_source: this.host.options.component,
      component_target: this.producer ?? null,
      stream_id: this.streamId,
      payload: {
        reader_id: this.readerId,
        credit_limit: this.buffer.next + window,
        next_index: this.buffer.next,
        window_bytes: windowBytes,
        coalesce: true,
        ...(this.from === undefined ? {} : { replaying: true }),
        ...(this.producerId === undefined ? {} : { producer_id: this.producerId }),
      },
    });
  }

  /**
   * The bus failed a credit: without it the producer stops at the end of its window, and a
   * credit is otherwise sent again only every `heartbeatIntervalMs`. So it is tried again (the
   * newest credit each time: it supersedes the one that failed) while the failure is retryable,
   * for up to `publishRetryMs`; past that the reader fails, naming the stream and the component.
   */
  private creditFailed(error: unknown): void {
    const { publishRetryMs } = this.host.options;
    if (!isRetryable(error) || publishRetryMs === 0 || this.status !== 'open') {
      this.reportUnlessClosed(error);
      return;
    }
    const outageBegins = this.host.busFailing();
    if (this.creditRetrying) return;
    this.creditRetrying = true;
    if (outageBegins) this.host.options.onError(error);
    void publishAgain(() => this.publishCredit(), error, { retryMs: publishRetryMs, signal: this.over.signal }).then((outcome) => {
      this.creditRetrying = false;
      if (outcome.published) {
        this.host.busWorking();
        return;
      }
      if (this.status !== 'open') return;
      if (outcome.reason === 'not-retryable') {
        this.reportUnlessClosed(outcome.error);
        return;
      }
      this.fail(
        new WoodworkStreamError(
          'WW_STREAM_PUBLISH_FAILED',
          `component \`${this.host.options.component}\` could not send credit for stream ${this.streamId} (session ${this.sessionId}) to \`${this.controlTopic}\` for ${formatDuration(outcome.elapsedMs)} (${outcome.tries} tries), so it stopped reading: ${describeReason(outcome.error).replace(/\.$/, '')}; ${outageHint(publishRetryMs)}`,
          { cause: outcome.error, isRetryable: true, streamId: this.streamId },
        ),
        false,
      );
    });
  }

  private async sendCancel(reason: unknown): Promise<void> {
    if (this.controlTopic === undefined) return;
    const topic = this.controlTopic;
    const envelope: EnvelopeInit = {
      // Fixed before the first try, so a try again is the same message.
      message_id: randomUUID(),
      session_id: this.sessionId,
      event_type: STREAM_EVENT.cancel,
      component_source: this.host.options.component,
      component_target: this.producer ?? null,
      stream_id: this.streamId,
      payload: {
        reader_id: this.readerId,
        reason: serializeError(reason instanceof Error ? reason : new Error(describeReason(reason))),
        ...(this.producerId === undefined ? {} : { producer_id: this.producerId }),
      },
    };
    const publish = () => this.host.bus.publish(topic, envelope);
    try {
      await publish();
    } catch (error) {
      const { publishRetryMs } = this.host.options;
      if (!isRetryable(error) || publishRetryMs === 0 || this.host.closing.aborted) {
        this.reportUnlessClosed(error);
        return;
      }
      // Tried again in the background: the consumer that stopped reading does not wait for a
      // broker. Without it the producer stops only after consumerTimeoutMs.
      if (this.host.busFailing()) this.host.options.onError(error);
      void publishAgain(publish, error, { retryMs: publishRetryMs, signal: this.host.closing }).then((outcome) => {
        if (outcome.published) this.host.busWorking();
        else this.reportUnlessClosed(outcome.error);
      });
    }
  }

  /**
   * Reads this session's part of the data topic from the log (after where the last catch-up
   * stopped) and feeds this stream's envelopes in, pausing while the window is full.
   */
  private async catchUp(): Promise<void> {
    if (this.replaying) return;
    this.replaying = true;
    try {
      const options = this.replayPosition === undefined ? { sessionId: this.sessionId } : { sessionId: this.sessionId, afterPosition: this.replayPosition };
      for await (const { envelope, position } of this.host.bus.replay(this.topic, options)) {
        if (this.status !== 'open') break;
        if (envelope.stream_id === this.streamId && envelope.session_id === this.sessionId) {
          const index = envelope.chunk_index;
          const isChunk = envelope.event_type === STREAM_EVENT.chunk || envelope.event_type === STREAM_EVENT.chunks;
          if (envelope.event_type === STREAM_EVENT.heartbeat) {
            const producerId = (envelope.payload as Partial<StreamHeartbeatPayload> | null)?.producer_id;
            if (typeof producerId === 'string' && producerId !== '') {
              this.replayProducer = producerId;
              if (this.producerId !== undefined && producerId !== this.producerId && !this.replayReachedProducer) {
                // The producer being read was heard live, and the log has not reached it yet: this
                // one came before it (it died, and the message producing the stream ran again).
                // Switching to it would retire the live producer and wait for a dead one.
                this.replayPosition = position;
                continue;
              }
            }
          } else if (isChunk && !this.fromCurrentProducer()) {
            // A chunk of a producer this reader gave up on (the stream restarted since).
            this.replayPosition = position;
            continue;
          }
          if (isChunk && typeof index === 'number') {
            // All of a coalesced message must fit, or its tail would be dropped and fetched again.
            const count = envelope.event_type === STREAM_EVENT.chunks ? ((envelope.payload as Partial<StreamChunksPayload> | null)?.chunks?.length ?? 1) : 1;
            const last = index + Math.min(Math.max(count, 1), this.buffer.capacity) - 1;
            while (this.status === 'open' && !this.buffer.fits(last)) {
              await new Promise<void>((resolve) => this.waiters.push(resolve));
            }
          }
          this.onEnvelope(envelope);
          // A producer adopted or switched to from the log: the log has reached it.
          if (envelope.event_type === STREAM_EVENT.heartbeat && this.replayProducer === this.producerId) this.replayReachedProducer = true;
        }
        this.replayPosition = position;
      }
      this.lastReplayError = undefined;
    } catch (error) {
      this.lastReplayError = error;
      this.reportUnlessClosed(error);
    } finally {
      this.replaying = false;
    }
  }

  private fail(error: Error, tellProducer: boolean): void {
    if (this.status !== 'open') return;
    this.failure = error;
    this.finish('failed');
    if (tellProducer) void this.sendCancel(error);
  }

  /**
   * What the manager keeps of a reader that is over (read to its end, failed or cancelled; not
   * detached, which waits for a resume): the producers it knew and where they are told to stop.
   */
  leftover(): EndedStream | undefined {
    if (this.status === 'open' || this.status === 'detached') return undefined;
    const producers = new Set(this.retired);
    if (this.producerId !== undefined) producers.add(this.producerId);
    return { state: this.status, readerId: this.readerId, producer: this.producer, controlTopic: this.controlTopic, producers };
  }

  private finish(state: Exclude<StreamReaderState, 'open'>): void {
    if (this.status !== 'open') return;
    this.status = state;
    this.over.abort();
    this.buffer.clear();
    this.wakeReaders();
    this.host.releaseReader(this);
  }

  private wakeReaders(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private reportUnlessClosed(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code !== 'WW_BUS_CLOSED') this.host.options.onError(error);
  }
}
