/**
 * The session store contract: where sessions, their per-component state and the turn counters
 * live. In memory when embedded (`createMemorySessionStore`), in Redis when distributed
 * (`createRedisSessionStore`), so that every host of a topology sees the same sessions.
 *
 * A store is a dumb backend: the session manager (manager.ts) owns ids, timeouts and events.
 * Every method is atomic on its own; `delete`, `claimExpired` and `claimIfExpired` tell exactly one
 * caller that it removed a session, so `session.ended` is emitted once even with many hosts sweeping.
 */
import type { JsonValue, SessionInfo } from '../types.js';

export interface SessionStore extends AsyncDisposable {
  /** `memory`, `redis`, … */
  readonly kind: string;
  /** Stores a new session; false (and nothing changed) when the id exists. */
  create(info: SessionInfo): Promise<boolean>;
  get(id: string): Promise<SessionInfo | undefined>;
  /** Moves `lastActiveAt` and `expiresAt`; false when the session does not exist. */
  touch(id: string, lastActiveAt: number, expiresAt: number): Promise<boolean>;
  /**
   * `touch`, only when the session's metadata has the string `value` under `key`: false, and nothing
   * changed, when the session does not exist or its metadata says otherwise. The gateway sends a
   * turn this way, so checking the session's owner and touching it cost one round trip. Optional:
   * without it the session manager reads the session, compares, then touches.
   */
  touchIfMetadata?(id: string, lastActiveAt: number, expiresAt: number, key: string, value: string): Promise<boolean>;
  /** Removes the session and its state; true for the one caller that removed it. */
  delete(id: string): Promise<boolean>;
  /** Removes up to `limit` sessions whose `expiresAt` has passed and returns their ids. */
  claimExpired(now: number, limit: number): Promise<string[]>;
  /** Removes one session if its `expiresAt` has passed; true for the one caller that removed it (a session timer). */
  claimIfExpired(id: string, now: number): Promise<boolean>;
  /** One value of a component's (`scope`) state in a session. */
  getState(id: string, scope: string, key: string): Promise<JsonValue | undefined>;
  setState(id: string, scope: string, key: string, value: JsonValue): Promise<void>;
  deleteState(id: string, scope: string, key: string): Promise<void>;
  /** Forgets one component's state in every session (its code changed in a hot reload). */
  clearScope(scope: string): Promise<void>;
  /**
   * Adds `delta` to a turn's count of open branches and returns the new count (a missing counter
   * counts from 0). The runtime starts a turn at 1, adds for fan-out, subtracts as branches end.
   */
  adjustTurn(id: string, turnId: string, delta: number): Promise<number>;
  /**
   * Records: values kept beside the sessions for `ttlMs`, shared by every runtime of a topology
   * (the gateway's `Idempotency-Key`s). Stores `value` under `key` unless the key holds a value
   * that has not expired: undefined when it stored, else the value held (left unchanged), in one
   * atomic step. Optional, like the two below: a store without them cannot serve idempotency keys.
   */
  putRecordIfAbsent?(key: string, value: JsonValue, ttlMs: number): Promise<JsonValue | undefined>;
  /** Stores `value` under `key` for `ttlMs`, replacing what it held. */
  putRecord?(key: string, value: JsonValue, ttlMs: number): Promise<void>;
  /** The value under `key`, or undefined when there is none or it expired. */
  getRecord?(key: string): Promise<JsonValue | undefined>;
  close(): Promise<void>;
}
