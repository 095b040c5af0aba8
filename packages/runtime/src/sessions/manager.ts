/**
 * The session manager: ids, idle timeouts and cleanup over a `SessionStore`. A session is created
 * by its first input (or explicitly), touched by every input after, and ends when asked to or
 * when it has been idle for `timeoutMs`; a sweeper claims expired sessions (exactly one host claims
 * each one) and the runtime emits `session.ended` for it. Given a `timer` (sessions in Redis: BullMQ
 * delayed jobs), each session has its own durable timer instead of the sweeper (timer.ts).
 */
import { randomUUID } from 'node:crypto';
import { WoodworkRuntimeError } from '../errors.js';
import type { JsonValue, SessionContext, SessionInfo } from '../types.js';
import type { SessionStore } from './store.js';
import type { SessionTimer } from './timer.js';
import type { WakeTimer, Wakeup } from './wakeups.js';

export interface SessionManagerOptions {
  /** Idle time after which a session ends. Default 30 minutes, like a web session. */
  readonly timeoutMs?: number;
  /** How often expired sessions are looked for. Default: a tenth of the timeout, at most 30 s, at least 50 ms. */
  readonly sweepIntervalMs?: number;
  /**
   * One durable timer per session in place of the sweeper. Default none: the sweeper, which is
   * right for one process; the runtime passes a BullMQ timer for sessions in Redis.
   */
  readonly timer?: SessionTimer;
  /** Where `context.session.wakeAt` wake-ups wait (wakeups.ts); without it, `wakeAt` throws. */
  readonly wakeups?: WakeTimer;
  /** Sends a due wake-up's input to its component (the runtime publishes it as an input of the session). */
  readonly deliver?: (wakeup: Wakeup) => Promise<void>;
  /** Called once for every session that ended (`reason` is `ended` or `timeout`). */
  readonly onEnded?: (sessionId: string, reason: string) => void;
  /** Clock, for tests. */
  readonly now?: () => number;
}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export class SessionManager {
  readonly timeoutMs: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;

  constructor(
    readonly store: SessionStore,
    private readonly options: SessionManagerOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30 * 60_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? Math.max(50, Math.min(30_000, Math.floor(this.timeoutMs / 10)));
    this.now = options.now ?? Date.now;
  }

  /** Checks a caller-chosen id: 1-128 of letters, digits and `._:@-`, so it is safe in topic payloads and Redis keys. */
  static checkId(id: string): void {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) {
      throw new WoodworkRuntimeError('WW_RUNTIME_SESSION', `session id ${JSON.stringify(id)} is not valid`, {
        hint: 'use 1-128 letters, digits, ".", "_", ":", "@" or "-", starting with a letter or digit (or let the runtime choose one)',
        userError: true,
      });
    }
  }

  /** Creates a session; with an id that exists, returns the existing one (`created: false`). */
  async open(id: string | undefined, metadata: Readonly<Record<string, JsonValue>> = {}): Promise<{ info: SessionInfo; created: boolean }> {
    const sessionId = id ?? randomUUID();
    if (id !== undefined) SessionManager.checkId(id);
    const now = this.now();
    const info: SessionInfo = { id: sessionId, createdAt: now, lastActiveAt: now, expiresAt: now + this.timeoutMs, metadata };
    if (await this.store.create(info)) return this.created(info);
    const existing = await this.store.get(sessionId);
    if (existing) return { info: existing, created: false };
    // Expired between the two calls: try once more.
    if (await this.store.create(info)) return this.created(info);
    throw new WoodworkRuntimeError('WW_RUNTIME_SESSION', `session ${sessionId} could not be created`, { sessionId, isRetryable: true });
  }

  private async created(info: SessionInfo): Promise<{ info: SessionInfo; created: true }> {
    await this.options.timer?.schedule(info.id, info.expiresAt);
    return { info, created: true };
  }

  get(id: string): Promise<SessionInfo | undefined> {
    return this.store.get(id);
  }

  /** Marks activity; false when the session no longer exists. A timer is not touched: when it fires it finds the new deadline. */
  touch(id: string): Promise<boolean> {
    const now = this.now();
    return this.store.touch(id, now, now + this.timeoutMs);
  }

  /**
   * `touch`, only when the session's metadata has the string `value` under `key` (its owner, for the
   * gateway); false, and the session left as it was, otherwise. One store round trip when the store
   * can check and touch at once, else a read first.
   */
  async touchIfMetadata(id: string, key: string, value: string): Promise<boolean> {
    const now = this.now();
    if (this.store.touchIfMetadata) return this.store.touchIfMetadata(id, now, now + this.timeoutMs, key, value);
    const info = await this.store.get(id);
    if (info?.metadata[key] !== value) return false;
    return this.store.touch(id, now, now + this.timeoutMs);
  }

  /** Ends a session; true (and `onEnded` called) for the one caller that ended it. */
  async end(id: string, reason = 'ended'): Promise<boolean> {
    // Disarmed first: once the session is deleted, a new one with the same id may arm its own.
    await this.options.timer?.cancel(id);
    const removed = await this.store.delete(id);
    if (removed) this.options.onEnded?.(id, reason);
    return removed;
  }

  /** Component-scoped state of one session, as `context.session` gives it. */
  context(id: string, scope: string): SessionContext {
    const store = this.store;
    const wakeups = this.options.wakeups;
    return {
      id,
      async get<T = JsonValue>(key: string): Promise<T | undefined> {
        return (await store.getState(id, scope, key)) as T | undefined;
      },
      set: (key, value) => store.setState(id, scope, key, value),
      delete: (key) => store.deleteState(id, scope, key),
      async wakeAt(key, at, input) {
        if (!wakeups) throw new WoodworkRuntimeError('WW_RUNTIME_SESSION', 'this session manager has no wake-up timer', { sessionId: id, component: scope, userError: false });
        await wakeups.schedule({ sessionId: id, component: scope, key, at, input });
      },
      async cancelWake(key) {
        await wakeups?.cancel(id, scope, key);
      },
    };
  }

  /** A wake-up is due: its input goes to its component if the session still exists. */
  private async wake(wakeup: Wakeup): Promise<void> {
    if (!(await this.store.get(wakeup.sessionId))) return;
    await this.options.deliver?.(wakeup);
  }

  adjustTurn(id: string, turnId: string, delta: number): Promise<number> {
    return this.store.adjustTurn(id, turnId, delta);
  }

  /** Ends every expired session now; resolves with their ids. */
  async sweep(): Promise<string[]> {
    if (this.sweeping) return [];
    this.sweeping = true;
    const ended: string[] = [];
    try {
      for (;;) {
        const batch = await this.store.claimExpired(this.now(), 500);
        for (const id of batch) {
          ended.push(id);
          this.options.onEnded?.(id, 'timeout');
        }
        if (batch.length < 500) break;
      }
    } finally {
      this.sweeping = false;
    }
    return ended;
  }

  /** Starts the periodic sweep (unref'd: it never keeps a process alive), or firing the timer's due sessions in this process. */
  startSweeping(onError: (error: unknown) => void): void {
    this.options.wakeups?.start((wakeup) => this.wake(wakeup), onError);
    if (this.options.timer) {
      this.options.timer.start({
        claim: (id) => this.expire(id),
        ended: (id) => this.options.onEnded?.(id, 'timeout'),
        onError,
      });
      return;
    }
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      this.sweep().catch(onError);
    }, this.sweepIntervalMs);
    this.sweeper.unref();
  }

  async stopSweeping(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await Promise.all([this.options.timer?.stop(), this.options.wakeups?.stop()]);
  }

  /** A session's timer fired: claims it if it expired, else says when it expires now. */
  private async expire(id: string): Promise<'claimed' | number | undefined> {
    for (;;) {
      const info = await this.store.get(id);
      if (!info) return undefined;
      if (info.expiresAt > this.now()) return info.expiresAt;
      if (await this.store.claimIfExpired(id, this.now())) return 'claimed';
      // Touched or ended between the two calls: look again.
    }
  }
}
