/**
 * The local model's speed through Woodwork vs node-llama-cpp called directly (not a test: it
 * prints figures). `node --conditions=@woodwork/source --import tsx bench/local.bench.ts` in
 * packages/ai, with WOODWORK_LOCAL_MODEL set (`eval "$(bash tools/models.sh env)"`).
 *
 * The same model file, threads, prompt and token budget two ways, in interleaved rounds:
 *   direct    getLlama → loadModel → createContext → LlamaChat.generateResponse, timing onTextChunk;
 *   woodwork  `chat = llm local { … }` in createRuntime, a session's turn, timing the `stream.chunk`
 *             events a client reads from `runtime.events` (what `woodwork run` and the gateway see).
 * Each round asks a different question (the same one both ways), so neither path answers from a
 * prompt it already evaluated. Greedy decoding: both generate the same tokens.
 * Figures: model load, time to first token, tokens per second after the first (median of rounds),
 * and the ratio woodwork / direct (target ≥ 95%).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { streamText } from 'ai';
import { getLlama, LlamaChat, LlamaLogLevel, type ChatHistoryItem } from 'node-llama-cpp';
import { loadTopology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger } from '@woodwork/runtime';
import { aiComponents, createLocalModel } from '../src/index.js';

const model = process.env.WOODWORK_LOCAL_MODEL;
if (!model) {
  console.error('WOODWORK_LOCAL_MODEL is not set: run `eval "$(bash tools/models.sh env)"` in the repository first.');
  process.exit(2);
}
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 128);
const THREADS = Math.max(1, os.availableParallelism() - 1); // llm local's default
const SYSTEM = 'You are a helpful assistant.';
const subjects = ['a lighthouse keeper', 'a clockmaker', 'a beekeeper', 'a mapmaker', 'a glassblower', 'a baker', 'a ferryman', 'a gardener', 'a tailor', 'a potter'];
const question = (round: number) => `Write a long story about ${subjects[round % subjects.length]} who finds a strange letter.`;

interface Run {
  readonly ttftMs: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  /** CPU time of the whole process (llama.cpp's threads and Node's) per token: unlike wall time, it does not depend on what else the machine runs. */
  readonly cpuMsPerToken: number;
}

/** Tokens per second after the first: the generation rate, apart from the prompt's evaluation. */
function summarise(start: number, times: number[], cpu: NodeJS.CpuUsage): Run {
  const first = times[0]!;
  const last = times.at(-1)!;
  return {
    ttftMs: first - start,
    tokens: times.length,
    tokensPerSecond: times.length > 1 ? ((times.length - 1) * 1000) / (last - first) : 0,
    cpuMsPerToken: (cpu.user + cpu.system) / 1000 / times.length,
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// --- direct ---------------------------------------------------------------------------------
let started = performance.now();
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: os.availableParallelism() });
const loaded = await llama.loadModel({ modelPath: model });
const directLoadMs = performance.now() - started;
const context = await loaded.createContext({ contextSize: 4096, threads: THREADS, sequences: 1 });
const chat = new LlamaChat({ contextSequence: context.getSequence() });

async function direct(round: number): Promise<Run> {
  const history: ChatHistoryItem[] = [{ type: 'system', text: SYSTEM }, { type: 'user', text: question(round) }, { type: 'model', response: [] }];
  const times: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  await chat.generateResponse(history, { maxTokens: TOKENS, onTextChunk: (text) => text !== '' && times.push(performance.now()) });
  return summarise(start, times, process.cpuUsage(cpu));
}

// --- through Woodwork -----------------------------------------------------------------------
const dir = await mkdtemp(path.join(os.tmpdir(), 'ww-local-bench-'));
await writeFile(path.join(dir, 'main.ww'), `chat = llm local {\n  model = "${model}"\n  prompt = "${SYSTEM}"\n  max_tokens = ${TOKENS}\n  threads = ${THREADS}\n}\n`);
const { resolved, diagnostics } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
if (!resolved) throw new Error(`bench topology: ${diagnostics.map((d) => d.message).join('; ')}`);
const registry = createComponentRegistry();
for (const definition of aiComponents) registry.register(definition);
started = performance.now();
const runtime = createRuntime(resolved, { registry, logger: silentLogger });
await runtime.start();
const woodworkStartMs = performance.now() - started;

