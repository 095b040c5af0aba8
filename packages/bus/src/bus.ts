/**
 * The Bus wrapper: the one implementation of the user-facing `Bus` (types.ts) over any
 * `BusAdapterV1`. Everything an adapter does not have to know lives here, identically for every
 * broker: envelope validation at both edges, duplicate removal by `message_id`, per-session lanes
 * bounded by `maxInFlight`, in-process retries with exponential backoff and jitter, dead letters
 * (themselves envelopes, on a topic per topic and group) with inspection and re-drive, replay
 * filtering, and a close that drains.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type {
  AdapterDelivery,
  AdapterSubscription,
  BusAdapterV1,
  BusCapabilities,
  BusHealth,
  WireRecord,
} from './adapter.js';
import { checkEnvelope, createEnvelope, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { Envelope, EnvelopeInit } from './envelope.js';
import { WoodworkBusError, serializeError } from './errors.js';
import type { SerializedError } from './errors.js';
import type {
  BackoffOptions,
  Bus,
  DeadLetter,
  DeliveryContext,
  MessageHandler,
  ReplayOptions,
  ReplayedEnvelope,
  SubscribeOptions,
  Subscription,
} from './types.js';

/** `event_type` of a dead letter. Its payload is a `DeadLetterPayload`. */
export const DEAD_LETTER_EVENT_TYPE = 'bus.dead_letter';
/** `event_type` of the marker written to a dead-letter topic when a dead letter is re-driven. */
export const REDRIVEN_EVENT_TYPE = 'bus.redriven';

/**
 * The topic a group's dead letters go to. One per (topic, group), so two groups that both fail a
 * message each keep their own record of it, and `deadLetters()` reads one small log.
 */
export function deadLetterTopic(topic: string, group: string): string {
  return `${topic}.dead-letter.${group}`;
}

/** The wire payload of a `bus.dead_letter` envelope (snake_case, readable from any language). */
export interface DeadLetterPayload {
  /** The envelope exactly as received, or null when the record was not a valid envelope. */
  envelope: Envelope | null;
  /** The record's body as text, kept when it was not a valid envelope. */
  raw_body: string | null;
  /** The body in base64 when it was not even UTF-8. */
  raw_body_base64?: string;
  topic: string;
  group: string;
  /** Where the original sat in its topic's log. */
  position: string;
  attempts: number;
  last_error: SerializedError;
  dead_lettered_at: string;
}

/** The wire payload of a `bus.redriven` marker. */
export interface RedrivenPayload {
  dead_letter_id: string;
  original_message_id: string;
  redriven_message_id: string;
  redriven_at: string;
}

/** Defaults of `SubscribeOptions`, each explained in types.ts and the README. */
export const DEFAULT_SUBSCRIBE_OPTIONS = {
  maxInFlight: 16,
  maxAttempts: 5,
  ackTimeoutMs: 30_000,
  fromBeginning: true,
  deduplicationWindow: 10_000,
} as const;

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
};

/**
 * Delay before retrying after the `failedAttempt`-th try failed (1-based):
 * `initialDelayMs * multiplier^(failedAttempt-1)`, capped at `maxDelayMs`, then spread uniformly by
 * ±`jitter` (and capped again) so many failing messages do not retry in lockstep.
 */
export function computeBackoffDelay(
  failedAttempt: number,
  backoff: Required<BackoffOptions> = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const base = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.multiplier ** exponent);
  const spread = base * backoff.jitter;
  return Math.max(0, Math.min(backoff.maxDelayMs, base - spread + 2 * spread * random()));
}

/**
 * Remembers the last `size` message ids in insertion order (a ring over a Set), so a subscriber
 * can drop a message it already handled. Ids are added only once a message is done (handled or
 * dead-lettered): a redelivery of a message whose handling failed must run again.
 */
