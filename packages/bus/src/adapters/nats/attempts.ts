/**
 * Attempts counted per hand-out on JetStream. JetStream counts every delivery of a record to the
 * consumer, including records a member pulled and held in its buffer behind their session (or
 * gave back unstarted on a rebalance), so a crash or a rebalance counted an attempt against
 * records no handler ever saw — after two crashes an innocent record behind a poison message was
 * dead-lettered with it. The partition's owner therefore keeps, in one small document per (topic,
 * group, partition) in the lease bucket, two counts per unresolved record:
 *
 * - "uncounted": deliveries that never reached a handler (given back, redelivered while held,
 *   held back while a suspect ran, or waiting in the buffer now). A record enters it once it has
 *   waited in the buffer 10 ms (see the reader's `noteWaiting`: records passing through faster,
 *   as in a burst, cost nothing). JetStream's count less this is an upper bound of the attempts.
 * - "handed out": redeliveries (delivery count above 1) that reached a handler. Each is written
 *   before its handler starts (`AdapterDelivery.beforeHandler`, one round trip, redeliveries
 *   only), so 1 (the first delivery) + this is an upper bound too — one that does not depend on
 *   a write racing a crash: a poison message that kills its process at once, a moment after
 *   another partition's reader received an innocent record's redelivery, leaves that delivery
 *   in neither count, and JetStream's count alone would dead-letter the innocent record with it.
 *
 * The attempt a hand-out is: the lower of the two bounds. The document is written at most every
 * WRITE_EVERY_MS while it changes (fire and forget, only the partition's owner writes it), at
 * once when the owner gives the partition up or a redelivery is about to reach a handler, and read
 * once when a member takes the partition over. A crash within those windows can charge a record's
 * first delivery as an attempt it was not, never more than that one.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

const WRITE_EVERY_MS = 10;

interface AttemptsDocumentBody {
  readonly v: 1;
  /** stream sequence → deliveries not handed to a handler (records given back, redelivered twice) */
  readonly u: Record<string, number>;
  /**
   * Runs `[first, last]` of stream sequences each waiting in the buffer now (one delivery not
   * handed to a handler each): a burst leaves thousands waiting, mostly consecutive.
   */
  readonly w?: [number, number][];
  /**
   * stream sequence → redeliveries that reached a handler. Absent in documents of versions before
   * it was kept: their readers know no such bound.
   */
  readonly h?: Record<string, number>;
  /** Stream sequences below this were delivered before `h` was kept: no bound from it for them. */
  readonly b?: number;
}

/** What the document says, per stream sequence of an unresolved record. */
export interface AttemptsState {
  readonly uncounted: ReadonlyMap<number, number>;
  readonly waiting: Iterable<number>;
  readonly handedOut: ReadonlyMap<number, number>;
  readonly boundFrom: number;
}

/** What a member taking the partition over learns from the document. */
export interface RecordedAttempts {
  readonly uncounted: Map<number, number>;
  readonly handedOut: Map<number, number>;
  /**
   * Stream sequences from which `handedOut` is complete; undefined when the document predates
   * that count or could not be read (the reader then starts the bound after what was delivered).
   */
  readonly boundFrom: number | undefined;
}

function counts(record: Record<string, number> | undefined): Map<number, number> {
  const counted = new Map<number, number>();
  for (const [sequence, count] of Object.entries(record ?? {})) {
    if (Number.isInteger(count) && count > 0) counted.set(Number(sequence), count);
  }
  return counted;
}

export class AttemptsDocument {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private state: (() => AttemptsState) | undefined;
  private writing = false;
  private lastWriteAt = 0;
  /** Callers of `written` whose change no write has carried to the server yet. */
  private waiters: (() => void)[] = [];

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    readonly subject: string,
  ) {}

  /** What the partition's previous owners recorded. */
  async read(): Promise<RecordedAttempts> {
    try {
      const message = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
      // No document: a new group, or nobody needed one yet. Nothing was handed out again either.
      if (message === null) return { uncounted: new Map(), handedOut: new Map(), boundFrom: 0 };
      const body = message.json<AttemptsDocumentBody>();
      if (body?.v !== 1) return { uncounted: new Map(), handedOut: new Map(), boundFrom: undefined };
      const uncounted = counts(body.u);
      for (const [first, last] of body.w ?? []) {
        for (let sequence = first; sequence <= last; sequence++) uncounted.set(sequence, (uncounted.get(sequence) ?? 0) + 1);
      }
      const handedOut = counts(body.h);
      return { uncounted, handedOut, boundFrom: body.h === undefined ? undefined : (body.b ?? 0) };
    } catch {
      // The bucket away: count as JetStream does.
      return { uncounted: new Map(), handedOut: new Map(), boundFrom: undefined };
    }
  }

  /**
   * The state changed: write it now if nothing was written in the last WRITE_EVERY_MS and no
   * write is in flight, else once that is over — so a lone change is written at once, and a
   * burst of changes costs one write per interval, one at a time.
   */
  changed(state: () => AttemptsState): void {
    this.state = state;
    if (this.writing) return;
    const urgent = this.waiters.length > 0;
    if (this.timer !== undefined) {
      if (!urgent) return;
      clearTimeout(this.timer);
    }
    const wait = urgent ? 0 : this.lastWriteAt + WRITE_EVERY_MS - Date.now();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const current = this.state;
      this.state = undefined;
      if (current !== undefined) void this.publish(current());
    }, Math.max(0, wait));
    this.timer.unref?.();
  }

  /**
   * Like `changed`, without the WRITE_EVERY_MS pause, and settles once a write of the state as it
   * is now has been stored (or has failed: the bucket away, nothing better to do than go on).
   */
  written(state: () => AttemptsState): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.changed(state);
    });
  }

  /** Writes `state` at once (a reader giving its partition up), replacing a pending write. */
  writeNow(state: AttemptsState): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.state = undefined;
    return this.publish(state);
  }

  private async publish(state: AttemptsState): Promise<void> {
    const runs: [number, number][] = [];
    for (const sequence of state.waiting) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] + 1 === sequence) last[1] = sequence;
      else runs.push([sequence, sequence]);
    }
    const body: AttemptsDocumentBody = {
      v: 1,
      u: Object.fromEntries([...state.uncounted].map(([sequence, count]) => [String(sequence), count])),
      ...(runs.length > 0 ? { w: runs } : {}),
      h: Object.fromEntries([...state.handedOut].map(([sequence, count]) => [String(sequence), count])),
      ...(state.boundFrom > 0 ? { b: state.boundFrom } : {}),
    };
    // Those waiting now asked before `state` was read, so this write carries their change.
    const waiters = this.waiters.splice(0);
    this.writing = true;
    this.lastWriteAt = Date.now();
    try {
      await this.js.publish(this.subject, JSON.stringify(body));
    } catch {
      // Lost: a crash now would miscount a waiting record by one.
    } finally {
      this.writing = false;
      for (const resolve of waiters) resolve();
      const pending = this.state;
      if (pending !== undefined) {
        this.state = undefined;
        this.changed(pending);
      }
    }
  }
}
