import { describe, expect, it } from 'vitest';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { startScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';
import { inMemoryTelemetry } from './support/telemetry.js';

describe('usage and cost', () => {
  it.each([
    { type: 'openai', model: 'gpt-4o-mini', provider: 'openai', base: 'openaiBaseUrl', cost: (1000 * 0.15 + 500 * 0.6) / 1e6 },
    { type: 'claude', model: 'claude-sonnet-4-5', provider: 'anthropic', base: 'anthropicBaseUrl', cost: (1000 * 3 + 500 * 15) / 1e6 },
    { type: 'ollama', model: 'llama3.2', provider: 'ollama', base: 'ollamaBaseUrl', cost: 0 },
  ] as const)('$type records tokens, duration, time to first chunk and the estimated cost (GenAI conventions)', async ({ type, model, provider, base, cost }) => {
    await using telemetry = inMemoryTelemetry();
    await using server = await startScriptedServer();
    server.enqueue({ text: ['a', 'b', 'c'], usage: { inputTokens: 1000, outputTokens: 500 } });
    await using files = await project({ 'main.ww': `chat = llm ${type} { model = "${model}", api_key = "sk-x", base_url = "${server[base]}" }\n` });
    await using runtime = await started(await files.load(), { metrics: { meterProvider: telemetry.meterProvider, events: true } });
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    expect((await runtime.ask(sessionId, 'count')).text).toBe('abc');
    const seen = await eventsUntil(events, 'metrics.component_performance');

    const where = { 'gen_ai.provider.name': provider, 'gen_ai.request.model': model, 'gen_ai.operation.name': 'chat', 'woodwork.component.name': 'chat' };
    const tokens = async (kind: string) => ((await telemetry.reader.points('gen_ai.client.token.usage', { ...where, 'gen_ai.token.type': kind }))[0]?.value as Histogram | undefined)?.sum;
    expect(await tokens('input')).toBe(1000);
    expect(await tokens('output')).toBe(500);
    expect(((await telemetry.reader.points('gen_ai.client.operation.duration', where))[0]?.value as Histogram).count).toBe(1);
    expect(((await telemetry.reader.points('gen_ai.client.operation.time_to_first_chunk', where))[0]?.value as Histogram).count).toBe(1);
    expect(((await telemetry.reader.points('gen_ai.client.operation.time_per_output_chunk', where))[0]?.value as Histogram).count).toBe(2);
    const recordedCost = (await telemetry.reader.points('woodwork.gen_ai.cost', where))[0]?.value;
    expect(recordedCost ?? 0).toBeCloseTo(cost, 12);

    const performance = seen.find((event) => event.event_type === 'metrics.component_performance' && event.component_source === 'chat');
    expect(performance?.payload).toMatchObject({ tokens_processed: 1500, cost_estimate: cost });
  });
});
