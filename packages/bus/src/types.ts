/**
 * The user-facing bus surface: what components, the runtime and user code call. Every adapter
 * is driven through this one wrapper, so these promises hold the same on every broker.
 */
import type { BusCapabilities, BusHealth } from './adapter.js';
import type { Envelope, EnvelopeInit } from './envelope.js';
import type { SerializedError } from './errors.js';

export interface BackoffOptions {
  /** Delay before the first retry. Default 100 ms: long enough to ride out a blip, short for users. */
  readonly initialDelayMs?: number;
  /** Upper bound of one delay. Default 30 000 ms. */
  readonly maxDelayMs?: number;
  /** Growth per attempt. Default 2 (exponential). */
  readonly multiplier?: number;
  /** Random spread, 0..1, so retries of many messages do not stampede. Default 0.2. */
  readonly jitter?: number;
}

export interface SubscribeOptions {
  /**
   * Consumer group. Members of one group compete for messages (the instances of one component);
   * every group receives every message (hooks and monitors use their own group). Required.
   */
  readonly group: string;
  /** Name of this member inside the group. Default: a random, process-unique name. */
  readonly consumerName?: string;
  /**
   * The most messages this subscriber works on at once, across sessions. Messages of one session
   * are always handled one at a time, in order. Default 16.
   */
  readonly maxInFlight?: number;
  /**
   * Handler runs per message (first try included) before it is dead-lettered. Default 5.
   */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffOptions;
  /**
   * The lease of a message this subscriber holds. While its handler runs (and while it waits to
   * be retried) the lease is renewed every third of it, so a handler of any length — a model call,
   * an agent turn of many steps — is never handed to a second member; only a member that stops
   * renewing (its process crashed or hangs, its connection is cut) loses its messages, which then
   * go to another member after at most `leaseMs`. Default 5 000 ms: a crashed instance's work
   * moves on in seconds, while a GC pause or a loaded machine (renewals every ~1.7 s) does not
   * look like a crash. Adapters before spec v1.4 cannot renew; for them the default stays 30 000.
   */
  readonly leaseMs?: number;
  /**
   * The name of `leaseMs` before bus 0.x (spec v1.4), when it was a fixed timeout that handed a
   * slow handler's message to another member. Still accepted as `leaseMs`; `leaseMs` wins.
   * @deprecated use `leaseMs`.
   */
  readonly ackTimeoutMs?: number;
  /** A group that does not exist yet starts at the beginning of the retained log. Default true. */
  readonly fromBeginning?: boolean;
  /** How many recent `message_id`s the subscriber remembers to drop duplicates. Default 10 000. */
  readonly deduplicationWindow?: number;
  /**
   * Called with errors the subscription survives but someone should see: a dead letter that
   * could not be written (the message is kept and retried), an ack the broker refused, an adapter
   * error it could not recover from. Default: written to `console.error`, because dropping them
   * silently would hide lost connections.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Called once a message of this subscription has been dead-lettered — its handler failed
   * `maxAttempts` times, it crashed its consumers that often (handed out more than `maxAttempts`
   * times without being settled), or it was not a valid envelope — with the letter as
   * `deadLetters()` lists it, after the letter is stored and before the message is settled: the
   * message's session stays held until it returns, and a crash meanwhile dead-letters (and calls
   * it) again, so it is told at least once. What it throws goes to `onError`. The runtime uses it
   * to end the session's turn with an error at once instead of letting it wait for its timeout.
   */
  readonly onDeadLetter?: (letter: DeadLetter) => void | Promise<void>;
  /**
   * Whether a message redelivered after its consumer crashed (or lost its lease) while handling it
   * runs *isolated* — alone in this subscription until it settles, so that only a message that
   * really kills its consumer is charged the crashes (decision 12). Default: every such message.
   * Return false for messages whose handler only waits on other work and cannot be the one that
   * crashed its process — the runtime exempts stream heads, whose handlers read a stream produced
   * in another component and would otherwise wait, isolated, for a re-produced stream that is itself
   * held back behind another suspect.
   */
  readonly isolate?: (envelope: Envelope) => boolean;
}

