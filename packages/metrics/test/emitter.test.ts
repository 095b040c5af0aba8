import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';

import { WoodworkMetricsError, createMetricsEmitter } from '../src/index.js';
import { inMemorySdk } from './support/sdk.js';

const component = { 'woodwork.component.name': 'agent_001' };
const incoming = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

describe('with nothing configured', () => {
  it('records to the void without failing', async () => {
    const metrics = createMetricsEmitter({ component: 'agent_001', customMetrics: ['token_count'] });
    const model = metrics.model({ provider: 'openai', model: 'gpt-4o-mini' });
    metrics.recordQueueDepth(3);
    metrics.recordRetry();
    metrics.recordDeadLetter();
    metrics.recordChunkLatency(0.004);
    metrics.recordProcessingTime(0.2);
    metrics.recordCustom('token_count', 12);
    model.recordDuration(1.5);
    model.recordTimeToFirstChunk(0.3);
    model.recordTimePerOutputChunk(0.02);
    expect(model.recordUsage({ inputTokens: 1234, outputTokens: 567 })).toBe(0.0005253);
    const step = metrics.startStep({ sessionId: 's-1' });
    expect(step.trace()).toBeNull();
    expect(step.end()).toBeNull();
    await expect(metrics.runStep({ sessionId: 's-1' }, () => 42)).resolves.toBe(42);
  });

  it('passes an incoming trace through unchanged, so the trace stays whole across a process without tracing', () => {
    const metrics = createMetricsEmitter({ component: 'agent_001' });
    const step = metrics.startStep({ sessionId: 's-1', trace: incoming });
    expect(step.span.isRecording()).toBe(false);
    expect(step.trace()).toEqual(incoming);
    step.end();
  });
});

describe('component instruments', () => {
  it('record processing time, in-flight messages, queue depth, retries, dead letters and chunk latency', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'agent_001', meterProvider: sdk.meterProvider });
    const first = metrics.startStep({ sessionId: 's-1' });
    const second = metrics.startStep({ sessionId: 's-2' });
    expect(await sdk.reader.value('woodwork.component.messages.in_flight', component)).toBe(2);
    first.end();
    second.end({ error: new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'x') });
    second.end(); // a second end changes nothing
    metrics.recordQueueDepth(7);
    metrics.recordQueueDepth(4);
    metrics.recordRetry();
    metrics.recordRetry();
    metrics.recordDeadLetter();
    metrics.recordChunkLatency(0.003);
    metrics.recordChunkLatency(0.03);

    expect(await sdk.reader.value('woodwork.component.messages.in_flight', component)).toBe(0);
    const ok = await sdk.reader.points('woodwork.component.processing.duration', component);
    expect(ok.map((point) => point.attributes)).toEqual([
      component,
      { ...component, 'error.type': 'WW_METRICS_INVALID_OPTION' },
    ]);
    expect(ok.map((point) => (point.value as { count: number }).count)).toEqual([1, 1]);
    expect(await sdk.reader.value('woodwork.component.queue.depth', component)).toBe(4);
    expect(await sdk.reader.value('woodwork.component.messages.retries', component)).toBe(2);
    expect(await sdk.reader.value('woodwork.component.messages.dead_lettered', component)).toBe(1);
    const latency = await sdk.reader.histogram('woodwork.stream.chunk.latency', component);
    expect(latency).toMatchObject({ count: 2, sum: 0.033 });
  });

  it('records seconds, with the advised buckets, and units OpenTelemetry expects', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'agent_001', meterProvider: sdk.meterProvider });
    metrics.recordProcessingTime(0.2);
    metrics.model({ provider: 'openai', model: 'gpt-4o' }).recordUsage({ inputTokens: 10, outputTokens: 20 });
    const all = await sdk.reader.metrics();
    expect(all.get('woodwork.component.processing.duration')?.descriptor.unit).toBe('s');
    expect(all.get('gen_ai.client.token.usage')?.descriptor.unit).toBe('{token}');
    const tokens = await sdk.reader.histogram('gen_ai.client.token.usage');
    expect(tokens?.buckets.boundaries.slice(0, 4)).toEqual([1, 4, 16, 64]);
  });

  it('observes process memory once per meter provider, however many emitters', async () => {
    await using sdk = inMemorySdk();
    createMetricsEmitter({ component: 'a', meterProvider: sdk.meterProvider });
    createMetricsEmitter({ component: 'b', meterProvider: sdk.meterProvider });
    const points = await sdk.reader.points('process.memory.usage');
    expect(points).toHaveLength(1);
    expect(points[0]!.value).toBeGreaterThan(1024 * 1024);
  });

  it('validates its options', () => {
    expect(() => createMetricsEmitter({ component: '' })).toThrow(/component must be a non-empty string/);
    expect(() => createMetricsEmitter({ component: 'a', customMetrics: ['9lives'] })).toThrow(WoodworkMetricsError);
    expect(() => createMetricsEmitter({ component: 'a', customMetrics: ['has space'] })).toThrow(/must start with a letter/);
    expect(() => createMetricsEmitter({ component: 'a', events: { publish: 'no' as never } })).toThrow(/publish must be a function/);
    expect(() => createMetricsEmitter({ component: 'a' }).startStep({ sessionId: '' })).toThrow(/sessionId/);
  });
});

