/**
 * The session hub: one subscription to the events topic per runtime instance (its own consumer
 * group, so every instance sees every event) that hands each event to the readers of its session
 * (`events()`), keeps a bounded history per session, and resolves turn waiters when their
 * `turn.completed` arrives. It is what makes "the reply reaches the session that asked" true in
 * whichever process the session's client lives.
 */
import type { Bus, Envelope, Subscription } from '@woodwork/bus';
import { WoodworkRuntimeError } from './errors.js';
import { EventTypes, textOf } from './events.js';
import { eventsTopic } from './topics.js';
import { traceIdOf } from './trace.js';
import type { EventsOptions, SessionEvent, TurnResult } from './types.js';

interface Reader {
  queue: SessionEvent[];
  wake: (() => void) | undefined;
  ended: boolean;
}

class SessionChannel {
  readonly history: SessionEvent[] = [];
  readonly readers = new Set<Reader>();
  ended = false;

  constructor(private readonly limit: number) {}

  push(event: SessionEvent): void {
    this.history.push(event);
    if (this.history.length > this.limit) this.history.shift();
    for (const reader of this.readers) {
      reader.queue.push(event);
      if (reader.queue.length > this.limit) reader.queue.shift();
      const wake = reader.wake;
      reader.wake = undefined;
      wake?.();
    }
  }

  end(): void {
    this.ended = true;
    for (const reader of this.readers) {
      reader.ended = true;
      const wake = reader.wake;
      reader.wake = undefined;
      wake?.();
    }
  }
}

interface TurnWaiter {
  readonly sessionId: string;
  readonly turnId: string;
  readonly replies: SessionEvent[];
  readonly errors: SessionEvent[];
  settle(result: TurnResult | Error): void;
}

export interface SessionHubOptions {
  readonly bus: Bus;
  readonly namespace: string;
  readonly instanceId: string;
  /** Events kept per session for `events({ from: 'history' })`. */
  readonly historyLimit: number;
  /**
   * Sessions whose history is kept while nobody reads them. Past this, the least recently started
   * ones without a reader are forgotten (their history only; the sessions go on). Default 10 000.
   */
  readonly trackedSessions?: number;
}

