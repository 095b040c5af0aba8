/**
 * One member of a consumer group on one topic: keeps its partition leases (ownership.ts), runs a
 * PartitionReader per owned partition, and shares the subscription's `maxInFlight` slots among
 * them. A handler that holds a record past `ackTimeoutMs` makes the member hand that partition
 * to another live member, which gets the record again: the "presumed dead" of the contract.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import type { AdapterDelivery, AdapterSubscribeRequest, AdapterSubscription } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import type { AckConfirmer } from './acker.js';
import { AttemptsDocument } from './attempts.js';
import { consumerName, nameToken, partitionSubject } from './names.js';
import type { TopicNames } from './names.js';
import type { ResolvedNatsOptions } from './options.js';
import { LeaseStore, LivenessObserver, planOwnership } from './ownership.js';
import type { OwnershipIntent, OwnershipPlan } from './ownership.js';
import { HeldRecord, PartitionReader } from './partition-reader.js';
import type { ReaderHost } from './partition-reader.js';
import { retrying } from './retry.js';
import { nanos } from './wire.js';

/** What a subscription needs from the adapter. */
export interface SubscriptionContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly acker: AckConfirmer;
  readonly options: ResolvedNatsOptions;
  /** The lease bucket's stream and subject prefix (`KV_<bucket>`, `$KV.<bucket>`). */
  readonly leaseStream: string;
  readonly leaseSubjectPrefix: string;
  newInbox(): string;
  forget(subscription: NatsSubscription): void;
}

export interface TopicStream {
  readonly names: TopicNames;
  readonly partitions: number;
}

const CONSUMER_NOT_FOUND = 10014;
const TICK_ATTEMPTS = 5;
/** The shortest pull request (long poll) a short lease gets. */
const PULL_EXPIRES_MIN_MS = 500;

export class NatsSubscription implements AdapterSubscription, ReaderHost {
  readonly memberId: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly acker: AckConfirmer;
  readonly stream: string;
  readonly maxInFlight: number;
  readonly partitionCapacity: number;
  readonly ackTimeoutMs: number;
  readonly pullExpiresMs: number;
  readonly requestTimeoutMs: number;
  private readonly readers = new Map<number, PartitionReader>();
  /** Draining because we own more than our share. */
  private readonly releasing = new Set<number>();
  /** Drained; the next write frees them. */
  private readonly releasable = new Set<number>();
  /** Draining because a handler got stuck on one of their records. */
  private readonly handingOff = new Set<number>();
  /** Drained; the next write gives them to another member. */
  private readonly handoffs = new Set<number>();
  /** Partitions we must not take back while our stuck handler still holds their record. */
  private readonly quarantined = new Map<number, HeldRecord>();
  private readonly acquiredAt = new Map<number, number>();
  private readonly waiters = new Map<string, { reader: PartitionReader; keyToken: string }>();
  private readonly observer: LivenessObserver;
  private readonly store: LeaseStore;
  private inUser = 0;
  private pumping = false;
  private validUntil = 0;
  private renewedAt = 0;
  private joined = false;
  private liveMembers = 1;
  private closing = false;
  private leaving = false;
  private ticking: Promise<boolean> | undefined;
  private tickAgain = false;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private maintenanceTimer: ReturnType<typeof setInterval> | undefined;
  private pausedReported = false;
  private closed: Promise<void> | undefined;
  /** Resolves once this member has left the group (after close). */
  left: Promise<void> = Promise.resolve();

