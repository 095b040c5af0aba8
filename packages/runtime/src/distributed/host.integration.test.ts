/**
 * A host in-process over real Redis (bus, sessions and registry): its endpoints, its registry
 * record, and `stop()` draining a message in flight. Skipped without WOODWORK_TEST_REDIS_URL,
 * unless brokers are required. The whole thing as processes is e2e/distributed.e2e.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { metrics } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, silentLogger } from '../index.js';
import { waitFor } from '../../test/helpers.js';
import { createRedisHostRegistry, loadHostTopology, startHost } from './index.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');
if (url === undefined) console.warn('[host.integration] SKIPPED: WOODWORK_TEST_REDIS_URL is not set (bash tools/services.sh start redis)');

function get(port: number, route: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: route }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(url === undefined)('a host over Redis', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ww-host-'));
    await writeFile(
      path.join(dir, 'main.ww'),
      'in = command_line { to = slow }\nslow = transform uppercase { to = out, pipes = ["pipes.ts::wait"] }\nout = console {}\n',
    );
    // The pipe marks when it starts waiting, so the test stops the host with a message surely in flight.
    await writeFile(
      path.join(dir, 'pipes.ts'),
      'export async function wait(payload: unknown) { (globalThis as { pipeWaiting?: number }).pipeWaiting = ((globalThis as { pipeWaiting?: number }).pipeWaiting ?? 0) + 1; await new Promise((r) => setTimeout(r, 800)); return payload; }\n',
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('registers with a TTL, lists, removes', async () => {
    const namespace = `reg-${randomUUID().slice(0, 8)}`;
    await using registry = await createRedisHostRegistry({ url: url!, namespace, ttlMs: 1_000 });
    const record = { instance: 'a-1', unit: 'a', components: ['a'], state: 'ready' as const, pid: 1, hostname: 'h', port: 1, bus: 'redis', startedAt: 0, stats: {} };
    await registry.put(record);
    await registry.put({ ...record, instance: 'b-1', unit: 'b' });
    expect((await registry.list()).map((entry) => entry.instance)).toEqual(['a-1', 'b-1']);
    await registry.remove('b-1');
    expect((await registry.list()).map((entry) => entry.instance)).toEqual(['a-1']);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await registry.list()).toEqual([]);
  });

  it('serves /health, /ready, /metrics, registers, and drains a message in flight on stop()', async () => {
    const namespace = `host-${randomUUID().slice(0, 8)}`;
    const topology = await loadHostTopology(path.join(dir, 'main.ww'), {});
    const host = await startHost({
      topology,
      unit: 'slow',
      busUrl: url!,
      sessionsUrl: url!,
      namespace,
      port: 0,
      listenHost: '127.0.0.1',
      logger: silentLogger,
      registryTtlMs: 3_000,
      telemetry: {
        meterProvider: metrics.getMeterProvider(),
        handleMetricsRequest: (_request, response) => void response.writeHead(200, { 'content-type': 'text/plain' }).end('# metrics\n'),
      },
    });
    const sink = new PassThrough();
    const client = createRuntime(topology, { bus: url!, sessions: { redis: url! }, namespace, components: ['in', 'out'], logger: silentLogger, io: { stdout: sink, stderr: sink } });
    await client.start();
    try {
      expect(await get(host.port, '/health')).toMatchObject({ status: 200 });
      expect(JSON.parse((await get(host.port, '/health')).body)).toMatchObject({ status: 'alive', unit: 'slow', state: 'ready' });
      expect(await get(host.port, '/ready')).toMatchObject({ status: 200 });
      expect(await get(host.port, '/metrics')).toEqual({ status: 200, body: '# metrics\n' });
      expect((await get(host.port, '/other')).status).toBe(404);

      await using registry = await createRedisHostRegistry({ url: url!, namespace });
      const [record] = await registry.list();
      expect(record).toMatchObject({ instance: host.instance, unit: 'slow', components: ['slow'], state: 'ready', pid: process.pid, port: host.port });

      expect((await client.ask(undefined, 'first')).text).toBe('FIRST');
      const waiting = () => (globalThis as { pipeWaiting?: number }).pipeWaiting ?? 0;
      const waitedBefore = waiting();
      const turn = await client.submit(undefined, 'in flight');
      await waitFor(() => waiting() > waitedBefore, 20_000);
      const stopping = host.stop();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ready = await get(host.port, '/ready');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).reason).toMatch(/draining/);
      await stopping;
      expect((await turn.result).text).toBe('IN FLIGHT');
      expect(await registry.list()).toEqual([]);
      await expect(get(host.port, '/health')).rejects.toThrow();
    } finally {
      await client.stop();
      await host.stop();
    }
  });

  it('answers /ready 503 with the bus detail while a subscription is down, and reports failed once the bus cannot recover', async () => {
    const namespace = `host-${randomUUID().slice(0, 8)}`;
    const topology = await loadHostTopology(path.join(dir, 'main.ww'), {});
    const host = await startHost({ topology, unit: 'slow', busUrl: url!, sessionsUrl: url!, namespace, port: 0, listenHost: '127.0.0.1', logger: silentLogger, registryTtlMs: 900 });
    try {
      const bus = host.runtime.bus as { health: () => Promise<unknown> };
      // What a Kafka bus answers while a consumer is being recreated (bus spec v1.5), then after giving up.
      bus.health = async () => ({ connected: true, ready: false, adapter: 'kafka', detail: 'the consumer of group g is down since …; recreating it' });
      const down = await get(host.port, '/ready');
      expect(down.status).toBe(503);
      expect(JSON.parse(down.body).reason).toBe('the kafka bus is not ready: the consumer of group g is down since …; recreating it');
      let failure: string | undefined;
      void host.failed.then((reason) => (failure = reason));
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(failure).toBeUndefined();
      bus.health = async () => ({ connected: false, ready: false, failed: true, adapter: 'kafka', detail: 'the consumer of group g could not be recreated' });
      // The registry heartbeat (every ttl / 3) looks.
      await waitFor(() => failure !== undefined, 10_000);
      expect(failure).toBe('the kafka bus cannot recover by itself: the consumer of group g could not be recreated');
    } finally {
      await host.stop();
    }
  });
});
