/**
 * One subscription = one kafkajs consumer in the consumer group `<kafka topic>:<group>`.
 *
 * Kafka gives each partition of a topic to one member of a group, and the default partitioner
 * puts every record of a session (the record key) on one partition; so a session's records go to
 * one member at a time. Inside a partition the records of one fetched batch are handed out by a
 * KeyedDispatcher (different keys concurrently, a key's next record only after its earlier one
 * settles), and the batch is not finished — kafkajs cannot rejoin the group, so the partition
 * cannot move to another member — until every record in it is settled. Offsets are committed only
 * after handling, and never past a record still unsettled (OffsetTracker).
 */
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { AdapterDelivery, AdapterSubscribeRequest, AdapterSubscription, WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import { InFlightLimiter, KeyedDispatcher, type DispatchSettlement } from './key-dispatcher.js';
import type { KafkaLogSink } from './log.js';
import { OffsetTracker } from './offset-tracker.js';
import { groupTimings, type ResolvedKafkaOptions } from './options.js';
import { positionOf, wireRecordOf } from './records.js';
import { KAFKAJS_RETRY, retryFor } from './retry.js';

/** A group change the member must answer by rejoining (kafkajs's `isRebalancing`, plus eviction). */
export function isGroupChange(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}

/** The consumer group of a Woodwork (topic, group): kafkajs's assigners hand every member the
 *  leader's topics, so one Kafka group must never span two topics. */
export function kafkaGroupId(kafkaTopic: string, group: string): string {
  return `${kafkaTopic}:${group}`;
}

interface BatchItem {
  readonly offset: bigint;
  readonly record: WireRecord;
  readonly position: string;
}

/** One hand-out of a record to the subscriber (a class, not closures: one per message). */
class KafkaDelivery implements AdapterDelivery {
  readonly record: WireRecord;
  readonly position: string;

  constructor(
    private readonly item: BatchItem,
    readonly deliveryCount: number,
    private readonly settlement: DispatchSettlement,
    private readonly tracker: OffsetTracker,
  ) {
    this.record = item.record;
    this.position = item.position;
  }

  async ack(): Promise<void> {
    // A stale hand-out (nak'd and handed out again since) must not mark the offset done.
    if (this.settlement.current) this.tracker.settle(this.item.offset);
    this.settlement.ack();
  }

  async nak(delayMs: number): Promise<void> {
    this.settlement.nak(delayMs);
  }
}

export interface SubscriptionDependencies {
  readonly createClient: () => Kafka;
  readonly admin: Admin;
  readonly options: ResolvedKafkaOptions;
  readonly log: KafkaLogSink;
  /** Called once the consumer has left its group after `close`. */
  readonly onStopped?: (subscription: KafkaSubscription) => void;
}

export class KafkaSubscription implements AdapterSubscription {
  readonly groupId: string;
  readonly #kafkaTopic: string;
  readonly #request: AdapterSubscribeRequest;
  readonly #dependencies: SubscriptionDependencies;
  readonly #limiter: InFlightLimiter;
  readonly #timings: ReturnType<typeof groupTimings>;
  readonly #dispatchers = new Set<KeyedDispatcher<BatchItem>>();
  /** Offsets this member committed per partition in the current generation. */
  readonly #committed = new Map<number, bigint>();
  #consumer: Consumer | undefined;
  #closing = false;
  #stopped: Promise<void> | undefined;

  constructor(kafkaTopic: string, request: AdapterSubscribeRequest, dependencies: SubscriptionDependencies) {
    this.#kafkaTopic = kafkaTopic;
    this.#request = request;
    this.#dependencies = dependencies;
    this.groupId = kafkaGroupId(kafkaTopic, request.group);
    this.#limiter = new InFlightLimiter(request.maxInFlight);
    this.#timings = groupTimings(dependencies.options, request.ackTimeoutMs);
  }

  /** Joins the group; resolves once this member has its partitions (possibly none). */
  async start(): Promise<void> {
    const { options } = this.#dependencies;
    const consumer = this.#dependencies.createClient().consumer({
      groupId: this.groupId,
      sessionTimeout: this.#timings.sessionTimeoutMs,
      heartbeatInterval: this.#timings.heartbeatIntervalMs,
      rebalanceTimeout: this.#timings.rebalanceTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      retry: { ...KAFKAJS_RETRY },
    });
    this.#consumer = consumer;
    let joined = false;
    let crash: unknown;
    let fatal = false;
    let startPinned: Promise<void> | undefined;
    let fetchedAfterJoin = false;
    consumer.on(consumer.events.FETCH, () => {
      if (joined) fetchedAfterJoin = true;
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      joined = true;
      this.#committed.clear();
      if (!this.#request.fromBeginning) startPinned = this.#commitStartAtEnd(consumer, event.payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (this.#closing) return;
      // A crash kafkajs restarts from (a coordinator still loading after a broker restart) is
      // only fatal to subscribe() if the restarted consumer never joins either.
      if (!joined) crash = restart ? (crash ?? error) : error;
      if (!joined && !restart) fatal = true;
      if (restart) {
        this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `consumer of ${this.groupId} restarts after: ${error.message}`, extra: {} });
      } else {
        this.#request.onError(
          new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: consumer of group ${this.groupId} stopped: ${error.message}`, {
            cause: error,
            isRetryable: true,
          }),
        );
      }
    });
    try {
      await retryFor(options.retryTimeoutMs, async () => {
        await consumer.connect();
        // Needs the topic's metadata, which a broker just restarted may not serve yet.
        await consumer.subscribe({ topic: this.#kafkaTopic, fromBeginning: this.#request.fromBeginning });
      });
      // kafkajs's run() resolves after the first join (or after a failed one, reported as a crash).
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, Math.min(this.#request.maxInFlight, 32)),
        eachBatch: (payload) => this.#eachBatch(payload),
      });
      const deadline = Date.now() + this.#timings.rebalanceTimeoutMs + this.#timings.sessionTimeoutMs;
      while (!joined && !fatal && Date.now() < deadline) await sleep(20);
      if (!joined) {
        throw new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: could not join consumer group ${this.groupId}`, {
          cause: crash,
          isRetryable: true,
        });
      }
      if (!this.#request.fromBeginning) {
        // Records published once subscribe() resolves must be read: wait until the start is
        // committed, and until kafkajs's first fetch has looked up where it reads from (it may
        // have asked for "latest" before the commit landed; after this, both are in the past).
        await startPinned;
        const fetchDeadline = Date.now() + 10 * options.maxWaitTimeMs + 5_000;
        while (!fetchedAfterJoin && Date.now() < fetchDeadline) await sleep(10);
      }
    } catch (error) {
      this.#closing = true;
      await consumer.disconnect().catch(() => {});
      throw WoodworkBusError.isInstance(error)
        ? error
        : new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: subscribing ${this.groupId} failed: ${(error as Error).message}`, {
            cause: error,
            isRetryable: true,
          });
    }
  }

  /**
   * Stops handing out records at once (so the caller gets no delivery after this resolves), then
   * leaves the group once the records in flight are settled — before that, the partitions cannot
   * move to another member, which would break per-key order. With nothing in flight the leave is
   * awaited here; otherwise it finishes in the background and `stopped` tracks it.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const dispatcher of this.#dispatchers) dispatcher.stop();
      this.#stopped = (this.#consumer?.disconnect() ?? Promise.resolve())
        .catch((error: unknown) => {
          this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `leaving ${this.groupId} failed: ${(error as Error).message}`, extra: {} });
        })
        .finally(() => this.#dependencies.onStopped?.(this));
    }
    if (this.#limiter.inFlight === 0) await this.#stopped;
  }

  /** Resolves once the consumer has left its group (after `close`). */
  get stopped(): Promise<void> {
    return this.#stopped ?? Promise.resolve();
  }

  /** When the longest-held record of this member went past ackTimeoutMs, if one did. */
  #overdueAt(): number | undefined {
    let oldest: number | undefined;
    for (const dispatcher of this.#dispatchers) {
      const since = dispatcher.oldestInFlightSince();
      if (since !== undefined && (oldest === undefined || since < oldest)) oldest = since;
    }
    if (oldest === undefined) return undefined;
    const overdueAt = oldest + this.#request.ackTimeoutMs;
    return overdueAt <= Date.now() ? overdueAt : undefined;
  }

  /**
   * For a group that starts at the log's end: commit the current end of every assigned partition
   * the group has no offset for yet. Left to kafkajs, "latest" is looked up again by whichever
   * member owns such a partition after each rebalance, until something is committed there —
   * records published in between would be skipped.
   */
  async #commitStartAtEnd(consumer: Consumer, assignment: Readonly<Record<string, number[]>>): Promise<void> {
    const assigned = assignment[this.#kafkaTopic] ?? [];
    if (assigned.length === 0) return;
    const { admin } = this.#dependencies;
    try {
      const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.#kafkaTopic] });
      const uncommitted = assigned.filter(
        (partition) => (committed?.partitions.find((entry) => entry.partition === partition)?.offset ?? '-1') === '-1',
      );
      if (uncommitted.length === 0) return;
      const ends = await admin.fetchTopicOffsets(this.#kafkaTopic);
      await consumer.commitOffsets(
        uncommitted.map((partition) => ({
          topic: this.#kafkaTopic,
          partition,
          offset: ends.find((end) => end.partition === partition)?.high ?? '0',
        })),
      );
    } catch (error) {
      this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `pinning the start of ${this.groupId} failed: ${(error as Error).message}`, extra: {} });
    }
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, resolveOffset, commitOffsetsIfNecessary } = payload;
    if (this.#closing || batch.messages.length === 0) return;
    const { partition } = batch;
    const tracker = new OffsetTracker();
    const dispatcher = new KeyedDispatcher<BatchItem>({
      limiter: this.#limiter,
      deliver: (entry, settlement) => {
        try {
          this.#request.onDelivery(new KafkaDelivery(entry.item, entry.deliveries, settlement, tracker));
        } catch (error) {
          this.#request.onError(error);
        }
      },
    });
    this.#dispatchers.add(dispatcher);

    const commit = async (offset: bigint | undefined): Promise<unknown> => {
      if (offset === undefined || offset <= (this.#committed.get(partition) ?? -1n)) return undefined;
      try {
        await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition, offset: offset.toString() }] }] });
        this.#committed.set(partition, offset);
        return undefined;
      } catch (error) {
        // Not committed: those records come again (duplicates, never losses). A later commit
        // covers this one, so only a group change needs acting on.
        if (isGroupChange(error)) return error;
        this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `commit on ${this.groupId} failed: ${(error as Error).message}`, extra: {} });
        return undefined;
      }
    };

    try {
      for (const message of batch.messages) {
        const offset = BigInt(message.offset);
        tracker.track(offset);
        const record = wireRecordOf(batch.topic, partition, message);
        // Lanes are per key within this partition; a key lives on one partition anyway.
        dispatcher.push(record.key, { offset, record, position: positionOf(partition, message.offset) });
      }

      let groupChange: unknown;
      // After a group change the batch goes on, so the records already handled past a slow key
      // are committed rather than redone by the next owner; only when half the rebalance budget
      // is gone does the member stop handing out and just finish what is in flight.
      let stopDispatchAt = Number.POSITIVE_INFINITY;
      let drainDeadline = Number.POSITIVE_INFINITY;
      const groupChanged = (error: unknown) => {
        groupChange = error;
        // The broker waits rebalanceTimeout for members to rejoin. An evicted member has lost its
        // partitions already: no point going on.
        const budget =
          (error as { type?: string }).type === 'UNKNOWN_MEMBER_ID'
            ? 0
            : Math.max(0, this.#timings.rebalanceTimeoutMs - this.#timings.heartbeatIntervalMs - 1_000);
        stopDispatchAt = Date.now() + budget / 2;
        drainDeadline = Date.now() + budget;
      };
      let lastCommitAt = Date.now();
      while (!dispatcher.done) {
        if (this.#closing && drainDeadline === Number.POSITIVE_INFINITY) {
          // close() stopped the dispatcher already: no delivery after it resolves.
          stopDispatchAt = Date.now();
          drainDeadline = Date.now() + this.#dependencies.options.closeTimeoutMs;
        }
        if (Date.now() >= stopDispatchAt) {
          dispatcher.stop();
          if (dispatcher.inFlight === 0 || Date.now() >= drainDeadline) break;
        }
        await dispatcher.waitForChange(this.#timings.heartbeatIntervalMs);
        const overdueAt = this.#overdueAt();
        if (overdueAt !== undefined && groupChange === undefined) {
          // A record held past ackTimeoutMs means this member looks dead: stop heartbeating so
          // the broker evicts it and gives its partitions, the held record first, to another
          // member — Kafka's only way to take work away from a live consumer. Once the session
          // has surely expired, stop waiting; kafkajs rejoins the group as a new member.
          if (Date.now() >= overdueAt + this.#timings.sessionTimeoutMs + 2 * this.#timings.heartbeatIntervalMs) {
            this.#dependencies.log({
              level: 'warn',
              namespace: 'Subscription',
              message: `a record of ${this.groupId} was held past ackTimeoutMs (${this.#request.ackTimeoutMs} ms); this member let its session expire so another member gets it`,
              extra: {},
            });
            dispatcher.stop();
            break;
          }
        } else if (groupChange === undefined) {
          try {
            // Throttled by kafkajs to one request per heartbeat interval; keeps the membership
            // alive while records are handled, and is how a rebalance becomes known.
            await heartbeat();
          } catch (error) {
            // Anything but a group change (a broker restarting) is kafkajs's to recover from.
            if (isGroupChange(error)) groupChanged(error);
          }
        }
        if (groupChange === undefined && !this.#closing && Date.now() - lastCommitAt >= this.#dependencies.options.commitIntervalMs) {
          lastCommitAt = Date.now();
          const failed = await commit(tracker.commitOffset());
          if (failed !== undefined) groupChanged(failed);
        }
      }

      if (dispatcher.done) {
        // Resolving the last record lets kafkajs skip the control records after it, too.
        resolveOffset(batch.messages[batch.messages.length - 1]!.offset);
        const failed = await commit(BigInt(batch.lastOffset()) + 1n);
        groupChange ??= failed;
      } else {
        // Stopped early: commit the settled prefix; kafkajs refetches from the commit after it
        // rejoins, so whatever was not settled (a nak waiting out its delay, records not handed
        // out) is delivered again, in order.
        await commit(tracker.commitOffset());
      }
      if (groupChange !== undefined && !this.#closing) throw groupChange;
    } finally {
      dispatcher.stop();
      this.#dispatchers.delete(dispatcher);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
