/**
 * `node --conditions=@woodwork/source --import tsx bench/agent-bench.ts` (not a test): what the
 * agent loop costs per step, the model's own time taken out.
 *
 * The model is a zero-latency AI SDK model in process (each step answers at once: a tool call for
 * the first N-1 steps, then text), so what is measured is Woodwork's time: the step's state written
 * to the session store, the events (`agent.action`, `tool.call`, `tool.observation`,
 * `agent.step_complete`) on the bus, the tool call's round trip through `reference.call` to an
 * `api functions` component and back, and the model call's setup (the prompt conversion and the
 * provider's `doStream`, called directly: see src/agent/step.ts). For a breakdown by package, run
 * it under `node --cpu-prof` with BENCH_BROKERS=none. Reported: the median
 * per-step time of a turn of N steps, embedded (in-memory bus and sessions), and with the bus and
 * sessions in Redis with the tool in another runtime, and the same on NATS and Kafka (when
 * WOODWORK_TEST_REDIS_URL, _NATS_URL, _KAFKA_URL are set: `eval "$(bash tools/services.sh env)"`;
 * BENCH_BROKERS=redis,nats picks some); and the tool call's round trip p50/p99 as the agent sees it
 * (from `tool.observation`'s duration_ms).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { LanguageModelV4, LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { loadTopology, type Topology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, type Runtime, type RuntimeOptions } from '@woodwork/runtime';
import { aiComponents, defineAgent, openaiProvider, type LlmProvider } from '../src/index.js';

const STEPS = Number(process.env.BENCH_STEPS ?? 20);
const TURNS = Number(process.env.BENCH_TURNS ?? 30);
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;

const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

/** Answers at once: a tool call until the conversation has `STEPS - 1` tool results, then text. */
const instantModel: LanguageModelV4 = {
  specificationVersion: 'v4',
  provider: 'bench',
  modelId: 'instant',
  supportedUrls: {},
  doGenerate: () => Promise.reject(new Error('stream only')),
  doStream: async (options) => {
    const results = options.prompt.filter((message) => message.role === 'tool').length;
    const parts: LanguageModelV4StreamPart[] = [{ type: 'stream-start', warnings: [] }];
    if (results < STEPS - 1) {
      parts.push({ type: 'tool-call', toolCallId: `c${results}`, toolName: 'echo', input: `{"value":${results}}` });
      parts.push({ type: 'finish', finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage });
    } else {
      parts.push({ type: 'text-start', id: 't' }, { type: 'text-delta', id: 't', delta: 'done' }, { type: 'text-end', id: 't' });
      parts.push({ type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage });
    }
    return {
      stream: new ReadableStream({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      }),
    };
  },
};

const benchProvider: LlmProvider = { ...openaiProvider, createModel: () => instantModel };

function registry() {
  const registry = createComponentRegistry();
  for (const definition of aiComponents) registry.register(definition);
  registry.register(defineAgent([benchProvider]), { replace: true });
  return registry;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

async function measure(runtime: Runtime): Promise<{ perStep: number[]; toolMs: number[]; cpuPerStep: number }> {
  const perStep: number[] = [];
  const toolMs: number[] = [];
  let cpu = process.cpuUsage();
  for (let turn = 0; turn < TURNS; turn++) {
    if (turn === 3) cpu = process.cpuUsage();
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    const started = performance.now();
    const submitted = await runtime.submit(sessionId, 'go', { to: 'assistant' });
    for await (const event of events) {
      if (event.event_type === 'tool.observation') toolMs.push((event.payload as { duration_ms: number }).duration_ms);
      if (event.event_type === 'turn.completed') break;
    }
    const result = await submitted.result;
    if (!result.ok) throw new Error(`turn failed: ${JSON.stringify(result.errors[0]?.payload)}`);
    if (turn > 2) perStep.push((performance.now() - started) / STEPS); // the first turns warm up
    await runtime.end(sessionId);
  }
  const used = process.cpuUsage(cpu);
  return { perStep, toolMs, cpuPerStep: (used.user + used.system) / 1000 / ((TURNS - 3) * STEPS) };
}

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-agent-bench-'));
  try {
    await writeFile(
      path.join(dir, 'main.ww'),
      `model = llm openai { model = "instant", api_key = "sk-bench" }\ntools = api functions { path = "tools.ts" }\nassistant = agent llm { model = model, tools = [tools], max_steps = ${STEPS + 1}, streaming = false }\n`,
    );
    await writeFile(path.join(dir, 'tools.ts'), 'export function echo(value: number) { return value; }\n');
    const loaded = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
    const topology: Topology = loaded.resolved!;
    console.log(`agent loop overhead, zero-latency model, ${STEPS} steps a turn, ${TURNS} turns; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg()[0]!.toFixed(1)}`);

    {
      await using runtime = createRuntime(topology, { logger: silentLogger, registry: registry() });
      await runtime.start();
      const { perStep, toolMs, cpuPerStep } = await measure(runtime);
      console.log(`embedded (memory bus, memory sessions): ${median(perStep).toFixed(3)} ms per step (median of turns), ${cpuPerStep.toFixed(3)} ms of this process's CPU per step; tool round trip p50 ${percentile(toolMs, 50).toFixed(2)} ms, p99 ${percentile(toolMs, 99).toFixed(2)} ms`);
    }

    // Sessions in Redis for every broker (what a distributed run has); the bus is each broker in turn.
    const brokers = [
      ['redis', redisUrl],
      ['nats', process.env.WOODWORK_TEST_NATS_URL],
      ['kafka', process.env.WOODWORK_TEST_KAFKA_URL],
    ] as const;
    for (const [name, busUrl] of brokers) {
      if (!redisUrl || !busUrl || (process.env.BENCH_BROKERS && !process.env.BENCH_BROKERS.split(',').includes(name))) {
        console.log(`${name}: skipped (${!redisUrl ? 'WOODWORK_TEST_REDIS_URL' : `the ${name} URL`} is not set, or BENCH_BROKERS leaves it out)`);
        continue;
      }
      const namespace = `bench-${randomUUID().slice(0, 8)}`;
      const options: RuntimeOptions = { logger: silentLogger, registry: registry(), bus: busUrl, sessions: { redis: redisUrl }, namespace };
      await using tools = createRuntime(topology, { ...options, components: ['tools'] });
      await tools.start();
      await using agent = createRuntime(topology, { ...options, registry: registry(), components: ['assistant', 'model'] });
      await agent.start();
      const { perStep, toolMs, cpuPerStep } = await measure(agent);
      console.log(`${name} bus, sessions in redis, the tool in another runtime: ${median(perStep).toFixed(3)} ms per step, ${cpuPerStep.toFixed(3)} ms CPU per step (both runtimes, this process); tool round trip p50 ${percentile(toolMs, 50).toFixed(2)} ms, p99 ${percentile(toolMs, 99).toFixed(2)} ms`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
