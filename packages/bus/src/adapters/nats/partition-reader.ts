/**
 * Reads one partition of a topic for one group member: the durable pull consumer of
 * (group, partition), while this member owns the partition's lease.
 *
 * Per-key order. Every record of the partition that is delivered and not yet acknowledged is
 * "unresolved"; a key's records are handed to the subscriber one at a time, lowest stream
 * sequence first, and the next only once the previous one's ack (or term) is confirmed by the
 * server. A record given back (nak) stays unresolved, so its key waits until it comes back.
 *
 * Records delivered to someone else. When a member takes a partition over, the previous owner
 * may have left records delivered and unacknowledged (it crashed, or its handler is stuck). The
 * reader learns them before it hands anything out: consumer info gives the ack floor and the last
 * delivered sequence, and a headers-only read of that range gives each record's key (the last
 * subject token). Those records block their keys until they come back to us and are settled, or
 * until the ack floor passes them. Every delivery carries the consumer's delivery sequence; a gap
 * in it means some delivery went elsewhere (or was lost on the way), and the reader scans again
 * before handing out anything that arrived after the gap. So no ownership race, late pull or lost
 * message can put a key's records out of order; leases only keep members from competing.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AdapterDelivery, WireRecord } from '../../adapter.js';
import type { AckConfirmer } from './acker.js';
import type { AttemptsDocument, AttemptsState } from './attempts.js';
import { subjectKeyToken } from './names.js';
import { readStream } from './read-stream.js';
import { nanos, parseAckSubject, syntheticAckSubject, termBody, toWireRecord } from './wire.js';
import type { DeliveryInfo } from './wire.js';

/** What a reader needs from its subscription. */
export interface ReaderHost {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly acker: AckConfirmer;
  readonly stream: string;
  /**
   * Records one partition may hold (with the subscriber or buffered behind their key); also the
   * consumer's max_ack_pending.
   */
  readonly partitionCapacity: number;
  readonly ackTimeoutMs: number;
  readonly pullExpiresMs: number;
  readonly requestTimeoutMs: number;
  /** May this member pull and hand out right now (lease valid, not closing)? */
  mayWork(): boolean;
  /** Reserve one of the subscription's `maxInFlight` slots, or queue (reader, key) for the next. */
  takeSlot(reader: PartitionReader, keyToken: string): boolean;
  slotFreed(): void;
  deliver(delivery: AdapterDelivery): void;
  /** The durable consumer is missing (deleted, or not restored yet): create it again. */
  recreateConsumer(partition: number): Promise<void>;
  reportError(error: unknown): void;
  newInbox(): string;
  /** Where the partition's uncounted deliveries are kept (see attempts.ts). */
  attemptsDocument(partition: number): AttemptsDocument;
}

/** A delivered record this reader holds: buffered behind its key, or with the subscriber. */
export class HeldRecord {
  withUser = false;
  settled = false;
  /** This delivery of the record reached a handler (so JetStream's count of it is an attempt). */
  handedOut = false;
  /** This delivery is a redelivery whose hand-out to a handler is in the attempts document. */
  handOutRecorded = false;
  /** When this delivery arrived (its lease renewals move `touchedAt`, not this). */
  readonly arrivedAt: number;
  deliveredAt = 0;
  touchedAt: number;
  /** Held back by the subscriber (`nak(delay, neverStarted)`): not handed out again before this. */
  notBefore = 0;

  constructor(
    readonly streamSequence: number,
    readonly keyToken: string,
    readonly record: WireRecord,
    public reply: string,
    public deliveryCount: number,
    now: number,
  ) {
    this.touchedAt = now;
    this.arrivedAt = now;
  }
}

interface Incoming {
  readonly info: DeliveryInfo;
  readonly message: Msg;
}

interface Pull {
  readonly id: number;
  remaining: number;
  readonly deadline: number;
}

export type ReaderState = 'starting' | 'active' | 'draining' | 'closed';
export type ReleaseMode = 'rebalance' | 'leave' | 'handoff' | 'lost';

const FLOOR_POLL_MS = 200;
/** A record waiting in the buffer longer than this is written into the attempts document. */
const BUFFERED_AFTER_MS = 10;
const SCAN_FAILURES_BEFORE_REPORT = 10;
const CONSUMER_NOT_FOUND = 10014;
/** Pause before retrying a failed scan or a refused pull request. */
const RETRY_MS = 500;
/** How long an ack that missed its deadline is still re-sent until the server answers (see confirmLate). */
const LATE_ACK_MS = 15 * 60_000;
/** Grace after a pull's expiry before the reader stops waiting for its 408. */
const PULL_GRACE_MS = 2_000;

