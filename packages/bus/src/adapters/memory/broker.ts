/**
 * The in-memory broker behind `memory://`: topics with a retained log, consumer groups with
 * per-key locks, delayed naks and a backlog bound that holds publishers back.
 * Brokers are named and live for the whole process, like a server would, so every Bus created
 * for `memory://name` in one process talks to the same one.
 *
 * Written for throughput: settling a delivery returns one shared resolved promise, dispatch runs
 * in one microtask per burst, and nothing is kept per delivery but the delivery itself (no timer:
 * see `Member` for why a delivery has no timeout here).
 */
import type { AdapterDelivery, AdapterSubscribeRequest, ReplayedRecord, WireRecord } from '../../adapter.js';
import { WoodworkBusError } from '../../errors.js';
import { Fifo } from './fifo.js';

const RESOLVED: Promise<void> = Promise.resolve();

export interface MemoryBrokerOptions {
  /** Records a topic's log keeps for replay and for groups created later. */
  readonly retention: number;
  /** Unacknowledged records a group with a live subscriber may hold before publishers wait. */
  readonly maxBacklog: number;
}

/** One record in one group's queue. */
class GroupEntry {
  deliveryCount = 0;
  constructor(
    readonly record: WireRecord,
    readonly sequence: number,
  ) {}
}

class MemoryDelivery implements AdapterDelivery {
  settled = false;
  readonly record: WireRecord;
  readonly deliveryCount: number;

  constructor(
    readonly group: MemoryGroup,
    readonly member: Member,
    readonly entry: GroupEntry,
  ) {
    this.record = entry.record;
    this.deliveryCount = entry.deliveryCount;
  }

  get position(): string {
    return String(this.entry.sequence);
  }

  ack(): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      this.member.inFlight--;
      this.group.acknowledge(this.entry);
    }
    return RESOLVED;
  }

  nak(delayMs: number, neverStarted?: boolean): Promise<void> {
    if (!this.settled) {
      this.settled = true;
      this.member.inFlight--;
      // Handed back unstarted (a closing subscriber): not an attempt.
      if (neverStarted === true) this.entry.deliveryCount--;
      this.group.giveBack(this.entry, delayMs);
    }
    return RESOLVED;
  }
}

/**
 * One subscriber inside a group. Its deliveries have no timeout: in one process the lease of a
 * delivery follows its handler trivially — the holder cannot crash without the broker going with
 * it — so a record stays with its member until settled, however long the handler runs. (Before
 * spec v1.4 a delivery past `ackTimeoutMs` went back to the group while it was still being
 * handled; with a single subscriber that stalled the subscription for good.)
 */
export class Member {
  inFlight = 0;
  closed = false;

  constructor(
    readonly group: MemoryGroup,
    readonly request: AdapterSubscribeRequest,
  ) {}

  get hasCapacity(): boolean {
    return !this.closed && this.inFlight < this.request.maxInFlight;
  }

  close(): void {
    this.closed = true;
  }
}

export class MemoryGroup {
  /** Records whose key is free: the first record of each key with nothing unsettled before it. */
  private readonly ready = new Fifo<GroupEntry>();
  /** A key present here has a record ready, in flight or waiting a nak delay; the value waits behind it. */
  private readonly keys = new Map<string, Fifo<GroupEntry> | null>();
  private readonly members: Member[] = [];
  private nextMember = 0;
  /** Records enqueued and not yet acknowledged. */
  backlog = 0;
  private waiters: (() => void)[] = [];
  private scheduled = false;
  private readonly dispatchBound = () => this.dispatch();

  constructor(
    readonly name: string,
    private readonly broker: MemoryBroker,
  ) {}

  get hasLiveMembers(): boolean {
    return this.members.length > 0;
  }

  /** Holds publishers back: true while a live subscriber lags by more than the bound. */
  get isFull(): boolean {
    return this.members.length > 0 && this.backlog >= this.broker.options.maxBacklog;
  }

