/**
 * `createStreamManager`: one per component instance. It creates producing streams, opens
 * reading ones, and routes the bus messages of both: one subscription per topic it uses (its
 * control topic, and each data topic it reads), in a group of its own so every instance sees
 * the messages of the streams it holds; one timer for all heartbeats and timeouts.
 */
import { randomUUID } from 'node:crypto';
import { serializeError } from '@woodwork/bus';
import type { Bus, Envelope, EnvelopeTrace, Subscription } from '@woodwork/bus';
import { WoodworkStreamError } from './errors.js';
import type { StreamHost } from './host.js';
import { checkComponentName, resolveOptions } from './options.js';
import type { ResolvedStreamManagerOptions, StreamManagerOptions } from './options.js';
import { Producer } from './producer.js';
import type { StreamProducer } from './producer.js';
import { STREAM_EVENT, streamControlTopic, streamDataTopic, streamKey } from './protocol.js';
import type { StreamCancelPayload, StreamCreditPayload, StreamHeartbeatPayload, StreamRef } from './protocol.js';
import { Reader } from './reader.js';
import type { EndedStream, OpenStreamOptions, StreamReader } from './reader.js';

export interface CreateStreamOptions {
  /** The session the stream belongs to; only a reader of the same session can read it. */
  readonly sessionId: string;
  /** The component the stream is for; chunks go to its data topic. */
  readonly target: string;
  /** Default `stream-<random UUID>`. Choose one only when both sides already agree on it. */
  readonly streamId?: string;
  /** W3C trace context carried in every envelope of the stream. */
  readonly trace?: EnvelopeTrace;
}

/**
 * Which stream to open: the `StreamRef` its producer handed over, or its session and id
 * (then it is read from this manager's own data topic, and the producer is learnt from the
 * stream's first message; `source` names it up front).
 */
export type StreamAddress =
  | StreamRef
  | { readonly sessionId: string; readonly streamId: string; readonly source?: string };

export interface StreamManager extends AsyncDisposable {
  readonly component: string;
  /** Creates a stream from this component to `target` in a session. Send chunks on what it returns. */
  create(options: CreateStreamOptions): Promise<StreamProducer>;
  /** Opens a stream to read. Resolves once it is listening (and, with `from`, replaying). */
  open(address: StreamAddress, options?: OpenStreamOptions): Promise<StreamReader>;
  /**
   * Aborts the streams still being produced (their consumers get an error), cancels those still
   * being read, and closes the manager's subscriptions. The bus stays open. Idempotent.
   */
  close(): Promise<void>;
}

/** Readers that are over a manager remembers, to answer producers that come late (a few KiB). */
const ENDED_STREAMS_KEPT = 1_024;
const ROUTED_TO_READERS: ReadonlySet<string> = new Set([STREAM_EVENT.chunk, STREAM_EVENT.chunks, STREAM_EVENT.error, STREAM_EVENT.heartbeat]);
const ROUTED_TO_PRODUCERS: ReadonlySet<string> = new Set([STREAM_EVENT.credit, STREAM_EVENT.cancel]);

function requireString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', `${name} must be a non-empty string; got ${JSON.stringify(value)}`);
  }
  return value;
}

class Manager implements StreamManager, StreamHost {
  readonly options: ResolvedStreamManagerOptions;
  private readonly producers = new Map<string, Producer>();
  private readonly readers = new Map<string, Reader>();
  /** Readers that are over, newest last, at most ENDED_STREAMS_KEPT (see `answerLateProducer`). */
  private readonly ended = new Map<string, EndedStream>();
  /**
   * Streams a producer of this manager was told came late for (see `answerReaderOfEndedStream`),
   * with the readers already answered; newest last, at most ENDED_STREAMS_KEPT.
   */
  private readonly endedElsewhere = new Map<string, { readonly why: string; readonly answered: Set<string> }>();
  private readonly subscriptions = new Map<string, Promise<Subscription>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly closed = new AbortController();
  /** Since when the bus has failed this manager's publishes (retryably); undefined while it takes them. */
  private outageSince: number | undefined;
  /** When the last outage ended: silence is counted from then at the earliest. */
  private outageEndedAt = 0;

  constructor(options: StreamManagerOptions) {
    this.options = resolveOptions(options);
  }

  get bus(): Bus {
    return this.options.bus;
  }

  get component(): string {
    return this.options.component;
  }

