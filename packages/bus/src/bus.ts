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
import { checkEnvelope, createEnvelope, decodeEnvelope, encodeJson, findUnserializable } from './envelope.js';
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

/** A `bus.dead_letter` envelope as `deadLetters()` and `onDeadLetter` show it. */
function deadLetterOf(envelope: Envelope): DeadLetter {
  const payload = envelope.payload as DeadLetterPayload;
  return {
    id: envelope.message_id,
    topic: payload.topic,
    group: payload.group,
    envelope: payload.envelope,
    rawBody: payload.raw_body,
    attempts: payload.attempts,
    lastError: payload.last_error,
    deadLetteredAt: payload.dead_lettered_at,
  };
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
  /** For adapters that renew leases (spec v1.4 `leaseRenewal`). */
  leaseMs: 5_000,
  /** For adapters before v1.4, whose lease is a fixed timeout: above most handlers. */
  ackTimeoutMs: 30_000,
  fromBeginning: true,
  deduplicationWindow: 10_000,
} as const;

/**
 * How long a delivery given back while a suspect runs alone stays away (`nak(delay, true)`): the
 * time the suspect has run so far, at least `min` and at most `max` — a quick suspect costs the
 * others little latency, a long one does not make the adapter hand them out and take them back
 * several times a second. See `SubscriptionRunner` ("Suspects run alone") and decision 0012.
 */
export const ISOLATION_HOLD_BACK_MS = { min: 100, max: 1_000 } as const;

/**
 * How long isolation may hold a subscription back, twice over: a suspect waits at most this long
 * for the deliveries already running to finish (then it runs beside what is left), and holds new
 * deliveries that are not suspects back for at most this long once it runs (then they run beside
 * it; other suspects wait until it is settled, so two suspects never run together). Most poison
 * messages kill their consumer at once; a suspect that ran this long alone has shown it does not.
 * Without the bound, handlers could wait on each other across subscriptions of one process: a
 * stream head in one component's inbox waiting for a stream whose re-production sits held back in
 * another component's inbox behind a suspect that waits for that very head's reader — until their
 * 30 s timeouts broke the cycle (measured with the fault harness's SIGKILL of a streaming host).
 */
export const ISOLATION_LIMIT_MS = 1_000;

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
 * Remembers at least the last `size` message ids (up to twice that), so a subscriber can drop a
 * message it already handled. Ids are added only once a message is done (handled or
 * dead-lettered): a redelivery of a message whose handling failed must run again.
 *
 * It stores a 64-bit fingerprint of each id in two typed-array hash tables that take turns (the
 * older is cleared when the newer fills), not the id strings: a Set of 10 000 live strings costs a
 * third of the embedded bus's throughput in garbage collection. Two different ids share a
 * fingerprint with probability about size / 2^64 (around 10^-15 per message at the default
 * size), which is the only way this window could drop a message that is not a duplicate.
 */
export class DeduplicationWindow {
  private current: Int32Array;
  private previous: Int32Array;
  private currentCount = 0;
  private readonly mask: number;

