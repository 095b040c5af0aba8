/**
 * The bus adapter specification, version 1: what one broker driver (memory, redis, nats, kafka)
 * must do. Users never call an adapter; they call the `Bus` wrapper (bus.ts), which adds on top
 * of every adapter, identically: envelope validation at the edge, duplicate removal by
 * `message_id`, per-session lanes, retries with exponential backoff, dead-lettering, replay
 * filtering and draining close. Methods are prefixed `do…` so a reader can tell the driver
 * surface from the user surface at a glance.
 *
 * Later minor versions only add optional members, so a v1 adapter stays valid: v1.1
 * `WireRecord.text`, v1.2 `AdapterDelivery.term`, v1.3 `BusAdapterV1.doQueueDepth`, v1.4 leases
 * that follow the handler (`AdapterSubscribeRequest.leaseMs`, `BusCapabilities.leaseRenewal`),
 * attempts counted only for hand-outs (`deliveryCount`, `nak(delayMs, neverStarted)`) and
 * `BusAdapterV1.doReleaseConsumer`; v1.5 `doHealth` is not ready while a subscription cannot
 * consume, and `BusHealth.failed` once one cannot recover by itself; v1.6
 * `AdapterDelivery.beforeHandler`.
 *
 * An adapter moves opaque records. It never parses the body: a record that is not a valid
 * envelope must still be delivered, so the wrapper can dead-letter it with its reason.
 */

/** One message as it travels: the envelope's bytes plus the two fields brokers index on. */
export interface WireRecord {
  /** The envelope's `message_id`; brokers that deduplicate on publish use it (NATS `Nats-Msg-Id`). */
  readonly messageId: string;
  /**
   * The envelope's `session_id`: the partition/ordering key (Kafka message key). For a record
   * whose body could not be read, any stable string.
   */
  readonly key: string;
  /** UTF-8 JSON of the envelope. */
  readonly body: Uint8Array;
  /**
   * The same JSON as a string, when the record was made in this process (optional, adapter spec
   * v1.1). Adapters whose client writes strings more cheaply than bytes (ioredis, which otherwise
   * copies every byte buffer twice) send this instead of `body`.
   */
  readonly text?: string;
}

/** A record handed to a subscriber; exactly one of `ack`, `nak` or (where offered) `term` settles it. */
export interface AdapterDelivery {
  readonly record: WireRecord;
  /**
   * 1 + how many earlier hand-outs of this record to a subscriber of the group (calls of
   * `onDelivery`, in any member) ended without the record being settled — its consumer crashed
   * or was cut off. Since v1.4 only hand-outs count: a record a member read ahead, buffered behind
   * its session or handed back unstarted (`nak(_, true)`, handover on a rebalance) is not an
   * attempt, so a poison message that crashes its consumers reaches `maxAttempts` alone and the
   * records behind it never do. The wrapper starts the handler in the same tick as `onDelivery`
   * (the adapter already bounds hand-outs by `maxInFlight` and one per key) — or, when the
   * adapter offers `beforeHandler`, once that has settled — so a hand-out is a handler start,
   * unless the wrapper gives it back unstarted (`nak(_, true)`). Survives consumer crashes where the adapter records it durably (Redis'
   * XPENDING counter, JetStream's delivery count, Kafka offset-commit metadata); adapters that
   * cannot know say so in `capabilities.deliveryCount` and report 1.
   */
  readonly deliveryCount: number;
  /** Where the record sits in the log, for replay and debugging (stream id, sequence, offset). */
  readonly position: string;
  /** Done: the group never sees this record again. */
  ack(): Promise<void>;
  /**
   * Done and given up on: the group never sees this record again, and the broker records that it
   * was terminated where it can (JetStream `+TERM`, which publishes a MSG_TERMINATED advisory).
   * The wrapper calls it instead of `ack` once it has durably written the record's dead letter.
   * `reason` is one short line (the wrapper names the dead letter); brokers that can store a
   * reason with the termination should, the others drop it. For the group's order and for
   * `maxInFlight` it is exactly an ack: the key moves on once the broker has it.
   *
   * Optional, adapter spec v1.2: adapters whose broker has no notion of a terminated record leave
   * it out, and the wrapper acks instead.
   */
  term?(reason: string): Promise<void>;
  /**
   * Give the record back unprocessed (used on close for deliveries that never started, and by the
   * wrapper's retry policy where the adapter supports delayed redelivery). The record must come
   * back to this group no earlier than `delayMs`, before any later record with the same key.
   * `neverStarted` (v1.4): the wrapper never ran the handler on this hand-out (it waited for a
   * slot or its session when the subscription closed, or while a suspect ran alone — decision 12),
   * so the hand-out must not count in the record's next `deliveryCount`, also when the adapter keeps
   * the record and redelivers it itself after `delayMs`.
   */
  nak(delayMs: number, neverStarted?: boolean): Promise<void>;
  /**
   * Optional, adapter spec v1.6: the wrapper is about to run a handler on this hand-out (the
   * first time: not for its own retries, not when it dead-letters the record without running
   * it, not when it gives it back unstarted). The handler runs once the promise settles. For an
   * adapter that must record durably that a handler got the record before it runs — a handler
   * that kills its process at once must still count as an attempt (NATS: a redelivery's
   * hand-out, see its README, *Attempts*). A rejection is reported to `onError` and the handler
   * runs anyway.
   */
  beforeHandler?(): Promise<void>;
}

