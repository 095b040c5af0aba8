/**
 * Attempts counted per hand-out on JetStream. JetStream counts every delivery of a record to the
 * consumer, including records a member pulled and held in its buffer behind their session (or
 * gave back unstarted on a rebalance), so a crash or a rebalance counted an attempt against
 * records no handler ever saw — after two crashes an innocent record behind a poison message was
 * dead-lettered with it. The partition's owner therefore keeps, per unresolved record, how many of
 * its deliveries were never handed out ("uncounted"), in one small document per (topic, group,
 * partition) in the lease bucket, and reports JetStream's count minus that.
 *
 * A record enters the document once it has waited in the buffer 10 ms (see the reader's
 * `noteWaiting`: records passing through faster, as in a burst, cost nothing). The document is
 * written at most every WRITE_EVERY_MS while it changes (fire and forget, only the partition's
 * owner writes it), at once when the owner gives the partition up, and read once when a member
 * takes the partition over. A crash within those windows miscounts a record by one — except when a
 * redelivered record the document says is waiting is handed out: the reader then waits for
 * `written` before the handler gets it (see the reader's `dispatch`), because a handler that kills
 * its process at once would otherwise leave the document claiming the hand-out never happened, and
 * each crash of a poison message could go uncounted.
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
}

/** What the document says: uncounted deliveries per stream sequence. */
export interface AttemptsState {
  readonly uncounted: ReadonlyMap<number, number>;
  readonly waiting: Iterable<number>;
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

  /** The uncounted deliveries the partition's previous owners recorded. */
  async read(): Promise<Map<number, number>> {
    const uncounted = new Map<number, number>();
    try {
      const message = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
      if (message === null) return uncounted;
      const body = message.json<AttemptsDocumentBody>();
      if (body?.v !== 1) return uncounted;
      for (const [sequence, count] of Object.entries(body.u ?? {})) {
        if (Number.isInteger(count) && count > 0) uncounted.set(Number(sequence), count);
      }
      for (const [first, last] of body.w ?? []) {
        for (let sequence = first; sequence <= last; sequence++) uncounted.set(sequence, (uncounted.get(sequence) ?? 0) + 1);
      }
    } catch {
      // No document (a new group) or the bucket away: count as JetStream does.
    }
    return uncounted;
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
