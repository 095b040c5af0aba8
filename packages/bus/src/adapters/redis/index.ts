/**
 * `redis://` and `rediss://` — the bus over Redis Streams (Redis 6.2+, 7 recommended) through
 * ioredis, an optional peer dependency loaded on first connect. See README.md beside this file
 * for the design (partitions, leases, per-session lanes), the options and the capability table.
 */
import type { BusAdapterV1 } from '../../adapter.js';
import { RedisBusAdapter } from './redis-adapter.js';
import { resolveRedisOptions } from './options.js';

export type { RedisAdapterOptions } from './options.js';
export type { RedisBusAdapter } from './redis-adapter.js';
export { REDIS_CAPABILITIES } from './redis-adapter.js';
export { partitionFor as redisPartitionFor, topicKeys as redisTopicKeys } from './keys.js';
export { HANDOVER_CONSUMER as REDIS_HANDOVER_CONSUMER } from './scripts.js';

/**
 * `redis://[user:password@]host[:port][/db][?partitions=8&…]`. Query parameters named like the
 * options (README.md) set them; `options` passed in code win; the rest of the URL goes to ioredis.
 */
export function createRedisAdapter(url: URL, options: Readonly<Record<string, unknown>> = {}): BusAdapterV1 {
  return new RedisBusAdapter(url, resolveRedisOptions(url, options));
}