export interface AdapterSubscribeRequest {
  readonly topic: string;
  /** Consumer group: every group receives every record; members of one group compete. */
  readonly group: string;
  /** This member's name inside the group, unique per process/instance. */
  readonly consumerName: string;
  /**
   * The most records this subscription may hold unsettled at once. The adapter must not hand
   * out more — this bound is the consumer side of backpressure.
   */
  readonly maxInFlight: number;
  /**
   * The lease of a delivery (v1.4). While a delivery is handed out and not settled, and this
   * subscription is open in a live process, the adapter keeps its lease alive — renewing it at
   * least every `leaseMs / 3` (Redis: resetting the pending entry's idle time, NATS: `+WPI`,
   * Kafka: group heartbeats, memory: the member being open) — so a handler of any length is
   * never handed to a second member. A member that stops renewing (it crashed, its event loop is
   * blocked, its connection is cut) is presumed dead after `leaseMs`, and the record goes to
   * another member. Adapters that renew say `capabilities.leaseRenewal`.
   */
  readonly leaseMs: number;
  /**
   * The same value as `leaseMs`, for adapters written before v1.4, for which it was the time
   * after which an unsettled delivery was handed to another member whatever its handler did.
   * @deprecated read `leaseMs`.
   */
  readonly ackTimeoutMs: number;
  /** A group that does not exist yet starts at the beginning of the log (true) or at its end. */
  readonly fromBeginning: boolean;
  /**
   * Called once per delivery, in log order per key. The adapter must guarantee, within a group:
   * records with the same key are delivered in publish order, and a key's next record is not
   * delivered to ANY member of the group while an earlier record of that key is unsettled
   * (session affinity / per-key ordering across competing instances). How is the adapter's
   * choice (key locks, partitions with owners, …) and is documented in its README.
   */
  readonly onDelivery: (delivery: AdapterDelivery) => void;
  /** Called when the subscription hits an error it cannot recover from by itself. */
  readonly onError: (error: unknown) => void;
}

export interface AdapterSubscription {
  /**
   * Stop fetching; resolve once the adapter will call `onDelivery` no more. Unsettled deliveries
   * stay the caller's to settle (the wrapper finishes or naks them before closing the adapter).
   */
  close(): Promise<void>;
}

export interface AdapterReplayRequest {
  readonly topic: string;
  /** When set, adapters that can filter by key server-side should; the wrapper filters anyway. */
  readonly key?: string;
  /** Start after this position (exclusive); from the beginning of the retained log when absent. */
  readonly afterPosition?: string;
}

export interface ReplayedRecord {
  readonly record: WireRecord;
  readonly position: string;
}

