/**
 * The host registry: where every running host says "I am here, I run these components, this is my
 * health", with a time to live, so `woodwork status` (and anything else) can list the instances of
 * a topology wherever they run — `woodwork up` on this machine, containers on a cluster.
 *
 * It lives in the session store's backend, Redis. A distributed run needs Redis for its sessions
 * whatever its bus is (turn counters and component state must be shared by every host), so the
 * registry adds no new dependency; see README.md ("The registry") for why it is not on the bus.
 *
 * Layout (prefix `woodwork:<namespace>`, the session store's):
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<prefix>:hosts` | sorted set | instance ids scored by when their record expires |
 * | `<prefix>:host:<instance>` | string | the `HostRecord` as JSON, with a Redis TTL of `ttlMs` |
 *
 * A host rewrites its record every `ttlMs / 3`; a host that dies stops doing so and disappears
 * after at most `ttlMs`. A host that stops cleanly removes its record at once.
 */
import { hostname } from 'node:os';
import { WoodworkRuntimeError } from '../errors.js';
import type { ComponentStats } from '../host.js';

/** What a host says about itself. */
export interface HostRecord {
  /** Unique per process: `<unit>-<hostname>-<pid>-<random>`. */
  readonly instance: string;
  /** The unit it runs (a `vm server` group or a component name). */
  readonly unit: string;
  readonly components: readonly string[];
  /** `starting` until the runtime runs, `ready` while it takes work, `draining` after SIGTERM. */
  readonly state: 'starting' | 'ready' | 'not-ready' | 'draining';
  readonly pid: number;
  readonly hostname: string;
  /** The port of `/health`, `/ready` and `/metrics`. */
  readonly port: number;
  /** The bus adapter (`redis`, `nats`, `kafka`). */
  readonly bus: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly heartbeatAt: number;
  readonly expiresAt: number;
  /** Counters per hosted component at the last heartbeat. */
  readonly stats: Readonly<Record<string, Readonly<ComponentStats>>>;
}

export interface HostRegistry extends AsyncDisposable {
  /** Writes (or refreshes) a record; it expires `ttlMs` after this call unless written again. */
  put(record: Omit<HostRecord, 'heartbeatAt' | 'expiresAt'>): Promise<void>;
  /** Removes a record at once (a clean stop). */
  remove(instance: string): Promise<void>;
  /** Every record that has not expired, sorted by unit then instance. */
  list(): Promise<HostRecord[]>;
  /** How long a record lives without a heartbeat. */
  readonly ttlMs: number;
  close(): Promise<void>;
}

export interface RedisHostRegistryOptions {
  /** `redis://host:port/db`: the session store's Redis. */
  readonly url: string;
  /** The topology's namespace (`woodwork` by default); the key prefix is `woodwork:<namespace>`. */
  readonly namespace: string;
  /** Key prefix. Default `woodwork:<namespace>`, the session store's. */
  readonly prefix?: string;
  /** Default 15 000 ms: a host that died leaves `woodwork status` within 15 s, and three heartbeats may be lost before that. */
  readonly ttlMs?: number;
}

interface RedisClient {
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient;

const PUT = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
return 1`;

const REMOVE = `
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`;

// ARGV: now, record key prefix. Returns the live records' JSON.
const LIST = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local value = redis.call('GET', ARGV[2] .. id)
  if value then table.insert(out, value) end
end
return out`;

async function loadRedis(): Promise<RedisConstructor> {
  try {
    return ((await import('ioredis')) as unknown as { default: RedisConstructor }).default;
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_DRIVER_MISSING', 'install ioredis to use the host registry (npm install ioredis)', { cause: error });
  }
}

class RedisHostRegistry implements HostRegistry {
  private readonly indexKey: string;
  private readonly recordPrefix: string;
  private closed = false;

  constructor(
    private readonly client: RedisClient,
    prefix: string,
    readonly ttlMs: number,
  ) {
    this.indexKey = `${prefix}:hosts`;
    this.recordPrefix = `${prefix}:host:`;
  }

  async put(record: Omit<HostRecord, 'heartbeatAt' | 'expiresAt'>): Promise<void> {
    const now = Date.now();
    const full: HostRecord = { ...record, heartbeatAt: now, expiresAt: now + this.ttlMs };
    await this.client.eval(PUT, 2, this.indexKey, this.recordPrefix + record.instance, record.instance, JSON.stringify(full), this.ttlMs, full.expiresAt, now);
  }

  async remove(instance: string): Promise<void> {
    await this.client.eval(REMOVE, 2, this.indexKey, this.recordPrefix + instance, instance);
  }

  async list(): Promise<HostRecord[]> {
    const values = (await this.client.eval(LIST, 1, this.indexKey, Date.now(), this.recordPrefix)) as string[];
    const records: HostRecord[] = [];
    for (const value of values) {
      try {
        records.push(JSON.parse(value) as HostRecord);
      } catch {
        // A record written by something else: not ours to show.
      }
    }
    return records.sort((a, b) => a.unit.localeCompare(b.unit) || a.instance.localeCompare(b.instance));
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

/** Connects to Redis; rejects with an error naming the URL and what to check when it cannot. */
export async function createRedisHostRegistry(options: RedisHostRegistryOptions): Promise<HostRegistry> {
  const Redis = await loadRedis();
  const client = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5_000 });
  client.on('error', () => undefined); // ioredis reconnects; failed commands reject to their callers
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new WoodworkRuntimeError('WW_RUNTIME_STATE', `cannot connect to the registry (Redis) at ${redactUrl(options.url)}`, {
      cause: error,
      hint: 'check that Redis is running and the sessions URL is right',
      isRetryable: true,
    });
  }
  return new RedisHostRegistry(client, options.prefix ?? `woodwork:${options.namespace}`, options.ttlMs ?? 15_000);
}

/**
 * Whether a record is of a process on this machine that is gone (killed before it could remove its
 * record, which then waits for its TTL): not a host any more.
 */
export function isStaleRecord(record: HostRecord): boolean {
  if (record.hostname !== hostname()) return false;
  try {
    process.kill(record.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A unique, bus-safe instance id for a host of `unit` in this process. */
export function hostInstanceId(unit: string): string {
  const random = Math.random().toString(36).slice(2, 6);
  return `${unit}-${hostname()}-${process.pid}-${random}`.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, 'i');
}

/** A URL with its password hidden, for messages and `woodwork status`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