export interface DeliveryContext {
  readonly topic: string;
  readonly group: string;
  /** 1 on the first try; counts retries and, where the broker tracks it, earlier crashed deliveries. */
  readonly attempt: number;
  /** Position in the log (stream entry id, sequence number, offset). */
  readonly position: string;
  /** Aborted when the subscription is closing; long handlers should stop early and throw. */
  readonly signal: AbortSignal;
}

/** Throw (or reject) to fail the message: it is retried with backoff, then dead-lettered. */
export type MessageHandler<Payload = unknown> = (
  envelope: Envelope<Payload>,
  context: DeliveryContext,
) => void | Promise<void>;

export interface Subscription extends AsyncDisposable {
  readonly topic: string;
  readonly group: string;
  /** Stop taking messages, finish the ones in hand, give back the rest. */
  close(): Promise<void>;
}

/** A message the bus gave up on, with why. */
export interface DeadLetter {
  /** Id of the dead-letter record itself (use it to re-drive). */
  readonly id: string;
  readonly topic: string;
  readonly group: string;
  /** The original envelope exactly as received, or null when the record was not a valid envelope. */
  readonly envelope: Envelope | null;
  /** The raw body, kept when the record was not a valid envelope. */
  readonly rawBody: string | null;
  readonly attempts: number;
  readonly lastError: SerializedError;
  readonly deadLetteredAt: string;
}

export interface ReplayOptions {
  /** Only this session's messages. */
  readonly sessionId?: string;
  /** Start after this log position (exclusive). */
  readonly afterPosition?: string;
}

export interface ReplayedEnvelope {
  readonly envelope: Envelope;
  readonly position: string;
}

export interface Bus extends AsyncDisposable {
  readonly adapterName: string;
  readonly capabilities: BusCapabilities;
  /**
   * Validate, fill defaults (id, timestamp, attempt) and append to a topic. Resolves when the
   * broker has the message; rejects with a WoodworkBusError otherwise. With several envelopes,
   * their order is kept.
   */
  publish<Payload>(topic: string, envelope: EnvelopeInit<Payload>): Promise<Envelope<Payload>>;
  publishMany<Payload>(topic: string, envelopes: readonly EnvelopeInit<Payload>[]): Promise<Envelope<Payload>[]>;
  subscribe<Payload = unknown>(
    topic: string,
    options: SubscribeOptions,
    handler: MessageHandler<Payload>,
  ): Promise<Subscription>;
  /** The topic's retained log, oldest first, optionally for one session. */
  replay(topic: string, options?: ReplayOptions): AsyncIterable<ReplayedEnvelope>;
  /** Messages dead-lettered by `group` on `topic` and not re-driven since. */
  deadLetters(topic: string, group: string): AsyncIterable<DeadLetter>;
  /**
   * Publish dead letters back to their topic (attempt reset to 1) and mark them re-driven.
   * Without ids, re-drives all of them. Resolves to how many were re-driven.
   */
  redrive(topic: string, group: string, ids?: readonly string[]): Promise<number>;
  health(): Promise<BusHealth>;
  /**
   * Records of `topic` that `group` has not acknowledged yet: waiting, plus delivered and not
   * settled. The same for every member of the group (the broker's count, not this process's).
   * `undefined` when the adapter cannot tell (adapter spec before v1.3).
   */
  queueDepth(topic: string, group: string): Promise<number | undefined>;
  /**
   * For a supervisor that saw a member's process die: release the work member `consumerName` of
   * `group` held on `topic` at once, instead of after its lease (`consumerName` also matches, as a
   * prefix, the default names `<hostname>-<pid>-…` of a process's subscriptions). Only for a member
   * that is surely dead: a live one's messages would go to another member while its handlers run.
   * Resolves to how many messages were released, or `undefined` where the adapter cannot (spec
   * v1.4 `doReleaseConsumer`; today the redis and nats adapters) — the work then moves after the lease.
   */
  releaseConsumer(topic: string, group: string, consumerName: string): Promise<number | undefined>;
  /** Close subscriptions (finishing in-flight work), flush publishes, disconnect. Idempotent. */
  close(): Promise<void>;
}

export interface CreateBusOptions {
  /** Adapter-specific settings, documented in each adapter's README. */
  readonly adapterOptions?: Readonly<Record<string, unknown>>;
}
