/**
 * Hands the records of one fetched batch (one partition) to the subscriber so that a key's next
 * record is never delivered before its earlier one settles, while different keys are in flight at
 * once, up to the subscription's `maxInFlight` shared by all its partitions. Kafka already keeps a
 * key on one partition and a partition on one group member; this is the order inside a partition.
 *
 * A `nak(delay)` keeps the record at the head of its key's lane and hands it out again after the
 * delay, before any later record of that key — Kafka has no per-record redelivery, so it happens
 * here, in process.
 */

/** Bounds how many records a subscription holds unsettled, across all its partitions. */
export class InFlightLimiter {
  readonly max: number;
  #inFlight = 0;
  #waiters: (() => void)[] = [];

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxInFlight must be an integer >= 1, got ${max}`);
    this.max = max;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  tryAcquire(): boolean {
    if (this.#inFlight >= this.max) return false;
    this.#inFlight += 1;
    return true;
  }

  release(): void {
    this.#inFlight -= 1;
    // Few waiters (one per partition being worked on): wake them all, in the order they asked;
    // those that still find no room ask again.
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Calls `waiter` once after the next release. */
  whenReleased(waiter: () => void): void {
    this.#waiters.push(waiter);
  }

  forget(waiter: () => void): void {
    this.#waiters = this.#waiters.filter((candidate) => candidate !== waiter);
  }
}

export type DispatchState = 'queued' | 'in-flight' | 'delayed' | 'acked' | 'abandoned';

export interface DispatchEntry<Item> {
  readonly item: Item;
  readonly key: string;
  /** Times this entry was handed out, 1 on the first delivery. */
  deliveries: number;
  /** When it was last handed out (ms since epoch). */
  deliveredAt: number;
  state: DispatchState;
}

export interface DispatchSettlement {
  /** This hand-out is the entry's current one and not settled yet. */
  readonly current: boolean;
  ack(): void;
  nak(delayMs: number): void;
}

/** Settles one hand-out of an entry; a second ack or nak of the same hand-out is ignored. */
class Settlement<Item> implements DispatchSettlement {
  constructor(
    private readonly dispatcher: KeyedDispatcher<Item>,
    private readonly entry: DispatchEntry<Item>,
    private readonly delivery: number,
  ) {}

  get current(): boolean {
    return this.entry.state === 'in-flight' && this.entry.deliveries === this.delivery;
  }

  ack(): void {
    this.dispatcher.settle(this.entry, this.delivery, undefined);
  }

  nak(delayMs: number): void {
    this.dispatcher.settle(this.entry, this.delivery, Math.max(0, delayMs));
  }
}

export class KeyedDispatcher<Item> {
  readonly #limiter: InFlightLimiter;
  readonly #deliver: (entry: DispatchEntry<Item>, settlement: DispatchSettlement) => void;
  /** Per key, its entries not yet acked; the head is the one in flight, delayed or next. */
  readonly #lanes = new Map<string, DispatchEntry<Item>[]>();
  /** Keys whose head may be handed out as soon as there is room, oldest first. */
  #ready: string[] = [];
  #readyStart = 0;
  readonly #timers = new Map<DispatchEntry<Item>, ReturnType<typeof setTimeout>>();
  /** Entries handed out and not settled, in hand-out order (a Set keeps insertion order). */
  readonly #handedOut = new Set<DispatchEntry<Item>>();
  #total = 0;
  #acked = 0;
  #stopped = false;
  #paused = false;
  /** While paused, heads that may still be handed out (see `pause`). */
  #pausedExcept: ((item: Item) => boolean) | undefined;
  #waitingForRoom = false;
  #pumpScheduled = false;
  #changeWaiters: (() => void)[] = [];
  readonly #onRoom = () => {
    this.#waitingForRoom = false;
    this.#schedulePump();
  };
  readonly #runPump = () => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  constructor(options: {
    limiter: InFlightLimiter;
    deliver: (entry: DispatchEntry<Item>, settlement: DispatchSettlement) => void;
  }) {
    this.#limiter = options.limiter;
    this.#deliver = options.deliver;
  }

  /** Entries handed out and not settled yet. */
  get inFlight(): number {
    return this.#handedOut.size;
  }

  /** When the longest-held entry in flight was handed out; undefined with none in flight. */
  oldestInFlightSince(): number | undefined {
    for (const entry of this.#handedOut) return entry.deliveredAt;
    return undefined;
  }

  /** Every entry pushed has been acked. */
  get done(): boolean {
    return this.#acked === this.#total;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  push(key: string, item: Item): DispatchEntry<Item> {
    if (this.#stopped) throw new Error('dispatcher is stopped');
    const entry: DispatchEntry<Item> = { item, key, deliveries: 0, deliveredAt: 0, state: 'queued' };
    this.#total += 1;
    const lane = this.#lanes.get(key);
    if (lane) {
      lane.push(entry);
    } else {
      this.#lanes.set(key, [entry]);
      this.#ready.push(key);
      this.#schedulePump();
    }
    return entry;
  }

  /**
   * Hand out nothing until `resume`; queued entries stay queued (a rebalance is under way, and
   * whether this partition stays with the member is not known yet) — except the heads `except`
   * accepts (records a commit needs settled before the partition can move).
   */
  pause(except?: (item: Item) => boolean): void {
    this.#paused = true;
    this.#pausedExcept = except;
    if (except !== undefined) this.#schedulePump();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#pausedExcept = undefined;
    this.#schedulePump();
  }

  /**
   * Hand out nothing more: queued entries stay undelivered and delayed ones are dropped
   * (`abandoned`); entries in flight can still be settled. Used on close and on rebalance, after
   * which Kafka redelivers everything not committed.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#ready = [];
    this.#readyStart = 0;
    this.#limiter.forget(this.#onRoom);
    for (const [entry, timer] of this.#timers) {
      clearTimeout(timer);
      entry.state = 'abandoned';
    }
    this.#timers.clear();
    this.#changed();
  }

  /** Resolves when all entries are acked, nothing is in flight any more, or on stop; else after `timeoutMs`. */
  waitForChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      const waiters = this.#changeWaiters;
      function finish() {
        clearTimeout(timer);
        const index = waiters.indexOf(finish);
        if (index !== -1) waiters.splice(index, 1);
        resolve();
      }
      waiters.push(finish);
    });
  }

  #changed(): void {
    const waiters = this.#changeWaiters;
    this.#changeWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /**
   * Hand-outs happen in a microtask, never inside the caller's push/ack: one ack cannot recurse
   * into the next delivery (and its ack, …) down the whole batch, and pushes of a batch coalesce.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled || this.#stopped) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#runPump);
  }

  #pump(): void {
    if (this.#paused) {
      this.#pumpExcepted();
      return;
    }
    while (!this.#stopped && !this.#paused && this.#readyStart < this.#ready.length) {
      if (!this.#limiter.tryAcquire()) {
        if (!this.#waitingForRoom) {
          this.#waitingForRoom = true;
          this.#limiter.whenReleased(this.#onRoom);
        }
        return;
      }
      const key = this.#ready[this.#readyStart]!;
      this.#readyStart += 1;
      if (this.#readyStart > 1024 && this.#readyStart * 2 > this.#ready.length) {
        this.#ready = this.#ready.slice(this.#readyStart);
        this.#readyStart = 0;
      }
      this.#handOut(this.#lanes.get(key)![0]!);
    }
  }

  /** Paused: hand out only the ready heads `pause` excepted (rare: during a rebalance). */
  #pumpExcepted(): void {
    const except = this.#pausedExcept;
    if (except === undefined || this.#stopped) return;
    for (let index = this.#readyStart; index < this.#ready.length; ) {
      const key = this.#ready[index]!;
      const entry = this.#lanes.get(key)![0]!;
      if (!except(entry.item)) {
        index++;
        continue;
      }
      if (!this.#limiter.tryAcquire()) {
        if (!this.#waitingForRoom) {
          this.#waitingForRoom = true;
          this.#limiter.whenReleased(this.#onRoom);
        }
        return;
      }
      this.#ready.splice(index, 1);
      this.#handOut(entry);
    }
  }

  #handOut(entry: DispatchEntry<Item>): void {
    entry.state = 'in-flight';
    entry.deliveries += 1;
    entry.deliveredAt = Date.now();
    this.#handedOut.add(entry);
    this.#deliver(entry, new Settlement(this, entry, entry.deliveries));
  }

  /** @internal Settles hand-out `delivery` of `entry`: an ack without `nakDelayMs`, else a nak. */
  settle(entry: DispatchEntry<Item>, delivery: number, nakDelayMs: number | undefined): void {
    if (entry.state !== 'in-flight' || entry.deliveries !== delivery) return;
    this.#handedOut.delete(entry);
    this.#limiter.release();
    if (nakDelayMs === undefined) {
      entry.state = 'acked';
      this.#acked += 1;
      const lane = this.#lanes.get(entry.key)!;
      lane.shift();
      if (lane.length === 0) this.#lanes.delete(entry.key);
      else if (!this.#stopped) {
        this.#ready.push(entry.key);
        this.#schedulePump();
      }
    } else if (this.#stopped) {
      entry.state = 'abandoned';
    } else {
      entry.state = 'delayed';
      const timer = setTimeout(() => {
        this.#timers.delete(entry);
        if (this.#stopped) return;
        entry.state = 'queued';
        this.#ready.push(entry.key);
        this.#schedulePump();
      }, nakDelayMs);
      this.#timers.set(entry, timer);
    }
    this.#schedulePump();
    // Waiters care about "all done" and "nothing in flight" (draining), not each settlement.
    if (this.#handedOut.size === 0 || this.done) this.#changed();
  }
}
