/**
 * The bus conformance suite against the redis adapter on a real Redis (WOODWORK_TEST_REDIS_URL).
 * Raw writes use plain ioredis; the broker restart uses the project's services script on the
 * same port and state directory as the Redis under test.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, it } from 'vitest';
import { REDIS_CAPABILITIES, redisPartitionFor, redisTopicKeys } from '../src/adapters/redis/index.js';
import { createBus } from '../src/create-bus.js';
import { runBusConformanceSuite } from '../src/testing/index.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
const services = fileURLToPath(new URL('../../../tools/services.sh', import.meta.url));

if (!url) {
  console.warn(
    '\n*** redis.conformance.test.ts SKIPPED: WOODWORK_TEST_REDIS_URL is not set. Start Redis with `bash tools/services.sh start redis` and export the URL it prints. ***\n',
  );
  describe('bus conformance: redis', () => {
    it.skip('needs WOODWORK_TEST_REDIS_URL', () => undefined);
  });
} else {
  let raw: Redis | undefined;
  const plain = () => {
    if (raw === undefined) {
      raw = new Redis(url);
      raw.on('error', () => {}); // the broker-restart scenario takes it down on purpose
    }
    return raw;
  };
  afterAll(() => raw?.disconnect());

  runBusConformanceSuite({
    name: 'redis',
    createBus: () => createBus(url),
    capabilities: REDIS_CAPABILITIES,
    url,
    // XADD with the plain client, to the partition stream a producer in any language would pick
    // (FNV-1a of the key, modulo the topic's partition count, see the adapter README).
    publishRaw: async (topic, body, key) => {
      const keys = redisTopicKeys('ww', topic);
      const partitions = Number((await plain().hget(keys.meta, 'partitions')) ?? 8);
      await plain().hsetnx(keys.meta, 'partitions', partitions);
      await plain().xadd(keys.stream(redisPartitionFor(key, partitions)), '*', 'envelope', Buffer.from(body));
    },
    // Stop and start the Redis under test on the same port and data directory (appendonly keeps
    // every acknowledged write across the restart).
    restartBroker: async () => {
      const port = new URL(url).port || '6379';
      await promisify(execFile)('bash', [services, 'restart', 'redis'], {
        env: { ...process.env, WOODWORK_REDIS_PORT: port },
        timeout: 60_000,
      });
    },
  });
}