async function woodwork(round: number): Promise<Run> {
  const sessionId = await runtime.create();
  const events = runtime.events(sessionId);
  const times: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  const turn = await runtime.submit(sessionId, question(round));
  for await (const event of events) {
    if (event.event_type === 'stream.chunk') {
      const data = (event.payload as { data?: unknown }).data;
      if (typeof data === 'string' && data !== '') times.push(performance.now());
    } else if (event.event_type === 'turn.completed') break;
  }
  const result = await turn.result;
  if (!result.ok) throw new Error(`turn failed: ${JSON.stringify(result.errors)}`);
  const used = process.cpuUsage(cpu);
  await runtime.end(sessionId);
  return summarise(start, times, used);
}

// --- the AI SDK on createLocalModel, no runtime (where the difference comes from) -----------
// Shares the runtime's loaded model but not its context (another size): a context keeps what it
// last evaluated, and the same question must not find its prompt already there.
const sdkModel = await createLocalModel({ model, threads: THREADS, contextSize: 4000 });

async function sdk(round: number): Promise<Run> {
  const times: number[] = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = streamText({ model: sdkModel, system: SYSTEM, prompt: question(round), maxOutputTokens: TOKENS });
  for await (const text of result.textStream) if (text !== '') times.push(performance.now());
  return summarise(start, times, process.cpuUsage(cpu));
}

// --- rounds ---------------------------------------------------------------------------------
console.log(`llm local benchmark: ${path.basename(model)}, ${TOKENS} tokens a reply, ${ROUNDS} rounds each way (interleaved), ${THREADS} thread(s), ${os.cpus().length} CPUs reported, Node ${process.versions.node}, load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')}`);
// One warm-up each: the first generation of a process pays for page faults and allocations.
await direct(ROUNDS);
await woodwork(ROUNDS + 1);
const results = { direct: [] as Run[], sdk: [] as Run[], woodwork: [] as Run[] };
const ways = { direct, sdk, woodwork };
for (let round = 0; round < ROUNDS; round++) {
  const order = (['direct', 'sdk', 'woodwork'] as const).map((_, index, all) => all[(index + round) % all.length]!);
  for (const way of order) results[way].push(await ways[way](round));
}

const row = (name: string, runs: Run[]) => {
  const tps = median(runs.map((run) => run.tokensPerSecond));
  const ttft = median(runs.map((run) => run.ttftMs));
  const cpu = median(runs.map((run) => run.cpuMsPerToken));
  console.log(
    `  ${name.padEnd(36)} ${tps.toFixed(1).padStart(6)} tokens/s   first token ${ttft.toFixed(0).padStart(5)} ms   CPU ${cpu.toFixed(2)} ms/token   (rounds: ${runs.map((run) => run.tokensPerSecond.toFixed(0)).join(', ')} tokens/s; ${runs[0]!.tokens} tokens)`,
  );
  return { tps, ttft, cpu };
};
console.log(`\n  model load: direct ${directLoadMs.toFixed(0)} ms (getLlama + loadModel); runtime.start() with llm local ${woodworkStartMs.toFixed(0)} ms (the same, its own copy)\n`);
const d = row('node-llama-cpp directly', results.direct);
row('AI SDK streamText, createLocalModel', results.sdk);
const w = row('through Woodwork (runtime.events)', results.woodwork);
console.log(`\n  ratio woodwork / direct: ${((w.tps / d.tps) * 100).toFixed(1)}% of the tokens/s (target ≥ 95%); first token ${w.ttft >= d.ttft ? '+' : ''}${(w.ttft - d.ttft).toFixed(1)} ms`);
// CPU per token is what the machine's load does not blur: Woodwork's own work per token is the
// difference, and on an idle machine (every token waits for the previous one's JavaScript) the
// ratio can be no worse than direct / woodwork CPU per token.
console.log(`  CPU per token: Woodwork adds ${(w.cpu - d.cpu).toFixed(2)} ms to the model's ${d.cpu.toFixed(2)} ms, so on an idle machine it keeps at least ${((d.cpu / w.cpu) * 100).toFixed(1)}% of direct's tokens/s`);

await sdkModel.close();
await runtime.stop();
chat.dispose();
await context.dispose();
await loaded.dispose();
await llama.dispose();
await rm(dir, { recursive: true, force: true });