  async create(options: CreateStreamOptions): Promise<StreamProducer> {
    this.assertOpen();
    const sessionId = requireString('sessionId', options?.sessionId);
    const target = checkComponentName('target', options.target);
    const streamId = options.streamId === undefined ? `stream-${randomUUID()}` : requireString('streamId', options.streamId);
    const { topicPrefix, component } = this.options;
    const ref: StreamRef = {
      stream_id: streamId,
      session_id: sessionId,
      source: component,
      target,
      topic: streamDataTopic(target, topicPrefix),
      control_topic: streamControlTopic(component, topicPrefix),
    };
    const key = streamKey(sessionId, streamId);
    if (this.producers.has(key)) throw this.alreadyOpen('produced', streamId);
    // Listen for credit before anyone can know the stream exists.
    await this.listen(ref.control_topic);
    this.assertOpen();
    if (this.producers.has(key)) throw this.alreadyOpen('produced', streamId);
    const producer = new Producer(this, ref, options.trace ?? null);
    this.producers.set(key, producer);
    this.startTimer();
    producer.start();
    return producer;
  }

  async open(address: StreamAddress, options: OpenStreamOptions = {}): Promise<StreamReader> {
    this.assertOpen();
    if (typeof address !== 'object' || address === null) {
      throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', 'open() needs a StreamRef or { sessionId, streamId }');
    }
    const { topicPrefix, component } = this.options;
    let sessionId: string;
    let streamId: string;
    let topic: string;
    let source: string | undefined;
    let controlTopic: string | undefined;
    if ('stream_id' in address) {
      sessionId = requireString('session_id', address.session_id);
      streamId = requireString('stream_id', address.stream_id);
      topic = address.topic ? checkComponentName('topic', address.topic) : streamDataTopic(component, topicPrefix);
      source = address.source || undefined;
      controlTopic = address.control_topic ? checkComponentName('control_topic', address.control_topic) : undefined;
    } else {
      sessionId = requireString('sessionId', address.sessionId);
      streamId = requireString('streamId', address.streamId);
      topic = streamDataTopic(component, topicPrefix);
      source = address.source === undefined ? undefined : checkComponentName('source', address.source);
    }
    const from = options.from;
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) {
      throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', `from must be a chunk index (an integer >= 0); got ${String(from)}`);
    }
    if (from !== undefined && from > 0 && !this.bus.capabilities.replay) {
      throw new WoodworkStreamError(
        'WW_STREAM_RESUME_UNSUPPORTED',
        `cannot resume stream ${streamId} from chunk ${from}: the ${this.bus.adapterName} bus cannot replay its log; open it from the start or use a bus that replays (memory, redis, nats, kafka)`,
        { streamId },
      );
    }
    if (options.onStop !== undefined && options.onStop !== 'cancel' && options.onStop !== 'detach') {
      throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', `onStop must be "cancel" or "detach"; got ${JSON.stringify(options.onStop)}`);
    }
    const key = streamKey(sessionId, streamId);
    if (this.readers.has(key)) throw this.alreadyOpen('read', streamId);
    if (options.onRestart !== undefined && typeof options.onRestart !== 'function') {
      throw new WoodworkStreamError('WW_STREAM_INVALID_OPTION', 'onRestart must be a function');
    }
    const reader = new Reader(this, sessionId, streamId, topic, source, controlTopic, from, options.onStop, options.onRestart);
    this.readers.set(key, reader);
    try {
      await this.listen(topic);
      this.assertOpen();
    } catch (error) {
      this.releaseReader(reader);
      throw error;
    }
    this.startTimer();
    reader.start();
    return reader;
  }

  close(): Promise<void> {
    this.closed.abort();
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  get closing(): AbortSignal {
    return this.closed.signal;
  }

  busFailing(): boolean {
    if (this.outageSince !== undefined) return false;
    this.outageSince = Date.now();
    return true;
  }

  busWorking(): void {
    if (this.outageSince === undefined) return;
    this.outageSince = undefined;
    this.outageEndedAt = Date.now();
  }

  silenceSince(lastHeardAt: number, now: number): number {
    if (this.outageSince !== undefined && now - this.outageSince <= this.options.publishRetryMs) return 0;
    return now - Math.max(lastHeardAt, this.outageEndedAt);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  releaseProducer(producer: Producer): void {
    const key = streamKey(producer.sessionId, producer.streamId);
    if (this.producers.get(key) !== producer) return;
    this.producers.delete(key);
    // Produced to its end for a reader: a live reader that asks for it later opened a duplicate head.
    if (producer.state === 'ended' && producer.readerIds.size > 0) this.rememberEndedElsewhere(key, 'was already produced to its end for another reader', producer.readerIds);
  }

  releaseReader(reader: Reader): void {
    const key = streamKey(reader.sessionId, reader.streamId);
    if (this.readers.get(key) !== reader) return;
    this.readers.delete(key);
    const leftover = reader.leftover();
    if (leftover === undefined) return;
    this.ended.delete(key);
    this.ended.set(key, leftover);
    if (this.ended.size > ENDED_STREAMS_KEPT) this.ended.delete(this.ended.keys().next().value!);
  }

  /**
   * A heartbeat of a producer this manager's reader of the stream never knew, after that reader is
   * over: the stream is being produced again (decision 13: the message producing it was handed out
   * again after its host died, maybe after the stream was read to its end) and nobody will read it
   * — the reader is done, or failed and its turn with it, and the new stream head is a duplicate
   * the target drops. Unanswered, the producer waited `consumerTimeoutMs` (30 s) for credit, and
   * the message producing it, unsettled meanwhile, held its session back that long (the fault
   * harness's `kill-tail` on NATS: 31 s and 62 s stalls). So it is told to stop, as a reader that
   * stops reading tells it: its sends reject with WW_STREAM_CANCELLED, which the runtime takes as a
   * reader gone, not as the producer's failure.
   */
  private answerLateProducer(key: string, envelope: Envelope): void {
    const ended = this.ended.get(key);
    const producerId = (envelope.payload as Partial<StreamHeartbeatPayload> | null)?.producer_id;
    if (ended === undefined || typeof producerId !== 'string' || producerId === '' || ended.producers.has(producerId)) return;
    ended.producers.add(producerId);
    const producer = envelope.component_source || ended.producer;
    const topic = producer ? streamControlTopic(producer, this.options.topicPrefix) : ended.controlTopic;
    if (topic === undefined) return;
    const why =
      ended.state === 'done'
        ? 'was already read to its end'
        : ended.state === 'failed'
          ? 'failed for its reader before it was produced again'
          : 'was cancelled by its reader before it was produced again';
    const reason = new Error(`stream ${envelope.stream_id} ${why} by \`${this.component}\` (this instance); nobody reads it again`);
    this.bus
      .publish(topic, {
        session_id: envelope.session_id,
        event_type: STREAM_EVENT.cancel,
        component_source: this.component,
        component_target: producer ?? null,
        stream_id: envelope.stream_id,
        payload: { reader_id: ended.readerId, reason: serializeError(reason), producer_id: producerId, ended_elsewhere: ended.state },
      })
      .catch((error: unknown) => this.options.onError(error));
  }

  /** A cancel for a producer here that came late (`answerLateProducer` of another instance). */
  private noteEndedElsewhere(key: string, envelope: Envelope): void {
    const endedElsewhere = (envelope.payload as Partial<StreamCancelPayload> | null)?.ended_elsewhere;
    if (typeof endedElsewhere !== 'string') return;
    const why =
      endedElsewhere === 'done' ? 'was already read to its end' : endedElsewhere === 'failed' ? 'already failed for its reader' : 'was already cancelled by its reader';
    this.rememberEndedElsewhere(key, `${why} by another instance of \`${envelope.component_source}\``, []);
  }

  private rememberEndedElsewhere(key: string, why: string, answered: Iterable<string>): void {
    this.endedElsewhere.delete(key);
    this.endedElsewhere.set(key, { why, answered: new Set(answered) });
    if (this.endedElsewhere.size > ENDED_STREAMS_KEPT) this.endedElsewhere.delete(this.endedElsewhere.keys().next().value!);
  }

  /**
   * A reader asks for a stream whose producer here was told it came late: the stream was read by
   * another instance of the reader's component, and this one's stream head is a duplicate — the
   * message producing it was run again, and its head reached another instance than the first
   * head did (a partition or a consumer changed owner), so no deduplication caught it (decision
   * 13). Unanswered, that reader waited `idleTimeoutMs` (30 s) for a producer that had stopped,
   * and held its session back that long, message after message (the fault run's Kafka broker
   * pause: an input lost). It is told once, on the data topic it reads.
   */
  private answerReaderOfEndedStream(key: string, envelope: Envelope): void {
    const ended = this.endedElsewhere.get(key);
    const credit = envelope.payload as Partial<StreamCreditPayload> | null;
    const readerId = credit?.reader_id;
    const reader = envelope.component_source;
    // A replaying reader (a stream head handed out again after its reader died) reads from the log.
    if (ended === undefined || typeof readerId !== 'string' || credit?.replaying === true || ended.answered.has(readerId) || !reader) return;
    ended.answered.add(readerId);
    const error = new WoodworkStreamError(
      'WW_STREAM_READ_ELSEWHERE',
      `stream ${envelope.stream_id} ${ended.why}; the message that opened this reader is a duplicate of one handled there`,
      { streamId: envelope.stream_id ?? undefined },
    );
    this.bus
      .publish(streamDataTopic(reader, this.options.topicPrefix), {
        session_id: envelope.session_id,
        event_type: STREAM_EVENT.error,
        component_source: this.component,
        component_target: reader,
        stream_id: envelope.stream_id,
        is_stream: true,
        chunk_index: 0,
        is_final: true,
        payload: { error: serializeError(error), reader_id: readerId },
      })
      .catch((publishError: unknown) => this.options.onError(publishError));
  }

  private async doClose(): Promise<void> {
    await Promise.allSettled([
      ...[...this.producers.values()].map((producer) => producer.shutdown()),
      ...[...this.readers.values()].map((reader) => reader.shutdown()),
    ]);
    this.stopTimer();
    const subscriptions = await Promise.allSettled(this.subscriptions.values());
    this.subscriptions.clear();
    await Promise.allSettled(
      subscriptions.flatMap((result) => (result.status === 'fulfilled' ? [result.value.close()] : [])),
    );
  }

  private assertOpen(): void {
    if (this.closePromise) throw new WoodworkStreamError('WW_STREAM_CLOSED', `the stream manager of ${this.component} is closed`);
  }

  private alreadyOpen(how: string, streamId: string): WoodworkStreamError {
    return new WoodworkStreamError('WW_STREAM_ALREADY_OPEN', `stream ${streamId} is already being ${how} by this manager`, { streamId });
  }

  /** One subscription per topic, shared by every stream on it, in this instance's own group. */
  private listen(topic: string): Promise<Subscription> {
    let subscription = this.subscriptions.get(topic);
    if (subscription === undefined) {
      subscription = this.bus.subscribe(
        topic,
        {
          group: `${this.options.topicPrefix}.${this.component}.${this.options.instanceId}`,
          // A new instance has no business with streams that were sent before it existed.
          fromBeginning: false,
          maxInFlight: 64,
          onError: this.options.onError,
        },
        (envelope) => this.route(envelope),
      );
      this.subscriptions.set(topic, subscription);
      subscription.catch(() => this.subscriptions.delete(topic));
    }
    return subscription;
  }

  /** Handlers never throw and never wait: the bus acks at once; flow control is the credit's job. */
  private route(envelope: Envelope): void {
    const streamId = envelope.stream_id;
    if (streamId === null) return;
    try {
      const key = streamKey(envelope.session_id, streamId);
      if (ROUTED_TO_READERS.has(envelope.event_type)) {
        const reader = this.readers.get(key);
        if (reader !== undefined) reader.onEnvelope(envelope);
        else if (envelope.event_type === STREAM_EVENT.heartbeat) this.answerLateProducer(key, envelope);
      } else if (ROUTED_TO_PRODUCERS.has(envelope.event_type)) {
        const producer = this.producers.get(key);
        if (producer !== undefined) {
          if (envelope.event_type === STREAM_EVENT.cancel) this.noteEndedElsewhere(key, envelope);
          producer.onControl(envelope);
        } else if (envelope.event_type === STREAM_EVENT.credit) this.answerReaderOfEndedStream(key, envelope);
      }
    } catch (error) {
      this.options.onError(error);
    }
  }

  private startTimer(): void {
    if (this.timer !== undefined) return;
    const { heartbeatIntervalMs, idleTimeoutMs, gapTimeoutMs, consumerTimeoutMs } = this.options;
    const period = Math.min(1_000, Math.max(10, Math.min(heartbeatIntervalMs, idleTimeoutMs, gapTimeoutMs, consumerTimeoutMs) / 4));
    this.timer = setInterval(() => this.tick(), period);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const producer of this.producers.values()) producer.tick(now);
    for (const reader of this.readers.values()) reader.tick(now);
    // The timer keeps the process alive only while there are streams to watch.
    if (this.producers.size === 0 && this.readers.size === 0) this.stopTimer();
  }
}

/**
 * Creates the stream manager of one component instance:
 *
 * ```ts
 * await using streams = createStreamManager({ bus, component: 'llm' });
 * const stream = await streams.create({ sessionId, target: 'output' });
 * ```
 */
export function createStreamManager(options: StreamManagerOptions): StreamManager {
  return new Manager(options);
}
