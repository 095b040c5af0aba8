/**
 * One session's path across three processes is one trace: three child processes pass an envelope
 * along through real Redis streams, each starting its step span from the envelope's `trace` and
 * exporting it over OTLP to the receiver started here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { parseTraceparent } from '../src/index.js';
import { allSpans, eventually, startOtlpReceiver } from './support/otlp-receiver.js';

const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const required = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
const hop = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hop.ts');

function exited(child: ChildProcess, name: string, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code}:\n${output()}`))));
  });
}

describe.skipIf(!redisUrl && !required)('a trace across three processes over Redis', () => {
  it('is one trace with parent/child links from process to process', { timeout: 60_000 }, async () => {
    if (!redisUrl) throw new Error('WOODWORK_TEST_REDIS_URL is not set; start Redis with `bash tools/services.sh start redis`');
    await using receiver = await startOtlpReceiver();
    const prefix = `ww-metrics-test:${randomUUID()}`;
    const streams = ['input', 'agent', 'output', 'done'].map((name) => `${prefix}:${name}`);
    const components = ['input_1', 'agent_1', 'output_1'];
    const redis = new Redis(redisUrl);
    try {
      const children = components.map((component, index) => {
        let output = '';
        const child = spawn(
          process.execPath,
          ['--conditions=@woodwork/source', '--import', 'tsx', hop, component, streams[index]!, streams[index + 1]!],
          {
            cwd: path.dirname(hop),
            env: { ...process.env, WOODWORK_TEST_REDIS_URL: redisUrl, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        child.stdout!.on('data', (chunk) => (output += chunk));
        child.stderr!.on('data', (chunk) => (output += chunk));
        return exited(child, component, () => output);
      });

      const sessionId = randomUUID();
      await redis.xadd(
        streams[0]!,
        '*',
        'envelope',
        JSON.stringify({
          message_id: randomUUID(),
          session_id: sessionId,
          event_type: 'input.received',
          component_source: 'test',
          component_target: 'input_1',
          timestamp: new Date().toISOString(),
          stream_id: null,
          is_stream: false,
          chunk_index: null,
          is_final: false,
          payload: { path: [] },
          routing: { next_component: null, pipe_chain: [] },
          attempt: 1,
          trace: null,
        }),
      );
      await Promise.all(children);

      const done = (await redis.xread('COUNT', 1, 'STREAMS', streams[3]!, '0')) as [string, [string, string[]][]][] | null;
      const delivered = JSON.parse(done?.[0]?.[1]?.[0]?.[1]?.[1] ?? 'null');
      expect(delivered.payload.path).toEqual(components);

      const spans = await eventually(() => (allSpans(receiver).length >= 3 ? allSpans(receiver) : undefined), 15_000, 'three spans');
      expect(spans).toHaveLength(3);
      const byService = new Map(spans.map((span) => [span.serviceName, span]));
      const [input, agent, output] = components.map((component) => byService.get(`woodwork-${component}`)!);
      expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
      expect(input!.parentSpanId ?? '').toBe('');
      expect(agent!.parentSpanId).toBe(input!.spanId);
      expect(output!.parentSpanId).toBe(agent!.spanId);
      expect(spans.map((span) => span.name).sort()).toEqual(components.map((component) => `step ${component}`).sort());
      // The envelope that left the last process carries the last span's context.
      expect(parseTraceparent(delivered.trace.traceparent)).toMatchObject({ traceId: input!.traceId, spanId: output!.spanId });
    } finally {
      await redis.del(...streams);
      redis.disconnect();
    }
  });
});
