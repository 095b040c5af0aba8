/**
 * Attempts counted per hand-out on JetStream. JetStream counts every delivery of a record to the
 * consumer, including records a member pulled and held in its buffer behind their session (or
 * gave back unstarted on a rebalance), so a crash or a rebalance counted an attempt against
 * records no handler ever saw — after two crashes an innocent record behind a poison message was
 * dead-lettered with it. The partition's owner therefore keeps, per unresolved record, how many of
 * its deliveries were never handed out ("uncounted"), in one small document per (topic, group,
 * partition) in the lease bucket, and reports JetStream's count minus that.
 *
 * The document is written at most every WRITE_EVERY_MS while it changes (fire and forget, only
 * the partition's owner writes it) and read once when a member takes the partition over. A crash
 * within that window after a record entered or left the buffer miscounts it by one.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

const WRITE_EVERY_MS = 10;

interface AttemptsDocumentBody {
  readonly v: 1;
  /** stream sequence → deliveries not handed to a handler */
  readonly u: Record<string, number>;
}

export class AttemptsDocument {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private compute: (() => Map<number, number>) | undefined;

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
    } catch {
      // No document (a new group) or the bucket away: count as JetStream does.
    }
    return uncounted;
  }

  /** Writes `compute()` soon; calls within the window coalesce into one write. */
  changed(compute: () => Map<number, number>): void {
    this.compute = compute;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const current = this.compute?.();
      if (current === undefined) return;
      const body: AttemptsDocumentBody = { v: 1, u: Object.fromEntries([...current].map(([sequence, count]) => [String(sequence), count])) };
      this.js.publish(this.subject, JSON.stringify(body)).catch(() => {
        // Lost: a crash now would count one attempt too many for a buffered record, as before.
      });
    }, WRITE_EVERY_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