function insertSorted(list: number[], value: number): void {
  let index = list.length;
  while (index > 0 && list[index - 1]! > value) index--;
  if (list[index - 1] !== value) list.splice(index, 0, value);
}

export class PartitionReader {
  state: ReaderState = 'starting';
  private subscription: Subscription | undefined;
  private inbox = '';
  private readonly pulls: Pull[] = [];
  private outstanding = 0;
  private nextPullId = 1;
  /** Highest consumer delivery sequence accounted for; -1 until the first scan. */
  private lastDeliverySequence = -1;
  /** The delivered consumer sequence the last scan saw. */
  private scannedDeliverySequence = 0;
  /** Highest stream sequence delivered for the first time (delivery count 1) that we know of. */
  private highestFirstDelivery = 0;
  private scanning: Promise<void> | undefined;
  private readonly intake: Incoming[] = [];
  /** key token → unresolved stream sequences, ascending. */
  private readonly lanes = new Map<string, number[]>();
  /** stream sequence → key token, for every unresolved sequence. */
  private readonly keyOf = new Map<number, string>();
  private readonly held = new Map<number, HeldRecord>();
  /** Unresolved sequences delivered to someone else (learned by a scan). */
  private readonly foreign = new Set<number>();
  /** Sequences we gave back, with the earliest time they may come back. */
  private readonly givenBack = new Map<number, number>();
  private floorTimer: ReturnType<typeof setTimeout> | undefined;
  private inUser = 0;
  private unconfirmedAcks = 0;
  private settledWaiter: (() => void) | undefined;
  private abandoned = false;
  private releasing: Promise<void> | undefined;
  /** Per unresolved stream sequence: earlier deliveries that never reached a handler. */
  private uncounted = new Map<number, number>();
  /** Per unresolved stream sequence: redeliveries that reached a handler (recorded before they did). */
  private handedOut = new Map<number, number>();
  /** Stream sequences from which `handedOut` is complete (see attempts.ts); -1: set by the first scan. */
  private boundFrom = -1;
  /** Records that have waited in our buffer past BUFFERED_AFTER_MS: the document counts them. */
  private readonly waiting = new Set<number>();
  /** Records that arrived and were not handed out at once, oldest first: looked at once each. */
  private readonly arrivals: HeldRecord[] = [];
  private arrivalsHead = 0;
  private arrivalsTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly attempts: AttemptsDocument;

  constructor(
    private readonly host: ReaderHost,
    readonly partition: number,
    readonly consumer: string,
    private readonly filter: string,
  ) {
    this.attempts = host.attemptsDocument(partition);
  }

  /** Subscribe the pull inbox, learn what others hold, start pulling. */
  async start(): Promise<void> {
    const recorded = await this.attempts.read();
    this.uncounted = recorded.uncounted;
    this.handedOut = recorded.handedOut;
    this.boundFrom = recorded.boundFrom ?? -1;
    this.inbox = this.host.newInbox();
    this.subscription = this.host.nc.subscribe(`${this.inbox}.*`, {
      callback: (_error, message) => this.onMessage(message),
    });
    await this.rescan();
    if (this.state !== 'starting') return;
    this.state = 'active';
    this.resume();
  }

  /** Lease valid again, or slots free: hand out what waits and pull more. */
  resume(): void {
    if (this.state !== 'active') return;
    for (const keyToken of [...this.lanes.keys()]) this.dispatch(keyToken);
    this.pull();
  }

