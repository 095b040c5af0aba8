/**
 * Publishes records to JetStream in order, pipelined, and never drops one silently.
 *
 * Every record is a request to its subject; the stream answers with a PubAck. Up to `window`
 * records are in flight at once. The NATS client discards what it could not write when the
 * connection drops, and a PubAck can be lost with it, so on a disconnect the publisher stops
 * sending, and on the reconnect (or when a PubAck is overdue, or JetStream says "not now") it
 * re-sends every record not yet acknowledged, oldest first. JetStream drops the ones it already
 * stored by their `Nats-Msg-Id`, so a re-send never duplicates and order is kept: a later record
 * is never stored before an earlier one that was lost. A record that gets no PubAck within
 * `publishTimeoutMs` rejects with a retryable error; one the stream refuses rejects at once.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { WoodworkBusError } from '../../errors.js';

interface Entry {
  readonly id: number;
  readonly subject: string;
  readonly body: Uint8Array;
  readonly headers: MsgHdrs;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  /** When it was last sent; 0 while waiting to be (re)sent. */
  sentAt: number;
  done: boolean;
}

export interface PublisherSettings {
  readonly window: number;
  readonly requestTimeoutMs: number;
  readonly publishTimeoutMs: number;
}

export interface PublisherHooks {
  /** Nobody answered on this subject: the stream may be gone or JetStream not ready yet. */
  readonly noResponders: (subject: string) => void;
}

/** JetStream API errors worth retrying: 503 is "JetStream temporarily unavailable" / no quorum. */
function isRetryableApiError(error: { code?: number; err_code?: number }): boolean {
  return error.code === 503 || error.code === 408;
}

const decoder = new TextDecoder();
const MAX_BACKOFF_MS = 2_000;

export class OrderedPublisher {
  private readonly entries: Entry[] = [];
  private readonly byId = new Map<number, Entry>();
  /** entries[head] is the oldest unsettled entry; entries[cursor] the next to send. */
  private head = 0;
  private cursor = 0;
  private sentUnsettled = 0;
  private nextId = 1;
  private connected = true;
  private backoffUntil = 0;
  private backoffMs = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly subscription: Subscription;
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    private readonly settings: PublisherSettings,
    private readonly hooks: PublisherHooks,
  ) {
    this.subscription = nc.subscribe(`${inbox}.*`, { callback: (_error, message) => this.onReply(message) });
    // One long-lived timer rather than one per publish; unref'd, it never keeps a process alive.
    this.timer = setInterval(() => this.check(), Math.min(250, settings.requestTimeoutMs / 4));
    this.timer.unref?.();
  }

  /** Resolves when JetStream has stored the record (or had it already, by its message id). */
  publish(subject: string, body: Uint8Array, headers: MsgHdrs): Promise<void> {
    if (this.closed) return Promise.reject(new WoodworkBusError('WW_BUS_CLOSED', 'the nats publisher is closed'));
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = {
        id: this.nextId++,
        subject,
        body,
        headers,
        deadline: Date.now() + this.settings.publishTimeoutMs,
        resolve,
        reject,
        sentAt: 0,
        done: false,
      };
      this.entries.push(entry);
      this.byId.set(entry.id, entry);
      this.pump();
    });
  }

  /** The connection dropped: whatever is sent now is discarded by the client. */
  pause(): void {
    this.connected = false;
  }

  /** Reconnected: re-send everything not acknowledged, oldest first. */
  resume(): void {
    this.connected = true;
    this.rewind();
  }

  /** Resolves once every record published so far is settled (stored, or rejected). */
  flush(): Promise<void> {
    if (this.head === this.entries.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (let index = this.head; index < this.entries.length; index++) {
      this.finish(this.entries[index]!, new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus closed before JetStream acknowledged the record', { isRetryable: true }));
    }
    clearInterval(this.timer);
    this.subscription.unsubscribe();
  }

  private pump(): void {
    if (!this.connected || this.closed || Date.now() < this.backoffUntil) return;
    while (this.cursor < this.entries.length && this.sentUnsettled < this.settings.window) {
      const entry = this.entries[this.cursor++]!;
      if (entry.done) continue;
      try {
        this.nc.publish(entry.subject, entry.body, { headers: entry.headers, reply: `${this.inbox}.${entry.id}` });
      } catch {
        // Closed or draining underneath us: leave it unsent; the deadline will reject it.
        this.cursor--;
        return;
      }
      entry.sentAt = Date.now();
      this.sentUnsettled++;
    }
  }

  /** Send again from the oldest unsettled record. */
  private rewind(): void {
    for (let index = this.head; index < this.cursor; index++) this.entries[index]!.sentAt = 0;
    this.cursor = this.head;
    this.sentUnsettled = 0;
    this.pump();
  }

  private retryLater(): void {
    this.backoffMs = this.backoffMs === 0 ? 50 : Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.backoffUntil = Date.now() + this.backoffMs;
    for (let index = this.head; index < this.cursor; index++) this.entries[index]!.sentAt = 0;
    this.cursor = this.head;
    this.sentUnsettled = 0;
  }

  private onReply(message: Msg): void {
    const id = Number(message.subject.slice(this.inbox.length + 1));
    const entry = this.byId.get(id);
    if (entry === undefined || entry.done) return;
    if (message.headers?.code === 503) {
      // No responders: no stream bound to the subject, or JetStream is still starting.
      this.hooks.noResponders(entry.subject);
      this.retryLater();
      return;
    }
    let reply: { error?: { code?: number; err_code?: number; description?: string }; seq?: number };
    try {
      reply = JSON.parse(decoder.decode(message.data)) as typeof reply;
    } catch {
      this.retryLater();
      return;
    }
    if (reply.error) {
      if (isRetryableApiError(reply.error)) {
        this.retryLater();
        return;
      }
      this.finish(
        entry,
        new WoodworkBusError(
          'WW_BUS_PUBLISH_FAILED',
          `JetStream refused the record on ${entry.subject}: ${reply.error.description ?? 'unknown error'} (${reply.error.err_code ?? reply.error.code})`,
        ),
      );
      return;
    }
    this.backoffMs = 0;
    this.finish(entry);
  }

  private finish(entry: Entry, error?: unknown): void {
    if (entry.done) return;
    entry.done = true;
    this.byId.delete(entry.id);
    if (entry.sentAt > 0) this.sentUnsettled--;
    if (error === undefined) entry.resolve();
    else entry.reject(error);
    while (this.head < this.entries.length && this.entries[this.head]!.done) this.head++;
    if (this.cursor < this.head) this.cursor = this.head;
    if (this.head === this.entries.length) {
      this.entries.length = 0;
      this.head = 0;
      this.cursor = 0;
      this.sentUnsettled = 0;
      for (const waiter of this.idleWaiters.splice(0)) waiter();
    } else if (this.head > 1_024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.cursor -= this.head;
      this.head = 0;
    }
    this.pump();
  }

  private check(): void {
    const now = Date.now();
    // Deadlines grow in publish order, so the expired ones are at the front.
    while (this.head < this.entries.length && this.entries[this.head]!.deadline <= now) {
      const entry = this.entries[this.head]!;
      this.finish(
        entry,
        new WoodworkBusError(
          'WW_BUS_PUBLISH_FAILED',
          `no PubAck from JetStream for ${entry.subject} within ${this.settings.publishTimeoutMs} ms`,
          { isRetryable: true },
        ),
      );
    }
    if (this.head >= this.entries.length) return;
    const oldest = this.entries[this.head]!;
    if (oldest.sentAt > 0 && now - oldest.sentAt > this.settings.requestTimeoutMs) this.rewind();
    else this.pump();
  }
}