  constructor(readonly size: number) {
    let capacity = 2;
    while (capacity < size * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.current = new Int32Array(size === 0 ? 0 : capacity * 2);
    this.previous = new Int32Array(size === 0 ? 0 : capacity * 2);
  }

  has(id: string): boolean {
    fingerprint(id);
    return this.hasFingerprint(hashHigh, hashLow);
  }

  add(id: string): void {
    fingerprint(id);
    this.addFingerprint(hashHigh, hashLow);
  }

  /** `has` for a fingerprint computed once per message (see `fingerprintOf`). */
  hasFingerprint(high: number, low: number): boolean {
    if (this.size === 0) return false;
    return find(this.current, this.mask, high, low) >= 0 || find(this.previous, this.mask, high, low) >= 0;
  }

  addFingerprint(high: number, low: number): void {
    if (this.size === 0) return;
    if (find(this.current, this.mask, high, low) >= 0 || find(this.previous, this.mask, high, low) >= 0) return;
    if (this.currentCount >= this.size) {
      const emptied = this.previous;
      emptied.fill(0);
      this.previous = this.current;
      this.current = emptied;
      this.currentCount = 0;
    }
    const table = this.current;
    let slot = low & this.mask;
    while (table[slot * 2] !== 0 || table[slot * 2 + 1] !== 0) slot = (slot + 1) & this.mask;
    table[slot * 2] = high;
    table[slot * 2 + 1] = low;
    this.currentCount++;
  }
}

// The fingerprint of the last id, as two 32-bit halves (module state: no allocation per call).
let hashHigh = 0;
let hashLow = 0;

/** Two independent 32-bit string hashes (FNV-1a and a murmur-style mix), each finalised by fmix32. */
function fingerprint(id: string): void {
  let high = 0x811c9dc5;
  let low = 0x9747b28c ^ id.length;
  for (let index = 0; index < id.length; index++) {
    const code = id.charCodeAt(index);
    high = Math.imul(high ^ code, 0x01000193);
    low = Math.imul(low ^ code, 0x5bd1e995);
    low ^= low >>> 15;
  }
  high ^= high >>> 16;
  high = Math.imul(high, 0x85ebca6b);
  high ^= high >>> 13;
  high = Math.imul(high, 0xc2b2ae35);
  high ^= high >>> 16;
  low ^= low >>> 16;
  low = Math.imul(low, 0x85ebca6b);
  low ^= low >>> 13;
  low = Math.imul(low, 0xc2b2ae35);
  low ^= low >>> 16;
  // (0, 0) marks an empty slot.
  if (high === 0 && low === 0) low = 1;
  hashHigh = high;
  hashLow = low;
}

function find(table: Int32Array, mask: number, high: number, low: number): number {
  let slot = low & mask;
  for (;;) {
    const storedHigh = table[slot * 2]!;
    const storedLow = table[slot * 2 + 1]!;
    if (storedHigh === high && storedLow === low) return slot;
    if (storedHigh === 0 && storedLow === 0) return -1;
    slot = (slot + 1) & mask;
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
  private json: string | undefined;
  private encoded: Uint8Array | undefined;

  constructor(envelope: Envelope) {
    this.messageId = envelope.message_id;
    this.key = envelope.session_id;
    this[localEnvelope] = envelope;
  }

  /** Serialised on first read, so an in-process adapter that never reads it never pays for JSON. */
  get text(): string {
    if (this.json === undefined) {
      try {
        this.json = JSON.stringify(this[localEnvelope]);
      } catch (error) {
        throw new WoodworkBusError(
          'WW_BUS_INVALID_ENVELOPE',
          `envelope ${this.messageId} cannot be encoded as JSON: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    return this.json;
  }

  get body(): Uint8Array {
    this.encoded ??= encodeJson(this.text);
    return this.encoded;
  }
}

function envelopeOf(record: WireRecord): Envelope | undefined {
  return (record as Partial<OutgoingRecord>)[localEnvelope];
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
  leaseMs: number;
  fromBeginning: boolean;
  deduplicationWindow: number;
  onError: (error: unknown) => void;
  onDeadLetter: ((letter: DeadLetter) => void | Promise<void>) | undefined;
  isolate: ((envelope: Envelope) => boolean) | undefined;
}

let consumerCounter = 0;
function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}-${++consumerCounter}-${randomUUID().slice(0, 8)}`;
}

function reportToConsole(error: unknown): void {
  console.error('[@woodwork/bus] subscription error:', error);
}

function resolveSubscribeOptions(options: SubscribeOptions, capabilities: BusCapabilities): ResolvedSubscribeOptions {
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
  const leaseName = options.leaseMs !== undefined ? 'leaseMs' : 'ackTimeoutMs';
  const leaseMs =
    options.leaseMs ??
    options.ackTimeoutMs ??
    (capabilities.leaseRenewal ? DEFAULT_SUBSCRIBE_OPTIONS.leaseMs : DEFAULT_SUBSCRIBE_OPTIONS.ackTimeoutMs);
  if (typeof leaseMs !== 'number' || !(leaseMs > 0)) invalidOption(leaseName, 'a number > 0', leaseMs);
  if (options.consumerName !== undefined && (typeof options.consumerName !== 'string' || options.consumerName === '')) {
    invalidOption('consumerName', 'a non-empty string', options.consumerName);
  }
  if (options.onDeadLetter !== undefined && typeof options.onDeadLetter !== 'function') {
    invalidOption('onDeadLetter', 'a function', options.onDeadLetter);
  }
  if (options.isolate !== undefined && typeof options.isolate !== 'function') {
    invalidOption('isolate', 'a function', options.isolate);
  }
  return {
    group: options.group,
    consumerName: options.consumerName ?? defaultConsumerName(),
    maxInFlight: positiveInteger('maxInFlight', options.maxInFlight, DEFAULT_SUBSCRIBE_OPTIONS.maxInFlight),
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts, DEFAULT_SUBSCRIBE_OPTIONS.maxAttempts),
    backoff: resolvedBackoff,
    leaseMs,
    fromBeginning: options.fromBeginning ?? DEFAULT_SUBSCRIBE_OPTIONS.fromBeginning,
    deduplicationWindow,
    onError: options.onError ?? reportToConsole,
    onDeadLetter: options.onDeadLetter,
    isolate: options.isolate,
  };
}

/**
 * One try of one message: what the handler sees as its context, and what the runner needs to
 * finish the try — one object per try on the hot path. Positions are formatted only when asked.
 */
class Job implements DeliveryContext {
  constructor(
    readonly runner: SubscriptionRunner,
    readonly delivery: AdapterDelivery,
    readonly envelope: Envelope,
    readonly attempt: number,
    /** The message id's fingerprint for the deduplication window, computed once. */
    readonly idHigh: number,
    readonly idLow: number,
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
  job: Job;
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
 *
 * A delivery's lane and slot are freed as soon as it is acked, naked or terminated, without waiting
 * for the broker to confirm: the adapter itself holds the session's next record back until the
 * broker has the ack (or term), and counts unsettled deliveries against `maxInFlight`. Close waits
 * for confirmations.
 *
 * Suspects run alone (decision 0012). A delivery whose `deliveryCount` is above 1 was handed to a
 * handler before and never settled: that consumer crashed (or lost its lease) while it ran — maybe
 * because of this message, maybe because of another one in flight beside it. A crash charges an
 * attempt to every message in a handler in that process, so a poison message would take innocent
 * messages of other sessions to the dead-letter topic with it. So a suspect is run *isolated*:
 * it waits until nothing else of this subscription is running, runs alone, and while it is held
 * or runs every other delivery is given back unstarted (`nak(delay, true)`, not an attempt) to
 * come back later. Only the message that really kills its consumer is then charged by its crashes;
 * an innocent suspect succeeds alone and clears. Isolation ends when the suspect is settled
 * (handled, or dead-lettered after its in-process retries) — or, bounded by `ISOLATION_LIMIT_MS`,
 * when it has waited that long for what already runs (it then runs beside it) or run that long
 * alone (what arrives then runs beside it).
 */
class SubscriptionRunner implements Subscription {
  readonly abort = new AbortController();
  private adapterSubscription: AdapterSubscription | undefined;
  private readonly lanes = new Map<string, AdapterDelivery[] | null>();
  private readonly ready: AdapterDelivery[] = [];
  private readonly retries = new Set<PendingRetry>();
  private readonly seen: DeduplicationWindow;
  /** Deliveries started (handler running, retrying or dead-lettering) and not yet settled. */
  private running = 0;
  /** Deliveries taken from the adapter and not yet settled. */
  private unsettled = 0;
  /** Acks, naks and terms the broker has not confirmed yet. */
  private confirming = 0;
  /**
   * The suspect being run alone (see the class comment), from when it is chosen until it is
   * settled; `isolatedWaiting` while it waits for the deliveries already running to finish.
   */
  private isolated: AdapterDelivery | undefined;
  private isolatedWaiting = false;
  /** Deliveries that are not suspects are held back too (the suspect's first `ISOLATION_LIMIT_MS`). */
  private holdingFresh = false;
  private isolatedSince = 0;
  /**
   * Starts the waiting suspect after `ISOLATION_LIMIT_MS` if the others have not finished; then
   * ends the isolation of the running suspect after as long again.
   */
  private isolationTimer: ReturnType<typeof setTimeout> | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private knownFulfilled: Promise<void> | undefined;
  private readonly onConfirmed = () => {
    if (--this.confirming === 0) this.checkDrained();
  };
  private readonly onConfirmFailed = (error: unknown) => {
    // The broker will redeliver after the ack timeout: at-least-once holds, and the duplicate
    // is removed by message_id.
    this.options.onError(error);
    this.onConfirmed();
  };

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
      leaseMs: this.options.leaseMs,
      ackTimeoutMs: this.options.leaseMs,
      fromBeginning: this.options.fromBeginning,
      onDelivery: (delivery) => this.onDelivery(delivery),
      onError: (error) => this.options.onError(error),
    });
  }

  private onDelivery(delivery: AdapterDelivery): void {
    if (this.closing) {
      // Never started: straight back to the group, not counted as a try.
      this.confirm(delivery.nak(0, true));
      return;
    }
    const suspect = this.isSuspect(delivery);
    if (this.isolated !== undefined && (suspect || this.holdingFresh)) {
      // A suspect runs alone: this one must not be in a handler beside it.
      this.holdBack(delivery);
      return;
    }
    this.unsettled++;
    const key = delivery.record.key;
    const waiting = this.lanes.get(key);
    if (waiting !== undefined) {
      if (waiting) waiting.push(delivery);
      else this.lanes.set(key, [delivery]);
      return;
    }
    this.lanes.set(key, null);
    if (suspect) this.isolate(delivery);
    else if (this.running < this.options.maxInFlight) this.begin(delivery);
    else this.ready.push(delivery);
  }

  /**
   * Handed to a handler before without being settled (its consumer crashed or lost its lease), and
   * to be run again: run it alone — unless the subscriber's `isolate` says this message need not.
   * One that is over `maxAttempts` is dead-lettered without running, so it needs no isolation.
   */
  private isSuspect(delivery: AdapterDelivery): boolean {
    if (delivery.deliveryCount <= 1 || delivery.deliveryCount > this.options.maxAttempts) return false;
    const isolate = this.options.isolate;
    if (isolate === undefined) return true;
    let envelope = envelopeOf(delivery.record);
    if (envelope === undefined) {
      const check = decodeEnvelope(delivery.record.body);
      // Not an envelope: dead-lettered without running, no isolation needed.
      if (!check.ok) return false;
      envelope = check.envelope;
    }
    try {
      return isolate(envelope) !== false;
    } catch (error) {
      this.options.onError(error);
      return true;
    }
  }

  /** Whether a delivery that waited (for a slot or its session) may start now, and how. */
  private startWaiting(delivery: AdapterDelivery): void {
    if (this.isSuspect(delivery)) {
      if (this.isolated === undefined) this.isolate(delivery);
      else this.giveBackStarted(delivery);
    } else if (this.isolated !== undefined && this.holdingFresh) {
      this.giveBackStarted(delivery);
    } else {
      this.begin(delivery);
    }
  }

  /**
   * Makes `delivery` (taken: its lane is set, `unsettled` counts it) the suspect run alone: gives
   * back what waits to start, then runs it now if nothing else runs, or once the running ones are
   * settled (`settle`) — waiting at most `ISOLATION_LIMIT_MS` for them.
   */
  private isolate(delivery: AdapterDelivery): void {
    this.isolated = delivery;
    this.holdingFresh = true;
    this.isolatedSince = performance.now();
    // Waiting behind a session (rare: the adapter hands out one per session) or for a slot: back.
    for (const [key, waiting] of this.lanes) {
      if (!waiting) continue;
      this.lanes.set(key, null);
      for (const behind of waiting) this.giveBackTaken(behind);
    }
    for (const waiting of this.ready.splice(0)) {
      this.lanes.delete(waiting.record.key);
      this.giveBackTaken(waiting);
    }
    if (this.running === 0) {
      this.beginIsolated(delivery);
      return;
    }
    this.isolatedWaiting = true;
    this.isolationTimer = setTimeout(() => {
      this.isolationTimer = undefined;
      if (!this.isolatedWaiting || this.closing || this.isolated !== delivery) return;
      // The others did not finish in time (they may be waiting for what isolation holds back):
      // run it beside them.
      this.isolatedWaiting = false;
      this.beginIsolated(delivery);
    }, ISOLATION_LIMIT_MS);
    this.isolationTimer.unref?.();
  }

  /**
   * Runs the suspect. Other suspects stay held back until it is settled; new deliveries that are
   * not suspects only for its first `ISOLATION_LIMIT_MS`.
   */
  private beginIsolated(delivery: AdapterDelivery): void {
    this.clearIsolationTimer();
    this.isolatedSince = performance.now();
    this.isolationTimer = setTimeout(() => {
      this.isolationTimer = undefined;
      // Still running after a while alone: not a message that kills its consumer at once. Fresh
      // deliveries run beside it from now on (at worst one crash is charged to them, and they
      // become suspects themselves); other suspects still wait for it.
      if (this.isolated === delivery) this.holdingFresh = false;
    }, ISOLATION_LIMIT_MS);
    this.isolationTimer.unref?.();
    this.begin(delivery);
  }

  private clearIsolationTimer(): void {
    if (this.isolationTimer !== undefined) clearTimeout(this.isolationTimer);
    this.isolationTimer = undefined;
  }

  /** Gives back unstarted a delivery taken from a lane or the ready queue (`settle` frees its lane). */
  private giveBackStarted(delivery: AdapterDelivery): void {
    this.running++;
    this.settle(delivery, delivery.nak(this.holdBackDelay(), true));
  }

  /** Gives back unstarted a delivery that was taken (counted in `unsettled`) but never begun. */
  private giveBackTaken(delivery: AdapterDelivery): void {
    this.unsettled--;
    this.confirm(delivery.nak(this.holdBackDelay(), true));
  }

  /** Gives a delivery back unstarted (not an attempt) while a suspect runs alone. */
  private holdBack(delivery: AdapterDelivery): void {
    this.confirm(delivery.nak(this.holdBackDelay(), true));
  }

  private holdBackDelay(): number {
    const elapsed = performance.now() - this.isolatedSince;
    return Math.round(Math.min(ISOLATION_HOLD_BACK_MS.max, Math.max(ISOLATION_HOLD_BACK_MS.min, elapsed)));
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
    fingerprint(envelope.message_id);
    if (this.seen.hasFingerprint(hashHigh, hashLow)) {
      this.settle(delivery, delivery.ack());
      return;
    }
    if (delivery.deliveryCount > this.options.maxAttempts) {
      // Delivered more often than it may be tried, never settled: whoever took it crashed or
      // timed out every time. Running it again could crash this process too (a poison message).
      this.deadLetter(delivery, envelope, delivery.deliveryCount - 1, {
        name: 'WoodworkBusError',
        code: 'WW_BUS_HANDLER_FAILED',
        message: `handed to a handler ${delivery.deliveryCount - 1} times without being settled: its consumers crashed or lost their lease (a poison message?)`,
      });
      return;
    }
    const job = new Job(this, delivery, envelope, Math.max(1, delivery.deliveryCount), hashHigh, hashLow);
    const recorded = delivery.beforeHandler?.();
    if (recorded === undefined) {
      this.run(job);
      return;
    }
    const start = () => {
      // Closed meanwhile: the handler never ran, so this hand-out is not an attempt.
      if (this.closing) this.settle(delivery, delivery.nak(0, true));
      else this.run(job);
    };
    recorded.then(start, (error: unknown) => {
      this.options.onError(error);
      start();
    });
  }

  /** One try of the handler. `job.attempt` counts earlier broker deliveries plus local retries. */
  private run(job: Job): void {
    const envelope = job.envelope;
    const given = envelope.attempt === job.attempt ? envelope : { ...envelope, attempt: job.attempt };
    let result: void | Promise<void>;
    try {
      result = this.handler(given, job);
    } catch (error) {
      this.failed(job, error);
      return;
    }
    if (result !== undefined && result !== null && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => this.succeeded(job),
        (error: unknown) => this.failed(job, error),
      );
    } else {
      this.succeeded(job);
    }
  }

  private succeeded(job: Job): void {
    this.seen.addFingerprint(job.idHigh, job.idLow);
    this.settle(job.delivery, job.delivery.ack());
  }

  private failed(job: Job, error: unknown): void {
    if (this.closing) {
      // Shutting down: hand it back for another member rather than burn attempts here.
      this.settle(job.delivery, job.delivery.nak(0));
      return;
    }
    if (job.attempt >= this.options.maxAttempts) {
      this.deadLetter(job.delivery, job.envelope, job.attempt, serializeError(error));
      return;
    }
    // Retry here, keeping the session's lane (and so its order) blocked while we wait.
    const pending: PendingRetry = {
      job,
      timer: setTimeout(() => {
        this.retries.delete(pending);
        if (this.closing) this.settle(job.delivery, job.delivery.nak(0));
        else this.run(new Job(this, job.delivery, job.envelope, job.attempt + 1, job.idHigh, job.idLow));
      }, computeBackoffDelay(job.attempt, this.options.backoff)),
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
    const letterTopic = deadLetterTopic(this.topic, this.options.group);
    this.bus.publishInternal(letterTopic, [letter]).then(
      () => {
        if (envelope !== null) this.seen.add(envelope.message_id);
        // Given up on, and the letter is safe: tell a broker that can record it (spec v1.2). A term
        // that fails is a failed ack (onConfirmFailed): the record may come back, never lost.
        const reason = `dead letter ${letter.message_id} on ${letterTopic}`;
        const settleLetter = () => this.settle(delivery, delivery.term ? delivery.term(reason) : delivery.ack());
        const notify = this.options.onDeadLetter;
        if (notify === undefined) {
          settleLetter();
          return;
        }
        // Tell the subscriber before settling, so a crash in between tells it again.
        const reportFailure = (error: unknown) =>
          this.options.onError(
            new WoodworkBusError('WW_BUS_HANDLER_FAILED', `onDeadLetter of ${this.topic} (group ${this.options.group}) failed for ${reason}`, {
              cause: error,
            }),
          );
        let told: void | Promise<void> = undefined;
        try {
          told = notify(deadLetterOf(letter));
        } catch (error) {
          reportFailure(error);
        }
        if (told === undefined || told === null || typeof (told as Promise<void>).then !== 'function') settleLetter();
        else (told as Promise<void>).then(settleLetter, (error: unknown) => {
          reportFailure(error);
          settleLetter();
        });
      },
      (error: unknown) => {
        // Could not record the dead letter: keep the message (the broker gives it back after
        // the delay) rather than lose it.
        this.options.onError(
          new WoodworkBusError('WW_BUS_PUBLISH_FAILED', `could not dead-letter a message of ${this.topic}`, {
            cause: error,
            isRetryable: true,
          }),
        );
        this.settle(delivery, delivery.nak(computeBackoffDelay(attempts, this.options.backoff)));
      },
    );
  }

  /**
   * Frees a started delivery's lane and slot; `settlement` is the delivery's ack, nak or term,
   * already sent, whose confirmation close waits for.
   */
  private settle(delivery: AdapterDelivery, settlement: Promise<void>): void {
    this.confirm(settlement);
    this.running--;
    this.unsettled--;
    if (delivery === this.isolated) {
      this.isolated = undefined;
      this.holdingFresh = false;
      this.clearIsolationTimer();
    }
    const key = delivery.record.key;
    const waiting = this.lanes.get(key);
    if (!waiting) {
      this.lanes.delete(key);
    } else {
      const next = waiting.shift()!;
      if (waiting.length === 0) this.lanes.set(key, null);
      if (this.closing) {
        this.running++;
        this.settle(next, next.nak(0, true));
      } else {
        this.startWaiting(next);
      }
    }
    if (!this.closing && this.ready.length > 0 && this.running < this.options.maxInFlight) {
      this.startWaiting(this.ready.shift()!);
    }
    if (this.isolatedWaiting && this.running === 0 && !this.closing) {
      // Everything that ran beside it is settled: the suspect runs alone now.
      this.isolatedWaiting = false;
      this.beginIsolated(this.isolated!);
    }
    this.checkDrained();
  }

  private confirm(settled: Promise<void>): void {
    // An in-process adapter settles synchronously and returns one shared resolved promise; once
    // that promise is seen fulfilled there is nothing left to wait for, so no reaction (and no
    // microtask) per message.
    if (settled === this.knownFulfilled) return;
    this.confirming++;
    settled.then(() => {
      this.knownFulfilled = settled;
      this.onConfirmed();
    }, this.onConfirmFailed);
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.unsettled === 0 && this.confirming === 0) this.drained();
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    try {
      await this.adapterSubscription?.close();
    } finally {
      this.abort.abort(new WoodworkBusError('WW_BUS_CLOSED', `subscription to ${this.topic} is closing`));
      // Give back what never started: a suspect waiting to run alone, waiting for a slot, waiting
      // in a lane, waiting to retry.
      this.clearIsolationTimer();
      if (this.isolatedWaiting) {
        this.isolatedWaiting = false;
        const suspect = this.isolated!;
        this.running++;
        this.settle(suspect, suspect.nak(0, true));
      }
      for (const delivery of this.ready.splice(0)) {
        this.running++;
        this.settle(delivery, delivery.nak(0, true));
      }
      for (const [key, waiting] of this.lanes) {
        if (!waiting) continue;
        this.lanes.set(key, null);
        for (const delivery of waiting) {
          this.running++;
          this.settle(delivery, delivery.nak(0, true));
        }
      }
      for (const pending of this.retries) {
        clearTimeout(pending.timer);
        this.settle(pending.job.delivery, pending.job.delivery.nak(0));
      }
      this.retries.clear();
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        this.checkDrained();
      });
      this.bus.forget(this);
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
    const envelope = createEnvelope<Payload>(init);
    const check = checkEnvelope(envelope);
    if (!check.ok) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `invalid envelope for topic ${topic}: ${check.reason}`);
    }
    const unserializable = findUnserializable(envelope.payload, 'payload');
    if (unserializable !== undefined) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `invalid envelope for topic ${topic}: ${unserializable}`);
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
    if (!Array.isArray(inits as unknown)) {
      throw new WoodworkBusError('WW_BUS_INVALID_ENVELOPE', `publishMany to ${topic} needs an array of envelopes`);
    }
    const envelopes: Envelope<Payload>[] = inits.map((init) => this.prepare(topic, init));
    if (envelopes.length > 0) await this.publishInternal(topic, envelopes as Envelope[]);
    return envelopes;
  }

  /**
   * @internal Publishes already-valid envelopes, also while closing (dead letters of draining
   * handlers). Not part of `Bus`: users go through `publish`, which validates.
   */
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
    const runner = new SubscriptionRunner(this, topic, resolveSubscribeOptions(options, this.capabilities), handler as MessageHandler<unknown>);
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
        letters.set(envelope.message_id, deadLetterOf(envelope));
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

  async queueDepth(topic: string, group: string): Promise<number | undefined> {
    if (this.closed) throw this.closedError();
    checkName('topic', topic);
    checkName('group', group);
    return this.adapter.doQueueDepth === undefined ? undefined : this.adapter.doQueueDepth(topic, group);
  }

  async releaseConsumer(topic: string, group: string, consumerName: string): Promise<number | undefined> {
    if (this.closed) throw this.closedError();
    checkName('topic', topic);
    checkName('group', group);
    if (typeof consumerName !== 'string' || consumerName === '') invalidOption('consumerName', 'a non-empty string', consumerName);
    return this.adapter.doReleaseConsumer === undefined ? undefined : this.adapter.doReleaseConsumer(topic, group, consumerName);
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