export class DeduplicationWindow {
  private readonly seen = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(readonly size: number) {
    this.ring = new Array<string | undefined>(size);
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  add(id: string): void {
    if (this.size === 0 || this.seen.has(id)) return;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.seen.delete(evicted);
    this.ring[this.next] = id;
    this.seen.add(id);
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
  }
}

/**
 * Marks a record made by this wrapper in this process. An in-process adapter (memory) hands the
 * very same record object to subscribers, and then the wrapper uses the envelope it already
 * validated instead of encoding and decoding JSON — the difference between ~300 000 and over a
 * million messages a second. Adapters that go over a wire only ever see `body`.
 */
const localEnvelope = Symbol('woodwork.bus.localEnvelope');

class OutgoingRecord implements WireRecord {
  readonly messageId: string;
  readonly key: string;
  readonly [localEnvelope]: Envelope;
  private encoded: Uint8Array | undefined;

  constructor(envelope: Envelope) {
    this.messageId = envelope.message_id;
    this.key = envelope.session_id;
    this[localEnvelope] = envelope;
  }

  /** Encoded on first read, so an in-process adapter that never reads it never pays for JSON. */
  get body(): Uint8Array {
    if (this.encoded === undefined) {
      try {
        this.encoded = encodeEnvelope(this[localEnvelope]);
      } catch (error) {
        throw new WoodworkBusError(
          'WW_BUS_INVALID_ENVELOPE',
          `envelope ${this.messageId} cannot be encoded as JSON: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    return this.encoded;
  }
}

function envelopeOf(record: WireRecord): Envelope | undefined {
  return (record as Partial<OutgoingRecord>)[localEnvelope];
}

// `new Date().toISOString()` costs a third of a microsecond; at a million messages a second that
// matters, and messages created in the same millisecond share one timestamp anyway.
let clockMs = 0;
let clockIso = '';
function isoNow(): string {
  const now = Date.now();
  if (now !== clockMs) {
    clockMs = now;
    clockIso = new Date(now).toISOString();
  }
  return clockIso;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Topic and group names are limited to what every broker accepts unescaped (Kafka topic names,
 * NATS subject tokens and stream names, Redis keys): letters, digits, `.`, `_` and `-`.
 */
function checkName(kind: 'topic' | 'group', value: unknown): asserts value is string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new WoodworkBusError(
      'WW_BUS_INVALID_OPTION',
      `${kind} must be 1-200 characters of letters, digits, ".", "_" or "-", starting with a letter or digit; got ${JSON.stringify(value)}`,
    );
  }
}

function invalidOption(name: string, expected: string, value: unknown): never {
  throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `subscribe option ${name} must be ${expected}; got ${String(value)}`);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) invalidOption(name, 'an integer >= 1', value);
  return value;
}

function nonNegativeNumber(name: string, value: number | undefined, fallback: number, max = Infinity): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || value > max) invalidOption(name, `a number in [0, ${max}]`, value);
  return value;
}

interface ResolvedSubscribeOptions {
  group: string;
  consumerName: string;
  maxInFlight: number;
  maxAttempts: number;
  backoff: Required<BackoffOptions>;
  ackTimeoutMs: number;
  fromBeginning: boolean;
  deduplicationWindow: number;
  onError: (error: unknown) => void;
}

let consumerCounter = 0;
function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}-${++consumerCounter}-${randomUUID().slice(0, 8)}`;
}

function reportToConsole(error: unknown): void {
  console.error('[@woodwork/bus] subscription error:', error);
}

function resolveSubscribeOptions(options: SubscribeOptions): ResolvedSubscribeOptions {
  if (typeof options !== 'object' || options === null) invalidOption('options', 'an object with a group', options);
  checkName('group', options.group);
  const backoff = options.backoff ?? {};
  const resolvedBackoff: Required<BackoffOptions> = {
    initialDelayMs: nonNegativeNumber('backoff.initialDelayMs', backoff.initialDelayMs, DEFAULT_BACKOFF.initialDelayMs),
    maxDelayMs: nonNegativeNumber('backoff.maxDelayMs', backoff.maxDelayMs, DEFAULT_BACKOFF.maxDelayMs),
    multiplier: nonNegativeNumber('backoff.multiplier', backoff.multiplier, DEFAULT_BACKOFF.multiplier),
    jitter: nonNegativeNumber('backoff.jitter', backoff.jitter, DEFAULT_BACKOFF.jitter, 1),
  };
  if (resolvedBackoff.multiplier < 1) invalidOption('backoff.multiplier', 'a number >= 1', resolvedBackoff.multiplier);
  const deduplicationWindow = options.deduplicationWindow ?? DEFAULT_SUBSCRIBE_OPTIONS.deduplicationWindow;
  if (!Number.isInteger(deduplicationWindow) || deduplicationWindow < 0) {
    invalidOption('deduplicationWindow', 'an integer >= 0', deduplicationWindow);
  }
  const ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_SUBSCRIBE_OPTIONS.ackTimeoutMs;
  if (typeof ackTimeoutMs !== 'number' || !(ackTimeoutMs > 0)) invalidOption('ackTimeoutMs', 'a number > 0', ackTimeoutMs);
  if (options.consumerName !== undefined && (typeof options.consumerName !== 'string' || options.consumerName === '')) {
    invalidOption('consumerName', 'a non-empty string', options.consumerName);
  }
  return {
    group: options.group,
    consumerName: options.consumerName ?? defaultConsumerName(),
    maxInFlight: positiveInteger('maxInFlight', options.maxInFlight, DEFAULT_SUBSCRIBE_OPTIONS.maxInFlight),
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts, DEFAULT_SUBSCRIBE_OPTIONS.maxAttempts),
    backoff: resolvedBackoff,
    ackTimeoutMs,
    fromBeginning: options.fromBeginning ?? DEFAULT_SUBSCRIBE_OPTIONS.fromBeginning,
    deduplicationWindow,
    onError: options.onError ?? reportToConsole,
  };
}

/** What one handler call sees; positions are formatted only when asked for. */
class Context implements DeliveryContext {
  constructor(
    private readonly runner: SubscriptionRunner,
    private readonly delivery: AdapterDelivery,
    readonly attempt: number,
  ) {}
  get topic(): string {
    return this.runner.topic;
  }
  get group(): string {
    return this.runner.options.group;
  }
  get position(): string {
    return this.delivery.position;
  }
  get signal(): AbortSignal {
    return this.runner.abort.signal;
  }
}

interface PendingRetry {
  delivery: AdapterDelivery;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One subscription: takes adapter deliveries and runs the handler with the wrapper's promises.
 *
 * Lanes: `lanes` maps a session to the deliveries waiting behind the one being worked on (null
 * when none wait). The adapter already never hands out a session's next record while one is
 * unsettled, so a lane almost never holds anything; it is the wrapper's own guarantee for the
 * cases where a broker redelivers an expired message to the same member while it still runs.
 * At most `maxInFlight` lanes run at once; the rest wait in `ready`.
 */
class SubscriptionRunner implements Subscription {
  readonly abort = new AbortController();
  private adapterSubscription: AdapterSubscription | undefined;
  private readonly lanes = new Map<string, AdapterDelivery[] | null>();
  private readonly ready: AdapterDelivery[] = [];
  private readonly retries = new Set<PendingRetry>();
  private readonly seen: DeduplicationWindow;
  private running = 0;
  /** Deliveries taken from the adapter and not yet settled (acked or naked). */
  private unsettled = 0;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  constructor(
    private readonly bus: WoodworkBus,
    readonly topic: string,
    readonly options: ResolvedSubscribeOptions,
    private readonly handler: MessageHandler<unknown>,
  ) {
    this.seen = new DeduplicationWindow(options.deduplicationWindow);
  }

  get group(): string {
    return this.options.group;
  }

  async start(): Promise<void> {
    this.adapterSubscription = await this.bus.adapter.doSubscribe({
      topic: this.topic,
      group: this.options.group,
      consumerName: this.options.consumerName,
      maxInFlight: this.options.maxInFlight,
      ackTimeoutMs: this.options.ackTimeoutMs,
      fromBeginning: this.options.fromBeginning,
      onDelivery: (delivery) => this.onDelivery(delivery),
      onError: (error) => this.options.onError(error),
    });
  }

  private onDelivery(delivery: AdapterDelivery): void {
    if (this.closing) {
      this.giveBack(delivery);
      return;
    }
    this.unsettled++;
    const key = delivery.record.key;
    if (this.lanes.has(key)) {
      const waiting = this.lanes.get(key);
      if (waiting) waiting.push(delivery);
      else this.lanes.set(key, [delivery]);
      return;
    }
    this.lanes.set(key, null);
    if (this.running < this.options.maxInFlight) this.begin(delivery);
    else this.ready.push(delivery);
  }

  private begin(delivery: AdapterDelivery): void {
    this.running++;
    const record = delivery.record;
    let envelope = envelopeOf(record);
    if (envelope === undefined) {
      const check = decodeEnvelope(record.body);
      if (!check.ok) {
        this.deadLetter(delivery, null, Math.max(1, delivery.deliveryCount), {
          name: 'WoodworkBusError',
          code: 'WW_BUS_INVALID_ENVELOPE',
          message: `malformed record: ${check.reason}`,
        });
        return;
      }
      envelope = check.envelope;
    }
    if (this.seen.has(envelope.message_id)) {
      this.settle(delivery, true);
      return;
    }
    this.attempt(delivery, envelope, Math.max(1, delivery.deliveryCount));
  }

  /** One try of the handler. `attempt` counts earlier broker deliveries plus local retries. */
  private attempt(delivery: AdapterDelivery, envelope: Envelope, attempt: number): void {
    const given = envelope.attempt === attempt ? envelope : { ...envelope, attempt };
    let result: void | Promise<void>;
    try {
      result = this.handler(given, new Context(this, delivery, attempt));
    } catch (error) {
      this.failed(delivery, envelope, attempt, error);
      return;
    }
    if (result !== undefined && result !== null && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => this.succeeded(delivery, envelope),
        (error: unknown) => this.failed(delivery, envelope, attempt, error),
      );
    } else {
      this.succeeded(delivery, envelope);
    }
  }

  private succeeded(delivery: AdapterDelivery, envelope: Envelope): void {
    this.seen.add(envelope.message_id);
    this.settle(delivery, true);
  }

  private failed(delivery: AdapterDelivery, envelope: Envelope, attempt: number, error: unknown): void {
    if (this.closing) {
      // Shutting down: hand it back for another member rather than burn attempts here.
      this.settle(delivery, false);
      return;
    }
    if (attempt >= this.options.maxAttempts) {
      this.deadLetter(delivery, envelope, attempt, serializeError(error));
      return;
    }
    // Retry here, keeping the session's lane (and so its order) blocked while we wait.
    const pending: PendingRetry = {
      delivery,
      timer: setTimeout(() => {
        this.retries.delete(pending);
        if (this.closing) this.settle(delivery, false);
        else this.attempt(delivery, envelope, attempt + 1);
      }, computeBackoffDelay(attempt, this.options.backoff)),
    };
    this.retries.add(pending);
  }

  private deadLetter(
    delivery: AdapterDelivery,
    envelope: Envelope | null,
    attempts: number,
    lastError: SerializedError,
  ): void {
    const record = delivery.record;
    let rawBody: string | null = null;
    let rawBodyBase64: string | undefined;
    if (envelope === null) {
      const bytes = Buffer.from(record.body.buffer, record.body.byteOffset, record.body.byteLength);
      rawBody = bytes.toString('utf8');
      if (!Buffer.from(rawBody, 'utf8').equals(bytes)) rawBodyBase64 = bytes.toString('base64');
    }
    const payload: DeadLetterPayload = {
      envelope,
      raw_body: rawBody,
      ...(rawBodyBase64 === undefined ? {} : { raw_body_base64: rawBodyBase64 }),
      topic: this.topic,
      group: this.options.group,
      position: delivery.position,
      attempts,
      last_error: lastError,
      dead_lettered_at: new Date().toISOString(),
    };
    const letter = createEnvelope<DeadLetterPayload>({
      session_id: envelope?.session_id ?? (record.key || 'unknown'),
      event_type: DEAD_LETTER_EVENT_TYPE,
      component_source: 'bus',
      component_target: null,
      payload,
      trace: envelope?.trace ?? null,
    });
    this.bus.publishInternal(deadLetterTopic(this.topic, this.options.group), [letter]).then(
      () => {
        if (envelope !== null) this.seen.add(envelope.message_id);
        this.settle(delivery, true);
      },
      (error: unknown) => {
        // Could not record the dead letter: keep the message (give it back later) rather than lose it.
        this.options.onError(
          new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `could not dead-letter a message of ${this.topic}`, {
            cause: error,
            isRetryable: true,
          }),
        );
        this.settle(delivery, false, computeBackoffDelay(attempts, this.options.backoff));
      },
    );
  }

  /** Ack (done) or nak (give back) a delivery, then free its lane and slot once the broker knows. */
  private settle(delivery: AdapterDelivery, done: boolean, nakDelayMs = 0): void {
    const settled = done ? delivery.ack() : delivery.nak(nakDelayMs);
    settled.then(
      () => this.release(delivery),
      (error: unknown) => {
        // The broker will redeliver after the ack timeout: at-least-once holds, duplicates are
        // removed by message_id.
        this.options.onError(error);
        this.release(delivery);
      },
    );
  }

  private release(delivery: AdapterDelivery): void {
    this.running--;
    this.unsettled--;
    const key = delivery.record.key;
    const waiting = this.lanes.get(key);
    if (waiting && waiting.length > 0) {
      const next = waiting.shift()!;
      if (waiting.length === 0) this.lanes.set(key, null);
      if (this.closing) {
        this.running++;
        this.settle(next, false);
      } else {
        this.begin(next);
      }
    } else {
      this.lanes.delete(key);
    }
    if (!this.closing && this.ready.length > 0 && this.running < this.options.maxInFlight) {
      this.begin(this.ready.shift()!);
    }
    if (this.unsettled === 0 && this.drained) this.drained();
  }

  /** A delivery that arrived while closing: never counted, handed straight back. */
  private giveBack(delivery: AdapterDelivery): void {
    delivery.nak(0).catch((error: unknown) => this.options.onError(error));
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    this.bus.forget(this);
    try {
      await this.adapterSubscription?.close();
    } finally {
      this.abort.abort(new WoodworkBusError('WW_BUS_CLOSED', `subscription to ${this.topic} is closing`));
      // Give back what never started: waiting for a slot, waiting in a lane, waiting to retry.
      for (const delivery of this.ready.splice(0)) {
        this.running++;
        this.settle(delivery, false);
      }
      for (const [key, waiting] of this.lanes) {
        if (!waiting) continue;
        this.lanes.set(key, null);
        for (const delivery of waiting) {
          this.running++;
          this.settle(delivery, false);
        }
      }
      for (const pending of this.retries) {
        clearTimeout(pending.timer);
        this.settle(pending.delivery, false);
      }
      this.retries.clear();
      if (this.unsettled > 0) {
        await new Promise<void>((resolve) => {
          this.drained = resolve;
        });
      }
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Reads a dead-letter topic: the letters, and the ids of those re-driven since. */
interface DeadLetterLog {
  letters: Map<string, DeadLetter>;
  redriven: Set<string>;
}

export class WoodworkBus implements Bus {
  readonly adapterName: string;
  readonly capabilities: BusCapabilities;
  private readonly subscriptions = new Set<SubscriptionRunner>();
  private pendingPublishes = 0;
  private publishesSettled: (() => void) | undefined;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(readonly adapter: BusAdapterV1) {
    if (adapter.specificationVersion !== 'v1') {
      throw new WoodworkBusError(
        'WW_BUS_INVALID_OPTION',
        `adapter ${adapter.adapterName} implements specification ${String(adapter.specificationVersion)}, this bus needs v1`,
      );
    }
    this.adapterName = adapter.adapterName;
    this.capabilities = adapter.capabilities;
  }

  private closedError(): WoodworkBusError {
    return new WoodworkBusError('WW_BUS_CLOSED', `the ${this.adapterName} bus is closed`);
  }

  /** Fills defaults and validates; the first problem is thrown to the caller with the field named. */
  private prepare<Payload>(topic: string, init: EnvelopeInit<Payload>): Envelope<Payload> {
    if (typeof init !== 'object' || init === null) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `invalid envelope for topic ${topic}: envelope must be an object`);
    }
    const envelope = createEnvelope<Payload>(init.timestamp === undefined ? { ...init, timestamp: isoNow() } : init);
    const check = checkEnvelope(envelope);
    if (!check.ok) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `invalid envelope for topic ${topic}: ${check.reason}`);
    }
    return envelope;
  }

  async publish<Payload>(topic: string, init: EnvelopeInit<Payload>): Promise<Envelope<Payload>> {
    if (this.closed) throw this.closedError();
    checkName('topic', topic);
    const envelope = this.prepare(topic, init);
    await this.publishInternal(topic, [envelope as Envelope]);
    return envelope;
  }

  async publishMany<Payload>(topic: string, inits: readonly EnvelopeInit<Payload>[]): Promise<Envelope<Payload>[]> {
    if (this.closed) throw this.closedError();
    checkName('topic', topic);
    if (!Array.isArray(inits)) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `publishMany to ${topic} needs an array of envelopes`);
    }
    const envelopes = inits.map((init) => this.prepare(topic, init));
    if (envelopes.length > 0) await this.publishInternal(topic, envelopes as Envelope[]);
    return envelopes;
  }

