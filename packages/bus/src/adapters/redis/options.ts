/**
 * The redis bus's options: defaults, and reading them from code or from the bus URL's query
 * (`redis://host:6379/0?partitions=16&retentionMs=3600000`), since hosts are configured by a URL in
 * an environment variable. Options passed in code win over the URL. README.md explains each one.
 */
import { WoodworkBusError } from '../../errors.js';

export interface RedisAdapterOptions {
  /**
   * Partition streams a NEW topic gets. Default 8. A partition is the unit of ordering and of
   * parallelism: at most `partitions` members of one group do work at once, and a session always
   * lives in one partition. Fixed when the topic is first used (stored in `<prefix>:{topic}:meta`);
   * later adapters use the stored count whatever they are configured with.
   */
  readonly partitions?: number;
  /** First segment of every key. Default `ww`. Lets several deployments share one Redis database. */
  readonly keyPrefix?: string;
  /**
   * Longest one XREADGROUP waits for new entries. Default 5 000 ms. Reads are woken early (CLIENT
   * UNBLOCK) whenever partitions change hands or the subscription closes, so this only bounds idle
   * round trips; it is further capped so a read always ends before this member's lease could.
   */
  readonly blockMs?: number;
  /**
   * How long a partition lease lives without renewal: how fast a crashed member's partitions move to
   * the others. Default: the subscription's `leaseMs` (the lease of its entries), clamped to
   * 1 000..10 000 ms. Renewed every third of it.
   */
  readonly leaseMs?: number;
  /**
   * How often an owner looks at its partitions' pending entries for work abandoned by other members.
   * Default 1 000 ms (every 100 ms while a session waits behind another member's unsettled entry).
   */
  readonly claimIntervalMs?: number;
  /** How often a topic is trimmed (by one process at a time). Default 30 000 ms. */
  readonly trimIntervalMs?: number;
  /**
   * Entries older than this are trimmed, once every group has acknowledged them. Default 24 h:
   * replay of a day's sessions for debugging and resuming streams.
   */
  readonly retentionMs?: number;
  /**
   * Entries a partition stream keeps at most, once every group has acknowledged the older ones.
   * Default 10 000 per partition (80 000 per topic with 8 partitions, tens of MB): bounds Redis
   * memory for busy topics. 0 turns the length bound off.
   */
  readonly maxLen?: number;
  /**
   * `doConnect` gives up after this long, with an error naming the address and what to check.
   * Default 2 000 ms: a reachable Redis answers in milliseconds, and a process started without
   * its broker should say so at once rather than after a long silence.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Reconnect attempts a queued command (publish, ack) survives before it rejects. Default 20, about
   * 10 s of broker downtime with ioredis' backoff: rides out a restart, yet a publisher learns of an
   * outage instead of waiting forever.
   */
  readonly maxRetriesPerRequest?: number;
  /** Passed to ioredis as is (tls, username, family, …); the bus sets the connection-behaviour ones. */
  readonly redisOptions?: Readonly<Record<string, unknown>>;
}

export interface ResolvedRedisOptions {
  readonly partitions: number;
  readonly keyPrefix: string;
  readonly blockMs: number;
  readonly leaseMs: number | undefined;
  readonly claimIntervalMs: number;
  readonly trimIntervalMs: number;
  readonly retentionMs: number;
  readonly maxLen: number;
  readonly connectTimeoutMs: number;
  readonly maxRetriesPerRequest: number;
  readonly redisOptions: Readonly<Record<string, unknown>>;
}

/** Query parameters that are ours; every other one is left for ioredis. */
export const OPTION_NAMES = [
  'partitions',
  'keyPrefix',
  'blockMs',
  'leaseMs',
  'claimIntervalMs',
  'trimIntervalMs',
  'retentionMs',
  'maxLen',
  'connectTimeoutMs',
  'maxRetriesPerRequest',
] as const;

function invalid(name: string, expected: string, value: unknown): never {
  throw new WoodworkBusError('WW_BUS_INVALID_OPTION', `redis bus option ${name} must be ${expected}; got ${String(value)}`);
}

function integer(name: string, value: unknown, fallback: number, minimum: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum) {
    invalid(name, `an integer >= ${minimum}`, value);
  }
  return number;
}

export function resolveRedisOptions(url: URL, options: Readonly<Record<string, unknown>>): ResolvedRedisOptions {
  const typed = options as RedisAdapterOptions;
  const read = (name: (typeof OPTION_NAMES)[number]): unknown => typed[name] ?? url.searchParams.get(name) ?? undefined;
  const keyPrefix = read('keyPrefix') ?? 'ww';
  if (typeof keyPrefix !== 'string' || keyPrefix.length === 0 || /[{}]/.test(keyPrefix)) {
    invalid('keyPrefix', 'a non-empty string without braces', keyPrefix);
  }
  const leaseRaw = read('leaseMs');
  return {
    partitions: integer('partitions', read('partitions'), 8, 1),
    keyPrefix,
    blockMs: integer('blockMs', read('blockMs'), 5_000, 10),
    leaseMs: leaseRaw === undefined ? undefined : integer('leaseMs', leaseRaw, 0, 300),
    claimIntervalMs: integer('claimIntervalMs', read('claimIntervalMs'), 1_000, 10),
    trimIntervalMs: integer('trimIntervalMs', read('trimIntervalMs'), 30_000, 100),
    retentionMs: integer('retentionMs', read('retentionMs'), 86_400_000, 0),
    maxLen: integer('maxLen', read('maxLen'), 10_000, 0),
    connectTimeoutMs: integer('connectTimeoutMs', read('connectTimeoutMs'), 2_000, 1),
    maxRetriesPerRequest: integer('maxRetriesPerRequest', read('maxRetriesPerRequest'), 20, 0),
    redisOptions: typed.redisOptions ?? {},
  };
}

/** The URL ioredis gets: ours without the bus's own query parameters. */
export function driverUrl(url: URL): string {
  const copy = new URL(url.href);
  for (const name of OPTION_NAMES) copy.searchParams.delete(name);
  return copy.href;
}
