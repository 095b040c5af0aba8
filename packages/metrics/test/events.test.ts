import { describe, expect, it, vi } from 'vitest';

import {
  type ComponentPerformanceEvent,
  type MetricsLogger,
  componentPerformanceEventType,
  createMetricsEmitter,
} from '../src/index.js';

function recordingLogger() {
  const lines: { level: 'debug' | 'warn'; message: string }[] = [];
  const logger: MetricsLogger = {
    debug: (message) => void lines.push({ level: 'debug', message }),
    warn: (message) => void lines.push({ level: 'warn', message }),
  };
  return { logger, lines };
}

describe('metrics.component_performance events', () => {
  it('are published once per step in the design document layout', async () => {
    const published: [string, ComponentPerformanceEvent][] = [];
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      customMetrics: ['token_count', 'response_time'],
      events: { publish: async (topic, event) => void published.push([topic, event]) },
    });
    const model = metrics.model({ provider: 'openai', model: 'gpt-4o-mini' });
    const step = metrics.startStep({ sessionId: 'uuid-1234-5678' });
    step.recordUsage(model, { inputTokens: 100, outputTokens: 50 });
    step.recordUsage(model, { inputTokens: 1134, outputTokens: 517 });
    step.recordCustom('token_count', 10);
    step.recordCustom('token_count', 1801);
    step.recordCustom('response_time', 0.4);
    const returned = step.end();
    await metrics.flush();

    expect(published).toHaveLength(1);
    const [topic, event] = published[0]!;
    expect(topic).toBe('woodwork.metrics');
    expect(event).toBe(returned);
    expect(Object.keys(event)).toEqual(['session_id', 'event_type', 'component_source', 'timestamp', 'payload']);
    expect(Object.keys(event.payload)).toEqual([
      'processing_time_ms',
      'memory_usage_mb',
      'tokens_processed',
      'input_tokens',
      'output_tokens',
      'cost_estimate',
      'custom_metrics',
    ]);
    expect(event).toMatchObject({
      session_id: 'uuid-1234-5678',
      event_type: 'metrics.component_performance',
      component_source: 'agent_001',
      payload: {
        tokens_processed: 1801,
        input_tokens: 1234,
        output_tokens: 567,
        cost_estimate: 0.0005253,
        custom_metrics: { token_count: 1801, response_time: 0.4 },
      },
    });
    expect(new Date(event.timestamp).toISOString()).toBe(event.timestamp);
    expect(event.payload.processing_time_ms).toBeGreaterThanOrEqual(0);
    expect(event.payload.memory_usage_mb).toBeGreaterThan(1);
    expect(componentPerformanceEventType).toBe('metrics.component_performance');
  });

  it("carry the step's trace context, in the incoming message's trace", async () => {
    const published: ComponentPerformanceEvent[] = [];
    const metrics = createMetricsEmitter({ component: 'agent_001', events: { publish: async (_topic, event) => void published.push(event) } });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    metrics.startStep({ sessionId: 's1', trace: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } }).end();
    metrics.startStep({ sessionId: 's2' }).end();
    await metrics.flush();

    expect(published).toHaveLength(2);
    expect(published[0]!.trace?.traceparent).toMatch(new RegExp(`^00-${traceId}-[\\da-f]{16}-01$`));
    // Without an incoming trace or a configured tracer there is no valid context to carry.
    expect(published[1]!.trace).toBeUndefined();
  });

  it('carry null tokens and cost for a step without model calls, and honour the topic option', async () => {
    const publish = vi.fn();
    const metrics = createMetricsEmitter({ component: 'tool_1', events: { publish, topic: 'metrics.custom' } });
    await metrics.runStep({ sessionId: 's' }, () => undefined);
    expect(publish).toHaveBeenCalledWith(
      'metrics.custom',
      expect.objectContaining({ payload: expect.objectContaining({ tokens_processed: null, input_tokens: null, output_tokens: null, cost_estimate: null, custom_metrics: {} }) }),
    );
  });

  it('count tokens but leave the cost null when no call had a known price', () => {
    const metrics = createMetricsEmitter({ component: 'llm', events: { publish: () => undefined } });
    const step = metrics.startStep({ sessionId: 's' });
    step.recordUsage(metrics.model({ provider: 'openai_compatible', model: 'local' }), { inputTokens: 3, outputTokens: 4 });
    expect(step.end()?.payload).toMatchObject({ tokens_processed: 7, cost_estimate: null });
  });

  it('are not built at all when off', () => {
    const metrics = createMetricsEmitter({ component: 'agent_001' });
    expect(metrics.startStep({ sessionId: 's' }).end()).toBeNull();
  });

  it('never fail the step when publishing fails; the first failure is a warning, the rest debug', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      logger,
      events: {
        publish: () => {
          calls++;
          if (calls === 1) throw new Error('bus closed');
          return Promise.reject(new Error('broker gone'));
        },
      },
    });
    for (let i = 0; i < 3; i++) expect(() => metrics.startStep({ sessionId: 's' }).end()).not.toThrow();
    await metrics.flush();
    expect(calls).toBe(3);
    expect(lines.map((line) => line.level)).toEqual(['warn', 'debug', 'debug']);
    expect(lines[0]!.message).toContain('publish of a metrics.component_performance event failed');
  });

  it('flush waits for publishes still in flight', async () => {
    let release!: () => void;
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      events: { publish: () => new Promise<void>((resolve) => (release = resolve)) },
    });
    metrics.startStep({ sessionId: 's' }).end();
    let flushed = false;
    const flushing = metrics.flush().then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(flushed).toBe(false);
    release();
    await flushing;
    expect(flushed).toBe(true);
  });
});
