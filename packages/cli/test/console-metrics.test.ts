// The console's metrics window: percentiles, buckets, the rolling window, counters turned into
// deltas, the live state of an embedded runtime fed by its real metrics events, and /api/metrics
// over HTTP for an agent on a model (the scripted provider server).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedServer } from '@woodwork/ai/testing';
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import type { HostRecord } from '@woodwork/runtime/distributed';
import { startLiveState } from '../src/console/live.js';
import { startConsole } from '../src/console/server.js';
import { CounterDeltas, MetricsWindow, percentile } from '../src/console/metrics.js';

const T0 = 1_800_000_000_000; // a bucket boundary for 10 s buckets

describe('percentile', () => {
  it('is the nearest rank of the sorted values', () => {
    const values = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([], 50)).toBeNull();
  });
});

describe('MetricsWindow', () => {
  it('puts handlings, steps, model usage and counts in 10 s buckets and gives rates, percentiles, tokens and cost per bucket', () => {
    const window = new MetricsWindow({ startedAt: T0 - 3_600_000 });
    for (let ms = 1; ms <= 100; ms++) {
      window.handling('agent', T0 + 1_000, ms);
      window.agentStep('agent', T0 + 1_000);
      window.modelUsage('agent', T0 + 1_000, { inputTokens: 10, outputTokens: 2, cost: 0.001 }, 1);
    }
    window.handling('agent', T0 + 12_000, 500);
    window.agentStep('agent', T0 + 12_000);
    window.modelUsage('agent', T0 + 12_000, { inputTokens: null, outputTokens: null, cost: null });
    window.count('agent', T0 + 2_000, { handled: 20, failed: 1 });
    window.count('agent', T0 + 15_000, { handled: 5, failed: 0 });
    window.known('idle');
    const snapshot = window.snapshot(T0 + 20_000);
    expect(snapshot.bucket_ms).toBe(10_000);
    expect(snapshot.times).toHaveLength(90);
    expect(snapshot.times.at(-1)).toBe((T0 + 20_000) / 1000);
    expect(snapshot.times.at(-2)! - snapshot.times.at(-3)!).toBe(10);
    const agent = snapshot.components.agent!;
    // The bucket of T0 and the one after it; the current one (T0+20 s) is empty.
    expect(agent.handled_per_s.slice(-3)).toEqual([2, 0.5, 0]);
    expect(agent.errors_per_s.slice(-3)).toEqual([0.1, 0, 0]);
    expect(agent.steps_per_s.slice(-3)).toEqual([10, 0.1, 0]);
    expect(agent.p50_ms.slice(-3)).toEqual([50, 500, null]);
    expect(agent.p95_ms.slice(-3)).toEqual([95, 500, null]);
    expect(agent.p99_ms.slice(-3)).toEqual([99, 500, null]);
    expect(agent.input_tokens.slice(-3)).toEqual([1000, 0, 0]);
    expect(agent.output_tokens.slice(-3)).toEqual([200, 0, 0]);
    expect(agent.cost.slice(-3)).toEqual([0.1, 0, 0]);
    expect(agent.p50_ms[0]).toBeNull();
    expect(agent.totals).toEqual({
      handled: 25,
      failed: 1,
      steps: 101,
      model_calls: 100,
      handled_per_s: 0.417, // 25 in the last minute
      p50_ms: 51,
      p95_ms: 96,
      p99_ms: 100,
      input_tokens: 1000,
      output_tokens: 200,
      cost: 0.1,
    });
    // A component that did nothing yet is listed, all zero.
    expect(snapshot.components.idle!.totals).toMatchObject({ handled: 0, steps: 0, p50_ms: null, handled_per_s: 0 });
  });

  it('starts the window where counting started while that is less than the whole window ago, two minutes at least', () => {
    let window = new MetricsWindow({ startedAt: T0 });
    expect(window.snapshot(T0 + 5_000).times).toHaveLength(12);
    expect(window.snapshot(T0 + 5 * 60_000 + 5_000).times).toHaveLength(31);
    expect(window.snapshot(T0 + 5 * 60_000 + 5_000).times[0]).toBe(T0 / 1000);
    expect(window.snapshot(T0 + 60 * 60_000).times).toHaveLength(90);
    window = new MetricsWindow({ startedAt: T0, bucketMs: 1_000, buckets: 5, minBuckets: 3 });
    expect(window.snapshot(T0).times).toEqual([T0 / 1000 - 2, T0 / 1000 - 1, T0 / 1000]);
  });

  it('rounds the rates to three decimals', () => {
    const window = new MetricsWindow({ startedAt: T0 - 600_000 });
    window.count('a', T0, { handled: 1, failed: 0 });
    expect(window.snapshot(T0 + 30_000).components.a!.totals.handled_per_s).toBe(0.017);
  });

  it('counts the current bucket as a rate over the part of it that has passed', () => {
    const window = new MetricsWindow({ startedAt: T0 });
    window.count('a', T0 + 1_000, { handled: 4, failed: 0 });
    const snapshot = window.snapshot(T0 + 4_000);
    expect(snapshot.components.a!.handled_per_s.at(-1)).toBe(1);
    // The last minute's rate counts from when counting started.
    expect(snapshot.components.a!.totals.handled_per_s).toBe(1);
  });

  it('forgets what is older than the window and keeps the last minute apart', () => {
    const window = new MetricsWindow({ bucketMs: 1_000, buckets: 5, startedAt: T0 - 600_000 });
    window.handling('a', T0, 1_000);
    window.agentStep('a', T0);
    window.count('a', T0, { handled: 6, failed: 0 });
    window.handling('a', T0 + 3_000, 10);
    window.agentStep('a', T0 + 3_000);
    let snapshot = window.snapshot(T0 + 4_500);
    expect(snapshot.times).toEqual([T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2, T0 / 1000 + 3, T0 / 1000 + 4]);
    expect(snapshot.components.a!.totals).toMatchObject({ handled: 6, steps: 2, p99_ms: 1_000 });
    // Two seconds on, the bucket of T0 has left the window: its step and its count with it.
    snapshot = window.snapshot(T0 + 6_500);
    expect(snapshot.times[0]).toBe(T0 / 1000 + 2);
    expect(snapshot.components.a!.totals).toMatchObject({ handled: 0, steps: 1, p50_ms: 10, p99_ms: 10 });
    expect(snapshot.components.a!.p50_ms).toEqual([null, 10, null, null, null]);
  });

  it('keeps at most maxSamples durations per bucket (a reservoir) while counting every step', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    const window = new MetricsWindow({ maxSamples: 100, startedAt: T0, random });
    for (let index = 0; index < 10_000; index++) {
      window.handling('a', T0 + 1, index % 100);
      window.agentStep('a', T0 + 1);
    }
    const a = window.snapshot(T0 + 5_000).components.a!;
    expect(a.totals.steps).toBe(10_000);
    // A uniform sample of 0..99 repeated: its median is near 50.
    expect(a.totals.p50_ms).toBeGreaterThan(30);
    expect(a.totals.p50_ms).toBeLessThan(70);
  });
});

