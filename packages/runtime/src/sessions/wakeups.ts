/**
 * Wake-ups: an input a component asks to receive, in one of its sessions, at a time of its
 * choosing (`context.session.wakeAt(key, at, input)`), delivered by whichever runtime is alive
 * then — the way a component keeps a deadline without holding a handler or a timer of its own
 * (an agent's approval that nobody answers times out at its deadline, not at the next input).
 *
 * A wake-up is identified by (session, component, key): scheduling the same key again replaces it,
 * `cancelWake(key)` removes it. When it is due, the runtime checks that the session still exists
 * and sends `input` to the component as a new input of the session (a turn of its own, so clients
 * see its events and `turn.completed`). Delivery is at least once; a component treats a wake-up
 * that no longer applies as nothing to do.
 *
 * Two implementations: in memory (a timer in this process, for sessions in memory, which live no
 * longer than the process anyway) and BullMQ delayed jobs for sessions in Redis
 * (`bullmq-wakeups.ts`), which survive the process that scheduled them and fire in any runtime.
 */
import type { JsonValue } from '../types.js';

export interface Wakeup {
  readonly sessionId: string;
  /** The component the input goes to (the one that scheduled it). */
  readonly component: string;
  readonly key: string;
  /** Epoch ms. */
  readonly at: number;
  readonly input: JsonValue;
}

export interface WakeTimer {
  /** Arms (or re-arms) the wake-up with this session, component and key. */
  schedule(wakeup: Wakeup): Promise<void>;
  cancel(sessionId: string, component: string, key: string): Promise<void>;
  /** Starts delivering due wake-ups from this process. A rejection of `fire` is retried. */
  start(fire: (wakeup: Wakeup) => Promise<void>, onError: (error: unknown) => void): void;
  /** Stops delivering from this process; `schedule` and `cancel` still work. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** One id for (session, component, key); `\u0000` appears in none of them. */
export function wakeupId(sessionId: string, component: string, key: string): string {
  return `${sessionId}\u0000${component}\u0000${key}`;
}

const RETRY_MS = 1_000;
const MAX_TRIES = 5;

class MemoryWakeTimer implements WakeTimer {
  private readonly pending = new Map<string, { wakeup: Wakeup; timer: ReturnType<typeof setTimeout> | undefined }>();
  private fire: ((wakeup: Wakeup) => Promise<void>) | undefined;
  private onError: (error: unknown) => void = () => undefined;

  async schedule(wakeup: Wakeup): Promise<void> {
    const id = wakeupId(wakeup.sessionId, wakeup.component, wakeup.key);
    this.clear(id);
    const entry = { wakeup, timer: undefined as ReturnType<typeof setTimeout> | undefined };
    this.pending.set(id, entry);
    if (this.fire) this.arm(id, entry, 0);
  }

  async cancel(sessionId: string, component: string, key: string): Promise<void> {
    this.clear(wakeupId(sessionId, component, key));
  }

  start(fire: (wakeup: Wakeup) => Promise<void>, onError: (error: unknown) => void): void {
    this.fire = fire;
    this.onError = onError;
    for (const [id, entry] of this.pending) if (entry.timer === undefined) this.arm(id, entry, 0);
  }

  async stop(): Promise<void> {
    this.fire = undefined;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  async close(): Promise<void> {
    await this.stop();
    this.pending.clear();
  }

  private clear(id: string): void {
    const entry = this.pending.get(id);
    if (entry) clearTimeout(entry.timer);
    this.pending.delete(id);
  }

  private arm(id: string, entry: { wakeup: Wakeup; timer: ReturnType<typeof setTimeout> | undefined }, tries: number): void {
    const delay = tries === 0 ? Math.max(0, entry.wakeup.at - Date.now()) : RETRY_MS * 2 ** (tries - 1);
    // setTimeout takes at most 2^31-1 ms (~24.8 days); a later deadline waits in steps.
    const step = Math.min(delay, 2_147_483_647);
    entry.timer = setTimeout(() => {
      if (this.pending.get(id) !== entry || !this.fire) return;
      if (tries === 0 && entry.wakeup.at > Date.now()) return this.arm(id, entry, 0);
      this.fire(entry.wakeup).then(
        () => {
          if (this.pending.get(id) === entry) this.pending.delete(id);
        },
        (error: unknown) => {
          this.onError(error);
          if (tries + 1 < MAX_TRIES && this.pending.get(id) === entry) this.arm(id, entry, tries + 1);
          else if (this.pending.get(id) === entry) this.pending.delete(id);
        },
      );
    }, step);
    // A pending wake-up never keeps a process alive by itself.
    entry.timer.unref?.();
  }
}

/** Wake-ups on timers in this process (sessions in memory). */
export function createMemoryWakeTimer(): WakeTimer {
  return new MemoryWakeTimer();
}
