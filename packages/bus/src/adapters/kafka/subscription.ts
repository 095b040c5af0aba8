/**
 * One subscription = one kafkajs consumer in the consumer group `<kafka topic>:<group>`.
 *
 * Kafka gives each partition of a topic to one member of a group, and the default partitioner
 * puts every record of a session (the record key) on one partition; so a session's records go to
 * one member at a time. What this file adds, and why:
 *
 * - **Isolation.** kafkajs fetches again from a broker only once every batch of its previous fetch
 *   is processed (`fetcher.js`: `await workerQueue.push(...batches)`), so a batch held open by one
 *   slow record held back every other partition. Here a batch is handed to the partition's own
 *   `PartitionWork` (a KeyedDispatcher and an OffsetTracker that outlive the batch) and `eachBatch`
 *   returns at once; offsets are committed by contiguous completion on a timer. A partition whose
 *   backlog in process reaches `backlogLimit` is paused alone and resumed when half of it is left.
 * - **Leases that follow the handler.** kafkajs heartbeats between fetches, which now never wait
 *   for handlers, so the member stays in the group while its handlers run, however long. At a
 *   rebalance the assigner (`busyStickyAssigner`) keeps every partition with a record in a handler
 *   with its member, so a slow handler's partition never moves while it runs.
 * - **Attempts.** Kafka counts nothing per record. Hand-outs started and not settled are written
 *   into the offset commit's metadata (`{"v":1,"h":…,"s":{offset: starts}}`), read back by the
 *   partition's next owner; see `PartitionWork` and the README (*Attempts*).
 */
