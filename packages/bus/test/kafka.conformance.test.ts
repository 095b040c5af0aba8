// The conformance suite against a real Apache Kafka 4 broker (KRaft) on loopback:
// `bash tools/services.sh start kafka` and `eval "$(bash tools/services.sh env)"` first.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, describe, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import { runBusConformanceSuite } from '@woodwork/bus/testing';
import { KAFKA_CAPABILITIES } from '../src/adapters/kafka/index.js';
import { kafkaTopicName } from '../src/adapters/kafka/topic-name.js';

const url = process.env.WOODWORK_TEST_KAFKA_URL;
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

if (!url) {
  describe('bus conformance: kafka', () => {
    it.skip('SKIPPED: WOODWORK_TEST_KAFKA_URL is not set — run `bash tools/services.sh start kafka` and `eval "$(bash tools/services.sh env)"`', () => undefined);
  });
} else {
  // The "plain client" of the malformed-record scenario: kafkajs used directly, not our adapter.
  const plain = new Kafka({ clientId: 'conformance-raw', brokers: [new URL(url).host], logLevel: logLevel.NOTHING });
  const rawProducer = plain.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  let rawConnected: Promise<void> | undefined;
  afterAll(async () => {
    if (rawConnected) await rawProducer.disconnect();
  });

  runBusConformanceSuite({
    name: 'kafka',
    createBus: () => createBus(url),
    capabilities: KAFKA_CAPABILITIES,
    url,
    publishRaw: async (topic, body, key) => {
      rawConnected ??= rawProducer.connect();
      await rawConnected;
      await rawProducer.send({ topic: kafkaTopicName(topic), messages: [{ key, value: Buffer.from(body) }] });
    },
    restartBroker: async () => {
      await promisify(execFile)('bash', ['tools/services.sh', 'restart', 'kafka'], { cwd: repositoryRoot, timeout: 180_000 });
    },
    // Session timeouts have a 3 s floor (see the README), and consumer-group joins are slow:
    // generous deadlines, same scenarios.
    leaseMs: 1_500,
    timeoutMs: 90_000,
    skip: {
      'poison-release':
        'with recordStarts=lazy (the default) a first hand-out is recorded within 20 ms after its handler starts (README, Attempts): a poison that kills at once runs maxAttempts + 1 times (measured: 3 of 2); the suite with recordStarts=before-handler below runs it',
    },
  });

  // Every start written before its handler runs: a poison that kills at once is counted each time.
  const beforeHandlerUrl = new URL(url);
  beforeHandlerUrl.searchParams.set('recordStarts', 'before-handler');
  runBusConformanceSuite({
    name: 'kafka (recordStarts=before-handler)',
    createBus: () => createBus(beforeHandlerUrl.toString()),
    capabilities: KAFKA_CAPABILITIES,
    url: beforeHandlerUrl.toString(),
    leaseMs: 1_500,
    timeoutMs: 90_000,
    only: ['nack-redelivery', 'session-order', 'consumer-killed', 'poison-crash', 'poison-innocent', 'poison-release'],
  });
}