export class SessionHub {
  private readonly channels = new Map<string, SessionChannel>();
  private readonly waiters = new Map<string, TurnWaiter>();
  private subscription: Subscription | undefined;
  private starting: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: SessionHubOptions) {}

  /**
   * Subscribes to the events topic, once; later calls wait for the same subscription. Hosts that
   * never open sessions (a component host without an input) never call it, so they do not read
   * every event of the namespace for nothing.
   */
  start(): Promise<void> {
    this.starting ??= this.subscribe();
    return this.starting;
  }

  private async subscribe(): Promise<void> {
    this.subscription = await this.options.bus.subscribe(
      eventsTopic(this.options.namespace),
      // Only events from now on: history of earlier runs belongs to replay, not to live readers.
      { group: `sessions-${this.options.instanceId}`, fromBeginning: false, maxInFlight: 1024, maxAttempts: 1 },
      (envelope) => this.dispatch(envelope),
    );
  }

  private dispatch(envelope: Envelope): void {
    const channel = this.channels.get(envelope.session_id);
    if (channel) {
      channel.push(envelope);
      if (envelope.event_type === EventTypes.sessionEnded) {
        channel.end();
        this.channels.delete(envelope.session_id);
      }
    }
    if (this.waiters.size === 0) return;
    const type = envelope.event_type;
    if (type !== EventTypes.sessionReplied && type !== EventTypes.agentError && type !== EventTypes.turnCompleted && type !== EventTypes.sessionEnded) {
      return;
    }
    if (type === EventTypes.sessionEnded) {
      for (const waiter of [...this.waiters.values()]) {
        if (waiter.sessionId === envelope.session_id) {
          waiter.settle(new WoodworkRuntimeError('WW_RUNTIME_SESSION', `session ${waiter.sessionId} ended before the turn completed`, { sessionId: waiter.sessionId }));
        }
      }
      return;
    }
    const turnId = traceIdOf(envelope.trace);
    if (turnId === undefined) return;
    const waiter = this.waiters.get(`${envelope.session_id}\u0000${turnId}`);
    if (!waiter) return;
    if (type === EventTypes.sessionReplied) waiter.replies.push(envelope);
    else if (type === EventTypes.agentError) waiter.errors.push(envelope);
    else {
      waiter.settle({
        sessionId: waiter.sessionId,
        turnId,
        ok: waiter.errors.length === 0,
        replies: waiter.replies,
        errors: waiter.errors,
        text: waiter.replies.map((reply) => textOf(reply.payload)).join('\n'),
      });
    }
  }

  /** Starts keeping events of a session (before its first input is sent, so none is missed). */
  track(sessionId: string): void {
    if (this.channels.has(sessionId)) return;
    this.channels.set(sessionId, new SessionChannel(this.options.historyLimit));
    const limit = this.options.trackedSessions ?? 10_000;
    if (this.channels.size > limit) {
      // Maps iterate in insertion order: the oldest first.
      for (const [id, channel] of this.channels) {
        if (this.channels.size <= limit) break;
        if (channel.readers.size === 0 && id !== sessionId) this.channels.delete(id);
      }
    }
  }

  /** A session ended in this process: finish its readers even if the event never comes back. */
  forget(sessionId: string): void {
    const channel = this.channels.get(sessionId);
    channel?.end();
    this.channels.delete(sessionId);
  }

  events(sessionId: string, options: EventsOptions = {}): AsyncIterable<SessionEvent> {
    const hub = this;
    return {
      [Symbol.asyncIterator](): AsyncIterator<SessionEvent> {
        hub.track(sessionId);
        const channel = hub.channels.get(sessionId)!;
        const reader: Reader = {
          queue: options.from === 'live' ? [] : historyAfter(channel.history, options.after),
          wake: undefined,
          ended: channel.ended,
        };
        channel.readers.add(reader);
        const signal = options.signal;
        const onAbort = () => {
          reader.ended = true;
          reader.queue.length = 0;
          reader.wake?.();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        const finish = (): IteratorResult<SessionEvent> => {
          channel.readers.delete(reader);
          signal?.removeEventListener('abort', onAbort);
          return { done: true, value: undefined };
        };
        return {
          async next(): Promise<IteratorResult<SessionEvent>> {
            for (;;) {
              const event = reader.queue.shift();
              if (event !== undefined) return { done: false, value: event };
              if (reader.ended || signal?.aborted) return finish();
              await new Promise<void>((resolve) => {
                reader.wake = resolve;
              });
            }
          },
          async return(): Promise<IteratorResult<SessionEvent>> {
            reader.ended = true;
            return finish();
          },
        };
      },
    };
  }

  /**
   * Waits for a turn's `turn.completed`. Register before sending the input. The promise resolves
   * with the result, or with an Error on timeout (it never rejects, so an unawaited turn is harmless).
   */
  waitTurn(sessionId: string, turnId: string, timeoutMs: number): Promise<TurnResult | Error> {
    const key = `${sessionId}\u0000${turnId}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiter.settle(
          new WoodworkRuntimeError('WW_RUNTIME_TIMEOUT', `session ${sessionId}: no reply within ${timeoutMs} ms`, {
            sessionId,
            hint: 'a component may be slow or stuck; raise turnTimeoutMs (or pass { timeoutMs }) if it is expected',
            isRetryable: true,
          }),
        );
      }, timeoutMs);
      const waiter: TurnWaiter = {
        sessionId,
        turnId,
        replies: [],
        errors: [],
        settle: (result) => {
          if (this.waiters.get(key) !== waiter) return;
          clearTimeout(timer);
          this.waiters.delete(key);
          resolve(result);
          if (this.waiters.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
        },
      };
      this.waiters.set(key, waiter);
    });
  }

  /** Turns sent and not yet completed. */
  get openTurns(): number {
    return this.waiters.size;
  }

  /** Resolves when no turn is open, or after `timeoutMs` (resolves with false then). */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.waiters.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    const reason = new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime stopped before the turn completed');
    for (const waiter of [...this.waiters.values()]) waiter.settle(reason);
    for (const channel of this.channels.values()) channel.end();
    this.channels.clear();
    await this.starting?.catch(() => undefined);
    await this.subscription?.close();
  }
}

/** The kept history after the event `after` (all of it when `after` is unset or no longer kept). */
function historyAfter(history: readonly SessionEvent[], after: string | undefined): SessionEvent[] {
  const index = after === undefined ? -1 : history.findIndex((event) => event.message_id === after);
  return history.slice(index + 1);
}