  /** The connection came back: pull requests died with it. */
  onReconnect(): void {
    this.pulls.length = 0;
    this.outstanding = 0;
    this.pull();
  }

  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Periodic upkeep: overdue pulls, and the leases of what we hold. Every record we hold —
   * buffered behind its key, or with a handler for however long it runs — gets an in-progress ack
   * (`+WPI`) every third of the ack wait (the subscription's `leaseMs`), which restarts JetStream's
   * ack wait without counting a delivery; so a slow handler is never redelivered, and a crashed
   * member's records come back one ack wait after its last renewal. Runs while draining too.
   */
  maintain(now: number): void {
    if (this.state === 'closed') return;
    while (this.pulls.length > 0 && this.pulls[0]!.deadline <= now) this.endPull(this.pulls[0]!.id);
    const touchEvery = this.host.ackTimeoutMs / 3;
    for (const held of this.held.values()) {
      if (!held.settled && now - held.touchedAt >= touchEvery) {
        held.touchedAt = now;
        this.send(held.reply, '+WPI');
      }
    }
    this.pull();
  }

  /**
   * Stops reading the partition and gives back what we hold, in an order that matters:
   *   1. unsubscribe the pull inbox and flush: the server has our UNSUB, nothing more comes to us;
   *   2. ask for consumer info: besides telling what was delivered, it makes the server drop our
   *      now dead pull requests. (nats-server 2.9 loses a redelivery it pops for a waiting request
   *      without interest until the ack wait runs out, so records must not be given back before.)
   *   3. give back (nak) the records buffered here, and any delivery that was on the wire when we
   *      unsubscribed (the consumer delivered more than we saw), so the next owner gets them now;
   *   4. except on `handoff` (a stuck handler is why we leave) and `lost` (someone else owns it
   *      already), wait until our subscriber has settled what it holds.
   */
  release(mode: ReleaseMode, settleTimeoutMs = Infinity): Promise<void> {
    if (this.releasing) return this.releasing;
    const scanned = this.state === 'active' && this.scanning === undefined;
    this.state = 'draining';
    const giveBack: string[] = [];
    for (const held of [...this.held.values()]) {
      if (held.withUser) continue;
      this.held.delete(held.streamSequence);
      this.givenBack.set(held.streamSequence, Date.now());
      giveBack.push(held.reply);
      // Given back unstarted (unless a handler already had it in this delivery): not an attempt.
      if (!held.handedOut) this.uncounted.set(held.streamSequence, (this.uncounted.get(held.streamSequence) ?? 0) + 1);
      this.waiting.delete(held.streamSequence);
    }
    for (const incoming of this.intake.splice(0)) {
      giveBack.push(incoming.message.reply!);
      const sequence = incoming.info.streamSequence;
      this.uncounted.set(sequence, (this.uncounted.get(sequence) ?? 0) + 1);
    }
    if (this.arrivalsTimer !== undefined) clearTimeout(this.arrivalsTimer);
    this.arrivals.length = 0;
    this.arrivalsHead = 0;
    // Written now, not later: the partition's next owner reads it once we let the partition go.
    const documentWritten = this.attempts.writeNow(this.uncountedNow());
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.pulls.length = 0;
    this.outstanding = 0;
    this.stopFloorPolling();
    this.releasing = (async () => {
      try {
        await this.host.nc.flush();
        const info = await this.host.jsm.consumers.info(this.host.stream, this.consumer);
        for (const reply of giveBack.splice(0)) this.send(reply, '-NAK');
        if (mode !== 'lost' && scanned && info.delivered.consumer_seq > this.lastDeliverySequence) {
          await this.giveBackLost(info.ack_floor.stream_seq, info.delivered.stream_seq, info.delivered.consumer_seq);
        }
        await documentWritten;
        if (mode === 'rebalance' || mode === 'leave') await this.untilSettled(settleTimeoutMs);
      } catch (error) {
        // Disconnected while leaving: give back what we can; the rest returns after the ack wait.
        for (const reply of giveBack) this.send(reply, '-NAK');
        this.host.reportError(error);
      } finally {
        this.state = 'closed';
      }
    })();
    return this.releasing;
  }

  /** Draining or closed: state changes across awaits, so read it through a getter. */
  private get stopped(): boolean {
    return this.state === 'draining' || this.state === 'closed';
  }

  get isReleasing(): boolean {
    return this.releasing !== undefined;
  }

  // ---- deliveries -------------------------------------------------------------------------

  private onMessage(message: Msg): void {
    const info = parseAckSubject(message.reply);
    if (info === undefined) {
      this.onStatus(message);
      return;
    }
    this.countDelivery();
    if (this.stopped) {
      this.send(message.reply!, '-NAK');
      return;
    }
    const incoming: Incoming = { info, message };
    if (this.scanning !== undefined) {
      this.intake.push(incoming);
      return;
    }
    this.ingest(incoming);
    this.pull();
  }

  private ingest(incoming: Incoming): boolean {
    const sequence = incoming.info.deliverySequence;
    if (sequence > this.lastDeliverySequence + 1) {
      // Someone else got deliveries since the last one we saw: find out what before going on.
      this.intake.push(incoming);
      void this.rescan();
      return false;
    }
    if (sequence > this.lastDeliverySequence) this.lastDeliverySequence = sequence;
    this.accept(incoming);
    return true;
  }

  private accept({ info, message }: Incoming): void {
    const streamSequence = info.streamSequence;
    const now = Date.now();
    const existing = this.held.get(streamSequence);
    if (existing !== undefined) {
      existing.reply = message.reply!;
      existing.touchedAt = now;
      // Sent again as new by nats-server 2.9's cursor step (delivery count 1, see below): no
      // delivery was counted, so nothing changes but the reply.
      if (info.deliveryCount <= existing.deliveryCount) return;
      // Redelivered while we hold it (the server's ack wait ran out): keep one copy, newest reply.
      // That extra delivery never reaches a handler.
      existing.deliveryCount = info.deliveryCount;
      this.uncounted.set(streamSequence, (this.uncounted.get(streamSequence) ?? 0) + 1);
      this.attemptsChanged();
      return;
    }
    if (info.deliveryCount === 1) {
      if (streamSequence <= this.highestFirstDelivery && !this.keyOf.has(streamSequence)) {
        // nats-server 2.9 can step its cursor back after failing to deliver a redelivery and then
        // send an already acknowledged record again as new: acknowledge it away, never hand it out.
        this.send(message.reply!, '+ACK');
        return;
      }
      this.highestFirstDelivery = Math.max(this.highestFirstDelivery, streamSequence);
    }
    const keyToken = subjectKeyToken(message.subject);
    this.foreign.delete(streamSequence);
    this.givenBack.delete(streamSequence);
    this.track(streamSequence, keyToken);
    const record = toWireRecord(this.host.stream, streamSequence, message.subject, message);
    const held = new HeldRecord(streamSequence, keyToken, record, message.reply!, info.deliveryCount, now);
    this.held.set(streamSequence, held);
    this.dispatch(keyToken);
    if (held.handedOut) return;
    if (this.behindSuspect(keyToken)) {
      // Its session's record in a handler was handed out before and never settled: that handler
      // may well crash this process (a poison message), sooner than the 10 ms below. Counted now.
      this.waiting.add(streamSequence);
      this.attemptsChanged();
      return;
    }
    this.arrivals.push(held);
    this.arrivalsTimer ??= setTimeout(() => this.noteWaiting(), BUFFERED_AFTER_MS);
  }

  /** Is the key's record with a handler a suspect (an attempt after the first: its consumer may have crashed on it)? */
  private behindSuspect(keyToken: string): boolean {
    const lane = this.lanes.get(keyToken);
    const head = lane === undefined ? undefined : this.held.get(lane[0]!);
    return head !== undefined && head.withUser && this.attemptOf(head) > 1;
  }

  /**
   * The attempt a hand-out of `held` is: the lower of two bounds (see attempts.ts) — JetStream's
   * delivery count less the deliveries no handler got, and 1 + the first delivery + the
   * redeliveries recorded as handed out before this one.
   */
  private attemptOf(held: HeldRecord): number {
    const sequence = held.streamSequence;
    const byDeliveries = held.deliveryCount - (this.uncounted.get(sequence) ?? 0);
    if (held.deliveryCount === 1 || this.boundFrom < 0 || sequence < this.boundFrom) return Math.max(1, byDeliveries);
    const earlierHandOuts = (this.handedOut.get(sequence) ?? 0) - (held.handOutRecorded ? 1 : 0);
    return Math.max(1, Math.min(byDeliveries, 2 + earlierHandOuts));
  }

  /**
   * A redelivery is about to reach a handler (the wrapper's `beforeHandler`): stored in the
   * attempts document first, with its "waiting" mark gone. A redelivered record is the one
   * likeliest to kill this process, and at once (the fault harness's poison does so before its
   * first await): a hand-out written later would not survive the crash, and the crash would not
   * count. One round trip, for redeliveries only; first deliveries keep the fast path.
   */
  private recordHandOut(held: HeldRecord): Promise<void> {
    if (held.handOutRecorded || held.settled || !held.withUser) return Promise.resolve();
    held.handOutRecorded = true;
    const sequence = held.streamSequence;
    this.handedOut.set(sequence, (this.handedOut.get(sequence) ?? 0) + 1);
    this.waiting.delete(sequence);
    return this.attempts.written(() => this.uncountedNow());
  }

  /**
   * Records that still wait in our buffer BUFFERED_AFTER_MS after they arrived are written into
   * the attempts document as "this delivery did not reach a handler", so a crash while they wait
   * (behind a slow handler of their session, or for a slot) does not charge them an attempt.
   * Records that pass through the buffer faster (a burst being worked off) cost nothing: each
   * arrival is looked at once, and only waiting ones are written.
   */
  private noteWaiting(): void {
    this.arrivalsTimer = undefined;
    const due = Date.now() - BUFFERED_AFTER_MS;
    let changed = false;
    while (this.arrivalsHead < this.arrivals.length && this.arrivals[this.arrivalsHead]!.arrivedAt <= due) {
      const held = this.arrivals[this.arrivalsHead++]!;
      if (held.handedOut || held.settled || this.held.get(held.streamSequence) !== held) continue;
      this.waiting.add(held.streamSequence);
      changed = true;
    }
    if (this.arrivalsHead === this.arrivals.length) {
      this.arrivals.length = 0;
      this.arrivalsHead = 0;
    } else {
      if (this.arrivalsHead > 1024) {
        this.arrivals.splice(0, this.arrivalsHead);
        this.arrivalsHead = 0;
      }
      const next = this.arrivals[this.arrivalsHead]!.arrivedAt + BUFFERED_AFTER_MS - Date.now();
      this.arrivalsTimer = setTimeout(() => this.noteWaiting(), Math.max(1, next));
    }
    if (changed) this.attemptsChanged();
  }

  /**
   * What the attempts document should say now: deliveries of unresolved records that never
   * reached a handler — the recorded ones, plus the current delivery of every record waiting in
   * our buffer past BUFFERED_AFTER_MS (were we to crash now, it would not be an attempt).
   */
  private uncountedNow(): AttemptsState {
    return { uncounted: this.uncounted, waiting: this.waiting, handedOut: this.handedOut, boundFrom: Math.max(0, this.boundFrom) };
  }

  private attemptsChanged(): void {
    this.attempts.changed(() => this.uncountedNow());
  }

  private track(streamSequence: number, keyToken: string): void {
    if (this.keyOf.has(streamSequence)) return;
    this.keyOf.set(streamSequence, keyToken);
    let lane = this.lanes.get(keyToken);
    if (lane === undefined) {
      lane = [];
      this.lanes.set(keyToken, lane);
    }
    insertSorted(lane, streamSequence);
  }

  private untrack(streamSequence: number): string | undefined {
    const forgotten = this.uncounted.delete(streamSequence);
    if (this.handedOut.delete(streamSequence) || forgotten) this.attemptsChanged();
    const keyToken = this.keyOf.get(streamSequence);
    if (keyToken === undefined) return undefined;
    this.keyOf.delete(streamSequence);
    const lane = this.lanes.get(keyToken);
    if (lane !== undefined) {
      const index = lane.indexOf(streamSequence);
      if (index >= 0) lane.splice(index, 1);
      if (lane.length === 0) this.lanes.delete(keyToken);
    }
    return keyToken;
  }

  /** Hands out the key's oldest unresolved record if we have it and it is not out already. */
  dispatch(keyToken: string): void {
    if (this.state !== 'active') return;
    const lane = this.lanes.get(keyToken);
    if (lane === undefined) return;
    const held = this.held.get(lane[0]!);
    if (held === undefined || held.withUser || held.notBefore > Date.now()) return;
    if (!this.host.takeSlot(this, keyToken)) return;
    held.withUser = true;
    held.deliveredAt = Date.now();
    this.inUser++;
    held.handedOut = true;
    const claimedWaiting = this.waiting.delete(held.streamSequence);
    let changed = claimedWaiting || this.uncounted.has(held.streamSequence);
    const attempt = this.attemptOf(held);
    if (attempt > 1) {
      // A suspect (see accept): what waits behind it in its session is counted as not handed out
      // now, not after the 10 ms that a record passing through the buffer gets.
      for (const sequence of lane.slice(1)) {
        const behind = this.held.get(sequence);
        if (behind === undefined || behind.handedOut || this.waiting.has(sequence)) continue;
        this.waiting.add(sequence);
        changed = true;
      }
    }
    const delivery: AdapterDelivery = {
      record: held.record,
      deliveryCount: attempt,
      position: String(held.streamSequence),
      ack: () => this.finish(held, '+ACK'),
      nak: (delayMs, neverStarted) => this.nak(held, delayMs, neverStarted === true),
      term: (reason) => this.finish(held, termBody(reason, this.host.nc.info?.version)),
      ...(held.deliveryCount > 1 ? { beforeHandler: () => this.recordHandOut(held) } : {}),
    };
    if (changed) this.attemptsChanged();
    this.host.deliver(delivery);
  }

  private giveUp(held: HeldRecord): boolean {
    if (held.settled) return false;
    held.settled = true;
    held.withUser = false;
    if (this.held.get(held.streamSequence) === held) this.held.delete(held.streamSequence);
    this.inUser--;
    this.host.slotFreed();
    return true;
  }

  /** Acks (`+ACK`) or terminates (`+TERM`): either way the record is done for the consumer. */
  private finish(held: HeldRecord, body: string): Promise<void> {
    if (!this.giveUp(held)) return Promise.resolve();
    this.unconfirmedAcks++;
    this.pull();
    // The key moves on only once the server has the ack: an ack lost in a reconnect would bring
    // the record back after the key's next one.
    return this.host.acker.send(held.reply, body, Math.max(this.host.ackTimeoutMs, this.host.requestTimeoutMs)).then(
      () => {
        this.unconfirmedAcks--;
        this.settledOnServer(held);
        this.checkSettled();
      },
      (error: unknown) => {
        this.unconfirmedAcks--;
        this.checkSettled();
        this.confirmLate(held, body);
        throw error;
      },
    );
  }

  /**
   * The server has the ack (or term) of `held`: its key moves on. A copy redelivered meanwhile and
   * still buffered is acknowledged too (JetStream acks by stream sequence): drop it.
   */
  private settledOnServer(held: HeldRecord): void {
    this.foreign.delete(held.streamSequence);
    const copy = this.held.get(held.streamSequence);
    if (copy !== undefined && !copy.withUser) this.held.delete(held.streamSequence);
    if (!this.held.has(held.streamSequence)) {
      const keyToken = this.untrack(held.streamSequence);
      if (keyToken !== undefined) this.dispatch(keyToken);
    }
  }

  /**
   * An ack the server did not confirm in time is in doubt, not lost: a broker paused (SIGSTOP) or
   * behind a cut link reads it from its socket later, possibly before its own ack wait runs out,
   * and then the record never comes back. Leaving it unresolved would hold its session back for
   * good (seen after a 10 s pause: a gateway's event stream stopped for those sessions). So the
   * record stays unresolved — if it does come back it is handed out again before the session's
   * next — and the ack is re-sent until the server answers (while connected, for up to
   * LATE_ACK_MS), and then the key moves on as after any confirmed ack. Meanwhile it is also
   * treated like a record out with someone else: once the consumer's ack floor passes it, it is
   * done whatever became of the answer.
   */
  private confirmLate(held: HeldRecord, body: string): void {
    if (this.state === 'active' || this.state === 'starting') {
      this.foreign.add(held.streamSequence);
      this.startFloorPolling();
    }
    this.host.acker.send(held.reply, body, LATE_ACK_MS).then(
      () => this.settledOnServer(held),
      () => undefined, // gave up or closed: the ack floor, or the partition's next owner, settles it
    );
  }

  private nak(held: HeldRecord, delayMs: number, neverStarted: boolean): Promise<void> {
    const delay = Math.max(0, Math.round(delayMs));
    if (neverStarted && delay > 0 && this.state === 'active' && !held.settled && held.withUser) {
      this.holdBack(held, delay);
      return Promise.resolve();
    }
    if (!this.giveUp(held)) return Promise.resolve();
    if (neverStarted) {
      const sequence = held.streamSequence;
      this.uncounted.set(sequence, (this.uncounted.get(sequence) ?? 0) + 1);
      if (held.handOutRecorded) this.handedOut.set(sequence, (this.handedOut.get(sequence) ?? 1) - 1);
      this.attemptsChanged();
    }
    // It stays unresolved: its key waits until the server hands it back (after `delay`).
    this.givenBack.set(held.streamSequence, Date.now() + delay);
    this.send(held.reply, delay > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delay) })}` : '-NAK');
    this.checkSettled();
    this.pull();
    return Promise.resolve();
  }

  /**
   * The subscriber gave a hand-out back unstarted, to come again after `delay` (a suspect runs
   * alone meanwhile): kept here, its lease renewed, and handed out again after the delay — with
   * the same attempt, since no handler got it. Not given back to the server: a redelivery there
   * would count a delivery, and if this process died within the delay, nats-server 2.9 could pop
   * it for the dead process's pull requests and count one more that nobody got (a poison
   * crashing its consumer would then charge the innocent messages held back beside it). Should
   * the process die, the record comes back after its lease, counted as not handed out.
   */
  private holdBack(held: HeldRecord, delay: number): void {
    held.withUser = false;
    held.handedOut = false;
    const until = Date.now() + delay;
    held.notBefore = until;
    this.inUser--;
    this.waiting.add(held.streamSequence);
    this.attemptsChanged();
    const timer = setTimeout(() => {
      if (held.notBefore === until) held.notBefore = 0;
      this.dispatch(held.keyToken);
    }, delay);
    timer.unref?.();
    this.host.slotFreed();
    this.checkSettled();
  }

  private send(subject: string, body: string): void {
    try {
      this.host.nc.publish(subject, body);
    } catch {
      // Closed: the server redelivers after the ack wait.
    }
  }

  private checkSettled(): void {
    if (this.settledWaiter !== undefined && this.inUser === 0 && this.unconfirmedAcks === 0) {
      const waiter = this.settledWaiter;
      this.settledWaiter = undefined;
      waiter();
    }
  }

  /** Stop waiting for our subscriber to settle (the adapter is closing: what is left is abandoned). */
  abandonSettling(): void {
    this.abandoned = true;
    const waiter = this.settledWaiter;
    this.settledWaiter = undefined;
    waiter?.();
  }

  private untilSettled(timeoutMs: number): Promise<void> {
    if (this.abandoned || (this.inUser === 0 && this.unconfirmedAcks === 0)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(resolve, timeoutMs) : undefined;
      this.settledWaiter = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
  }

  // ---- pulling ------------------------------------------------------------------------------

  /**
   * Keeps pull requests open for as many records as this partition may still hold
   * (`partitionCapacity`, which the consumer's max_ack_pending also says to the server). Topped up
   * in halves, like the NATS client's own consume().
   */
  pull(): void {
    if (this.state !== 'active' || this.scanning !== undefined || !this.host.mayWork()) return;
    const capacity = this.host.partitionCapacity;
    const room = capacity - this.held.size - this.outstanding;
    if (room <= 0) return;
    if (this.outstanding > 0 && room < Math.ceil(capacity / 2)) return;
    const id = this.nextPullId++;
    this.pulls.push({ id, remaining: room, deadline: Date.now() + this.host.pullExpiresMs + PULL_GRACE_MS });
    this.outstanding += room;
    try {
      this.host.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.host.stream}.${this.consumer}`,
        JSON.stringify({ batch: room, expires: nanos(this.host.pullExpiresMs) }),
        { reply: `${this.inbox}.${id}` },
      );
    } catch {
      this.endPull(id);
    }
  }

  private countDelivery(): void {
    const pull = this.pulls[0];
    if (pull === undefined) return;
    pull.remaining--;
    this.outstanding--;
    if (pull.remaining <= 0) this.pulls.shift();
  }

  private endPull(id: number): void {
    const index = this.pulls.findIndex((pull) => pull.id === id);
    if (index < 0) return;
    this.outstanding -= this.pulls[index]!.remaining;
    this.pulls.splice(index, 1);
  }

  private onStatus(message: Msg): void {
    const code = message.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    this.endPull(Number(message.subject.slice(this.inbox.length + 1)));
    const description = (message.headers?.description ?? '').toLowerCase();
    if (code === 409 && description.includes('consumer deleted')) {
      this.host.recreateConsumer(this.partition).then(
        () => this.pull(),
        (error: unknown) => this.host.reportError(error),
      );
      return;
    }
    if (code === 408 || code === 404) {
      this.pull(); // the long poll ran out (or found nothing): ask again
      return;
    }
    // Anything else (max waiting exceeded, JetStream not ready, a refused request): back off.
    setTimeout(() => this.pull(), RETRY_MS).unref?.();
  }

  // ---- learning what others hold --------------------------------------------------------------

  private rescan(): Promise<void> {
    this.scanning ??= this.scanUntilDone().finally(() => {
      this.scanning = undefined;
      this.drainIntake();
    });
    return this.scanning;
  }

  private async scanUntilDone(): Promise<void> {
    for (let failures = 1; ; failures++) {
      if (this.stopped) return;
      try {
        await this.scan();
        return;
      } catch (error) {
        if (this.stopped) return;
        // A broker that restarts answers "consumer not found" until it has loaded its consumers;
        // only a lasting failure is worth a report, and a consumer that stays gone is made again.
        if (failures % SCAN_FAILURES_BEFORE_REPORT === 0) {
          this.host.reportError(error);
          if ((error as { code?: unknown }).code === CONSUMER_NOT_FOUND) {
            await this.host.recreateConsumer(this.partition).catch(() => undefined);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  private async scan(): Promise<void> {
    const info = await this.host.jsm.consumers.info(this.host.stream, this.consumer);
    const floor = info.ack_floor.stream_seq;
    const end = info.delivered.stream_seq;
    if (info.num_ack_pending > 0 && end > floor) {
      for await (const message of readStream(this.host.js, this.host.stream, {
        filter: this.filter,
        fromSequence: floor + 1,
        toSequence: end,
        headersOnly: true,
        expiresMs: this.host.requestTimeoutMs,
      })) {
        if (this.keyOf.has(message.seq)) continue;
        this.track(message.seq, subjectKeyToken(message.subject));
        this.foreign.add(message.seq);
      }
    }
    this.pruneBelow(floor);
    this.scannedDeliverySequence = info.delivered.consumer_seq;
    this.highestFirstDelivery = Math.max(this.highestFirstDelivery, end);
    // What was delivered before has redeliveries that may have reached handlers unrecorded.
    if (this.boundFrom < 0) this.boundFrom = end + 1;
    this.lastDeliverySequence = Math.max(this.lastDeliverySequence, info.delivered.consumer_seq);
    if (this.foreign.size > 0) this.startFloorPolling();
  }

  private drainIntake(): void {
    const pending = this.intake.splice(0);
    for (let index = 0; index < pending.length; index++) {
      const incoming = pending[index]!;
      if (this.stopped) {
        this.send(incoming.message.reply!, '-NAK');
        continue;
      }
      if (incoming.info.deliverySequence <= this.scannedDeliverySequence) {
        this.accept(incoming); // the scan already counted it
        continue;
      }
      if (!this.ingest(incoming)) {
        this.intake.push(...pending.slice(index + 1));
        return;
      }
    }
    this.pull();
  }

  /** Everything at or below the ack floor is acknowledged: foreign records there are done. */
  private pruneBelow(floor: number): void {
    for (const sequence of [...this.foreign]) {
      if (sequence > floor) continue;
      this.foreign.delete(sequence);
      const keyToken = this.untrack(sequence);
      if (keyToken !== undefined) this.dispatch(keyToken);
    }
  }

  private startFloorPolling(): void {
    if (this.floorTimer !== undefined) return;
    const poll = async () => {
      this.floorTimer = undefined;
      if (this.foreign.size === 0 || this.state === 'draining' || this.state === 'closed') return;
      try {
        const info = await this.host.jsm.consumers.info(this.host.stream, this.consumer);
        this.pruneBelow(info.ack_floor.stream_seq);
      } catch {
        // Next round.
      }
      if (this.foreign.size > 0 && !this.stopped) {
        this.floorTimer = setTimeout(() => void poll(), FLOOR_POLL_MS);
        this.floorTimer.unref?.();
      }
    };
    this.floorTimer = setTimeout(() => void poll(), FLOOR_POLL_MS);
    this.floorTimer.unref?.();
  }

  private stopFloorPolling(): void {
    if (this.floorTimer !== undefined) clearTimeout(this.floorTimer);
    this.floorTimer = undefined;
  }

  /**
   * Deliveries that were on the wire when our interest went away are ours and pending: give them
   * back now (keeping the delay of any we had given back with one) instead of leaving them to the
   * ack wait. They are found by reading the partition's unacknowledged range; records we do not
   * hold and did not learn from a scan are exactly those.
   */
  private async giveBackLost(floor: number, end: number, deliverySequence: number): Promise<void> {
    const now = Date.now();
    for await (const message of readStream(this.host.js, this.host.stream, {
      filter: this.filter,
      fromSequence: floor + 1,
      toSequence: end,
      headersOnly: true,
      expiresMs: this.host.requestTimeoutMs,
    })) {
      const sequence = message.seq;
      if (this.foreign.has(sequence) || this.held.get(sequence)?.withUser) continue;
      const delay = Math.max(0, (this.givenBack.get(sequence) ?? 0) - now);
      this.send(
        syntheticAckSubject(this.host.stream, this.consumer, sequence, deliverySequence),
        delay > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delay) })}` : '-NAK',
      );
    }
    await this.host.nc.flush();
  }
}
