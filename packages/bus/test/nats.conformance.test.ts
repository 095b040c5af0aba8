// The conformance suite against a real nats-server with JetStream on loopback:
// `bash tools/services.sh start nats` and `eval "$(bash tools/services.sh env)"` first.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, describe, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import { runBusConformanceSuite } from '@woodwork/bus/testing';
import { NatsAdapter, recordSubject, topicNames } from '../src/adapters/nats/index.js';
import { retrying } from '../src/adapters/nats/retry.js';

const baseUrl = process.env.WOODWORK_TEST_NATS_URL;
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

if (!baseUrl) {
  describe('bus conformance: nats', () => {
    it.skip('SKIPPED: WOODWORK_TEST_NATS_URL is not set — run `bash tools/services.sh start nats` and `eval "$(bash tools/services.sh env)"`', () => undefined);
  });
} else {
  // Shorter leases than the defaults (1 s / 5 s), so the scenarios where a member dies fail
  // over in seconds. In the URL, so the suite's child process gets them too.
  const url = new URL(baseUrl);
  url.searchParams.set('heartbeatMs', '250');
  url.searchParams.set('leaseTtlMs', '2500');
  const busUrl = url.toString();
  const capabilities = new NatsAdapter(url, {}).capabilities;

  // The "plain client" of the malformed-record scenario: the NATS JetStream client, not our adapter.
  let plain: Promise<NatsConnection> | undefined;
  afterAll(async () => {
    if (plain) await (await plain).close();
  });

  runBusConformanceSuite({
    name: 'nats',
    createBus: () => createBus(busUrl),
    capabilities,
    url: busUrl,
    publishRaw: async (topic, body, key) => {
      plain ??= connect({ servers: url.host, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      const nc = await plain;
      const names = topicNames('ww', topic);
      // Retried like the adapter's own calls: in stress mode another copy may be restarting the broker.
      await retrying(async () => {
        const info = await (await jetstreamManager(nc)).streams.info(names.stream);
        const partitions = Number(/partitions=(\d+)/.exec(info.config.description ?? '')?.[1]);
        await jetstream(nc).publish(recordSubject('ww', names, partitions, key), body, { timeout: 5_000 });
      }, 30_000);
    },
    restartBroker: async () => {
      await promisify(execFile)('bash', ['tools/services.sh', 'restart', 'nats'], { cwd: repositoryRoot, timeout: 60_000 });
    },
  });
}