  /** Publishes already-valid envelopes; also used while closing (dead letters of draining handlers). */
  async publishInternal(topic: string, envelopes: readonly Envelope[]): Promise<void> {
    const records = envelopes.map((envelope) => new OutgoingRecord(envelope));
    this.pendingPublishes++;
    try {
      await this.adapter.doPublish(topic, records);
    } catch (error) {
      if (WoodworkBusError.isInstance(error)) throw error;
      throw new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `publishing to ${topic} on the ${this.adapterName} bus failed`, {
        cause: error,
        isRetryable: true,
      });
    } finally {
      if (--this.pendingPublishes === 0 && this.publishesSettled) this.publishesSettled();
    }
  }

  async subscribe<Payload = unknown>(
    topic: string,
    options: SubscribeOptions,
    handler: MessageHandler<Payload>,
  ): Promise<Subscription> {
    if (this.closed) throw this.closedError();
    checkName('topic', topic);
    if (typeof handler !== 'function') invalidOption('handler', 'a function', handler);
    const runner = new SubscriptionRunner(this, topic, resolveSubscribeOptions(options), handler as MessageHandler<unknown>);
    this.subscriptions.add(runner);
    try {
      await runner.start();
    } catch (error) {
      this.subscriptions.delete(runner);
      throw error;
    }
    if (this.closed) {
      // close() ran while we were subscribing; it could not see this subscription's adapter side.
      await runner.close();
      throw this.closedError();
    }
    return runner;
  }

  /** @internal a subscription that closed on its own. */
  forget(runner: SubscriptionRunner): void {
    this.subscriptions.delete(runner);
  }

  async *replay(topic: string, options: ReplayOptions = {}): AsyncIterable<ReplayedEnvelope> {
    checkName('topic', topic);
    const sessionId = options.sessionId;
    const request = {
      topic,
      ...(sessionId === undefined ? {} : { key: sessionId }),
      ...(options.afterPosition === undefined ? {} : { afterPosition: options.afterPosition }),
    };
    for await (const { record, position } of this.adapter.doReplay(request)) {
      let envelope = envelopeOf(record);
      if (envelope === undefined) {
        const check = decodeEnvelope(record.body);
        // A malformed record cannot be replayed as an envelope; the dead-letter topic has it.
        if (!check.ok) continue;
        envelope = check.envelope;
      }
      if (sessionId !== undefined && envelope.session_id !== sessionId) continue;
      yield { envelope, position };
    }
  }

  private async readDeadLetters(topic: string, group: string): Promise<DeadLetterLog> {
    checkName('topic', topic);
    checkName('group', group);
    const letters = new Map<string, DeadLetter>();
    const redriven = new Set<string>();
    for await (const { envelope } of this.replay(deadLetterTopic(topic, group))) {
      if (envelope.event_type === DEAD_LETTER_EVENT_TYPE) {
        const payload = envelope.payload as DeadLetterPayload;
        letters.set(envelope.message_id, {
          id: envelope.message_id,
          topic: payload.topic,
          group: payload.group,
          envelope: payload.envelope,
          rawBody: payload.raw_body,
          attempts: payload.attempts,
          lastError: payload.last_error,
          deadLetteredAt: payload.dead_lettered_at,
        });
      } else if (envelope.event_type === REDRIVEN_EVENT_TYPE) {
        redriven.add((envelope.payload as RedrivenPayload).dead_letter_id);
      }
    }
    return { letters, redriven };
  }

  async *deadLetters(topic: string, group: string): AsyncIterable<DeadLetter> {
    const { letters, redriven } = await this.readDeadLetters(topic, group);
    for (const letter of letters.values()) {
      if (!redriven.has(letter.id)) yield letter;
    }
  }

  /**
   * Re-drives with a NEW message_id (the original id is kept in the marker): subscribers and
   * brokers drop ids they have seen, and a re-drive is meant to be handled again. Letters whose
   * record was not a valid envelope cannot be re-driven and are left in place.
   */
  async redrive(topic: string, group: string, ids?: readonly string[]): Promise<number> {
    if (this.closed) throw this.closedError();
    const { letters, redriven } = await this.readDeadLetters(topic, group);
    const wanted = ids === undefined ? undefined : new Set(ids);
    const chosen = [...letters.values()].filter(
      (letter) => letter.envelope !== null && !redriven.has(letter.id) && (wanted === undefined || wanted.has(letter.id)),
    );
    if (chosen.length === 0) return 0;
    const originals = chosen.map((letter) => ({ ...letter.envelope!, message_id: randomUUID(), attempt: 1 }));
    // Originals first, markers second: a crash between the two re-drives twice, never zero times.
    await this.publishInternal(topic, originals);
    const redrivenAt = new Date().toISOString();
    await this.publishInternal(
      deadLetterTopic(topic, group),
      chosen.map((letter, index) =>
        createEnvelope<RedrivenPayload>({
          session_id: letter.envelope!.session_id,
          event_type: REDRIVEN_EVENT_TYPE,
          component_source: 'bus',
          payload: {
            dead_letter_id: letter.id,
            original_message_id: letter.envelope!.message_id,
            redriven_message_id: originals[index]!.message_id,
            redriven_at: redrivenAt,
          },
        }) as Envelope,
      ),
    );
    return chosen.length;
  }

  async health(): Promise<BusHealth> {
    if (this.closed) return { connected: false, ready: false, adapter: this.adapterName, detail: 'closed' };
    return this.adapter.doHealth();
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    const results = await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.close()));
    if (this.pendingPublishes > 0) {
      await new Promise<void>((resolve) => {
        this.publishesSettled = resolve;
      });
    }
    await this.adapter.doClose();
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) throw failure.reason;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Wraps a connected-or-not adapter in the Bus; `createBus(url)` is the usual way in. */
export async function createBusFromAdapter(adapter: BusAdapterV1): Promise<Bus> {
  const bus = new WoodworkBus(adapter);
  try {
    await adapter.doConnect();
  } catch (error) {
    // A half-connected driver may keep reconnecting in the background; release it.
    await adapter.doClose().catch(() => undefined);
    throw error;
  }
  return bus;
}
