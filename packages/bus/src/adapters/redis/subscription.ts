/**
 * One member of a consumer group on a redis-bus topic. README.md beside this file explains the
 * design; in short:
 *
 * - A topic is `partitions` streams; a session's records all go to one of them (keys.ts).
 * - Members of a group share the partitions through leases (scripts.ts REBALANCE): each owns
 *   about `ceil(partitions / live members)`, only the owner reads a partition, and it reads only
 *   while its lease cannot expire before the read ends (fencing by time, see `readableUntil`).
 * - Inside its partitions the owner keeps one lane per session: a session's next entry is handed
 *   out only once the one before it is acknowledged (XACK answered) — across members too,
 *   because a new owner first lists the partition's pending entries (XPENDING) and holds back
 *   every session that still has an entry with someone else ("blockers") until it is settled,
 *   given back, or idle past the ack timeout (then claimed and redelivered first).
 * - Entries a member read but never started go back through the handover consumer, so a new
 *   owner takes them at once.
 */
import type { AdapterDelivery, AdapterSubscribeRequest, AdapterSubscription, WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import type { RedisClient } from './driver.js';
import type { TopicKeys } from './keys.js';
import { compareEntryIds, formatPosition } from './keys.js';
import { HANDOVER_CONSUMER } from './scripts.js';
import type { Scripts } from './scripts.js';

/** What a subscription needs from its adapter. */
export interface SubscriptionContext {
  readonly command: RedisClient;
  readonly scripts: Scripts;
  readonly keys: TopicKeys;
  readonly partitions: number;
  /** A fresh connection for this subscription's blocking reads, already connected. */
  openBlockingConnection(name: string): Promise<RedisClient>;
  /** Creates the group on every partition stream (`$` or `0`), ignoring BUSYGROUP. */
  ensureGroups(group: string, startId: '$' | '0'): Promise<void>;
  readonly blockMs: number;
  readonly leaseMs: number;
  readonly claimIntervalMs: number;
  /** Called once a closed subscription has nothing left to settle. */
  readonly forget: (subscription: RedisSubscription) => void;
  /**
   * Settles once every publish issued so far has been answered; undefined when none is out.
   * Publishes travel on a connection of their own, so acks wait for them: a handler's publishes
   * reach Redis before its entry's XACK, as they did on one connection (README, *Connections*).
   */
  readonly publishesSettled: () => Promise<void> | undefined;
}

type EntryState = 'buffered' | 'touching' | 'delivered' | 'acking' | 'waiting' | 'redelivering' | 'done';

const now = (): number => performance.now();
const RESOLVED: Promise<void> = Promise.resolve();
/** How long a counted entry may wait in the buffer before its read is taken back from Redis' counter. */
const UNCOUNT_AFTER_MS = 10;
/** Entries per XAUTOCLAIM call (Redis scans at most ten times as many pending entries per call). */
const CLAIM_BATCH = 100;

/** A session inside one partition: its entries in id order and the one being worked on. */
class Lane {
  readonly queue: HeldEntry[] = [];
  active: HeldEntry | undefined;
  /** Entries of this session pending with another member that must settle first. */
  blockers = 0;
  constructor(
    readonly name: string,
    readonly partition: number,
  ) {}
}

/** An entry this member holds: read or claimed, maybe handed out. */
class HeldEntry {
  state: EntryState = 'buffered';
  delivery: RedisDelivery | undefined;
  deliveredAt = 0;
  /**
   * Whether Redis' delivery counter already includes this entry's current or next hand-out.
   * A read or claim counts one at once; an entry left in the buffer is set back (see `mark`).
   */
  counted = true;
  constructor(
    readonly partition: number,
    readonly id: string,
    readonly ref: string,
    readonly record: WireRecord,
    readonly lane: Lane,
    public deliveryCount: number,
    public heldSince: number,
  ) {}
}

class OwnedPartition {
  status: 'recovering' | 'active' | 'releasing' = 'recovering';
  /** Foreign pending entry id → the lane it holds back. */
  readonly blockers = new Map<string, Lane>();
  scanning = false;
  constructor(
    readonly index: number,
    public validUntil: number,
    /** Taken beyond the fair share because its owner gave it up: kept until this time. */
    readonly keepUntil = 0,
  ) {}
}

class RedisDelivery implements AdapterDelivery {
  settled = false;
  readonly record: WireRecord;
  readonly deliveryCount: number;

  constructor(
    private readonly subscription: RedisSubscription,
    readonly entry: HeldEntry,
  ) {
    this.record = entry.record;
    this.deliveryCount = entry.deliveryCount;
  }

  get position(): string {
    return formatPosition(this.entry.partition, this.entry.id);
  }

  ack(): Promise<void> {
    if (this.settled) return RESOLVED;
    this.settled = true;
    return this.subscription.acknowledge(this.entry);
  }

  nak(delayMs: number, neverStarted?: boolean): Promise<void> {
    if (this.settled) return RESOLVED;
    this.settled = true;
    return this.subscription.giveBack(this.entry, Math.max(0, delayMs), neverStarted === true);
  }
}

/** An entry as XREADGROUP/XCLAIM/XRANGE return it with Buffer replies: [id, [field, value, …]]. */
type RawEntry = [Buffer, Buffer[] | null];

const FIELD_ENVELOPE = Buffer.from('envelope');
const FIELD_MESSAGE_ID = Buffer.from('message_id');
const FIELD_SESSION_ID = Buffer.from('session_id');

/** Turns stream fields into a record. Entries written by other tools may lack our fields. */
export function recordFromFields(fields: readonly Buffer[], partition: number, id: string): WireRecord {
  let body: Buffer | undefined;
  let messageId: string | undefined;
  let key: string | undefined;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    // Compared as bytes: no string per field name on the hot path.
    const name = fields[index]!;
    if (name.equals(FIELD_ENVELOPE)) body = fields[index + 1]!;
    else if (name.equals(FIELD_MESSAGE_ID)) messageId = fields[index + 1]!.toString();
    else if (name.equals(FIELD_SESSION_ID)) key = fields[index + 1]!.toString();
  }
  if (body === undefined) {
    // Not written by a Woodwork producer: deliver what there is, so the wrapper dead-letters it
    // with its content instead of losing it.
    const object: Record<string, string> = {};
    for (let index = 0; index + 1 < fields.length; index += 2) {
      object[fields[index]!.toString()] = fields[index + 1]!.toString();
    }
    body = Buffer.from(JSON.stringify(object));
  }
  if (key === undefined || messageId === undefined) {
    let parsed: { session_id?: unknown; message_id?: unknown } | undefined;
    try {
      parsed = JSON.parse(body.toString()) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (key === undefined) key = typeof parsed?.session_id === 'string' ? parsed.session_id : `unkeyed:p${partition}`;
    if (messageId === undefined) messageId = typeof parsed?.message_id === 'string' ? parsed.message_id : `redis:p${partition}-${id}`;
  }
  return { messageId, key, body };
}

function isConnectionError(error: unknown): boolean {
  const message = String((error as Error | undefined)?.message ?? error);
  return /Connection is closed|Stream isn't writeable|ECONNRESET|ECONNREFUSED|EPIPE|MaxRetriesPerRequest|LOADING|Socket closed/i.test(
    message,
  );
}

