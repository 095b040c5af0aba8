/**
 * The Redis session store, for distributed mode: every host of a topology (and the API gateway)
 * shares sessions through it. `ioredis` is an optional peer dependency, loaded on first use.
 *
 * Layout (all keys under `prefix`, default `woodwork:<namespace>`):
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<prefix>:session:<id>` | hash | `created`, `active`, `expires` (epoch ms), `meta` (JSON), `s:<component>:<key>` (state, JSON) |
 * | `<prefix>:sessions:expiry` | sorted set | session ids scored by `expires`, for a sweeper (the runtime uses BullMQ timers instead, bullmq-timer.ts) |
 * | `<prefix>:turn:<id>:<turn>` | string | open branches of a turn (INCRBY), expiring after an hour |
 * | `<prefix>:record:<key>` | string | a record (JSON) with its own TTL: the gateway's idempotency keys |
 *
 * Session hashes also carry a Redis TTL a minute past `expires`, so nothing outlives its session
 * even when no sweeper runs. Each multi-step change is one Lua script, so it is atomic.
 */
import { WoodworkRuntimeError } from '../errors.js';
import type { JsonValue, SessionInfo } from '../types.js';
import type { SessionStore } from './store.js';

/** The slice of an ioredis client this store uses (typed structurally: ioredis is optional). */
interface RedisClient {
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  hget(key: string, field: string): Promise<string | null>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  hdel(key: string, ...fields: string[]): Promise<number>;
  hkeys(key: string): Promise<string[]>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

export interface RedisSessionStoreOptions {
  /** `redis://host:port/db` (or `rediss://`). */
  readonly url: string;
  /** Key prefix. Default `woodwork`; the runtime passes `woodwork:<namespace>`. */
  readonly prefix?: string;
  /** How long a turn counter is kept. Default 1 hour: longer than any sane turn. */
  readonly turnTtlMs?: number;
}

const GRACE_MS = 60_000;

const CREATE = `
if redis.call('HSETNX', KEYS[1], 'created', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'active', ARGV[2], 'expires', ARGV[3], 'meta', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[3]) + ${GRACE_MS})
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
return 1`;

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'active', ARGV[1], 'expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[2]) + ${GRACE_MS})
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`;

// ARGV as TOUCH's, then the metadata key and the string it must hold. A value that is not a string
// (or metadata that is not a JSON object) never matches, as in the memory store's `===`.
const TOUCH_IF_METADATA = `
local meta = redis.call('HGET', KEYS[1], 'meta')
if not meta then return 0 end
local ok, decoded = pcall(cjson.decode, meta)
if not ok or type(decoded) ~= 'table' or decoded[ARGV[4]] ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'active', ARGV[1], 'expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[2]) + ${GRACE_MS})
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1`;

// SET NX and, when the key is held, what it holds, in one step: a caller that lost the race learns
// at once what the winner stored.
const PUT_RECORD_IF_ABSENT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return false end
return redis.call('GET', KEYS[1])`;

const PUT_RECORD = `redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))`;

const GET_RECORD = `return redis.call('GET', KEYS[1])`;

const DELETE = `
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return removed`;

// ARGV: now, limit, session key prefix. Returns the ids this caller removed.
const CLAIM_EXPIRED = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('DEL', ARGV[3] .. id)
    table.insert(claimed, id)
  end
end
return claimed`;

// ARGV: now, id. 1 when this caller removed the expired session.
const CLAIM_IF_EXPIRED = `
local expires = redis.call('HGET', KEYS[1], 'expires')
if not expires or tonumber(expires) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1`;

const SET_STATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

const ADJUST_TURN = `
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if value == 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`;

async function loadRedis(): Promise<new (url: string, options: Record<string, unknown>) => RedisClient> {
  try {
    const module = (await import('ioredis')) as unknown as { default: new (url: string, options: Record<string, unknown>) => RedisClient };
    return module.default;
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_DRIVER_MISSING', 'install ioredis to keep sessions in Redis (npm install ioredis)', {
      cause: error,
    });
  }
}

class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  private readonly sessionPrefix: string;
  private readonly expiryKey: string;
  private readonly turnPrefix: string;
  private readonly recordPrefix: string;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    prefix: string,
    private readonly turnTtlMs: number,
  ) {
    this.sessionPrefix = `${prefix}:session:`;
    this.expiryKey = `${prefix}:sessions:expiry`;
    this.turnPrefix = `${prefix}:turn:`;
    this.recordPrefix = `${prefix}:record:`;
  }

  private key(id: string): string {
    return this.sessionPrefix + id;
  }

  async create(info: SessionInfo): Promise<boolean> {
    const result = await this.client.eval(
      CREATE,
      2,
      this.key(info.id),
      this.expiryKey,
      info.createdAt,
      info.lastActiveAt,
      info.expiresAt,
      JSON.stringify(info.metadata),
      info.id,
    );
    return result === 1;
  }

  async get(id: string): Promise<SessionInfo | undefined> {
    const [created, active, expires, meta] = await this.client.hmget(this.key(id), 'created', 'active', 'expires', 'meta');
    if (created === null || created === undefined) return undefined;
    return {
      id,
      createdAt: Number(created),
      lastActiveAt: Number(active),
      expiresAt: Number(expires),
      metadata: meta ? (JSON.parse(meta) as SessionInfo['metadata']) : {},
    };
  }

  async touch(id: string, lastActiveAt: number, expiresAt: number): Promise<boolean> {
    return (await this.client.eval(TOUCH, 2, this.key(id), this.expiryKey, lastActiveAt, expiresAt, id)) === 1;
  }

  async touchIfMetadata(id: string, lastActiveAt: number, expiresAt: number, key: string, value: string): Promise<boolean> {
    return (await this.client.eval(TOUCH_IF_METADATA, 2, this.key(id), this.expiryKey, lastActiveAt, expiresAt, id, key, value)) === 1;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.client.eval(DELETE, 2, this.key(id), this.expiryKey, id)) === 1;
  }

  async claimExpired(now: number, limit: number): Promise<string[]> {
    return (await this.client.eval(CLAIM_EXPIRED, 1, this.expiryKey, now, limit, this.sessionPrefix)) as string[];
  }

  async claimIfExpired(id: string, now: number): Promise<boolean> {
    return (await this.client.eval(CLAIM_IF_EXPIRED, 2, this.key(id), this.expiryKey, now, id)) === 1;
  }

  async getState(id: string, scope: string, key: string): Promise<JsonValue | undefined> {
    const value = await this.client.hget(this.key(id), `s:${scope}:${key}`);
    return value === null ? undefined : (JSON.parse(value) as JsonValue);
  }

  async setState(id: string, scope: string, key: string, value: JsonValue): Promise<void> {
    await this.client.eval(SET_STATE, 1, this.key(id), `s:${scope}:${key}`, JSON.stringify(value));
  }

  async deleteState(id: string, scope: string, key: string): Promise<void> {
    await this.client.hdel(this.key(id), `s:${scope}:${key}`);
  }

  async clearScope(scope: string): Promise<void> {
    const field = `s:${scope}:`;
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', `${this.sessionPrefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const fields = (await this.client.hkeys(key)).filter((name) => name.startsWith(field));
        if (fields.length > 0) await this.client.hdel(key, ...fields);
      }
    } while (cursor !== '0');
  }

  async adjustTurn(id: string, turnId: string, delta: number): Promise<number> {
    return Number(await this.client.eval(ADJUST_TURN, 1, `${this.turnPrefix}${id}:${turnId}`, delta, this.turnTtlMs));
  }

  async putRecordIfAbsent(key: string, value: JsonValue, ttlMs: number): Promise<JsonValue | undefined> {
    const held = await this.client.eval(PUT_RECORD_IF_ABSENT, 1, this.recordPrefix + key, JSON.stringify(value), Math.max(1, Math.round(ttlMs)));
    return typeof held === 'string' ? (JSON.parse(held) as JsonValue) : undefined;
  }

  async putRecord(key: string, value: JsonValue, ttlMs: number): Promise<void> {
    await this.client.eval(PUT_RECORD, 1, this.recordPrefix + key, JSON.stringify(value), Math.max(1, Math.round(ttlMs)));
  }

  async getRecord(key: string): Promise<JsonValue | undefined> {
    const held = await this.client.eval(GET_RECORD, 1, this.recordPrefix + key);
    return typeof held === 'string' ? (JSON.parse(held) as JsonValue) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Connects to Redis and returns the store; rejects with an actionable error when it cannot. */
export async function createRedisSessionStore(options: RedisSessionStoreOptions): Promise<SessionStore> {
  const Redis = await loadRedis();
  const client = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true });
  client.on('error', () => undefined); // reconnects are ioredis's job; failed commands reject to their callers
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new WoodworkRuntimeError('WW_RUNTIME_STATE', `cannot connect to the session store at ${redactUrl(options.url)}`, {
      cause: error,
      hint: 'check that Redis is running and the URL is right',
      isRetryable: true,
    });
  }
  return new RedisSessionStore(client, options.prefix ?? 'woodwork', options.turnTtlMs ?? 3_600_000);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