  constructor(
    private readonly context: SubscriptionContext,
    private readonly topic: TopicStream,
    private readonly request: AdapterSubscribeRequest,
  ) {
    const options = context.options;
    this.nc = context.nc;
    this.js = context.js;
    this.jsm = context.jsm;
    this.acker = context.acker;
    this.stream = topic.names.stream;
    this.maxInFlight = request.maxInFlight;
    // Twice what may be handed out: the next record of a busy key is already here when the key
    // frees up, and one blocked key does not stall its whole partition.
    this.partitionCapacity = 2 * request.maxInFlight;
    this.ackTimeoutMs = request.leaseMs;
    // Shorter than what a crashed member's records wait before JetStream redelivers them (a lease
    // after its last renewal: two thirds of a lease after the crash at the earliest): nats-server
    // 2.9, popping a redelivery when only
    // a dead member's pull requests wait, counts a delivery nobody got and drops it (README,
    // *nats-server versions*), which charged a crash's records one attempt too many.
    this.pullExpiresMs = Math.min(options.pullExpiresMs, Math.max(PULL_EXPIRES_MIN_MS, Math.floor(request.leaseMs / 3)));
    this.requestTimeoutMs = options.requestTimeoutMs;
    // The random suffix makes a restarted process a new member, never the heir of its old leases.
    this.memberId = `${request.consumerName}#${randomUUID().slice(0, 8)}`;
    this.observer = new LivenessObserver(options.leaseTtlMs);
    this.store = new LeaseStore(
      context.js,
      context.jsm,
      context.leaseStream,
      `${context.leaseSubjectPrefix}.${topic.names.token}.${nameToken(request.group)}`,
      options.requestTimeoutMs,
    );
  }

  async start(): Promise<void> {
    await this.ensureConsumers();
    if (!(await this.tick())) {
      throw new WoodworkBusError('WW_BUS_CONNECTION', `could not join group ${this.request.group} on ${this.request.topic}`, {
        isRetryable: true,
      });
    }
    const options = this.context.options;
    this.heartbeatTimer = setInterval(() => void this.tick(), options.heartbeatMs);
    this.heartbeatTimer.unref?.();
    // Three renewals (+WPI) per lease at least, see PartitionReader.maintain.
    const every = Math.max(50, Math.min(1_000, this.ackTimeoutMs / 4));
    this.maintenanceTimer = setInterval(() => this.maintain(), every);
    this.maintenanceTimer.unref?.();
  }

  /** Stops handing out at once; leaving the group (releasing leases) finishes in `left`. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.waiters.clear();
    // Not bounded: the readers keep renewing what our handlers hold until the wrapper settled it
    // (or the adapter abandons it on close).
    const releases = [...this.readers.values()].map((reader) => reader.release('leave'));
    this.left = (async () => {
      await Promise.allSettled(releases);
      this.leaving = true;
      for (let attempt = 0; attempt < TICK_ATTEMPTS; attempt++) {
        if (await this.tick()) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      if (this.maintenanceTimer !== undefined) clearInterval(this.maintenanceTimer);
      this.readers.clear();
      this.context.forget(this);
    })();
    this.closed = Promise.resolve();
    return this.closed;
  }

  /** The adapter is closing: deliveries still unsettled are abandoned, leave without waiting. */
  abandon(): void {
    for (const reader of this.readers.values()) reader.abandonSettling();
  }

  /**
   * Why this member cannot receive right now (spec v1.5 health), or undefined: its lease renewals
   * have been missing for a further lease TTL (what `maintain` reports through onError). A
   * renewal that is merely late does not count; the member resumes by itself once one succeeds.
   */
  notReceiving(now = Date.now()): string | undefined {
    if (this.closing || !this.joined || now < this.validUntil + this.context.options.leaseTtlMs) return undefined;
    return `${this.request.topic}/${this.request.group}: no lease renewal for ${now - this.renewedAt} ms`;
  }

  onReconnect(): void {
    for (const reader of this.readers.values()) reader.onReconnect();
    void this.tick();
  }

  // ---- ReaderHost -----------------------------------------------------------------------------

  mayWork(): boolean {
    return !this.closing && Date.now() < this.validUntil;
  }

  takeSlot(reader: PartitionReader, keyToken: string): boolean {
    if (this.mayWork() && this.inUser < this.maxInFlight) {
      this.inUser++;
      return true;
    }
    if (!this.closing) this.waiters.set(`${reader.partition}:${keyToken}`, { reader, keyToken });
    return false;
  }

  slotFreed(): void {
    this.inUser--;
    this.pumpWaiters();
  }

  deliver(delivery: AdapterDelivery): void {
    try {
      this.request.onDelivery(delivery);
    } catch (error) {
      this.reportError(error);
    }
  }

  recreateConsumer(partition: number): Promise<void> {
    return this.ensureConsumer(partition, undefined);
  }

