import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';

import { WoodworkMetricsError, createMetricsEmitter } from '../src/index.js';
import { loadPeer } from '../src/node/load-peer.js';
import { type Telemetry, startTelemetry } from '../src/node/index.js';
import { allMetrics, allSpans, attribute, eventually, startOtlpReceiver } from './support/otlp-receiver.js';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

describe('OTLP export', () => {
  it('turns on by itself when OTEL_EXPORTER_OTLP_ENDPOINT is set, and exports metrics and spans as OTLP/JSON', async () => {
    await using receiver = await startOtlpReceiver();
    telemetry = await startTelemetry({
      serviceName: 'woodwork-agent',
      resourceAttributes: { 'service.instance.id': 'agent-0' },
      prometheus: false,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.endpoint}/` },
    });
    expect(telemetry.otlpEnabled).toBe(true);
    const metrics = createMetricsEmitter({ component: 'agent_001', customMetrics: ['response_time'] });
    const model = metrics.model({ provider: 'openai', model: 'gpt-4o' });
    const activeInside = await metrics.runStep({ sessionId: 's-1', eventType: 'input.received' }, (step) => {
      step.recordUsage(model, { inputTokens: 200, outputTokens: 50 });
      step.recordCustom('response_time', 1.5);
      return trace.getActiveSpan();
    });
    metrics.recordQueueDepth(2);
    await telemetry.forceFlush();

    const exported = await eventually(() => {
      const names = new Set(allMetrics(receiver).map((metric) => metric.name));
      return names.has('gen_ai.client.token.usage') ? allMetrics(receiver) : undefined;
    }, 10_000, 'OTLP metrics');
    expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
    const resource = receiver.metrics[0]!.resourceMetrics[0]!.resource;
    expect(attribute(resource.attributes, 'service.name')).toBe('woodwork-agent');
    expect(attribute(resource.attributes, 'service.instance.id')).toBe('agent-0');
    const byName = new Map(exported.map((metric) => [metric.name, metric]));
    expect(byName.get('woodwork.gen_ai.cost')!.sum!.dataPoints[0]!.asDouble).toBe(0.001);
    expect(byName.get('woodwork.custom.response_time')!.histogram!.dataPoints[0]!.sum).toBe(1.5);
    expect(Number(byName.get('woodwork.component.queue.depth')!.gauge!.dataPoints[0]!.asDouble ?? byName.get('woodwork.component.queue.depth')!.gauge!.dataPoints[0]!.asInt)).toBe(2);
    expect(byName.get('woodwork.component.processing.duration')!.unit).toBe('s');

    const [span] = await eventually(() => (allSpans(receiver).length > 0 ? allSpans(receiver) : undefined), 10_000, 'OTLP spans');
    expect(span).toMatchObject({ name: 'step agent_001', serviceName: 'woodwork-agent' });
    expect(attribute(span!.attributes, 'woodwork.session.id')).toBe('s-1');
    // runStep ran the work in the step's context (the async-hooks context manager is registered).
    expect(activeInside?.spanContext().spanId).toBe(span!.spanId);
    await telemetry.shutdown(); // before the receiver goes: a final export to nobody is retried for seconds
  });

  it('stays off without an endpoint, and when turned off explicitly', async () => {
    telemetry = await startTelemetry({ serviceName: 'local', env: {} });
    expect(telemetry.otlpEnabled).toBe(false);
    expect(telemetry.tracerProvider).toBeNull();
    await telemetry.shutdown();
    telemetry = await startTelemetry({ serviceName: 'local', otlp: false, env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' } });
    expect(telemetry.otlpEnabled).toBe(false);
  });

  it('says which package to install when an SDK package is missing', async () => {
    const missing = '@opentelemetry/sdk-does-not-exist';
    const error = await loadPeer(missing, 'startTelemetry', () => import(/* @vite-ignore */ missing)).catch((caught: unknown) => caught);
    expect(WoodworkMetricsError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'WW_METRICS_SDK_MISSING' });
    expect((error as Error).message).toContain(`startTelemetry needs ${missing}, which is not installed. Install it next to @woodwork/metrics: npm install ${missing}@latest`);
  });

  it('validates the service name', async () => {
    await expect(startTelemetry({ serviceName: '' })).rejects.toThrow(/serviceName/);
  });
});
