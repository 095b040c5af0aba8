import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createMetricsEmitter } from '../src/index.js';
import { type Telemetry, prometheusContentType, startTelemetry } from '../src/node/index.js';
import { buildPrometheusParser, parsePrometheusText } from './support/prometheus-parser.js';

let telemetry: Telemetry | undefined;
// Building the Go parser may download its modules on a fresh machine.
beforeAll(() => buildPrometheusParser(), 240_000);
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function exercise() {
  const metrics = createMetricsEmitter({ component: 'agent_001', customMetrics: ['token_count'] });
  const step = metrics.startStep({ sessionId: 's-1' });
  step.recordUsage(metrics.model({ provider: 'anthropic', model: 'claude-haiku-4-5' }), { inputTokens: 10, outputTokens: 20 });
  step.recordCustom('token_count', 30);
  step.end();
  metrics.startStep({ sessionId: 's-2' }); // still in flight
  metrics.recordQueueDepth(5);
  metrics.recordRetry();
  metrics.recordDeadLetter();
  metrics.recordChunkLatency(0.012);
  const model = metrics.model({ provider: 'anthropic', model: 'claude-haiku-4-5' });
  model.recordDuration(0.8);
  model.recordTimeToFirstChunk(0.2);
  model.recordTimePerOutputChunk(0.01);
}

describe('the Prometheus endpoint', () => {
  it('serves /metrics on a port of its own, in the text format Prometheus parses', async () => {
    telemetry = await startTelemetry({ serviceName: 'woodwork-agent', prometheus: { port: 0, host: '127.0.0.1' }, otlp: false });
    exercise();
    expect(telemetry.prometheusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(telemetry.prometheusUrl!);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(prometheusContentType);
    const families = parsePrometheusText(await response.text());

    const types = Object.fromEntries(Object.entries(families).map(([name, family]) => [name, family.type]));
    expect(types).toMatchObject({
      woodwork_component_processing_duration: 'HISTOGRAM',
      woodwork_component_messages_in_flight: 'GAUGE',
      woodwork_component_queue_depth: 'GAUGE',
      woodwork_component_messages_retries_total: 'COUNTER',
      woodwork_component_messages_dead_lettered_total: 'COUNTER',
      woodwork_stream_chunk_latency: 'HISTOGRAM',
      process_memory_usage: 'GAUGE',
      gen_ai_client_token_usage: 'HISTOGRAM',
      gen_ai_client_operation_duration: 'HISTOGRAM',
      gen_ai_client_operation_time_to_first_chunk: 'HISTOGRAM',
      gen_ai_client_operation_time_per_output_chunk: 'HISTOGRAM',
      woodwork_gen_ai_cost_total: 'COUNTER',
      woodwork_custom_token_count: 'HISTOGRAM',
    });
    const value = (name: string) => families[name]!.samples[0]!.value;
    expect(value('woodwork_component_messages_in_flight')).toBe(1);
    expect(value('woodwork_component_queue_depth')).toBe(5);
    expect(value('woodwork_component_messages_retries_total')).toBe(1);
    expect(value('woodwork_component_messages_dead_lettered_total')).toBe(1);
    expect(value('woodwork_gen_ai_cost_total')).toBe(0.00011);
    expect(value('process_memory_usage')).toBeGreaterThan(1024 * 1024);
    expect(families.woodwork_custom_token_count!.samples[0]).toMatchObject({ count: 1, sum: 30 });
    const duration = families.gen_ai_client_operation_duration!.samples[0]!;
    expect(duration.labels).toMatchObject({
      gen_ai_operation_name: 'chat',
      gen_ai_provider_name: 'anthropic',
      gen_ai_request_model: 'claude-haiku-4-5',
      woodwork_component_name: 'agent_001',
    });
    // The advised buckets of the semantic conventions, plus +Inf.
    expect(duration.buckets!.map((bucket) => bucket.upperBound).slice(0, 3)).toEqual(['0.01', '0.02', '0.04']);
    expect(duration.buckets!.at(-1)).toEqual({ upperBound: '+Inf', cumulativeCount: 1 });
    expect(families.target_info!.samples[0]!.labels.service_name).toBe('woodwork-agent');
  });

  it('mounts on a host server beside /health and /ready', async () => {
    telemetry = await startTelemetry({ serviceName: 'woodwork-host', otlp: false });
    const current = telemetry;
    expect(current.prometheusUrl).toBeNull();
    exercise();
    const host = createServer((request, response) => {
      if (request.url === '/metrics') return current.handleMetricsRequest(request, response);
      if (request.url === '/health' || request.url === '/ready') return void response.end('ok');
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
      expect(await (await fetch(`${base}/health`)).text()).toBe('ok');
      const response = await fetch(`${base}/metrics`);
      expect(response.headers.get('content-type')).toBe(prometheusContentType);
      const families = parsePrometheusText(await response.text());
      expect(families.gen_ai_client_token_usage!.samples).toHaveLength(2);
      expect(parsePrometheusText(await current.renderPrometheus())).toHaveProperty('woodwork_gen_ai_cost_total');
    } finally {
      await new Promise<void>((resolve) => host.close(() => resolve()));
    }
  });

  it('can be turned off', async () => {
    telemetry = await startTelemetry({ serviceName: 'quiet', prometheus: false, otlp: false });
    await expect(telemetry.renderPrometheus()).rejects.toThrow(/prometheus is turned off/);
  });

  it('refuses a second global registration until the first is shut down', async () => {
    telemetry = await startTelemetry({ serviceName: 'first', otlp: false });
    await expect(startTelemetry({ serviceName: 'second', otlp: false })).rejects.toMatchObject({
      code: 'WW_METRICS_ALREADY_STARTED',
    });
    await telemetry.shutdown();
    telemetry = await startTelemetry({ serviceName: 'second', otlp: false });
    const side = await startTelemetry({ serviceName: 'side', otlp: false, registerGlobal: false });
    await side.shutdown();
  });
});