  reportError(error: unknown): void {
    if (this.closing) return;
    try {
      this.request.onError(error);
    } catch {
      // A failing error handler must not take the reader down.
    }
  }

  newInbox(): string {
    return this.context.newInbox();
  }

  attemptsDocument(partition: number): AttemptsDocument {
    return new AttemptsDocument(
      this.context.js,
      this.jsm,
      this.context.leaseStream,
      `${this.context.leaseSubjectPrefix}.${this.topic.names.token}.${nameToken(this.request.group)}.attempts.p${partition}`,
    );
  }

  /**
   * Hands the freed slots to waiting keys. Not re-entrant: a handler that settles synchronously
   * frees its slot from inside `dispatch`, and that nested call must leave the work to this loop
   * (with thousands of waiters, one nested call per message exhausted the stack).
   */
  private pumpWaiters(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.inUser < this.maxInFlight && this.waiters.size > 0 && this.mayWork()) {
        const [id, waiter] = this.waiters.entries().next().value as [string, { reader: PartitionReader; keyToken: string }];
        this.waiters.delete(id);
        waiter.reader.dispatch(waiter.keyToken);
      }
    } finally {
      this.pumping = false;
    }
  }

  // ---- consumers ------------------------------------------------------------------------------

  private async ensureConsumers(): Promise<void> {
    const budget = this.context.options.publishTimeoutMs;
    let startSequence: number | undefined;
    if (!this.request.fromBeginning) {
      // One start for every partition, so a new group begins at one point of the log.
      startSequence = (await retrying(() => this.jsm.streams.info(this.stream), budget)).state.last_seq + 1;
    }
    await Promise.all(
      Array.from({ length: this.topic.partitions }, (_, partition) =>
        retrying(() => this.ensureConsumer(partition, startSequence), budget),
      ),
    );
  }

  private async ensureConsumer(partition: number, startSequence: number | undefined): Promise<void> {
    const durable = consumerName(this.request.group, partition);
    const ackWait = nanos(this.ackTimeoutMs);
    try {
      const info = await this.jsm.consumers.info(this.stream, durable);
      if (info.config.ack_wait !== ackWait || info.config.max_ack_pending !== this.partitionCapacity) {
        // The latest subscriber's settings win; the group's position is kept.
        await this.jsm.consumers.update(this.stream, durable, { ack_wait: ackWait, max_ack_pending: this.partitionCapacity });
      }
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== CONSUMER_NOT_FOUND) throw error;
    }
    try {
      await this.jsm.consumers.add(this.stream, {
        durable_name: durable,
        description: `woodwork group ${this.request.group}, partition ${partition} of ${this.request.topic}`,
        ack_policy: 'explicit',
        ack_wait: ackWait,
        max_ack_pending: this.partitionCapacity,
        // Retries and dead letters are the bus's job: the broker never drops a record on its own.
        max_deliver: -1,
        filter_subject: partitionSubject(this.context.options.prefix, this.topic.names, partition),
        replay_policy: 'instant',
        ...(startSequence === undefined
          ? { deliver_policy: 'all' as const }
          : { deliver_policy: 'by_start_sequence' as const, opt_start_seq: startSequence }),
      });
    } catch (error) {
      // Another member created it first (possibly with its own start): fine, use theirs.
      const exists = await this.jsm.consumers.info(this.stream, durable).then(
        () => true,
        () => false,
      );
      if (!exists) throw error;
    }
  }

  // ---- leases ---------------------------------------------------------------------------------

  /** Renews the lease and applies the plan; resolves true once a write succeeded. */
  private tick(): Promise<boolean> {
    if (this.ticking) {
      this.tickAgain = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      let ok = false;
      try {
        do {
          this.tickAgain = false;
          ok = await this.renew();
        } while (this.tickAgain);
      } finally {
        this.ticking = undefined;
      }
      return ok;
    })();
    return this.ticking;
  }

  private async renew(): Promise<boolean> {
    const options = this.context.options;
    for (let attempt = 0; attempt < TICK_ATTEMPTS; attempt++) {
      const startedAt = Date.now();
      try {
        const { document, revision } = await this.store.read();
        const intent = this.intent();
        const plan = planOwnership(document, this.topic.partitions, intent, this.observer, startedAt, 2 * options.heartbeatMs);
        if (!(await this.store.write(plan.document, revision))) continue;
        this.apply(plan, intent, startedAt);
        return true;
      } catch {
        // Broker unreachable: keep what we have until the lease runs out (maintain() reports it).
        return false;
      }
    }
    return false;
  }

  private intent(): OwnershipIntent {
    return {
      me: this.memberId,
      leaving: this.leaving,
      releasable: new Set(this.releasable),
      handoffs: new Set(this.handoffs),
      releasing: new Set([...this.releasing, ...this.handingOff]),
      quarantined: new Set(this.quarantined.keys()),
      acquiredAt: new Map(this.acquiredAt),
      busy: new Set([...this.readers].filter(([, reader]) => reader.heldCount > 0).map(([partition]) => partition)),
    };
  }

  private apply(plan: OwnershipPlan, intent: OwnershipIntent, startedAt: number): void {
    const options = this.context.options;
    // The write happened after startedAt; peers count our lease from when they saw it, later still.
    this.validUntil = startedAt + options.leaseTtlMs - Math.max(options.heartbeatMs, options.leaseTtlMs / 4);
    this.renewedAt = startedAt;
    this.pausedReported = false;
    this.liveMembers = Object.keys(plan.document.members).length;
    if (intent.leaving || this.closing) return;
    if (this.joined && !plan.wasMember) {
      // Peers presumed us dead and took our partitions: drop everything we were doing.
      for (const reader of this.readers.values()) void reader.release('lost');
      this.readers.clear();
      this.releasing.clear();
      this.releasable.clear();
      this.handingOff.clear();
      this.handoffs.clear();
      this.acquiredAt.clear();
    }
    this.joined = true;
    for (const partition of intent.releasable) {
      this.releasable.delete(partition);
      this.releasing.delete(partition);
    }
    for (const partition of intent.handoffs) this.handoffs.delete(partition);

    const owned = new Set(plan.owned);
    for (const [partition, reader] of this.readers) {
      if (owned.has(partition)) continue;
      if (!reader.isReleasing) void reader.release('lost');
      this.readers.delete(partition);
      this.acquiredAt.delete(partition);
      this.releasing.delete(partition);
    }
    for (const partition of owned) {
      if (this.releasing.has(partition) || this.releasable.has(partition)) continue;
      if (this.handingOff.has(partition) || this.handoffs.has(partition)) continue;
      const existing = this.readers.get(partition);
      if (existing !== undefined && !existing.isReleasing) continue;
      const reader = new PartitionReader(
        this,
        partition,
        consumerName(this.request.group, partition),
        partitionSubject(options.prefix, this.topic.names, partition),
      );
      this.readers.set(partition, reader);
      this.acquiredAt.set(partition, Date.now());
      reader.start().catch((error: unknown) => this.reportError(error));
    }
    for (const partition of plan.startRelease) {
      const reader = this.readers.get(partition);
      if (reader === undefined) continue;
      this.releasing.add(partition);
      // Waits for our handlers however long they run: their records' leases are renewed meanwhile,
      // and the partition moves only once they are settled.
      void reader.release('rebalance').then(() => {
        this.releasable.add(partition);
        void this.tick();
      });
    }
    for (const reader of this.readers.values()) reader.resume();
    this.pumpWaiters();
  }

  private maintain(): void {
    const now = Date.now();
    for (const reader of this.readers.values()) reader.maintain(now);
    for (const [partition, held] of this.quarantined) if (held.settled) this.quarantined.delete(partition);
    if (this.closing) return;
    // A renewal that is late by a moment (a loaded machine, a burst on the connection) pauses
    // hand-outs briefly, as designed, and is no error; one missing for a further lease TTL is
    // (peers may have taken our partitions by then): reported once per outage.
    const ttl = this.context.options.leaseTtlMs;
    if (this.joined && now >= this.validUntil + ttl && !this.pausedReported) {
      this.pausedReported = true;
      this.reportError(
        new WoodworkBusError(
          'WW_BUS_CONNECTION',
          `lost contact with the lease bucket (last renewal ${now - this.renewedAt} ms ago): ${this.request.topic}/${this.request.group} paused until it renews`,
          { isRetryable: true },
        ),
      );
    }
  }
}