import type { Admin, AssignerProtocol as AssignerProtocolType, Consumer, EachBatchPayload, Kafka, PartitionAssigner } from 'kafkajs';
import type { AdapterDelivery, AdapterSubscribeRequest, AdapterSubscription, WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import { InFlightLimiter, KeyedDispatcher, type DispatchSettlement } from './key-dispatcher.js';
import type { KafkaLogSink } from './log.js';
import { OffsetTracker } from './offset-tracker.js';
import { groupTimings, type ResolvedKafkaOptions } from './options.js';
import { positionOf, wireRecordOf } from './records.js';
import { isPermanent, KAFKAJS_RETRY, retryFor, withTimeout } from './retry.js';

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

/** The broker refused a commit because the member is not (or no longer) in that generation of the group. */
function isMembershipRefusal(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return type === 'UNKNOWN_MEMBER_ID' || type === 'ILLEGAL_GENERATION';
}

/** The consumer group of a Woodwork (topic, group): kafkajs's assigners hand every member the
 *  leader's topics, so one Kafka group must never span two topics. */
export function kafkaGroupId(kafkaTopic: string, group: string): string {
  return `${kafkaTopic}:${group}`;
}

/**
 * Offsets past the last hand-out a member reserves in its commit metadata (`h`): a later owner
 * treats records up to there as possibly handed out before, and records each hand-out of them
 * before the handler runs. Reserving ahead means the reservation is written once per this many
 * records instead of once per record.
 */
const RESERVE_AHEAD = 1_000n;
/** Start counts kept in one commit's metadata: the broker's offset.metadata.max.bytes is 4 096. */
const MAX_RECORDED_STARTS = 200;
/**
 * A partition is paused once this many of its records wait in process (fetched, not settled) —
 * or twice `maxInFlight` if that is more, so one blocked key does not stall its partition — and
 * resumed when half of them are left, so the next fetch overlaps with work on what is here. (Paused
 * at twice `maxInFlight` and resumed at `maxInFlight`, a subscription with `maxInFlight` 1 waited
 * for a fetch after every other record: 17–20 % of the raw client's msg/s, against 71–79 % now.) A fetch brings up to 1 MiB
 * per partition anyway, which bounds the memory more than this does.
 */
const BACKLOG_FLOOR = 256;
/** Hand-outs outside the reserved range are recorded at most this late (one commit for many). */
const LAZY_RECORD_MS = 20;
export const BUSY_STICKY_ASSIGNER = 'WoodworkBusySticky';

/**
 * The client id of a subscription's consumer: the configured one plus its consumerName, so the
 * member a dead process left in a group can be found even while the group rebalances
 * (`doReleaseConsumer`; the member id the broker assigns starts with the client id too).
 */
export function consumerClientId(clientId: string, consumerName: string): string {
  return `${clientId}.consumer.${consumerName}`;
}

interface BatchItem {
  readonly offset: bigint;
  readonly record: WireRecord;
  readonly position: string;
}

/** What the metadata of a partition's committed offset says (written by `#writeCommits`). */
interface AttemptsMetadata {
  readonly v: 1;
  /** Reserved up to this offset: records after the commit and up to here may have been handed out. */
  readonly h: string;
  /** Hand-outs started and never settled, per offset. */
  readonly s: Record<string, number>;
}

export function parseAttemptsMetadata(text: string | null | undefined): { reserved: bigint; starts: Map<bigint, number> } {
  const starts = new Map<bigint, number>();
  if (!text) return { reserved: -1n, starts };
  try {
    const parsed = JSON.parse(text) as Partial<AttemptsMetadata>;
    if (parsed.v !== 1) return { reserved: -1n, starts };
    for (const [offset, count] of Object.entries(parsed.s ?? {})) {
      if (Number.isInteger(count) && count > 0) starts.set(BigInt(offset), count);
    }
    return { reserved: typeof parsed.h === 'string' ? BigInt(parsed.h) : -1n, starts };
  } catch {
    // Metadata written by another client: nothing of ours to learn from it.
    return { reserved: -1n, starts };
  }
}

/**
 * One owned partition's records in this process, across fetched batches: handed out per key by
 * the dispatcher, offsets committed by contiguous completion, and the start counts of records
 * handed out and not settled (`starts`), which travel in the commit metadata.
 */
class PartitionWork {
  readonly tracker = new OffsetTracker();
  readonly dispatcher: KeyedDispatcher<BatchItem>;
  /** Highest offset pushed: a refetch after a rejoin repeats records already here. */
  pushedUpTo = -1n;
  /** Commit at least here once everything tracked is settled (a batch may end in control records). */
  endOffset = -1n;
  readonly starts: Map<bigint, number>;
  /** A previous owner may have handed out records up to here (its reservation). */
  readonly carefulUpTo: bigint;
  /** Our own reservation, as last written (or being written). */
  reservedUpTo = -1n;
  /** The offset last committed for this partition (by anyone, as read when it became ours). */
  committed: bigint | undefined;
  /**
   * The highest offset a commit request was sent for (answered or not). The coordinator handles a
   * member's requests in order on its connection, so a commit sent before the member's JoinGroup
   * is applied before the partition can move; records settled past this one are not.
   */
  requested: bigint | undefined;
  /** The first offset fetched here, for a partition the group never committed. */
  firstFetched: bigint | undefined;
  /** Something to write: offset moved, or starts changed. */
  dirty = false;
  /** Set while the partition is paused (its backlog in process is full). */
  resume: (() => void) | undefined;
  revoked = false;

  constructor(
    readonly partition: number,
    committed: bigint | undefined,
    metadata: string | null | undefined,
    dispatcher: (work: PartitionWork) => KeyedDispatcher<BatchItem>,
  ) {
    this.committed = committed;
    this.requested = committed;
    const { reserved, starts } = parseAttemptsMetadata(metadata);
    this.carefulUpTo = reserved;
    this.starts = starts;
    this.dispatcher = dispatcher(this);
  }

  /** The offset to commit now, or undefined when nothing moved since the last commit. */
  commitOffset(): bigint | undefined {
    const tracked = this.tracker.commitOffset();
    let offset = tracked;
    if (this.tracker.pending === 0 && this.endOffset > (offset ?? -1n)) offset = this.endOffset;
    return offset ?? this.committed;
  }

  /**
   * Records settled here that no commit request covers: if the partition moved now, its next
   * owner would run them again. Those are the records settled since the last commit request, and
   * those settled past a record of another key not settled yet (keys settle out of order; a
   * commit stops at the first record not settled). A partition never committed starts where it
   * was first fetched.
   */
  get settledUncommitted(): boolean {
    const settled = this.tracker.highestSettled;
    const covered = this.requested ?? this.firstFetched;
    return settled !== undefined && covered !== undefined && settled >= covered;
  }

  /** Some record settled past one not settled yet. */
  get hasGap(): boolean {
    const settled = this.tracker.highestSettled;
    const offset = this.tracker.commitOffset();
    return settled !== undefined && offset !== undefined && settled >= offset;
  }

  /** Records queued below one already settled: settling them lets a commit cover it. */
  readonly isGapFiller = (item: BatchItem): boolean => {
    const settled = this.tracker.highestSettled;
    return settled !== undefined && item.offset < settled;
  };

  metadata(commitOffset: bigint): string {
    const recorded: Record<string, number> = {};
    let kept = 0;
    for (const [offset, count] of [...this.starts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (offset < commitOffset) {
        this.starts.delete(offset);
        continue;
      }
      if (kept++ >= MAX_RECORDED_STARTS) break;
      recorded[offset.toString()] = count;
    }
    const metadata: AttemptsMetadata = { v: 1, h: this.reservedUpTo.toString(), s: recorded };
    return JSON.stringify(metadata);
  }
}

/** One hand-out of a record to the subscriber (a class, not closures: one per message). */
class KafkaDelivery implements AdapterDelivery {
  readonly record: WireRecord;
  readonly position: string;
  /** `recordStarts: 'before-handler'`: the start is counted and written before the handler runs. */
  beforeHandler?: () => Promise<void>;

  constructor(
    private readonly item: BatchItem,
    readonly deliveryCount: number,
    private readonly settlement: DispatchSettlement,
    private readonly work: PartitionWork,
    private readonly settled: (work: PartitionWork) => void,
    /** This hand-out is in `work.starts` (lazy: from the hand-out on; before-handler: once it starts). */
    private startCounted: boolean,
    startWritten?: (offset: bigint) => Promise<void>,
  ) {
    this.record = item.record;
    this.position = item.position;
    if (startWritten !== undefined) {
      this.beforeHandler = () => {
        if (this.startCounted || !this.settlement.current) return Promise.resolve();
        this.startCounted = true;
        return startWritten(this.item.offset);
      };
    }
  }

  async ack(): Promise<void> {
    // A stale hand-out (nak'd and handed out again since) must not mark the offset done.
    if (!this.settlement.current) return;
    this.work.tracker.settle(this.item.offset);
    this.work.starts.delete(this.item.offset);
    this.work.dirty = true;
    this.settlement.ack();
    this.settled(this.work);
  }

  async nak(delayMs: number, neverStarted?: boolean): Promise<void> {
    if (neverStarted === true && this.settlement.current && this.startCounted) {
      this.startCounted = false;
      const count = (this.work.starts.get(this.item.offset) ?? 1) - 1;
      if (count > 0) this.work.starts.set(this.item.offset, count);
      else this.work.starts.delete(this.item.offset);
      this.work.dirty = true;
    }
    this.settlement.nak(delayMs);
  }
}

/**
 * Assigns a group's partitions so that a partition with a record in a handler stays with the
 * member whose handler has it (each member declares those partitions in its join metadata),
 * and spreads the rest evenly. With kafkajs's round-robin, a rebalance (a member joining) moved
 * partitions whatever their members were doing, and a slow handler's record ran a second time on
 * the new owner. Every member offers round-robin too, so a group with members of an older version
 * still forms (on round-robin, as before).
 */
export function busyStickyAssigner(
  protocol: typeof AssignerProtocolType,
  busyPartitions: () => number[],
  consumerName?: string,
): PartitionAssigner {
  return ({ cluster }) => ({
    name: BUSY_STICKY_ASSIGNER,
    version: 1,
    protocol: ({ topics }) => ({
      name: BUSY_STICKY_ASSIGNER,
      metadata: protocol.MemberMetadata.encode({
        version: 1,
        topics,
        // `consumer`: the subscription's consumerName, so a supervisor that saw this process die
        // can find its member and remove it from the group (`doReleaseConsumer`).
        userData: Buffer.from(JSON.stringify({ busy: busyPartitions(), ...(consumerName ? { consumer: consumerName } : {}) })),
      }),
    }),
    async assign({ members, topics }) {
      const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
      const busy = new Map<string, Set<number>>();
      for (const member of sorted) {
        let declared: number[] = [];
        try {
          const userData = protocol.MemberMetadata.decode(member.memberMetadata)?.userData;
          declared = (JSON.parse(userData?.toString() || '{}') as { busy?: number[] }).busy ?? [];
        } catch {
          declared = [];
        }
        busy.set(member.memberId, new Set(declared));
      }
      const assignment = new Map<string, Record<string, number[]>>(sorted.map((member) => [member.memberId, {}]));
      const load = new Map<string, number>(sorted.map((member) => [member.memberId, 0]));
      for (const topic of topics) {
        const partitions = cluster
          .findTopicPartitionMetadata(topic)
          .map((metadata) => metadata.partitionId)
          .sort((a, b) => a - b);
        const give = (memberId: string, partition: number) => {
          const topicsOf = assignment.get(memberId)!;
          (topicsOf[topic] ??= []).push(partition);
          load.set(memberId, load.get(memberId)! + 1);
        };
        const free: number[] = [];
        for (const partition of partitions) {
          const holder = sorted.find((member) => busy.get(member.memberId)!.has(partition));
          if (holder !== undefined) give(holder.memberId, partition);
          else free.push(partition);
        }
        for (const partition of free) {
          let least = sorted[0]!;
          for (const member of sorted) if (load.get(member.memberId)! < load.get(least.memberId)!) least = member;
          give(least.memberId, partition);
        }
      }
      return sorted.map((member) => ({
        memberId: member.memberId,
        memberAssignment: protocol.MemberAssignment.encode({
          version: 1,
          assignment: assignment.get(member.memberId)!,
          userData: Buffer.alloc(0),
        }),
      }));
    },
  });
}

export interface SubscriptionDependencies {
  readonly createClient: (clientId?: string) => Kafka;
  readonly admin: Admin;
  readonly options: ResolvedKafkaOptions;
  readonly log: KafkaLogSink;
  /** kafkajs's protocol encoders and its round-robin assigner (the module is loaded lazily). */
  readonly assignerProtocol: typeof AssignerProtocolType;
  readonly roundRobin: PartitionAssigner;
  /** Called once the consumer has left its group after `close`. */
  readonly onStopped?: (subscription: KafkaSubscription) => void;
}

export class KafkaSubscription implements AdapterSubscription {
  readonly groupId: string;
  readonly #kafkaTopic: string;
  readonly #request: AdapterSubscribeRequest;
  readonly #dependencies: SubscriptionDependencies;
  readonly #limiter: InFlightLimiter;
  /** Records of one partition waiting in process before it is paused (see BACKLOG_FLOOR). */
  readonly #backlogLimit: number;
  readonly #timings: ReturnType<typeof groupTimings>;
  /** The partitions this member owns, with their records in process. */
  readonly #works = new Map<number, PartitionWork>();
  /** Works being created (their committed offset and metadata being read). */
  readonly #loading = new Map<number, Promise<PartitionWork>>();
  /** Hand-outs waiting for their start to be written (records a previous owner may have handed out). */
  #waitingHandOuts: (() => void)[] = [];
  #writing: Promise<void> | undefined;
  #writeAgain = false;
  #urgentScheduled = false;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #commitTimer: ReturnType<typeof setInterval> | undefined;
  #consumer: Consumer | undefined;
  /** Since when the consumer is not running (crashed, restarting or being recreated), and why. */
  #downSince: number | undefined;
  #downReason: string | undefined;
  #recovering = false;
  /**
   * Set from the moment this member must rejoin (kafkajs's REBALANCING, an eviction seen in a
   * batch, a commit refused for membership) until it has joined again or shown that its
   * membership still holds. `handOutsPaused`: paused for the join (`#commitBeforeJoin`,
   * `#beforeRejoin`); `fetchingSince`: kafkajs went back to fetching without a join.
   */
  #awaitingJoin: { handOutsPaused: boolean; fetchingSince: number | undefined } | undefined;
  /** GROUP_JOINs of the current consumer: a commit sent before the last one speaks of an older generation. */
  #joins = 0;
  /** Since when commits are refused for membership (unknown member, stale generation). */
  #refusedSince: number | undefined;
  /** When kafkajs's last heartbeat succeeded: after a refusal began, its membership and its commits' differ. */
  #heartbeatAt = 0;
  /** Set once recreating the consumer failed for good. */
  #failed: string | undefined;
  #closing = false;
  #stopped: Promise<void> | undefined;

  constructor(kafkaTopic: string, request: AdapterSubscribeRequest, dependencies: SubscriptionDependencies) {
    this.#kafkaTopic = kafkaTopic;
    this.#request = request;
    this.#dependencies = dependencies;
    this.groupId = kafkaGroupId(kafkaTopic, request.group);
    this.#limiter = new InFlightLimiter(request.maxInFlight);
    this.#backlogLimit = Math.max(2 * request.maxInFlight, BACKLOG_FLOOR);
    this.#timings = groupTimings(dependencies.options, request.leaseMs);
  }

  /**
   * Partitions that must stay with this member at a join (the assigner keeps them here): those
   * with a record in a handler, and those with records settled since the last commit request —
   * their next owner would read them again. Asked when kafkajs builds the JoinGroup request.
   */
  #busyPartitions(): number[] {
    const busy: number[] = [];
    for (const work of this.#works.values()) {
      if (work.dispatcher.inFlight > 0 || work.settledUncommitted) busy.push(work.partition);
    }
    return busy;
  }

  /** Joins the group; resolves once this member has its partitions (possibly none). */
  async start(): Promise<void> {
    try {
      await this.#runConsumer(true);
    } catch (error) {
      this.#closing = true;
      throw error;
    }
    this.#commitTimer = setInterval(() => {
      this.#checkMembership();
      this.#scheduleWrite(false);
    }, Math.max(10, this.#dependencies.options.commitIntervalMs));
    this.#commitTimer.unref();
  }

  /**
   * Whether this subscription consumes right now: undefined when it does, else why not (its
   * consumer crashed and is being restarted or recreated, or could not be). The adapter's
   * `doHealth` is not ready while a subscription is down, so a host's `/ready` turns 503.
   */
  get down(): string | undefined {
    if (this.#closing) return undefined;
    if (this.#failed !== undefined) return `the consumer of group ${this.groupId} could not be recreated: ${this.#failed}`;
    if (this.#downSince === undefined) return undefined;
    return `the consumer of group ${this.groupId} is down since ${new Date(this.#downSince).toISOString()} (${this.#downReason ?? 'crashed'}); ${this.#recovering ? 'recreating it' : 'kafkajs restarts it'}`;
  }

  /** Recreating the consumer failed for good: the process should be restarted. */
  get failed(): boolean {
    return !this.#closing && this.#failed !== undefined;
  }

  /**
   * Creates a consumer, joins the group and starts fetching; resolves once it has its partitions.
   * `first`: the subscription's start (wait for the first fetch so records published after it are
   * read); otherwise a consumer recreated after a crash kafkajs does not restart from.
   */
  async #runConsumer(first: boolean): Promise<void> {
    const { options } = this.#dependencies;
    const consumer = this.#dependencies.createClient(consumerClientId(options.clientId, this.#request.consumerName)).consumer({
      groupId: this.groupId,
      sessionTimeout: this.#timings.sessionTimeoutMs,
      heartbeatInterval: this.#timings.heartbeatIntervalMs,
      rebalanceTimeout: this.#timings.rebalanceTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      retry: { ...KAFKAJS_RETRY },
      partitionAssigners: [
        busyStickyAssigner(this.#dependencies.assignerProtocol, () => this.#busyPartitions(), this.#request.consumerName),
        this.#dependencies.roundRobin,
      ],
    });
    this.#consumer = consumer;
    this.#awaitingJoin = undefined;
    this.#refusedSince = undefined;
    this.#joins = 0;
    let joined = false;
    let crash: unknown;
    let fatal = false;
    let startPinned: Promise<void> | undefined;
    let fetchedAfterJoin = false;
    consumer.on(consumer.events.FETCH, () => {
      if (joined) fetchedAfterJoin = true;
    });
    // Emitted right before kafkajs rejoins, however it learnt of the rebalance. Often it learns
    // before `#eachBatch` can (`#beforeRejoin`): from the heartbeat after an empty fetch (every
    // partition paused, common under load) or after a batch with nothing new.
    consumer.on(consumer.events.REBALANCING, () => {
      if (consumer !== this.#consumer || this.#closing) return;
      this.#awaitingJoin = { handOutsPaused: true, fetchingSince: undefined };
      this.#commitBeforeJoin(consumer);
    });
    consumer.on(consumer.events.FETCH_START, () => {
      if (consumer === this.#consumer && this.#awaitingJoin !== undefined) this.#awaitingJoin.fetchingSince ??= Date.now();
    });
    consumer.on(consumer.events.REQUEST, (event) => {
      // A join under way (it may wait for the other members up to the rebalance timeout): not stuck.
      const { apiName } = event.payload;
      if (consumer === this.#consumer && this.#awaitingJoin !== undefined && (apiName === 'JoinGroup' || apiName === 'SyncGroup')) {
        this.#awaitingJoin.fetchingSince = undefined;
      }
    });
    consumer.on(consumer.events.HEARTBEAT, () => {
      if (consumer !== this.#consumer || this.#closing) return;
      this.#heartbeatAt = Date.now();
      const awaited = this.#awaitingJoin;
      if (awaited?.fetchingSince === undefined) return;
      // kafkajs fetches and heartbeats in a membership that holds: no join is awaited any more.
      this.#awaitingJoin = undefined;
      if (!awaited.handOutsPaused) return;
      // The join failed (a coordinator that moved, or still loading after a broker pause) and
      // kafkajs consumes on with the membership it had: no GROUP_JOIN comes, so the partitions
      // paused for it go on here.
      this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `consumer of ${this.groupId}: its rejoin failed, and a heartbeat shows its membership still holds; it goes on with its partitions`, extra: {} });
      for (const work of this.#works.values()) if (!work.revoked) work.dispatcher.resume();
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (consumer !== this.#consumer) return;
      joined = true;
      this.#joins++;
      this.#awaitingJoin = undefined;
      this.#refusedSince = undefined;
      this.#downSince = undefined;
      this.#downReason = undefined;
      this.#onAssignment(event.payload.memberAssignment[this.#kafkaTopic] ?? []);
      if (!this.#request.fromBeginning) startPinned = this.#commitStartAtEnd(consumer, event.payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (this.#closing || consumer !== this.#consumer) return;
      if (!joined) {
        // Not joined yet: `#runConsumer` decides (a crash kafkajs restarts from — a coordinator
        // still loading after a broker restart — is fatal only if the restarted consumer never
        // joins either).
        crash = restart ? (crash ?? error) : error;
        if (!restart) fatal = true;
        return;
      }
      // kafkajs disconnected the consumer before this event: nothing is fetched or committed
      // until it runs again. Hand out nothing more meanwhile (the partitions may move to another
      // member once the session times out); the next join resumes what stays here.
      this.#downSince ??= Date.now();
      this.#downReason = error.message;
      for (const work of this.#works.values()) work.dispatcher.pause();
      if (restart) {
        this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `consumer of ${this.groupId} restarts after: ${error.message}`, extra: {} });
        return;
      }
      // kafkajs restarts a consumer only after a retriable error; some errors a broker restart
      // passes through are not (KafkaJSGroupCoordinatorNotFound, tulios/kafkajs#1630, #1445), and
      // `retry.restartOnFailure` is only asked about retriable ones. A new consumer it is.
      this.#dependencies.log({
        level: 'warn',
        namespace: 'Subscription',
        message: `consumer of ${this.groupId} stopped after ${error.name}: ${error.message}; kafkajs does not restart it, creating a new one`,
        extra: {},
      });
      void this.#recover();
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
        // Batches return at once (their records go to the partition's work), so one at a time.
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.#eachBatch(payload),
      });
      const deadline = Date.now() + this.#timings.rebalanceTimeoutMs + this.#timings.sessionTimeoutMs;
      while (!joined && !fatal && !this.#closing && Date.now() < deadline) await sleep(20);
      if (this.#closing) throw new WoodworkBusError('WW_BUS_CLOSED', `kafka bus: subscription ${this.groupId} closed while joining`);
      if (!joined) {
        throw new WoodworkBusError('WW_BUS_CONNECTION', `kafka bus: could not join consumer group ${this.groupId}`, {
          cause: crash,
          isRetryable: true,
        });
      }
      if (first && !this.#request.fromBeginning) {
        // Records published once subscribe() resolves must be read: wait until the start is
        // committed, and until kafkajs's first fetch has looked up where it reads from (it may
        // have asked for "latest" before the commit landed; after this, both are in the past).
        await startPinned;
        const fetchDeadline = Date.now() + 10 * options.maxWaitTimeMs + 5_000;
        while (!fetchedAfterJoin && Date.now() < fetchDeadline) await sleep(10);
      }
    } catch (error) {
      if (this.#consumer === consumer) this.#consumer = undefined;
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
   * Recreates the consumer when kafkajs is stuck in a membership it never leaves by itself (asked
   * on every commit tick). Both cases follow a broker pause, when the coordinator moves or loads
   * while every member rejoins:
   * - After an eviction kafkajs clears its member id and joins; when that join fails it goes back
   *   to fetching with no member id, and never heartbeats (so never learns to join again): no
   *   heartbeat within a session timeout of fetching again.
   * - A join that succeeded followed by a sync that failed: kafkajs heartbeats in the new
   *   generation, fetches the old assignment and commits in the old generation, every commit
   *   refused, while the partitions assigned to it in the new one are read by nobody: commits
   *   refused for membership for a session timeout, with heartbeats succeeding meanwhile.
   * Records in handlers go on; a new consumer joins declaring their partitions busy.
   */
  #checkMembership(): void {
    if (this.#closing || this.#recovering || this.#consumer === undefined || this.#downSince !== undefined) return;
    const now = Date.now();
    const { sessionTimeoutMs } = this.#timings;
    const fetchingSince = this.#awaitingJoin?.fetchingSince;
    let stuck: string | undefined;
    if (fetchingSince !== undefined && now - fetchingSince > sessionTimeoutMs) {
      stuck = `its join failed and it has fetched without a heartbeat for ${now - fetchingSince} ms`;
    } else if (this.#refusedSince !== undefined && this.#heartbeatAt > this.#refusedSince && now - this.#refusedSince > sessionTimeoutMs) {
      stuck = `its commits have been refused for membership for ${now - this.#refusedSince} ms while its heartbeats succeed`;
    }
    if (stuck === undefined) return;
    this.#downSince = now;
    this.#downReason = `kafkajs lost track of its group membership: ${stuck}`;
    for (const work of this.#works.values()) work.dispatcher.pause();
    this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `consumer of ${this.groupId}: ${this.#downReason}; creating a new one`, extra: {} });
    void this.#recover();
  }

  /**
   * Recreates the consumer after a crash kafkajs does not restart from: disconnect, a new
   * consumer, subscribe, run — again with backoff (0.5 s doubling to 10 s, ±20 %) until it
   * joins, `recoveryTimeoutMs` passes, or the error cannot be fixed by retrying. Then the
   * subscription is failed for good: `onError` gets a non-retryable WW_BUS_CONNECTION and the
   * adapter's health stays not ready, so the process can exit and its supervisor restart it.
   */
  async #recover(): Promise<void> {
    if (this.#recovering || this.#closing) return;
    this.#recovering = true;
    const { options, log } = this.#dependencies;
    const began = Date.now();
    let delay = 500;
    let tries = 0;
    try {
      for (;;) {
        const crashed = this.#consumer;
        this.#consumer = undefined;
        await crashed?.disconnect().catch(() => {});
        // Pause handles belong to the old consumer; the new one starts unpaused.
        for (const work of this.#works.values()) work.resume = undefined;
        if (this.#closing) return;
        tries++;
        try {
          await this.#runConsumer(false);
          log({ level: 'warn', namespace: 'Subscription', message: `consumer of ${this.groupId} runs again (recreated after ${Date.now() - began} ms, ${tries} tr${tries === 1 ? 'y' : 'ies'})`, extra: {} });
          return;
        } catch (error) {
          if (this.#closing) return;
          const cause = (error as { cause?: unknown }).cause ?? error;
          if (isPermanent(cause) || Date.now() - began + delay > options.recoveryTimeoutMs) {
            this.#failed = (error as Error).message;
            this.#request.onError(
              new WoodworkBusError(
                'WW_BUS_CONNECTION',
                `kafka bus: the consumer of group ${this.groupId} stopped and could not be recreated within ${Date.now() - began} ms (${tries} tries): ${(error as Error).message}. ` +
                  'This subscription receives nothing more; restart the process.',
                { cause: error, isRetryable: false },
              ),
            );
            return;
          }
          this.#downReason = (error as Error).message;
          log({ level: 'warn', namespace: 'Subscription', message: `recreating the consumer of ${this.groupId} failed (try ${tries}): ${(error as Error).message}; again in ${delay} ms`, extra: {} });
          await sleep(delay * (0.8 + 0.4 * Math.random()));
          delay = Math.min(delay * 2, 10_000);
        }
      }
    } finally {
      this.#recovering = false;
    }
  }

  /**
   * Stops handing out at once (so the caller gets no delivery after this resolves), then, once the
   * records in flight are settled, commits and leaves the group — before that, the partitions
   * must not move to another member, which would break per-key order. With nothing in flight the
   * leave is awaited here; otherwise it finishes in the background and `stopped` tracks it.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      for (const work of this.#works.values()) work.dispatcher.stop();
      this.#stopped = (async () => {
        const deadline = Date.now() + this.#dependencies.options.closeTimeoutMs;
        while (this.#limiter.inFlight > 0 && Date.now() < deadline) await sleep(10);
        if (this.#commitTimer !== undefined) clearInterval(this.#commitTimer);
        if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
        // Nothing is in a handler now: no reservation for the next owner to be careful about.
        for (const work of this.#works.values()) {
          work.reservedUpTo = -1n;
          work.dirty = true;
        }
        while (this.#writing !== undefined) await this.#writing.catch(() => undefined);
        await this.#writeCommits().catch(() => undefined);
        await this.#consumer?.disconnect();
      })()
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

  /** A join gave this member `partitions`: go on with those kept, forget those lost. */
  #onAssignment(partitions: readonly number[]): void {
    const assigned = new Set(partitions);
    for (const [partition, work] of this.#works) {
      if (assigned.has(partition)) {
        work.dispatcher.resume();
        continue;
      }
      // Its records not handed out are refetched by the new owner from the committed offset. A
      // record still in a handler (the assigner keeps those partitions here unless the group runs
      // an older assigner) finishes, but is not committed by us any more.
      work.revoked = true;
      work.dispatcher.stop();
      work.resume?.();
      this.#works.delete(partition);
    }
  }

  /** The partition's work, created on its first batch with its committed offset and metadata. */
  #workFor(partition: number): Promise<PartitionWork> | PartitionWork {
    const known = this.#works.get(partition);
    if (known !== undefined) return known;
    let loading = this.#loading.get(partition);
    if (loading === undefined) {
      loading = (async () => {
        let committed: bigint | undefined;
        let metadata: string | null | undefined;
        try {
          const [topic] = await this.#dependencies.admin.fetchOffsets({ groupId: this.groupId, topics: [this.#kafkaTopic] });
          const entry = topic?.partitions.find((candidate) => candidate.partition === partition) as
            | { offset: string; metadata?: string | null }
            | undefined;
          if (entry !== undefined && entry.offset !== '-1') committed = BigInt(entry.offset);
          metadata = entry?.metadata;
        } catch (error) {
          // Without them, attempts start from 1 here (as before spec v1.4); nothing is lost.
          this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `reading the commit metadata of ${this.groupId} failed: ${(error as Error).message}`, extra: {} });
        }
        const work = new PartitionWork(partition, committed, metadata, (owner) => this.#dispatcherFor(owner));
        this.#works.set(partition, work);
        return work;
      })().finally(() => this.#loading.delete(partition));
      this.#loading.set(partition, loading);
    }
    return loading;
  }

  #dispatcherFor(work: PartitionWork): KeyedDispatcher<BatchItem> {
    return new KeyedDispatcher<BatchItem>({
      limiter: this.#limiter,
      deliver: (entry, settlement) => {
        const offset = entry.item.offset;
        if (this.#dependencies.options.recordStarts === 'before-handler') {
          const earlier = work.starts.get(offset) ?? 0;
          this.#handOut(new KafkaDelivery(entry.item, earlier + 1, settlement, work, this.#settled, false, (started) => this.#startWritten(work, started)));
          return;
        }
        const starts = (work.starts.get(offset) ?? 0) + 1;
        work.starts.set(offset, starts);
        work.dirty = true;
        const delivery = new KafkaDelivery(entry.item, starts, settlement, work, this.#settled, true);
        const handOut = () => this.#handOut(delivery);
        if (offset <= work.carefulUpTo || offset > work.reservedUpTo) {
          // A previous owner may have handed this record out and crashed in its handler, or our
          // reservation ends here: the start is written before the handler runs.
          if (offset > work.reservedUpTo) work.reservedUpTo = offset + RESERVE_AHEAD;
          this.#waitingHandOuts.push(handOut);
          this.#scheduleWrite(true);
        } else {
          handOut();
          this.#scheduleWrite(false);
        }
      },
    });
  }

  #handOut(delivery: KafkaDelivery): void {
    if (this.#closing) {
      // Its start was being written when close began: give it back, never started.
      void delivery.nak(0, true);
      return;
    }
    try {
      this.#request.onDelivery(delivery);
    } catch (error) {
      this.#request.onError(error);
    }
  }

  /** Counts a start of the record at `offset` and settles once a commit carrying it was answered. */
  #startWritten(work: PartitionWork, offset: bigint): Promise<void> {
    work.starts.set(offset, (work.starts.get(offset) ?? 0) + 1);
    work.dirty = true;
    return new Promise<void>((resolve) => {
      this.#waitingHandOuts.push(resolve);
      this.#scheduleWrite(true);
    });
  }

  readonly #settled = (work: PartitionWork) => {
    if (work.resume !== undefined && work.tracker.pending <= this.#backlogLimit / 2) {
      const resume = work.resume;
      work.resume = undefined;
      resume();
    }
  };

  /**
   * Writes commits (offsets and metadata) now (`urgent`: hand-outs wait for it) or within
   * LAZY_RECORD_MS; one write at a time, covering every partition that changed.
   */
  #scheduleWrite(urgent: boolean): void {
    if (urgent) {
      if (this.#urgentScheduled) return;
      this.#urgentScheduled = true;
      queueMicrotask(() => {
        this.#urgentScheduled = false;
        void this.#writeCommits();
      });
    } else if (this.#lazyTimer === undefined) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        void this.#writeCommits();
      }, LAZY_RECORD_MS);
      this.#lazyTimer.unref();
    }
  }

  async #writeCommits(): Promise<void> {
    if (this.#writing !== undefined) {
      this.#writeAgain = true;
      return this.#writing;
    }
    const waiting = this.#waitingHandOuts;
    this.#waitingHandOuts = [];
    const partitions: { partition: number; offset: string; metadata: string }[] = [];
    const written: [PartitionWork, bigint][] = [];
    for (const work of this.#works.values()) {
      if (!work.dirty || work.revoked) continue;
      const offset = work.commitOffset();
      if (offset === undefined) continue;
      work.dirty = false;
      partitions.push({ partition: work.partition, offset: offset.toString(), metadata: work.metadata(offset) });
      written.push([work, offset]);
    }
    const consumer = this.#consumer;
    this.#writing = (async () => {
      if (partitions.length > 0 && consumer === undefined) {
        // The consumer is being recreated: written by the next write after it runs again.
        for (const [work] of written) work.dirty = true;
      } else if (partitions.length > 0 && consumer !== undefined) {
        try {
          await this.#commit(consumer, written, partitions);
        } catch {
          // Not written: records come again after a crash (duplicates, never losses), and a start
          // not recorded makes an attempt count one short. The next write carries it again.
          for (const [work] of written) work.dirty = true;
        }
      }
      for (const handOut of waiting) handOut();
    })();
    try {
      await this.#writing;
    } finally {
      this.#writing = undefined;
      if (this.#writeAgain || this.#waitingHandOuts.length > 0) {
        this.#writeAgain = false;
        void this.#writeCommits();
      }
    }
  }

  /**
   * Sends one commit request, noting at once (before any await) what it carries, so the join's
   * busy partitions (`#busyPartitions`) count it as sent. Rejects when the commit failed.
   */
  #commit(consumer: Consumer, written: readonly (readonly [PartitionWork, bigint])[], partitions: readonly { partition: number; offset: string; metadata: string }[]): Promise<void> {
    for (const [work, offset] of written) if (work.requested === undefined || offset > work.requested) work.requested = offset;
    const joins = this.#joins;
    return consumer.commitOffsets(partitions.map((entry) => ({ topic: this.#kafkaTopic, ...entry }))).then(
      () => {
        for (const [work, offset] of written) if (work.committed === undefined || offset > work.committed) work.committed = offset;
        if (consumer === this.#consumer) this.#refusedSince = undefined;
      },
      (error: unknown) => {
        if (consumer === this.#consumer && joins === this.#joins && isMembershipRefusal(error)) {
          // kafkajs learns of it at its next heartbeat and joins; `#checkMembership` watches that
          // it does. (Refused after a join since it was sent: it spoke for the generation before.)
          this.#awaitingJoin ??= { handOutsPaused: false, fetchingSince: undefined };
          this.#refusedSince ??= Date.now();
        }
        // What the broker has is what it answered last: a later join must not count on this one.
        for (const [work] of written) work.requested = work.committed;
        if (!isGroupChange(error) && this.#downSince === undefined) {
          this.#dependencies.log({ level: 'warn', namespace: 'Subscription', message: `commit on ${this.groupId} failed: ${(error as Error).message}`, extra: {} });
        }
        throw error;
      },
    );
  }

  /**
   * kafkajs rejoins now, and `#eachBatch` may not have seen the rebalance (`#beforeRejoin` gave
   * the handlers their grace and committed then). Hand out nothing more and commit what is settled
   * at once: called synchronously here, the commit request goes out before the JoinGroup (which
   * first waits for a FindCoordinator answer) on the same connection to the coordinator, so it is
   * applied while this member's generation is still current. Partitions with records still in
   * handlers, or settled after this, are declared busy at the join and stay here.
   */
  #commitBeforeJoin(consumer: Consumer): void {
    const partitions: { partition: number; offset: string; metadata: string }[] = [];
    const written: [PartitionWork, bigint][] = [];
    for (const work of this.#works.values()) {
      work.dispatcher.pause();
      const offset = work.commitOffset();
      if (work.revoked || offset === undefined || (work.requested !== undefined && offset <= work.requested)) continue;
      partitions.push({ partition: work.partition, offset: offset.toString(), metadata: work.metadata(offset) });
      written.push([work, offset]);
    }
    if (partitions.length === 0) return;
    this.#commit(consumer, written, partitions).catch(() => {
      for (const [work] of written) work.dirty = true;
    });
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

  /**
   * Hands a fetched batch to its partition's work and returns at once, so kafkajs fetches again
   * for every partition without waiting for this one's handlers. Pauses the partition alone while
   * its backlog in process is full.
   */
  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, pause, heartbeat } = payload;
    if (this.#closing || batch.messages.length === 0) return;
    const { partition } = batch;
    const pending = this.#workFor(partition);
    const work = pending instanceof PartitionWork ? pending : await pending;
    if (work.revoked || this.#closing) return;
    for (const message of batch.messages) {
      const offset = BigInt(message.offset);
      // Refetched after a rejoin (kafkajs restarts at the committed offset): already here.
      if (offset <= work.pushedUpTo) continue;
      work.pushedUpTo = offset;
      // Never committed: nothing before its first record here can be redone because of us.
      work.firstFetched ??= offset;
      work.tracker.track(offset);
      const record = wireRecordOf(batch.topic, partition, message);
      // Lanes are per key within this partition; a key lives on one partition anyway.
      work.dispatcher.push(record.key, { offset, record, position: positionOf(partition, message.offset) });
    }
    const last = BigInt(batch.lastOffset()) + 1n;
    if (last > work.endOffset) work.endOffset = last;
    // Resolving the batch's end lets kafkajs fetch past it (and past its control records).
    resolveOffset(batch.lastOffset());
    if (work.resume === undefined && work.tracker.pending >= this.#backlogLimit) work.resume = pause();
    try {
      // Throttled by kafkajs to one request per heartbeat interval; how a rebalance becomes known
      // here, before kafkajs rejoins.
      await heartbeat();
    } catch (error) {
      if (!isGroupChange(error) || this.#closing) return;
      await this.#beforeRejoin(error);
      throw error;
    }
  }

  /**
   * A rebalance is under way: hand out nothing more, give the records in handlers a moment to
   * finish (quick ones do: their partitions can then move without anything redone), and commit.
   * Partitions whose records are still in handlers after that are declared busy at the join and
   * stay here (`busyStickyAssigner`); the others go wherever the assignment says, and their
   * queued records are fetched again by their next owner.
   */
  async #beforeRejoin(error: unknown): Promise<void> {
    const evicted = (error as { type?: string }).type === 'UNKNOWN_MEMBER_ID';
    // kafkajs emits REBALANCING for a rebalance, not for an eviction: watched from here for both.
    this.#awaitingJoin = { handOutsPaused: true, fetchingSince: undefined };
    // Records queued below one already settled still go out: once they settle, the commit
    // covers everything settled and the partition can move without anything run twice.
    for (const work of this.#works.values()) work.dispatcher.pause(evicted ? undefined : work.isGapFiller);
    const budget = evicted ? 0 : Math.min(1_000, this.#timings.rebalanceTimeoutMs / 4);
    const deadline = Date.now() + budget;
    const unfinished = () => this.#limiter.inFlight > 0 || [...this.#works.values()].some((work) => work.hasGap);
    while (unfinished() && Date.now() < deadline) await sleep(5);
    for (const work of this.#works.values()) work.dispatcher.pause();
    for (const work of this.#works.values()) work.dirty = true;
    // Evicted, its commits are refused ("The coordinator is not aware of this member"): rejoin at once.
    if (evicted) return;
    // A write under way carries an older state: this one must go out after it, before the join —
    // but for a bounded time. While the coordinator is slow (still loading after a broker pause),
    // the commit timer keeps one write following another; waiting until none was under way kept
    // members out of the group for minutes while their commits failed, and their sessions stalled
    // (the fault run's Kafka broker pause: 1–16 inputs lost).
    const written = (async () => {
      if (this.#writing !== undefined) await this.#writing.catch(() => undefined);
      await this.#writeCommits().catch(() => undefined);
    })();
    await withTimeout(written, this.#timings.rebalanceTimeoutMs / 4);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