describe('CounterDeltas', () => {
  it('takes the first reading as a baseline, then gives what was added; a reset counts from zero', () => {
    const deltas = new CounterDeltas();
    expect(deltas.delta('a', 10)).toBe(0);
    expect(deltas.delta('a', 13)).toBe(3);
    expect(deltas.delta('a', 13)).toBe(0);
    expect(deltas.delta('a', 2)).toBe(2);
    // A host that started after counting did: all of its count is new.
    expect(deltas.delta('b', 4, true)).toBe(4);
    deltas.sweep();
    deltas.delta('a', 3);
    deltas.sweep();
    // `b` was not read since the last sweep: forgotten, so its next reading is a baseline again.
    expect(deltas.delta('b', 9)).toBe(0);
  });
});

async function embedded(source: string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-console-metrics-'));
  await writeFile(path.join(dir, 'main.ww'), source);
  const loaded = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
  return createRuntime(loaded.resolved!, { logger: silentLogger, metrics: { events: true } });
}

describe('the live state', () => {
  it('embedded: one instance per hosted component, handled counts and step latencies from the runtime', async () => {
    await using runtime = await embedded('shout = transform uppercase {}\n');
    await runtime.start();
    await using live = await startLiveState(runtime, { intervalMs: 60_000 });
    expect(live.source).toBe('embedded');
    expect(live.components().shout).toMatchObject({ instances: 1, ready: 1, handled: 0, failed: 0 });
    for (const text of ['a', 'b', 'c']) expect((await runtime.ask(undefined, text)).text).toBe(text.toUpperCase());
    // A message counts as handled once its result is routed, a moment after the reply.
    const deadline = Date.now() + 5_000;
    for (;;) {
      await live.sample();
      if ((live.components().shout!.handled === 3 && live.metrics().components.shout!.p50_ms.some((value) => value !== null)) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(live.components().shout).toMatchObject({ instances: 1, ready: 1, handled: 3 });
    const { totals } = live.metrics().components.shout!;
    // A transform takes no agent steps and calls no model.
    expect(totals).toMatchObject({ handled: 3, failed: 0, steps: 0, model_calls: 0, input_tokens: 0, cost: 0 });
    expect(totals.handled_per_s).toBeGreaterThan(0);
    expect(totals.p50_ms).toBeGreaterThanOrEqual(0);
    expect(totals.p99_ms).toBeGreaterThanOrEqual(totals.p50_ms!);
  });

  it('distributed: instances are the live registry records of a component, counters summed across them', async () => {
    await using runtime = await embedded('shout = transform uppercase {}\nother = transform lowercase {}\n');
    await runtime.start();
    const now = Date.now();
    const record = (instance: string, handled: number, state: HostRecord['state'] = 'ready', startedAt = now - 60_000): HostRecord => ({
      instance,
      unit: 'shout',
      components: ['shout'],
      state,
      pid: 1,
      hostname: 'elsewhere', // not this machine: never taken for a stale record of a dead local process
      port: 9000,
      bus: 'redis',
      startedAt,
      heartbeatAt: now,
      expiresAt: now + 15_000,
      stats: { shout: { handled, failed: 0, pipeFailures: 0, hookRuns: 0, hookFailures: 0, hookTimeouts: 0, calls: 0, queueDepth: 2, timeouts: 0, retries: 0, fallbacks: 0, duplicateHeads: 0, waiting: 0 } },
    });
    let records = [record('shout-1', 10), record('shout-2', 4, 'starting')];
    await using live = await startLiveState(runtime, { hosts: { list: async () => records }, intervalMs: 60_000 });
    expect(live.source).toBe('registry');
    expect(live.components()).toMatchObject({
      shout: { instances: 2, ready: 1, handled: 14, queue_depth: 2, hosts: [expect.objectContaining({ instance: 'shout-1', state: 'ready' }), expect.objectContaining({ instance: 'shout-2' })] },
      other: { instances: 0, ready: 0, handled: 0, queue_depth: null, hosts: [] },
    });
    // What they counted before the console started is not this window's throughput.
    expect(live.metrics().components.shout!.totals.handled).toBe(0);
    records = [record('shout-1', 13), record('shout-2', 5), record('shout-3', 2, 'ready', Date.now() + 1)];
    await live.sample();
    expect(live.components().shout).toMatchObject({ instances: 3, ready: 3, handled: 20 });
    // 3 + 1 more, and all of the new instance's 2.
    expect(live.metrics().components.shout!.totals.handled).toBe(6);
  });
});

describe('GET /api/metrics of the console', () => {
  it("counts an agent's steps under the agent, and its model's calls, tokens and cost under the llm it names", { timeout: 60_000 }, async () => {
    await using server = await startScriptedServer({ apiKey: 'sk-metrics' });
    // Step 1 calls the tool, step 2 answers: two calls of the model, two steps of the agent.
    server.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }], usage: { inputTokens: 40, outputTokens: 7 } }, { text: ['It is ', '5.'], usage: { inputTokens: 60, outputTokens: 3 } });
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-console-api-metrics-'));
    await writeFile(
      path.join(dir, 'main.ww'),
      `model = llm openai {\n  model = "gpt-4o-mini"\n  api_key = "sk-metrics"\n  base_url = "${server.openaiBaseUrl}"\n}\ncalc = api functions { path = "calc.ts" }\nassistant = agent llm {\n  model = model\n  tools = [calc]\n}\n`,
    );
    await writeFile(path.join(dir, 'calc.ts'), '/** Adds two numbers. */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n');
    const loaded = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
    await using runtime = createRuntime(loaded.resolved!, { logger: silentLogger, metrics: { events: true } });
    await runtime.start();
    // Only the API is read here: the page's files are not needed.
    await using web = await startConsole(runtime, { assetsDir: dir, sampleIntervalMs: 100 });
    const result = await runtime.ask(undefined, 'What is 2 plus 3?', { to: 'assistant' });
    expect(result.ok).toBe(true);
    expect(server.requests).toHaveLength(2);

    type Totals = { steps: number; model_calls: number; input_tokens: number; output_tokens: number; cost: number; p50_ms: number | null };
    const metrics = async () => {
      const response = await fetch(`${web.url}/api/metrics`, { headers: { authorization: `Bearer ${web.token}` } });
      expect(response.status).toBe(200);
      return ((await response.json()) as { components: Record<string, { totals: Totals }> }).components;
    };
    let components = await metrics();
    const deadline = Date.now() + 10_000;
    // The events arrive a moment after the reply.
    while (!(components.assistant!.totals.steps === 2 && components.model!.totals.input_tokens === 100 && components.calc!.totals.p50_ms !== null) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      components = await metrics();
    }
    // The agent took two steps, and keeps its own handling time.
    expect(components.assistant!.totals).toMatchObject({ steps: 2, model_calls: 0, input_tokens: 0, output_tokens: 0, cost: 0 });
    expect(components.assistant!.totals.p50_ms).not.toBeNull();
    // The model the agent called is the llm's: its two calls, their tokens, their cost (gpt-4o-mini is priced).
    expect(components.model!.totals).toMatchObject({ steps: 0, model_calls: 2, input_tokens: 100, output_tokens: 10 });
    expect(components.model!.totals.cost).toBeGreaterThan(0);
    // The tool's handling is no step, and no model call.
    expect(components.calc!.totals).toMatchObject({ steps: 0, model_calls: 0, input_tokens: 0 });
  });
});
