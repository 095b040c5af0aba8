/**
 * Acks that are confirmed by the server ("double acks"). A plain JetStream ack is fire-and-forget
 * and the NATS client silently discards it while disconnected; then the record comes back after
 * the ack wait, possibly after the same session's next record. So the adapter waits for the
 * server's reply before it lets a session move on, re-sends on a reconnect or when the reply is
 * overdue, and rejects after a deadline — which says nothing of the ack's fate (a paused broker
 * reads it later): the partition reader keeps re-sending it (PartitionReader.confirmLate).
 *
 * The reply says the server received the body, not that it understood it: nats-server confirms
 * any body, including ones it ignores (2.9 ignores `+TERM <reason>`, see `termBody`). So only
 * bodies the connected server is known to act on are sent. A re-sent `+TERM` is harmless for the
 * record but makes the server publish its terminated advisory again.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { WoodworkBusError } from '../../errors.js';

const RETRY_AFTER_NO_RESPONDERS_MS = 250;

interface PendingAck {
  readonly subject: string;
  readonly body: string;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  sentAt: number;
}

export class AckConfirmer {
  private readonly pending = new Map<number, PendingAck>();
  private nextId = 1;
  private connected = true;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly subscription: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly inbox: string,
    private readonly requestTimeoutMs: number,
  ) {
    this.subscription = nc.subscribe(`${inbox}.*`, { callback: (_error, message) => this.onReply(message) });
    // One long-lived timer rather than one per ack; unref'd, it never keeps a process alive.
    this.timer = setInterval(() => this.check(), Math.min(250, requestTimeoutMs / 4));
    this.timer.unref?.();
  }

  /** Sends `body` (`+ACK`, `+TERM`, …) to a delivery's ack subject and resolves once the server confirms. */
  send(subject: string, body: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      const ack: PendingAck = { subject, body, deadline: Date.now() + timeoutMs, resolve, reject, sentAt: 0 };
      this.pending.set(id, ack);
      this.transmit(id, ack);
    });
  }

  pause(): void {
    this.connected = false;
  }

  resume(): void {
    this.connected = true;
    for (const [id, ack] of this.pending) this.transmit(id, ack);
  }

  /** Waits (bounded) for confirmations in flight, then fails the rest. */
  async close(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < until && !this.nc.isClosed()) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const [id, ack] of this.pending) {
      this.pending.delete(id);
      ack.reject(new WoodworkBusError('WW_BUS_CLOSED', 'the nats bus closed before the ack was confirmed', { isRetryable: true }));
    }
    clearInterval(this.timer);
    this.subscription.unsubscribe();
  }

  private transmit(id: number, ack: PendingAck): void {
    if (!this.connected) return;
    try {
      this.nc.publish(ack.subject, ack.body, { reply: `${this.inbox}.${id}` });
      ack.sentAt = Date.now();
    } catch {
      // Closed underneath us; the deadline settles it.
    }
  }

  private onReply(message: Msg): void {
    const id = Number(message.subject.slice(this.inbox.length + 1));
    const ack = this.pending.get(id);
    if (ack === undefined) return;
    if (message.headers?.code === 503) {
      // No responders: the consumer is not loaded yet (the broker is starting). Re-sent by check().
      ack.sentAt = Date.now() - this.requestTimeoutMs + RETRY_AFTER_NO_RESPONDERS_MS;
      return;
    }
    this.pending.delete(id);
    ack.resolve();
  }

  private check(): void {
    const now = Date.now();
    for (const [id, ack] of this.pending) {
      if (ack.deadline <= now) {
        this.pending.delete(id);
        ack.reject(
          new WoodworkBusError(
            'WW_BUS_CONNECTION',
            'JetStream did not confirm the ack in time (broker paused or unreachable?); it is re-sent until it does, and the record may come back meanwhile',
            { isRetryable: true },
          ),
        );
      } else if (now - ack.sentAt > this.requestTimeoutMs) {
        this.transmit(id, ack);
      }
    }
  }
}
