/**
 * The session timer contract: one durable timer per session, shared by every host, in place of the
 * session manager's polling sweeper. The manager arms it when a session is created and disarms it
 * when the session is ended; it does not re-arm it on activity. When a timer fires, the manager
 * reads the session's `expiresAt` from the store: if activity moved it, the timer waits again until
 * then; if it has passed, the manager claims the session (exactly one caller can) and the timer
 * reports its end. So the store stays the one source of truth, and an input costs no timer call.
 *
 * `createBullmqSessionTimer` (bullmq-timer.ts) is the implementation, for sessions in Redis.
 */

export interface SessionTimer {
  /** Arms the timer of a new session for `expiresAt` (epoch ms), replacing one left from an earlier session with the same id. */
  schedule(id: string, expiresAt: number): Promise<void>;
  /** Disarms it. A timer that is firing at that moment is not stopped: it finds the session gone. */
  cancel(id: string): Promise<void>;
  /** Starts firing due timers in this process (any process may fire any session's timer). */
  start(handlers: SessionTimerHandlers): void;
  /** Stops firing in this process, after the one being fired; other processes fire the rest. `schedule` and `cancel` still work. */
  stop(): Promise<void>;
  /** `stop`, then releases the connection. */
  close(): Promise<void>;
}

export interface SessionTimerHandlers {
  /**
   * A session's timer fired. Resolve with `'claimed'` when this caller removed the expired session,
   * with its later `expiresAt` when activity moved it (the timer waits again until then), or
   * `undefined` when it is gone. A rejection is retried.
   */
  claim(id: string): Promise<'claimed' | number | undefined>;
  /** After a successful claim: report the end. When it throws, it is retried on its own (the claim is not repeated). */
  ended(id: string): void | Promise<void>;
  /** Errors with no caller to go to: a lost connection, a timer that failed for good. */
  onError(error: unknown): void;
}
