/**
 * A scripted model streams three answers through a small LLM step; the token and cost figures
 * are then checked exactly in every place they surface: the step's bus event, the Prometheus text
 * (parsed by Prometheus' own parser) and the OTLP export (received and decoded here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type ComponentPerformanceEvent, type MetricsEmitter, type ModelMetrics, type TokenUsage, createMetricsEmitter } from '../src/index.js';
import { type Telemetry, startTelemetry } from '../src/node/index.js';
import { type OtlpDataPoint, type OtlpReceiver, allMetrics, attribute, startOtlpReceiver } from './support/otlp-receiver.js';
import { buildPrometheusParser, parsePrometheusText } from './support/prometheus-parser.js';

interface Turn {
  readonly model: 'gpt-4o' | 'gpt-4o-mini';
  readonly chunks: readonly string[];
  readonly usage: TokenUsage;
}

/** What the scripted provider answers, in order, with the usage it reports. */
const script: readonly Turn[] = [
  { model: 'gpt-4o-mini', chunks: ['Hel', 'lo', ' there'], usage: { inputTokens: 1234, outputTokens: 567 } },
  { model: 'gpt-4o-mini', chunks: ['Sure', '.'], usage: { inputTokens: 1, outputTokens: 92 } },
  { model: 'gpt-4o', chunks: ['Done', '!', '\n', 'Bye'], usage: { inputTokens: 1, outputTokens: 105 } },
];
// Exact decimal costs (dollars per million tokens: gpt-4o-mini 0.15/0.60, gpt-4o 2.50/10.00).
// Naive float arithmetic gives 0.00005534999999999999 and 0.0010524999999999998 for the last two.
const expectedCosts = [0.0005253, 0.00005535, 0.0010525];

async function* scriptedStream(turn: Turn): AsyncGenerator<string> {
  for (const chunk of turn.chunks) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    yield chunk;
  }
}

/** The shape of an LLM component's step: stream, time the chunks, record the usage. */
async function llmStep(metrics: MetricsEmitter, model: ModelMetrics, sessionId: string, turn: Turn) {
  return metrics.runStep({ sessionId, eventType: 'input.received' }, async (step) => {
    const started = performance.now();
    let previous = started;
    let text = '';
    for await (const chunk of scriptedStream(turn)) {
      const now = performance.now();
      if (text === '') model.recordTimeToFirstChunk((now - started) / 1000);
      else model.recordTimePerOutputChunk((now - previous) / 1000);
      previous = now;
      text += chunk;
    }
    model.recordDuration((performance.now() - started) / 1000);
    return { text, cost: step.recordUsage(model, turn.usage) };
  });
}

describe('a scripted model', () => {
  let receiver: OtlpReceiver;
  let telemetry: Telemetry;
  const events: ComponentPerformanceEvent[] = [];
  const results: { text: string; cost: number | null }[] = [];
  let prometheusText = '';

  beforeAll(async () => {
    buildPrometheusParser();
    receiver = await startOtlpReceiver();
    telemetry = await startTelemetry({
      serviceName: 'woodwork-llm',
      otlp: { endpoint: receiver.endpoint, exportIntervalMillis: 60_000 },
    });
    const metrics = createMetricsEmitter({
      component: 'language_model',
      events: { publish: (_topic, event) => void events.push(event) },
    });
    for (const [index, turn] of script.entries()) {
      const model = metrics.model({ provider: 'openai', model: turn.model });
      results.push(await llmStep(metrics, model, `session-${index}`, turn));
    }
    prometheusText = await telemetry.renderPrometheus();
    await telemetry.shutdown(); // exports the final metrics over OTLP
  }, 240_000); // building the Go parser may download its modules on a fresh machine

  afterAll(async () => {
    await telemetry?.shutdown();
    await receiver?.close();
  });

  it('returns exact costs and puts tokens and costs in the step events', () => {
    expect(results.map((result) => result.text)).toEqual(['Hello there', 'Sure.', 'Done!\nBye']);
    expect(results.map((result) => result.cost)).toEqual(expectedCosts);
    expect(events.map((event) => [event.session_id, event.payload.tokens_processed, event.payload.cost_estimate])).toEqual([
      ['session-0', 1801, 0.0005253],
      ['session-1', 93, 0.00005535],
      ['session-2', 106, 0.0010525],
    ]);
  });

  it('exposes the same figures on /metrics, as Prometheus parses them', () => {
    const families = parsePrometheusText(prometheusText);
    const tokens = families.gen_ai_client_token_usage!;
    expect(tokens.type).toBe('HISTOGRAM');
    const tokenSums = Object.fromEntries(
      tokens.samples.map((sample) => [`${sample.labels.gen_ai_request_model}/${sample.labels.gen_ai_token_type}`, [sample.count, sample.sum]]),
    );
    expect(tokenSums).toEqual({
      'gpt-4o-mini/input': [2, 1235],
      'gpt-4o-mini/output': [2, 659],
      'gpt-4o/input': [1, 1],
      'gpt-4o/output': [1, 105],
    });
    const cost = families.woodwork_gen_ai_cost_total!;
    expect(cost.type).toBe('COUNTER');
    const costs = Object.fromEntries(cost.samples.map((sample) => [sample.labels.gen_ai_request_model, sample.value]));
    expect(costs).toEqual({ 'gpt-4o-mini': expectedCosts[0]! + expectedCosts[1]!, 'gpt-4o': expectedCosts[2] });
    expect(cost.samples[0]!.labels).toMatchObject({
      gen_ai_operation_name: 'chat',
      gen_ai_provider_name: 'openai',
      woodwork_component_name: 'language_model',
    });
    const firstChunk = families.gen_ai_client_operation_time_to_first_chunk!.samples;
    expect(firstChunk.reduce((sum, sample) => sum + sample.count!, 0)).toBe(3);
    const perChunk = families.gen_ai_client_operation_time_per_output_chunk!.samples;
    expect(perChunk.reduce((sum, sample) => sum + sample.count!, 0)).toBe(2 + 1 + 3);
    expect(families.woodwork_component_processing_duration!.samples[0]!.count).toBe(3);
  });

  it('exports the same figures over OTLP', () => {
    const metrics = allMetrics(receiver);
    const last = <T>(items: T[]) => items[items.length - 1];
    const tokenPoints = last(metrics.filter((metric) => metric.name === 'gen_ai.client.token.usage'))!.histogram!.dataPoints;
    const key = (point: OtlpDataPoint) => `${attribute(point.attributes, 'gen_ai.request.model')}/${attribute(point.attributes, 'gen_ai.token.type')}`;
    expect(Object.fromEntries(tokenPoints.map((point) => [key(point), [Number(point.count), point.sum]]))).toEqual({
      'gpt-4o-mini/input': [2, 1235],
      'gpt-4o-mini/output': [2, 659],
      'gpt-4o/input': [1, 1],
      'gpt-4o/output': [1, 105],
    });
    const cost = last(metrics.filter((metric) => metric.name === 'woodwork.gen_ai.cost'))!;
    expect(cost.unit).toBe('{USD}');
    expect(cost.sum?.isMonotonic).toBe(true);
    expect(Object.fromEntries(cost.sum!.dataPoints.map((point) => [attribute(point.attributes, 'gen_ai.request.model'), point.asDouble]))).toEqual({
      'gpt-4o-mini': expectedCosts[0]! + expectedCosts[1]!,
      'gpt-4o': expectedCosts[2],
    });
  });
});
