/**
 * The session hub: one subscription to the events topic per runtime instance (its own consumer
 * group, so every instance sees every event) that hands each event to the readers of its session
 * (`events()`; a `stream.chunks` envelope as the `stream.chunk` events it carries), keeps a bounded history per session (a reader resuming after an event it did not
 * keep reads the session from the bus log), and resolves turn waiters when their `turn.completed`
 * arrives. It is what makes "the reply reaches the session that asked" true in
 * whichever process the session's client lives.
 */
import type { Bus, Envelope, Subscription } from '@woodwork/bus';
import { WoodworkRuntimeError } from './errors.js';
import { EventTypes, textOf } from './events.js';
import { expandEvent } from './host.js';
import { eventsTopic } from './topics.js';
import { traceIdOf } from './trace.js';
import type { EventsOptions, EventsResume, SessionEvent, TurnResult } from './types.js';

interface Reader {
  queue: SessionEvent[];
  wake: (() => void) | undefined;
  ended: boolean;
  /** How many events it may have waiting: what it started with plus `sessionHistory` live ones. */
  cap: number;
  /** Its queue reached the cap: it gets what is queued, then an error saying where to resume. */
  behind: boolean;
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
      if (reader.behind) continue;
      // Dropping events here would lose them without a trace; stop queueing instead, so the reader
      // learns where it stopped and resumes from the history or the bus log.
      if (reader.queue.length >= reader.cap) reader.behind = true;
      else reader.queue.push(event);
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

/** A reader's progress through the bus log (see `SessionHub.fromLog`). */
interface LogRead {
  /** Ids read from the log, while live events may still repeat them. */
  sent: Set<string> | undefined;
  /** The log ended with the session's `session.ended`. */
  ended: boolean;
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
      for (const event of expandEvent(envelope)) channel.push(event);
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

  /**
   * A session's events: the kept history (or, resuming with `after`, what follows that event), then
   * live ones. The reader is registered when the iterator is created, so nothing dispatched after
   * that is missed.
   *
   * Resuming after an event this instance did not keep (it started later, or forgot the session)
   * reads the session from the bus log instead (`fromLog`); the cost is paid only then.
   */
  events(sessionId: string, options: EventsOptions = {}): AsyncIterable<SessionEvent> {
    return { [Symbol.asyncIterator]: () => this.read(sessionId, options) };
  }

  private read(sessionId: string, options: EventsOptions): AsyncIterator<SessionEvent> {
    this.track(sessionId);
    const channel = this.channels.get(sessionId)!;
    const { after, signal, onResume } = options;
    const kept = options.from === 'live' ? [] : channel.history;
    const index = after === undefined ? -1 : kept.findIndex((event) => event.message_id === after);
    const resuming = after !== undefined && options.from !== 'live';
    const fromLog = resuming && index < 0 && this.options.bus.capabilities.replay;
    // Reading the log, the queue buffers live events until the log has been sent.
    const hub = this;
    const queue = fromLog ? [] : kept.slice(index + 1);
    const reader: Reader = { queue, wake: undefined, ended: channel.ended, cap: queue.length + this.options.historyLimit, behind: false };
    let lastSent: string | undefined = after;
    channel.readers.add(reader);
    // Told at the first `next()`, as a log read tells it, so a caller can write it in the stream.
    let told: EventsResume | undefined = resuming && !fromLog ? (index >= 0 ? 'history' : 'not-found') : undefined;
    const logged: LogRead | undefined = fromLog ? { sent: undefined, ended: false } : undefined;
    let replayed = fromLog ? this.fromLog(sessionId, after!, kept.slice(), reader, logged!, options) : undefined;
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
        try {
          if (told !== undefined) {
            onResume?.(told);
            told = undefined;
          }
          if (replayed) {
            const step = await replayed.next();
            if (!step.done) {
              lastSent = step.value.message_id;
              return step;
            }
            replayed = undefined;
            if (logged!.ended) return finish();
          }
          for (;;) {
            const event = reader.queue.shift();
            if (event !== undefined) {
              const sent = logged?.sent;
              if (sent !== undefined) {
                // Live events arrive in the session's order: once one was not in the log read, none
                // after it was either.
                if (sent.has(event.message_id)) continue;
                logged!.sent = undefined;
              }
              lastSent = event.message_id;
              return { done: false, value: event };
            }
            if (signal?.aborted) return finish();
            if (reader.behind) {
              finish();
              throw new WoodworkRuntimeError(
                'WW_RUNTIME_READER_BEHIND',
                `a reader of session ${sessionId} fell more than ${hub.options.historyLimit} events behind; it got every event up to ${lastSent ?? 'the start'}`,
                { hint: `resume with events(sessionId, { after: ${JSON.stringify(lastSent ?? null)} }) (an SSE client reconnects with Last-Event-ID), or raise sessionHistory` },
              );
            }
            if (reader.ended) return finish();
            await new Promise<void>((resolve) => {
              reader.wake = resolve;
            });
          }
        } catch (error) {
          finish();
          throw error;
        }
      },
      async return(): Promise<IteratorResult<SessionEvent>> {
        reader.ended = true;
        await replayed?.return(undefined);
        return finish();
      },
    };
  }

  /**
   * Resuming after an event this instance did not keep: the session's events in the bus log after
   * `after`, oldest first. The live reader is registered before the log is read and buffers what
   * arrives meanwhile, and the log is read up to its end as of the read, so every event is either
   * in the log read or live (often both): `state.sent` (every id read from the log) lets the reader
   * drop the live copies. When the log does not hold `after` either, the kept history comes, as
   * when no log exists.
   */
  private async *fromLog(
    sessionId: string,
    after: string,
    kept: SessionEvent[],
    reader: Reader,
    state: LogRead,
    options: EventsOptions,
  ): AsyncGenerator<SessionEvent, void, undefined> {
    // The live subscription must stand before the log is read, or an event could fall between.
    await this.start().catch(() => undefined);
    const read = new Set<string>();
    let found = false;
    for await (const { envelope: logged } of this.options.bus.replay(eventsTopic(this.options.namespace), { sessionId })) {
      if (options.signal?.aborted) return;
      for (const envelope of expandEvent(logged)) {
        read.add(envelope.message_id);
        if (!found) {
          found = envelope.message_id === after;
          if (found) options.onResume?.('log');
          continue;
        }
        yield envelope;
        if (envelope.event_type === EventTypes.sessionEnded) {
          state.ended = true;
          return;
        }
      }
    }
    if (found) {
      state.sent = read;
      return;
    }
    options.onResume?.('not-found');
    reader.queue.unshift(...kept);
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