  enqueue(record: WireRecord, sequence: number): void {
    this.backlog++;
    const entry = new GroupEntry(record, sequence);
    const key = record.key;
    if (this.keys.has(key)) {
      let waiting = this.keys.get(key);
      if (!waiting) {
        waiting = new Fifo<GroupEntry>();
        this.keys.set(key, waiting);
      }
      waiting.push(entry);
    } else {
      this.keys.set(key, null);
      this.ready.push(entry);
    }
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.dispatchBound);
  }

  private dispatch(): void {
    this.scheduled = false;
    const members = this.members;
    while (this.ready.length > 0) {
      let member: Member | undefined;
      for (let tried = 0; tried < members.length; tried++) {
        const candidate = members[this.nextMember % members.length]!;
        this.nextMember = (this.nextMember + 1) % members.length;
        if (candidate.hasCapacity) {
          member = candidate;
          break;
        }
      }
      if (member === undefined) return;
      const entry = this.ready.shift()!;
      entry.deliveryCount++;
      const delivery = new MemoryDelivery(this, member, entry);
      member.inFlight++;
      try {
        member.request.onDelivery(delivery);
      } catch (error) {
        member.request.onError(error);
      }
    }
  }

  acknowledge(entry: GroupEntry): void {
    this.backlog--;
    const key = entry.record.key;
    const waiting = this.keys.get(key);
    if (waiting && waiting.length > 0) {
      this.ready.push(waiting.shift()!);
      if (waiting.length === 0) this.keys.set(key, null);
    } else {
      this.keys.delete(key);
    }
    if (this.waiters.length > 0 && !this.isFull) this.wakePublishers();
    this.schedule();
  }

  /** The entry goes back before later records of its key, which stays locked meanwhile. */
  giveBack(entry: GroupEntry, delayMs: number): void {
    if (delayMs > 0) {
      setTimeout(() => {
        this.ready.unshift(entry);
        this.schedule();
      }, delayMs).unref();
    } else {
      this.ready.unshift(entry);
    }
    this.schedule();
  }

  join(request: AdapterSubscribeRequest): Member {
    const member = new Member(this, request);
    this.members.push(member);
    this.schedule();
    return member;
  }

  leave(member: Member): void {
    member.close();
    const index = this.members.indexOf(member);
    if (index >= 0) this.members.splice(index, 1);
    // A group nobody consumes must not hold publishers forever: like a broker's durable
    // consumer, it keeps its backlog until a subscriber comes back.
    if (!this.isFull) this.wakePublishers();
  }

  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wakePublishers(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

const CHUNK = 1_024;

export class MemoryTopic {
  /**
   * The retained log in chunks of 1 024 records; `chunks[0][0]` has sequence `firstSequence`.
   * Chunks, not one big array: a record pushed into a young chunk costs the garbage collector
   * nothing extra, while every push into a long-lived array is an old-to-young pointer it must
   * track. Whole chunks are dropped, so the log keeps between `retention` and
   * `retention + 1 024` records.
   */
  private chunks: WireRecord[][] = [[]];
  private firstSequence = 1;
  private nextSequence = 1;
  readonly groups = new Map<string, MemoryGroup>();

  constructor(
    readonly name: string,
    private readonly broker: MemoryBroker,
  ) {}

  append(record: WireRecord): number {
    let tail = this.chunks[this.chunks.length - 1]!;
    if (tail.length === CHUNK) {
      tail = [];
      this.chunks.push(tail);
      // Trimming the log never drops unacknowledged work: groups hold their own entries.
      while (this.nextSequence - this.firstSequence - CHUNK >= this.broker.options.retention) {
        this.chunks.shift();
        this.firstSequence += CHUNK;
      }
    }
    tail.push(record);
    return this.nextSequence++;
  }

  private at(sequence: number): WireRecord | undefined {
    const offset = sequence - this.firstSequence;
    if (offset < 0) return undefined;
    return this.chunks[Math.floor(offset / CHUNK)]?.[offset % CHUNK];
  }

  group(request: AdapterSubscribeRequest): MemoryGroup {
    let group = this.groups.get(request.group);
    if (group === undefined) {
      group = new MemoryGroup(request.group, this.broker);
      this.groups.set(request.group, group);
      if (request.fromBeginning) {
        for (let sequence = this.firstSequence; sequence < this.nextSequence; sequence++) {
          group.enqueue(this.at(sequence)!, sequence);
        }
      }
    }
    return group;
  }

  *read(afterSequence: number): Iterable<ReplayedRecord> {
    const end = this.nextSequence;
    for (let sequence = afterSequence + 1; sequence < end; sequence++) {
      // The log may be trimmed while a slow reader iterates: skip ahead to what is left.
      if (sequence < this.firstSequence) sequence = this.firstSequence;
      const record = this.at(sequence);
      if (record === undefined) break;
      yield { record, position: String(sequence) };
    }
  }
}

export class MemoryBroker {
  readonly topics = new Map<string, MemoryTopic>();

  constructor(
    readonly name: string,
    readonly options: MemoryBrokerOptions,
  ) {}

  topic(name: string): MemoryTopic {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = new MemoryTopic(name, this);
      this.topics.set(name, topic);
    }
    return topic;
  }

  /**
   * Appends in order and fans out to every group. Resolves at once unless a group with a live
   * subscriber is over its backlog bound; then it resolves when there is room again.
   */
  publish(topicName: string, records: readonly WireRecord[]): Promise<void> {
    const topic = this.topic(topicName);
    const groups = topic.groups;
    for (let index = 0; index < records.length; index++) {
      const record = records[index]!;
      const sequence = topic.append(record);
      for (const group of groups.values()) group.enqueue(record, sequence);
    }
    let full: MemoryGroup | undefined;
    for (const group of groups.values()) {
      group.schedule();
      if (group.isFull) full = group;
    }
    return full === undefined ? RESOLVED : this.waitUntilRoom(topic);
  }

  private async waitUntilRoom(topic: MemoryTopic): Promise<void> {
    for (;;) {
      let full: MemoryGroup | undefined;
      for (const group of topic.groups.values()) if (group.isFull) full = group;
      if (full === undefined) return;
      await full.waitForRoom();
    }
  }
}

const registryKey = Symbol.for('woodwork.bus.memory.brokers');
type Registry = Map<string, MemoryBroker>;

/**
 * The process-wide broker of that name (shared across duplicate installs of this package).
 * Options apply when the broker is first created; later callers get it as it is.
 */
export function memoryBroker(name: string, options: MemoryBrokerOptions): MemoryBroker {
  const scope = globalThis as { [registryKey]?: Registry };
  const registry = (scope[registryKey] ??= new Map());
  let broker = registry.get(name);
  if (broker === undefined) {
    broker = new MemoryBroker(name, options);
    registry.set(name, broker);
  }
  return broker;
}

/** Forgets a named broker and everything in it (tests; a broker is otherwise kept for the process). */
export function deleteMemoryBroker(name: string): boolean {
  const registry = (globalThis as { [registryKey]?: Registry })[registryKey];
  return registry?.delete(name) ?? false;
}

export function closedError(): WoodworkBusError {
  return new WoodworkBusError('WW_BUS_CLOSED', 'the memory adapter is closed');
}