describe('custom metrics declared in .ww', () => {
  it('records declared names as woodwork.custom.<name> histograms', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      customMetrics: ['token_count', 'response_time', 'token_count'],
      meterProvider: sdk.meterProvider,
    });
    expect(metrics.customMetrics).toEqual(['token_count', 'response_time']);
    const handle = metrics.customMetric('token_count');
    expect(metrics.customMetric('token_count')).toBe(handle);
    handle.record(10);
    metrics.recordCustom('token_count', 5);
    metrics.recordCustom('response_time', 0.25);
    expect(await sdk.reader.histogram('woodwork.custom.token_count', component)).toMatchObject({ count: 2, sum: 15 });
    expect(await sdk.reader.histogram('woodwork.custom.response_time', component)).toMatchObject({ count: 1, sum: 0.25 });
  });

  it('refuses an undeclared name with an error that says how to declare it', () => {
    const metrics = createMetricsEmitter({ component: 'agent_001', customMetrics: ['token_count', 'response_time'] });
    let caught: unknown;
    try {
      metrics.recordCustom('tokn_count', 1);
    } catch (error) {
      caught = error;
    }
    expect(WoodworkMetricsError.isInstance(caught)).toBe(true);
    const error = caught as WoodworkMetricsError;
    expect(error.code).toBe('WW_METRICS_UNDECLARED_CUSTOM_METRIC');
    expect(error.message).toContain('Did you mean "token_count"?');
    expect(error.message).toContain('metrics = { custom_metrics = ["tokn_count"] }');
    const step = metrics.startStep({ sessionId: 's' });
    expect(() => step.recordCustom('latency', 1)).toThrow(/not declared for component agent_001 \(declared: "token_count", "response_time"\)/);
    expect(() => createMetricsEmitter({ component: 'x' }).customMetric('a')).toThrow(/declared: none/);
  });
});

describe('GenAI instruments', () => {
  it('carry the semantic conventions attributes, bound once per model', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'agent_001', meterProvider: sdk.meterProvider });
    const model = metrics.model({ provider: 'claude', model: 'claude-sonnet-4-5' });
    expect(metrics.model({ provider: 'anthropic', model: 'claude-sonnet-4-5', operation: 'chat' })).toBe(model);
    expect(model).toMatchObject({ provider: 'anthropic', operation: 'chat', price: { inputPerMillion: 3, outputPerMillion: 15 } });
    model.recordUsage({ inputTokens: 100, outputTokens: 40 });
    model.recordDuration(1.25);
    model.recordDuration(0.5, 'timeout');
    model.recordTimeToFirstChunk(0.4);
    model.recordTimePerOutputChunk(0.02);

    const genAI = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-5',
      'woodwork.component.name': 'agent_001',
    };
    const tokens = await sdk.reader.points('gen_ai.client.token.usage');
    expect(tokens.map((point) => [point.attributes, (point.value as { sum: number }).sum])).toEqual([
      [{ ...genAI, 'gen_ai.token.type': 'input' }, 100],
      [{ ...genAI, 'gen_ai.token.type': 'output' }, 40],
    ]);
    const durations = await sdk.reader.points('gen_ai.client.operation.duration');
    expect(durations.map((point) => point.attributes)).toEqual([genAI, { ...genAI, 'error.type': 'timeout' }]);
    expect(await sdk.reader.histogram('gen_ai.client.operation.time_to_first_chunk', genAI)).toMatchObject({ count: 1, sum: 0.4 });
    expect(await sdk.reader.histogram('gen_ai.client.operation.time_per_output_chunk', genAI)).toMatchObject({ count: 1, sum: 0.02 });
    expect(await sdk.reader.value('woodwork.gen_ai.cost', genAI)).toBe(0.0009);
  });

  it('record tokens but no cost for a model without a price', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'agent_001', meterProvider: sdk.meterProvider });
    const model = metrics.model({ provider: 'openai_compatible', model: 'mystery' });
    expect(model.price).toBeNull();
    expect(model.recordUsage({ inputTokens: 5, outputTokens: 5 })).toBeNull();
    expect(await sdk.reader.points('gen_ai.client.token.usage')).toHaveLength(2);
    expect(await sdk.reader.points('woodwork.gen_ai.cost')).toHaveLength(0);
  });
});

describe('steps as spans', () => {
  it('start a consumer span, child of the envelope trace, and carry its own context onward', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'agent_001', tracerProvider: sdk.tracerProvider });
    const step = metrics.startStep({ sessionId: 's-1', trace: incoming, eventType: 'input.received', messageId: 'm-1' });
    const outgoing = step.trace();
    step.end();
    const [span] = sdk.spans.getFinishedSpans();
    expect(span).toMatchObject({
      name: 'step agent_001',
      kind: SpanKind.CONSUMER,
      attributes: {
        'woodwork.component.name': 'agent_001',
        'woodwork.session.id': 's-1',
        'woodwork.event_type': 'input.received',
        'messaging.message.id': 'm-1',
      },
    });
    expect(span!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(outgoing).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${span!.spanContext().spanId}-01` });
  });

  it('mark failures on the span and rethrow them from runStep', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'tool', tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider });
    await expect(
      metrics.runStep({ sessionId: 's-1' }, async () => {
        throw new TypeError('boom');
      }),
    ).rejects.toThrow('boom');
    const [span] = sdk.spans.getFinishedSpans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(span!.events.map((event) => event.name)).toEqual(['exception']);
    const [point] = await sdk.reader.points('woodwork.component.processing.duration');
    expect(point!.attributes['error.type']).toBe('TypeError');
  });

  it('give runStep work the step span and context', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'tool', tracerProvider: sdk.tracerProvider });
    const seen = await metrics.runStep({ sessionId: 's-1' }, (step) => ({
      stepSpan: trace.getSpan(step.context),
      span: step.span,
    }));
    expect(seen.stepSpan).toBe(seen.span);
  });
});