export interface BusHealth {
  /** The adapter has a live connection to its broker. */
  readonly connected: boolean;
  /**
   * Connected and able to publish and consume right now. Since v1.5 also false while any open
   * subscription cannot receive (its consumer crashed and is being restarted, or could not be),
   * with `detail` saying which and why: hosts answer `/ready` from this, and a host whose inbox
   * receives nothing must not look ready. Once a subscription cannot recover by itself, its
   * `onError` gets a non-retryable error and `ready` stays false: restart the process.
   */
  readonly ready: boolean;
  /**
   * v1.5, optional: the adapter lost something it cannot get back by itself (a subscription whose
   * consumer could not be recreated): the process should exit and be restarted by its supervisor.
   * `ready` is false with it, and `detail` says what.
   */
  readonly failed?: boolean;
  readonly adapter: string;
  readonly detail?: string;
}

/**
 * What an adapter can do natively, shown in its README's capability table and used by the
 * conformance suite to skip only what a broker truly cannot do.
 */
export interface BusCapabilities {
  /** Records survive a broker restart (false for memory). */
  readonly persistent: boolean;
  /** `doReplay` reads the retained log. */
  readonly replay: boolean;
  /** `AdapterDelivery.deliveryCount` survives a consumer crash. */
  readonly deliveryCount: boolean;
  /** The broker itself drops a republished `messageId` inside a window. */
  readonly publishDeduplication: boolean;
  /** Delivery to a second OS process (false for memory: one process only). */
  readonly crossProcess: boolean;
  /**
   * v1.4: the adapter renews the lease of every unsettled delivery while its subscription lives
   * (`AdapterSubscribeRequest.leaseMs`), so a slow handler is never redelivered. The wrapper's
   * default lease is short (5 s) for such adapters, and the v1.3 ack timeout (30 s) for others.
   */
  readonly leaseRenewal?: boolean;
}

/** The driver contract, version 1. */
export interface BusAdapterV1 {
  readonly specificationVersion: 'v1';
  /** `memory`, `redis`, `nats`, `kafka`, … */
  readonly adapterName: string;
  readonly capabilities: BusCapabilities;
  /** Connect and make sure the broker answers. Idempotent. */
  doConnect(): Promise<void>;
  /**
   * Append records to a topic, in order. Resolves once the broker has them durably (as durable
   * as the adapter's configuration allows); rejects with a retryable WoodworkBusError when it
   * could not, so the wrapper's caller knows nothing was silently dropped.
   */
  doPublish(topic: string, records: readonly WireRecord[]): Promise<void>;
  doSubscribe(request: AdapterSubscribeRequest): Promise<AdapterSubscription>;
  /** The retained log of a topic, oldest first, ending at the log's end when called. */
  doReplay(request: AdapterReplayRequest): AsyncIterable<ReplayedRecord>;
  doHealth(): Promise<BusHealth>;
  /**
   * v1.3, optional: how many records of `topic` the group has not acknowledged — not delivered
   * yet, plus delivered and not settled (in a handler, in a lane, waiting a nak's delay). 0 for a
   * group that never subscribed. What hosts report as queue depth and autoscalers scale on; read
   * from the broker's own bookkeeping, so every member of the group sees the same number.
   */
  doQueueDepth?(topic: string, group: string): Promise<number>;
  /**
   * v1.4, optional: a supervisor saw the process of member `consumerName` of `group` die (its
   * PID is gone): release what it held at once instead of waiting for its lease to run out.
   * Resolves to how many records (or partitions, where ownership is by partition) were released.
   * Must only be called for a member that is surely dead: a live member would lose its records to
   * another member while its handlers still run.
   */
  doReleaseConsumer?(topic: string, group: string, consumerName: string): Promise<number>;
  /** Flush pending publishes and release connections. Subscriptions are closed first by the wrapper. */
  doClose(): Promise<void>;
}

/** Creates an adapter from a parsed bus URL; each adapter folder exports one. */
export type BusAdapterFactory = (url: URL, options: Readonly<Record<string, unknown>>) => BusAdapterV1;
