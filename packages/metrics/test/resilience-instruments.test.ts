// The instruments of contained failures (the runtime's `timeout`, `retry`, `circuit_breaker`,
// `fallback`, `max_concurrency`): what a dashboard reads.
import { describe, expect, it } from 'vitest';

import { createMetricsEmitter } from '../src/index.js';
import { inMemorySdk } from './support/sdk.js';

const component = { 'woodwork.component.name': 'llm' };

describe('contained-failure instruments', () => {
  it('count timeouts and fallbacks, gauge each downstream circuit apart, and track messages waiting for a slot', async () => {
    await using sdk = inMemorySdk();
    const metrics = createMetricsEmitter({ component: 'llm', meterProvider: sdk.meterProvider });
    metrics.recordTimeout();
    metrics.recordTimeout();
    metrics.recordFallback();
    metrics.recordCircuitState('openai', 'open');
    metrics.recordCircuitState('search', 'half_open');
    metrics.recordCircuitState('llm', 'closed');
    metrics.recordWaiting(1);
    metrics.recordWaiting(1);
    metrics.recordWaiting(-1);
    expect(await sdk.reader.value('woodwork.component.timeouts', component)).toBe(2);
    expect(await sdk.reader.value('woodwork.component.fallbacks', component)).toBe(1);
    expect(await sdk.reader.value('woodwork.component.circuit.state', { ...component, 'woodwork.downstream.name': 'openai' })).toBe(2);
    expect(await sdk.reader.value('woodwork.component.circuit.state', { ...component, 'woodwork.downstream.name': 'search' })).toBe(1);
    expect(await sdk.reader.value('woodwork.component.circuit.state', { ...component, 'woodwork.downstream.name': 'llm' })).toBe(0);
    expect(await sdk.reader.value('woodwork.component.messages.waiting', component)).toBe(1);
    metrics.recordCircuitState('openai', 'closed');
    expect(await sdk.reader.value('woodwork.component.circuit.state', { ...component, 'woodwork.downstream.name': 'openai' })).toBe(0);
  });

  it('cost nothing and never fail with nothing configured', () => {
    const metrics = createMetricsEmitter({ component: 'llm' });
    expect(() => {
      metrics.recordTimeout();
      metrics.recordFallback();
      metrics.recordCircuitState('openai', 'open');
      metrics.recordWaiting(1);
    }).not.toThrow();
  });
});
