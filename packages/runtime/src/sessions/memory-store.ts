/**
 * The in-memory session store: a Map per concern. What `createRuntime` uses unless told otherwise;
 * it lives as long as the runtime, in one process.
 */
import type { JsonValue, SessionInfo } from '../types.js';
import type { SessionStore } from './store.js';

interface Entry {
  info: SessionInfo;
  /** `scope\u0000key` → value. */
  state: Map<string, JsonValue> | undefined;
}

class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  private readonly sessions = new Map<string, Entry>();
  private readonly turns = new Map<string, number>();
  private readonly records = new Map<string, { value: JsonValue; expiresAt: number }>();

  async create(info: SessionInfo): Promise<boolean> {
    if (this.sessions.has(info.id)) return false;
    this.sessions.set(info.id, { info, state: undefined });
    return true;
  }

  async get(id: string): Promise<SessionInfo | undefined> {
    return this.sessions.get(id)?.info;
  }

  async touch(id: string, lastActiveAt: number, expiresAt: number): Promise<boolean> {
    const entry = this.sessions.get(id);
    if (!entry) return false;
    entry.info = { ...entry.info, lastActiveAt, expiresAt };
    return true;
  }

  async touchIfMetadata(id: string, lastActiveAt: number, expiresAt: number, key: string, value: string): Promise<boolean> {
    if (this.sessions.get(id)?.info.metadata[key] !== value) return false;
    return this.touch(id, lastActiveAt, expiresAt);
  }

  async delete(id: string): Promise<boolean> {
    return this.removeNow(id);
  }

  private removeNow(id: string): boolean {
    const existed = this.sessions.delete(id);
    if (existed) {
      const prefix = `${id}\u0000`;
      for (const key of this.turns.keys()) if (key.startsWith(prefix)) this.turns.delete(key);
    }
    return existed;
  }

  async claimExpired(now: number, limit: number): Promise<string[]> {
    const claimed: string[] = [];
    for (const [id, entry] of this.sessions) {
      if (claimed.length >= limit) break;
      if (entry.info.expiresAt <= now) claimed.push(id);
    }
    // Removed before the first await, so concurrent sweeps never claim the same session.
    for (const id of claimed) this.removeNow(id);
    return claimed;
  }

  async claimIfExpired(id: string, now: number): Promise<boolean> {
    const entry = this.sessions.get(id);
    return entry !== undefined && entry.info.expiresAt <= now && this.removeNow(id);
  }

  async getState(id: string, scope: string, key: string): Promise<JsonValue | undefined> {
    return this.sessions.get(id)?.state?.get(`${scope}\u0000${key}`);
  }

  async setState(id: string, scope: string, key: string, value: JsonValue): Promise<void> {
    const entry = this.sessions.get(id);
    if (!entry) return;
    (entry.state ??= new Map()).set(`${scope}\u0000${key}`, structuredClone(value));
  }

  async deleteState(id: string, scope: string, key: string): Promise<void> {
    this.sessions.get(id)?.state?.delete(`${scope}\u0000${key}`);
  }

  async clearScope(scope: string): Promise<void> {
    const prefix = `${scope}\u0000`;
    for (const entry of this.sessions.values()) {
      if (!entry.state) continue;
      for (const key of entry.state.keys()) if (key.startsWith(prefix)) entry.state.delete(key);
    }
  }

  async adjustTurn(id: string, turnId: string, delta: number): Promise<number> {
    const key = `${id}\u0000${turnId}`;
    const value = (this.turns.get(key) ?? 0) + delta;
    if (value === 0) this.turns.delete(key);
    else this.turns.set(key, value);
    return value;
  }

  // Synchronous inside, so that no other call runs between the check and the set.
  async putRecordIfAbsent(key: string, value: JsonValue, ttlMs: number): Promise<JsonValue | undefined> {
    const held = this.liveRecord(key);
    if (held !== undefined) return held;
    this.records.set(key, { value, expiresAt: Date.now() + ttlMs });
    return undefined;
  }

  async putRecord(key: string, value: JsonValue, ttlMs: number): Promise<void> {
    this.records.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  async getRecord(key: string): Promise<JsonValue | undefined> {
    return this.liveRecord(key);
  }

  private liveRecord(key: string): JsonValue | undefined {
    const record = this.records.get(key);
    if (record === undefined) return undefined;
    // Expired records go when they are next read: no timer per record.
    if (record.expiresAt <= Date.now()) {
      this.records.delete(key);
      return undefined;
    }
    return record.value;
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.turns.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export function createMemorySessionStore(): SessionStore {
  return new MemorySessionStore();
}