export class RedisSubscription implements AdapterSubscription {
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly lanes = new Map<string, Lane>();
  /** Every entry this member holds, by `partition:id`. */
  private readonly tracked = new Map<string, HeldEntry>();
  /** Lanes that may have an entry to hand out, oldest first. */
  private readonly readyLanes = new Set<Lane>();
  /** Redeliveries waiting for a free slot; they go before new entries. */
  private readonly redeliveries: HeldEntry[] = [];
  /** Delayed work (nak delays), with what resolves its promise if the adapter closes first. */
  private readonly timers = new Map<ReturnType<typeof setTimeout>, () => void>();
  private readonly streamPartition = new Map<string, number>();
  /** Acknowledgements Redis did not take (broker away): retried by the scan tick. */
  private readonly retryAcks = new Set<HeldEntry>();
  /** Acknowledgements of this tick, per partition: sent together in one command. */
  private ackBatch: { byPartition: Map<number, HeldEntry[]>; done: Promise<void> } | undefined;
  /** Lease renewals and counter corrections of this tick (entry → count, -1 renew only): one call. */
  private markBatch: Map<HeldEntry, number> | undefined;
  /** Counted entries left in the buffer, to be set back if they still wait (`uncountBuffered`). */
  private readonly toUncount: HeldEntry[] = [];
  private uncountTimer: ReturnType<typeof setTimeout> | undefined;
  /** Handed out and not settled: bounded by maxInFlight. */
  private delivered = 0;
  /** A `pump` pass is running (further calls return; the running pass picks their work up). */
  private pumping = false;
  /** Entries held at most (buffered + handed out): the read-ahead bound. */
  private readonly capacity: number;
  /**
   * Entries whose XACK is sent and not yet answered. They no longer count against the read-ahead
   * (the next read overlaps the acknowledgement's round trip instead of waiting for it), but their
   * sessions stay closed until Redis answers, and at most `capacity` of them may be outstanding.
   */
  private acking = 0;
  /** Free room below which the next read waits. */
  private readonly lowWater: number;
  private readonly margin: number;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private blocking: RedisClient | undefined;
  private blockingClientId: number | undefined;
  private blockingEpoch = 0;
  private clientIdEpoch = -1;
  private reading: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  private renewing = false;
  private scanTimer: ReturnType<typeof setTimeout> | undefined;
  private upkeepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly offset: number;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly request: AdapterSubscribeRequest,
  ) {
    this.capacity = Math.max(2, request.maxInFlight * 2);
    this.lowWater = Math.max(1, Math.floor(this.capacity / 2));
    // A read may block only while the lease has at least this much time left after it.
    this.margin = Math.max(50, Math.round(context.leaseMs / 10));
    for (let partition = 0; partition < context.partitions; partition++) {
      this.streamPartition.set(context.keys.stream(partition), partition);
    }
    let hash = 0;
    for (const char of request.consumerName) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
    this.offset = Math.abs(hash);
  }

  private get group(): string {
    return this.request.group;
  }

  private get me(): string {
    return this.request.consumerName;
  }

  async start(): Promise<void> {
    if (this.me === HANDOVER_CONSUMER) {
      throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `consumer name ${HANDOVER_CONSUMER} is reserved by the redis bus`);
    }
    await this.context.ensureGroups(this.group, this.request.fromBeginning ? '0' : '$');
    const blocking = await this.context.openBlockingConnection(`woodwork-bus:read:${this.me}`);
    this.blocking = blocking;
    blocking.on('ready', () => {
      this.blockingEpoch++;
      this.signal();
    });
    await this.renew();
    const renewEvery = Math.max(100, Math.floor(this.context.leaseMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), renewEvery);
    this.renewTimer.unref();
    this.upkeepTimer = setInterval(() => this.upkeep(), this.renewEvery());
    this.upkeepTimer.unref();
    this.scheduleScan();
    this.loop = this.readLoop();
  }

  // ---------------------------------------------------------------------------------------------
  // ownership

  private leaseKeys(): string[] {
    const keys: string[] = [];
    for (let partition = 0; partition < this.context.partitions; partition++) keys.push(this.context.keys.lease(this.group, partition));
    return keys;
  }

  private orphanKeys(): string[] {
    const keys: string[] = [];
    for (let partition = 0; partition < this.context.partitions; partition++) keys.push(this.context.keys.orphan(this.group, partition));
    return keys;
  }

  /** One heartbeat: renew our leases, take our fair share, notice what we lost, give up extras. */
  private async renew(): Promise<void> {
    if (this.renewing || this.closing) return;
    this.renewing = true;
    const sentAt = now();
    try {
      let reply: number[];
      try {
        reply = (await this.context.scripts.run('wwRebalance', [this.context.keys.members(this.group), ...this.leaseKeys(), ...this.orphanKeys()], [
          this.me,
          this.context.leaseMs,
          this.context.leaseMs,
          this.offset,
        ])) as number[];
      } catch {
        // Broker unreachable: leases run out locally; reads and deliveries stop on their own
        // (readableUntil), and whatever Redis says next decides what we still own.
        this.dropExpired();
        return;
      }
      if (this.closing) return;
      const fair = reply[1]!;
      const validUntil = sentAt + this.context.leaseMs;
      for (let partition = 0; partition < this.context.partitions; partition++) {
        const status = reply[partition + 2];
        const part = this.owned.get(partition);
        if (status === 1 && part !== undefined) {
          part.validUntil = validUntil;
        } else if (status === 1 || status === 2 || status === 3) {
          // Newly ours (or ours again after we lost it): whatever we still hold from before is stale.
          if (part !== undefined) this.lose(partition, part);
          this.acquire(partition, validUntil, status === 3 ? sentAt + this.orphanCooldown() : 0);
        } else if (part !== undefined && part.status !== 'releasing') {
          this.lose(partition, part);
        }
      }
      const mine = [...this.owned.values()].filter((part) => part.status !== 'releasing');
      if (mine.length > fair) {
        // Give up the partitions with the least work in hand, but not an orphan we just took
        // over: its previous owner may not take it back yet, and we would pass it around.
        const extras = mine
          .filter((part) => part.keepUntil < sentAt)
          .sort((a, b) => this.heldIn(a.index) - this.heldIn(b.index) || b.index - a.index)
          .slice(0, mine.length - fair);
        for (const part of extras) void this.release(part);
      }
      this.considerAll();
      this.signal();
    } finally {
      this.renewing = false;
    }
  }

  private heldIn(partition: number): number {
    let count = 0;
    for (const entry of this.tracked.values()) if (entry.partition === partition) count++;
    return count;
  }

  private dropExpired(): void {
    const time = now();
    for (const [partition, part] of this.owned) {
      if (part.validUntil <= time && part.status !== 'releasing') this.lose(partition, part);
    }
  }

  /**
   * How long a member keeps a partition it took as an orphan (marked by a member of an earlier
   * version, which gave a partition up when a delivery outlived its ack timeout).
   */
  private orphanCooldown(): number {
    return Math.max(this.request.leaseMs, this.context.leaseMs);
  }

  /** Entries' leases are renewed this often: three renewals fit in one lease. */
  private renewEvery(): number {
    return Math.max(25, Math.floor(this.request.leaseMs / 3));
  }

  private acquire(partition: number, validUntil: number, keepUntil: number): void {
    const part = new OwnedPartition(partition, validUntil, keepUntil);
    this.owned.set(partition, part);
    void this.recover(part);
  }

  /** A new owner's first step: settle what is pending in the partition before reading new entries. */
  private async recover(part: OwnedPartition): Promise<void> {
    // No read that could still add to this partition's pending list may be in flight.
    await this.quiesceRead();
    let done = false;
    while (!done && !this.closing && this.owned.get(part.index) === part) {
      try {
        await this.scan(part, true);
        done = true;
      } catch (error) {
        if (!isConnectionError(error)) this.request.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    if (done && this.owned.get(part.index) === part && part.status === 'recovering') {
      part.status = 'active';
      this.considerPartition(part.index);
      this.pump();
      this.signal();
      void this.interruptRead();
    }
  }

  /** Lease lost (expired, or taken after a pause): forget the partition, hand back what never started. */
  private lose(partition: number, part: OwnedPartition): void {
    if (this.owned.get(partition) !== part) return;
    this.owned.delete(partition);
    this.dropBlockers(part);
    void this.handBackBuffered(partition);
  }

  /**
   * Voluntary: another member's fair share. Stop reading it, hand back what never started, then
   * free the lease. Entries our handlers hold stay ours (their leases renewed) and hold their
   * sessions back at the next owner until they are settled.
   */
  private async release(part: OwnedPartition): Promise<void> {
    if (part.status === 'releasing' || this.owned.get(part.index) !== part) return;
    part.status = 'releasing';
    await this.quiesceRead();
    this.dropBlockers(part);
    await this.handBackBuffered(part.index);
    try {
      await this.context.scripts.run('wwRelease', [this.context.keys.members(this.group), this.context.keys.lease(this.group, part.index)], [
        this.me,
        '0',
      ]);
    } catch {
      // The lease expires by itself.
    }
    if (this.owned.get(part.index) === part) this.owned.delete(part.index);
  }

  private dropBlockers(part: OwnedPartition): void {
    for (const lane of part.blockers.values()) {
      lane.blockers--;
      this.tidy(lane);
    }
    part.blockers.clear();
  }

  /** Entries of a partition we read but never handed out go to the handover consumer. */
  private async handBackBuffered(partition: number): Promise<void> {
    const entries: HeldEntry[] = [];
    for (const lane of this.lanes.values()) {
      if (lane.partition !== partition || lane.queue.length === 0) continue;
      for (const entry of lane.queue) entries.push(entry);
      lane.queue.length = 0;
      this.readyLanes.delete(lane);
      this.tidy(lane);
    }
    for (const entry of entries) {
      entry.state = 'done';
      this.tracked.delete(entry.ref);
    }
    if (entries.length > 0) await this.handOver(partition, entries, true);
    this.signal();
  }

  /**
   * Moves entries to the handover consumer. `neverStarted`: no handler ran them in this holding,
   * so the hand-out Redis counted for them (a read, a claim, a counted hand-out) is taken back —
   * except for entries whose count was set back already (`counted` false).
   */
  private async handOver(partition: number, entries: readonly HeldEntry[], neverStarted: boolean): Promise<void> {
    const groups: [HeldEntry[], boolean][] = neverStarted
      ? [
          [entries.filter((entry) => entry.counted), true],
          [entries.filter((entry) => !entry.counted), false],
        ]
      : [[[...entries], false]];
    for (const [list, uncount] of groups) {
      if (list.length === 0) continue;
      try {
        await this.context.scripts.run('wwGiveBack', [this.context.keys.stream(partition)], [
          this.group,
          this.me,
          HANDOVER_CONSUMER,
          uncount ? '1' : '0',
          ...list.map((entry) => entry.id),
        ]);
      } catch {
        // Still pending under our name: the next owner claims them once idle past the lease.
      }
    }
  }

  /** The time until which we may read from or hand out entries of `partition`. */
  private readableUntil(partition: number): number {
    const part = this.owned.get(partition);
    if (part === undefined || part.status !== 'active') return 0;
    return part.validUntil - this.margin;
  }

  /**
   * Whether an entry of `partition` stays with us when it cannot be handed out right now. Entries
   * are handed over only for partitions we no longer own (or are giving up): in a partition we
   * own, nobody would hold its session back while it sits with the handover consumer.
   */
  private keeps(partition: number): boolean {
    const part = this.owned.get(partition);
    return !this.closing && part !== undefined && part.status !== 'releasing';
  }

  // ---------------------------------------------------------------------------------------------
  // pending entries: handover, abandoned work, blockers

  private scheduleScan(): void {
    if (this.closing) return;
    let blocked = false;
    for (const part of this.owned.values()) if (part.blockers.size > 0) blocked = true;
    const delay = blocked ? Math.min(100, this.context.claimIntervalMs) : this.context.claimIntervalMs;
    this.scanTimer = setTimeout(() => {
      this.scanTimer = undefined;
      void this.scanAll().finally(() => this.scheduleScan());
    }, delay);
    this.scanTimer.unref();
  }

  private async scanAll(): Promise<void> {
    if (this.retryAcks.size > 0) await this.retryAcknowledgements();
    for (const part of [...this.owned.values()]) {
      if (part.status !== 'active' || this.closing) continue;
      try {
        await this.scan(part, false);
      } catch (error) {
        if (!isConnectionError(error)) this.request.onError(error);
      }
    }
  }

  /**
   * Lists a partition's pending entries and acts on the ones not in our hands: claims those given
   * back or abandoned (idle past the ack timeout), and holds back the sessions of the others.
   * `recovery`: we just took the partition and no read of ours is in flight, so entries pending
   * under our own name that we do not track were orphaned (a lost read reply, a previous
   * incarnation of this consumer name) and are claimed at once.
   */
  private async scan(part: OwnedPartition, recovery: boolean): Promise<void> {
    if (part.scanning) return;
    part.scanning = true;
    try {
      const partition = part.index;
      const stream = this.context.keys.stream(partition);
      const pending: [string, string, number, number][] = [];
      let start = '-';
      for (;;) {
        const page = (await this.context.command.xpending(stream, this.group, start, '+', 1000)) as [string, string, number, number][];
        pending.push(...page);
        if (page.length < 1000) break;
        start = `(${page[page.length - 1]![0]}`;
      }
      if (this.owned.get(partition) !== part) return;
      const lease = this.request.leaseMs;
      const claimNow: string[] = [];
      const claimIdle: string[] = [];
      const counts = new Map<string, number>();
      const foreign = new Set<string>();
      for (const [id, consumer, idle, count] of pending) {
        counts.set(id, count);
        if (this.tracked.has(`${partition}:${id}`)) continue;
        if (consumer === this.me && !recovery) continue; // a read reply still on its way to us
        foreign.add(id);
        if (consumer === this.me || consumer === HANDOVER_CONSUMER) claimNow.push(id);
        else if (idle >= lease) claimIdle.push(id);
      }
      if ((claimNow.length > 0 || claimIdle.length > 0) && now() < part.validUntil - this.margin) {
        const claimed = [
          ...(claimNow.length > 0 ? await this.claim(stream, claimNow) : []),
          ...(claimIdle.length > 0 ? await this.claimAbandoned(part, stream, claimIdle[0]!, counts, foreign) : []),
        ];
        if (this.owned.get(partition) !== part) {
          // Lost it while claiming: hand them straight back, never started.
          const ids = claimed.map(([id]) => id.toString());
          if (ids.length > 0) {
            await this.context.scripts.run('wwGiveBack', [stream], [this.group, this.me, HANDOVER_CONSUMER, '1', ...ids]).catch(() => {});
          }
          return;
        }
        const enqueued: HeldEntry[] = [];
        for (const [rawId, fields] of claimed) {
          const id = rawId.toString();
          if (fields === null) continue;
          foreign.delete(id);
          const entry = this.enqueue(partition, id, recordFromFields(fields, partition, id), (counts.get(id) ?? 0) + 1);
          if (entry !== undefined) enqueued.push(entry);
        }
        this.pump();
        this.uncountBuffered(enqueued);
      }
      // What is still with someone else holds its session back until it settles.
      const unknown = [...foreign].filter((id) => !part.blockers.has(id));
      if (unknown.length > 0) {
        const looked = await Promise.all(
          unknown.map((id) => this.context.command.xrangeBuffer(stream, id, id) as unknown as Promise<RawEntry[]>),
        );
        if (this.owned.get(partition) !== part) return;
        unknown.forEach((id, index) => {
          const entry = looked[index]![0];
          if (entry === undefined || entry[1] === null) {
            // Pending but deleted from the stream (XDEL by hand): nothing to deliver or wait for.
            void this.context.command.xack(stream, this.group, id).catch(() => {});
            foreign.delete(id);
            return;
          }
          const record = recordFromFields(entry[1], partition, id);
          const lane = this.laneFor(partition, record.key);
          lane.blockers++;
          this.readyLanes.delete(lane);
          part.blockers.set(id, lane);
        });
      }
      for (const [id, lane] of part.blockers) {
        if (foreign.has(id)) continue;
        part.blockers.delete(id);
        lane.blockers--;
        this.consider(lane);
      }
      this.pump();
    } finally {
      part.scanning = false;
    }
  }

  /** Claims entries given back to us (handover, our own orphans) by id, whatever their idle time. */
  private async claim(stream: string, ids: readonly string[]): Promise<RawEntry[]> {
    const reply = (await this.bufferCommands().xclaimBuffer(stream, this.group, this.me, 0, ...ids)) as RawEntry[];
    return reply.filter((entry) => entry !== null);
  }

  /**
   * Claims abandoned work: XAUTOCLAIM every entry idle past the ack timeout, from the oldest one
   * the listing found. XAUTOCLAIM cannot tell our own entries from others', so an entry of ours
   * that waited that long in a lane behind a slow handler is claimed too; it stays ours, and its
   * delivery count, which XAUTOCLAIM raised, is set back (it was never handed out again). Entries
   * deleted from the stream (XDEL by hand) leave the pending list in the same call.
   */
  private async claimAbandoned(
    part: OwnedPartition,
    stream: string,
    oldest: string,
    counts: ReadonlyMap<string, number>,
    foreign: Set<string>,
  ): Promise<RawEntry[]> {
    const commands = this.bufferCommands();
    const abandoned: RawEntry[] = [];
    let cursor = oldest;
    do {
      const [next, entries, deleted] = (await commands.xautoclaimBuffer(
        stream,
        this.group,
        this.me,
        this.request.leaseMs,
        cursor,
        'COUNT',
        CLAIM_BATCH,
      )) as [Buffer, RawEntry[], Buffer[] | undefined];
      cursor = next.toString();
      for (const id of deleted ?? []) foreign.delete(id.toString());
      for (const entry of entries) {
        if (entry === null) continue;
        const id = entry[0].toString();
        if (!this.tracked.has(`${part.index}:${id}`)) {
          abandoned.push(entry);
          continue;
        }
        const count = counts.get(id);
        if (count !== undefined) await commands.xclaimBuffer(stream, this.group, this.me, 0, id, 'RETRYCOUNT', count, 'JUSTID');
      }
    } while (cursor !== '0-0' && this.owned.get(part.index) === part);
    return abandoned;
  }

  // ioredis has the *Buffer variants of XCLAIM/XAUTOCLAIM at runtime but not in its types;
  // callBuffer would lose the command name under auto-pipelining (ioredis 5.x).
  private bufferCommands(): {
    xclaimBuffer(...args: (string | number)[]): Promise<unknown>;
    xautoclaimBuffer(...args: (string | number)[]): Promise<unknown>;
  } {
    return this.context.command as unknown as ReturnType<RedisSubscription['bufferCommands']>;
  }

  // ---------------------------------------------------------------------------------------------
  // lanes and deliveries

  private laneFor(partition: number, key: string): Lane {
    const name = `${partition}\u0000${key}`;
    let lane = this.lanes.get(name);
    if (lane === undefined) {
      lane = new Lane(name, partition);
      this.lanes.set(name, lane);
    }
    return lane;
  }

  private enqueue(partition: number, id: string, record: WireRecord, deliveryCount: number): HeldEntry | undefined {
    const ref = `${partition}:${id}`;
    if (this.tracked.has(ref)) return undefined;
    const lane = this.laneFor(partition, record.key);
    const entry = new HeldEntry(partition, id, ref, record, lane, deliveryCount, now());
    this.tracked.set(ref, entry);
    const queue = lane.queue;
    // Almost always appended; claimed entries (older) go before what was read after them.
    let index = queue.length;
    while (index > 0 && compareEntryIds(queue[index - 1]!.id, id) > 0) index--;
    queue.splice(index, 0, entry);
    this.consider(lane);
    return entry;
  }

  private laneReady(lane: Lane): boolean {
    return (
      lane.active === undefined && lane.blockers === 0 && lane.queue.length > 0 && now() < this.readableUntil(lane.partition)
    );
  }

  private consider(lane: Lane): void {
    if (this.laneReady(lane)) this.readyLanes.add(lane);
    else this.tidy(lane);
  }

  private considerPartition(partition: number): void {
    for (const lane of this.lanes.values()) if (lane.partition === partition) this.consider(lane);
  }

  private considerAll(): void {
    for (const lane of this.lanes.values()) this.consider(lane);
  }

  /** Forgets a lane with nothing in it. */
  private tidy(lane: Lane): void {
    if (lane.active === undefined && lane.blockers === 0 && lane.queue.length === 0) {
      this.lanes.delete(lane.name);
      this.readyLanes.delete(lane);
    }
  }

  /** Hands out entries while there are free slots: redeliveries first, then ready lanes in order. */
  private pump(): void {
    // A handler that settles synchronously calls back in here (ack → pump → hand → handler → ack
    // …): the pass already running sees the freed slot, so the stack stays flat instead of growing
    // one level per message (which overflowed it at maxInFlight 10 000).
    if (this.closing || this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop();
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(): void {
    while (!this.closing && this.delivered < this.request.maxInFlight) {
      const redelivery = this.redeliveries.shift();
      if (redelivery !== undefined) {
        if (redelivery.state !== 'redelivering') continue;
        if (now() >= this.readableUntil(redelivery.partition)) {
          redelivery.state = 'waiting';
          // Retaken (and counted) already: only its idle time is reset the next time.
          void this.redeliver(redelivery, true);
          continue;
        }
        this.hand(redelivery);
        continue;
      }
      const lane = this.readyLanes.values().next().value as Lane | undefined;
      if (lane === undefined) return;
      this.readyLanes.delete(lane);
      if (!this.laneReady(lane)) {
        this.tidy(lane);
        continue;
      }
      const entry = lane.queue.shift()!;
      lane.active = entry;
      if (now() - entry.heldSince > this.request.leaseMs / 2) {
        // It waited long in our buffer: reset its idle time first, so nobody presumes it abandoned
        // while its handler runs.
        entry.state = 'touching';
        this.delivered++;
        void this.touch(entry);
      } else {
        this.hand(entry);
      }
    }
  }

  private async touch(entry: HeldEntry): Promise<void> {
    let count: unknown;
    let failed = false;
    try {
      count = await this.context.scripts.run('wwRetake', [this.context.keys.stream(entry.partition)], [this.group, this.me, entry.id, 'touch']);
    } catch {
      failed = true;
    }
    this.delivered--;
    if (entry.state !== 'touching') return;
    if (!failed && typeof count !== 'number') {
      // Another member holds it now: it delivers it, and the session waits for it here.
      this.blockOn(entry);
      this.finish(entry);
    } else if (!failed && !this.closing && now() < this.readableUntil(entry.partition)) {
      this.hand(entry);
    } else if (this.keeps(entry.partition)) {
      // Ours, but not deliverable this instant (lease renewal due, or Redis away): back to the
      // front of its lane, its session still closed behind it.
      entry.state = 'buffered';
      if (!failed) entry.heldSince = now();
      entry.lane.active = undefined;
      entry.lane.queue.unshift(entry);
      this.consider(entry.lane);
      if (!failed) this.pump();
    } else {
      await this.handOver(entry.partition, [entry], true);
      this.finish(entry);
    }
  }

  /** Holds `entry`'s session back until the entry, now with another member, is settled there. */
  private blockOn(entry: HeldEntry): void {
    const part = this.owned.get(entry.partition);
    if (part === undefined || part.blockers.has(entry.id)) return;
    part.blockers.set(entry.id, entry.lane);
    entry.lane.blockers++;
  }

  private hand(entry: HeldEntry): void {
    if (!entry.counted) {
      // It waited in the buffer with its read not counted: count this hand-out before the handler
      // runs (the command leaves in this tick), so a crash in the handler counts as an attempt.
      entry.counted = true;
      this.mark(entry, entry.deliveryCount);
    }
    entry.state = 'delivered';
    entry.deliveredAt = now();
    entry.lane.active = entry;
    this.delivered++;
    const delivery = new RedisDelivery(this, entry);
    entry.delivery = delivery;
    try {
      this.request.onDelivery(delivery);
    } catch (error) {
      this.request.onError(error);
    }
  }

  /** The entry is settled (or no longer ours): free its session for the next entry. */
  private finish(entry: HeldEntry): void {
    if (entry.state === 'done') return;
    if (entry.state === 'acking') this.acking--;
    entry.state = 'done';
    this.tracked.delete(entry.ref);
    const lane = entry.lane;
    if (lane.active === entry) lane.active = undefined;
    const index = lane.queue.indexOf(entry);
    if (index >= 0) lane.queue.splice(index, 1);
    this.consider(lane);
    this.pump();
    this.signal();
  }

  acknowledge(entry: HeldEntry): Promise<void> {
    if (entry.state !== 'delivered') return RESOLVED;
    entry.state = 'acking';
    this.acking++;
    this.delivered--;
    // The slot is free now (another session may go), but this session stays closed until Redis
    // has the ack: were we to crash first, the entry would be redelivered, and it must not come
    // after the session's next one.
    this.pump();
    // The read loop may be waiting for room that this acknowledgement just made.
    if (this.wake !== undefined && this.room() >= this.lowWater) this.signal();
    let batch = this.ackBatch;
    if (batch === undefined) {
      const byPartition = new Map<number, HeldEntry[]>();
      // Acks of one tick go out together: one XACK, or one script call when they span partitions.
      const done = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => {
        this.ackBatch = undefined;
        return this.sendAcks(byPartition);
      });
      batch = { byPartition, done };
      this.ackBatch = batch;
    }
    const entries = batch.byPartition.get(entry.partition);
    if (entries === undefined) batch.byPartition.set(entry.partition, [entry]);
    else entries.push(entry);
    return batch.done;
  }

  private sendAcks(byPartition: ReadonlyMap<number, readonly HeldEntry[]>): Promise<void> {
    const publishes = this.context.publishesSettled();
    return publishes === undefined ? this.sendAcksNow(byPartition) : publishes.then(() => this.sendAcksNow(byPartition));
  }

  private sendAcksNow(byPartition: ReadonlyMap<number, readonly HeldEntry[]>): Promise<void> {
    let sent: Promise<unknown>;
    let total = 0;
    if (byPartition.size === 1) {
      const [partition, entries] = byPartition.entries().next().value as [number, readonly HeldEntry[]];
      total = entries.length;
      sent = this.context.command.xack(this.context.keys.stream(partition), this.group, ...entries.map((entry) => entry.id));
    } else {
      const streams: string[] = [];
      const args: (string | number)[] = [this.group];
      for (const [partition, entries] of byPartition) {
        streams.push(this.context.keys.stream(partition));
        args.push(entries.length);
        for (const entry of entries) args.push(entry.id);
        total += entries.length;
      }
      sent = this.context.scripts.run('wwAck', streams, args);
    }
    return sent.then(
      () => {
        for (const entries of byPartition.values()) for (const entry of entries) this.finish(entry);
      },
      (error: unknown) => {
        // ioredis already retried across reconnects. Keep the sessions closed and keep trying in
        // the background; if we lose the partition meanwhile, its next owner waits for these.
        for (const entries of byPartition.values()) for (const entry of entries) this.retryAcks.add(entry);
        throw new WoodworkBusError('WW_BUS_CONNECTION', `could not acknowledge ${total} entries on ${this.request.topic}; retrying`, {
          cause: error,
          isRetryable: true,
        });
      },
    );
  }

  private async retryAcknowledgements(): Promise<void> {
    for (const entry of [...this.retryAcks]) {
      try {
        await this.context.command.xack(this.context.keys.stream(entry.partition), this.group, entry.id);
        this.retryAcks.delete(entry);
        this.finish(entry);
      } catch {
        return; // still unreachable; next tick
      }
    }
  }

  giveBack(entry: HeldEntry, delayMs: number, neverStarted: boolean): Promise<void> {
    if (entry.state !== 'delivered') return RESOLVED;
    entry.state = 'waiting';
    this.delivered--;
    this.pump();
    if (!this.keeps(entry.partition)) {
      // Not ours to redeliver: the partition's owner takes it from the handover consumer.
      return this.later(delayMs, async () => {
        await this.handOver(entry.partition, [entry], neverStarted);
        this.finish(entry);
      });
    }
    if (neverStarted && entry.counted) {
      // No handler ran it: take this hand-out back from Redis' counter now (the redelivery counts
      // it again), so a crash before the redelivery does not charge it an attempt. The mark leaves
      // in this tick's batch, before the redelivery's XCLAIM (at least a timer later).
      entry.counted = false;
      this.mark(entry, entry.deliveryCount - 1);
    }
    // Ours: keep the session closed and redeliver it here, first, once the delay is over.
    void this.later(neverStarted ? Math.max(1, delayMs) : delayMs, () => this.redeliver(entry));
    return RESOLVED;
  }

  private later(delayMs: number, work: () => Promise<void>): Promise<void> {
    if (delayMs <= 0) return work();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void work().finally(resolve);
      }, delayMs);
      this.timers.set(timer, resolve);
    });
  }

  private async redeliver(entry: HeldEntry, counted = false): Promise<void> {
    if (entry.state !== 'waiting') return;
    if (!this.keeps(entry.partition)) {
      await this.handOver(entry.partition, [entry], false);
      this.finish(entry);
      return;
    }
    if (now() >= this.readableUntil(entry.partition)) {
      // Still ours but recovering or renewing: the session stays closed; try again shortly.
      void this.later(50, () => this.redeliver(entry, counted));
      return;
    }
    let count: unknown;
    try {
      count = await this.context.scripts.run('wwRetake', [this.context.keys.stream(entry.partition)], [
        this.group,
        this.me,
        entry.id,
        counted ? 'touch' : 'redeliver',
      ]);
    } catch {
      // Unreachable: try again shortly; the session stays closed meanwhile.
      void this.later(100, () => this.redeliver(entry, counted));
      return;
    }
    if (typeof count !== 'number') {
      // Taken over by another member, who delivers it; the session waits for it here.
      this.blockOn(entry);
      this.finish(entry);
      return;
    }
    entry.deliveryCount = count;
    // Redis' counter has this coming hand-out now (a shutdown before it takes it back).
    entry.counted = true;
    entry.state = 'redelivering';
    this.redeliveries.push(entry);
    this.pump();
  }

  /**
   * Every third of the lease: renews the lease of every entry we hold — handed to a handler,
   * waiting to be retried or redelivered, or buffered behind its session — by resetting its idle
   * time in Redis, so no other member presumes it abandoned while this process lives. A handler of
   * any length keeps its entry; a crashed member's entries go idle and are claimed after the lease.
   * Also runs while closing, for the handlers still finishing.
   */
  private upkeep(): void {
    const due = now() - this.renewEvery();
    for (const entry of this.tracked.values()) {
      if (entry.state === 'acking' || entry.state === 'done' || entry.heldSince > due) continue;
      entry.heldSince = now();
      this.mark(entry, -1);
    }
    if (this.closing && this.tracked.size === 0 && this.timers.size === 0 && this.upkeepTimer !== undefined) {
      // Closed and nothing left to settle: the adapter can forget us.
      clearInterval(this.upkeepTimer);
      this.upkeepTimer = undefined;
      this.context.forget(this);
    }
  }

  /**
   * Entries a read or claim just counted (Redis raised their delivery counter) that were not
   * handed out in the same pass: if they still wait in our buffer UNCOUNT_AFTER_MS later (behind
   * a slow handler of their session, or for a slot), their counter is set back, so a crash while
   * they wait is not an attempt of theirs; they are counted again when handed out (`hand`). Under
   * load, entries leave the buffer within milliseconds and cost nothing; a process killed within
   * that window charges an entry that waited one attempt too many.
   */
  private uncountBuffered(entries: readonly HeldEntry[]): void {
    for (const entry of entries) if (entry.state === 'buffered' && entry.counted) this.toUncount.push(entry);
    if (this.toUncount.length === 0 || this.uncountTimer !== undefined) return;
    this.uncountTimer = setTimeout(() => {
      this.uncountTimer = undefined;
      for (const entry of this.toUncount.splice(0)) {
        if (entry.state !== 'buffered' || !entry.counted) continue;
        entry.counted = false;
        this.mark(entry, entry.deliveryCount - 1);
      }
    }, UNCOUNT_AFTER_MS);
    this.uncountTimer.unref();
  }

  /** Queues a lease renewal (count -1) or a counter correction; one script call per tick. */
  private mark(entry: HeldEntry, count: number): void {
    let batch = this.markBatch;
    if (batch === undefined) {
      batch = new Map();
      this.markBatch = batch;
      queueMicrotask(() => {
        this.markBatch = undefined;
        this.sendMarks(batch!);
      });
    }
    // A correction wins over a renewal (it renews too); a later correction over an earlier one.
    if (count >= 0 || !batch.has(entry)) batch.set(entry, count);
  }

  private sendMarks(batch: ReadonlyMap<HeldEntry, number>): void {
    const byPartition = new Map<number, (string | number)[]>();
    for (const [entry, count] of batch) {
      if (entry.state === 'done') continue;
      let args = byPartition.get(entry.partition);
      if (args === undefined) {
        args = [];
        byPartition.set(entry.partition, args);
      }
      args.push(entry.id, count);
    }
    if (byPartition.size === 0) return;
    const streams: string[] = [];
    const args: (string | number)[] = [this.group, this.me];
    for (const [partition, pairs] of byPartition) {
      streams.push(this.context.keys.stream(partition));
      args.push(pairs.length / 2, ...pairs);
    }
    this.context.scripts.run('wwMark', streams, args).catch((error: unknown) => {
      // Redis away: the next renewal tries again; a lost correction only miscounts by one.
      if (!isConnectionError(error)) this.request.onError(error);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // reading

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async readLoop(): Promise<void> {
    const blocking = this.blocking!;
    while (!this.closing) {
      if (blocking.status !== 'ready') {
        await this.sleep(50);
        continue;
      }
      if (this.clientIdEpoch !== this.blockingEpoch || this.blockingClientId === undefined) {
        try {
          const epoch = this.blockingEpoch;
          this.blockingClientId = (await blocking.client('ID')) as number;
          this.clientIdEpoch = epoch;
        } catch {
          await this.sleep(50);
          continue;
        }
      }
      const time = now();
      const partitions: number[] = [];
      let until = Number.POSITIVE_INFINITY;
      for (const [partition, part] of this.owned) {
        const readable = this.readableUntil(partition);
        if (part.status === 'active' && readable - time > 10) {
          partitions.push(partition);
          until = Math.min(until, readable);
        }
      }
      const room = this.room();
      // Read again once half the read-ahead has drained (the other half keeps handlers busy
      // meanwhile): one XREADGROUP per many entries instead of one per freed slot.
      if (partitions.length === 0 || room < this.lowWater) {
        await this.sleep(this.context.blockMs);
        continue;
      }
      const block = Math.floor(Math.min(this.context.blockMs, until - time));
      // COUNT is per stream: at most room + partitions - 1 entries in all.
      const count = Math.ceil(room / partitions.length);
      const streams = partitions.map((partition) => this.context.keys.stream(partition));
      const read = this.readOnce(blocking, streams, count, block);
      this.reading = read;
      await read;
      this.reading = undefined;
    }
  }

  /**
   * How many more entries the next read may take: read-ahead is `capacity` entries buffered or
   * handed out, plus at most `capacity` more whose XACK Redis has not answered yet.
   */
  private room(): number {
    const held = this.tracked.size - this.acking;
    return Math.min(this.capacity - held, 2 * this.capacity - this.tracked.size);
  }

  private async readOnce(blocking: RedisClient, streams: readonly string[], count: number, block: number): Promise<void> {
    let reply: [Buffer, RawEntry[]][] | null;
    try {
      reply = (await blocking.callBuffer(
        'XREADGROUP',
        'GROUP',
        this.group,
        this.me,
        'COUNT',
        count,
        'BLOCK',
        block,
        'STREAMS',
        ...streams,
        ...streams.map(() => '>'),
      )) as [Buffer, RawEntry[]][] | null;
    } catch (error) {
      if (this.closing) return;
      // The reply may have been lost after Redis moved entries to our pending list: look again.
      for (const stream of streams) {
        const part = this.owned.get(this.streamPartition.get(stream)!);
        if (part !== undefined && part.status === 'active') {
          part.status = 'recovering';
          void this.recover(part);
        }
      }
      if (/NOGROUP/.test(String((error as Error).message))) {
        // The group vanished (stream deleted, or a broker restart without persistence): recreate it.
        await this.context.ensureGroups(this.group, '0').catch((cause: unknown) => this.request.onError(cause));
      } else if (!isConnectionError(error)) {
        this.request.onError(error);
      }
      await this.sleep(50);
      return;
    }
    if (reply === null) return;
    const giveBack = new Map<number, HeldEntry[]>();
    const read: HeldEntry[] = [];
    for (const [rawStream, entries] of reply) {
      const partition = this.streamPartition.get(rawStream.toString())!;
      const part = this.owned.get(partition);
      for (const [rawId, fields] of entries) {
        if (fields === null) continue;
        const id = rawId.toString();
        const record = recordFromFields(fields, partition, id);
        if (part === undefined || part.status === 'releasing') {
          // Released or lost while the read was under way: not ours to deliver.
          const lane = this.laneFor(partition, record.key);
          const list = giveBack.get(partition) ?? [];
          list.push(new HeldEntry(partition, id, `${partition}:${id}`, record, lane, 1, now()));
          giveBack.set(partition, list);
          this.tidy(lane);
          continue;
        }
        const entry = this.enqueue(partition, id, record, 1);
        if (entry !== undefined) read.push(entry);
      }
    }
    for (const [partition, entries] of giveBack) await this.handOver(partition, entries, true);
    this.pump();
    this.uncountBuffered(read);
  }

  /** Ends the blocking read in flight (CLIENT UNBLOCK) and waits until it has been processed. */
  private async quiesceRead(): Promise<void> {
    const read = this.reading;
    if (read === undefined) return;
    let settled = false;
    void read.then(() => {
      settled = true;
    });
    await this.interruptRead();
    for (let wait = 1; !settled; wait = Math.min(wait * 2, 50)) {
      await Promise.race([read, new Promise((resolve) => setTimeout(resolve, wait))]);
      if (!settled) await this.interruptRead();
    }
  }

  private async interruptRead(): Promise<void> {
    if (this.reading === undefined || this.blockingClientId === undefined) return;
    try {
      await this.context.command.client('UNBLOCK', this.blockingClientId);
    } catch {
      // The read ends at its BLOCK timeout anyway.
    }
  }

  // ---------------------------------------------------------------------------------------------
  // closing

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    if (this.scanTimer !== undefined) clearTimeout(this.scanTimer);
    await this.quiesceRead();
    this.signal();
    await this.loop;
    // Nothing is handed out from here on. What waits in our buffer goes back for the next owner;
    // what handlers hold is settled by the caller (ack, or nak → handover).
    for (const redelivery of this.redeliveries.splice(0)) {
      if (redelivery.state === 'redelivering') {
        redelivery.state = 'waiting';
        // Counted for a hand-out that will not happen here.
        void this.handOver(redelivery.partition, [redelivery], true).finally(() => this.finish(redelivery));
      }
    }
    const partitions = [...this.owned.keys()];
    for (const part of this.owned.values()) this.dropBlockers(part);
    await Promise.all(partitions.map((partition) => this.handBackBuffered(partition)));
    this.owned.clear();
    try {
      await this.context.scripts.run('wwRelease', [this.context.keys.members(this.group), ...this.leaseKeys()], [this.me, '1']);
    } catch {
      // Leases and membership expire by themselves.
    }
    this.blocking?.disconnect();
  }

  /** The adapter is closing: stop timers that would still touch Redis. */
  abandon(): void {
    // Entries they would have handed back stay pending under our name: the next owner claims
    // them once idle past the ack timeout.
    for (const [timer, resolve] of this.timers) {
      clearTimeout(timer);
      resolve();
    }
    this.timers.clear();
    if (this.uncountTimer !== undefined) clearTimeout(this.uncountTimer);
    if (this.upkeepTimer !== undefined) clearInterval(this.upkeepTimer);
    this.upkeepTimer = undefined;
  }
}
