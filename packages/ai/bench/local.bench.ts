/**
 * The local model's speed through Woodwork vs node-llama-cpp called directly (not a test: it
 * prints figures). `npm run bench:local -w @woodwork/ai` (or as part of `npm run bench`), with
 * WOODWORK_LOCAL_MODEL set (`eval "$(bash tools/models.sh env)"`).
 *
 * The same model file, threads, prompt and token budget two ways:
 *   direct    getLlama → loadModel → createContext → LlamaChat.generateResponse, timing onTextChunk;
 *   woodwork  `chat = llm local { … }` in createRuntime, a session's turn, timing the `stream.chunk`
 *             events a client reads from `runtime.events` (what `woodwork run` and the gateway see).
 * Each round asks a different question (the same one both ways), so neither path answers from a
 * prompt it already evaluated. Greedy decoding: both generate the same tokens.
 *
 * Built for a shared, loaded machine, where a neighbour's build can halve one run's speed:
 * - the two ways alternate in pairs, A B then B A (ABBA), so a load that rises or falls during a
 *   round hits both alike and neither always goes first;
 * - the ratio is the median of the rounds' own ratios (each round's two runs a few seconds apart),
 *   not the ratio of two medians taken minutes apart;
 * - CPU time per token (process.cpuUsage: llama.cpp's threads and Node's) is printed for both; it
 *   does not depend on how much of the machine the neighbours take, so direct CPU / Woodwork CPU is
 *   the load-independent figure of what Woodwork adds.
 * The AI SDK on createLocalModel (no runtime) joins the rounds with BENCH_LOCAL_SDK=1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { streamText } from 'ai';
import { getLlama, LlamaChat, LlamaLogLevel, type ChatHistoryItem } from 'node-llama-cpp';
import { loadTopology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger } from '@woodwork/runtime';
import { aiComponents, createLocalModel } from '../src/index.js';

interface Run {
  readonly ttftMs: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  /**
   * CPU time of the whole process (llama.cpp's threads and Node's) per token after the first: unlike
   * wall time, it does not depend on what else the machine runs, and it leaves out the prompt's
   * evaluation (which a context's cache of an earlier prompt shortens more for one way than the other).
   */
  readonly cpuMsPerToken: number;
}

export interface LocalBenchmarkResult {
  readonly model: string;
  readonly rounds: number;
  readonly tokens: number;
  readonly threads: number;
  readonly directTokensPerSecond: number;
  readonly woodworkTokensPerSecond: number;
  /** Median of the rounds' woodwork / direct tokens-per-second ratios. */
  readonly medianRatio: number;
  readonly roundRatios: readonly number[];
  readonly directCpuMsPerToken: number;
  readonly woodworkCpuMsPerToken: number;
  /** direct / woodwork CPU per token: the share of direct's speed Woodwork keeps when every token waits for its work. */
  readonly cpuRatio: number;
  readonly directFirstTokenMs: number;
  readonly woodworkFirstTokenMs: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
}

const SYSTEM = 'You are a helpful assistant.';
const subjects = ['a lighthouse keeper', 'a clockmaker', 'a beekeeper', 'a mapmaker', 'a glassblower', 'a baker', 'a ferryman', 'a gardener', 'a tailor', 'a potter'];
const question = (round: number) => `Write a long story about ${subjects[round % subjects.length]} who finds a strange letter.`;
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const load = () => os.loadavg().map((n) => Number(n.toFixed(1)));

/** Times a generation: each token's arrival, and the process's CPU time at the first and the last. */
class Clock {
  readonly start = performance.now();
  readonly times: number[] = [];
  private cpuAtFirst: NodeJS.CpuUsage | undefined;
  private cpuAtLast: NodeJS.CpuUsage | undefined;

  token(): void {
    this.times.push(performance.now());
    if (this.times.length === 1) this.cpuAtFirst = process.cpuUsage();
    else this.cpuAtLast = process.cpuUsage();
  }

  /** Tokens per second and CPU per token after the first: the generation, apart from the prompt's evaluation. */
  run(): Run {
    const { times } = this;
    const first = times[0]!;
    const last = times.at(-1)!;
    const cpu = this.cpuAtLast && this.cpuAtFirst ? diff(this.cpuAtLast, this.cpuAtFirst) : 0;
    return {
      ttftMs: first - this.start,
      tokens: times.length,
      tokensPerSecond: times.length > 1 ? ((times.length - 1) * 1000) / (last - first) : 0,
      cpuMsPerToken: times.length > 1 ? cpu / 1000 / (times.length - 1) : 0,
    };
  }
}

const diff = (later: NodeJS.CpuUsage, earlier: NodeJS.CpuUsage) => later.user - earlier.user + (later.system - earlier.system);

export async function runLocalBenchmark(options: { readonly model: string; readonly rounds?: number; readonly tokens?: number; readonly withSdk?: boolean }): Promise<LocalBenchmarkResult> {
  const { model } = options;
  const ROUNDS = options.rounds ?? 7;
  const TOKENS = options.tokens ?? 128;
  const THREADS = Math.max(1, os.availableParallelism() - 1); // llm local's default
  const loadBefore = load();

  // --- direct -------------------------------------------------------------------------------
  let started = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: os.availableParallelism() });
  const loaded = await llama.loadModel({ modelPath: model });
  const directLoadMs = performance.now() - started;
  const context = await loaded.createContext({ contextSize: 4096, threads: THREADS, sequences: 1 });
  const chat = new LlamaChat({ contextSequence: context.getSequence() });

  async function direct(round: number): Promise<Run> {
    const history: ChatHistoryItem[] = [{ type: 'system', text: SYSTEM }, { type: 'user', text: question(round) }, { type: 'model', response: [] }];
    const clock = new Clock();
    await chat.generateResponse(history, { maxTokens: TOKENS, onTextChunk: (text) => text !== '' && clock.token() });
    return clock.run();
  }

  // --- through Woodwork ---------------------------------------------------------------------
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
    const clock = new Clock();
    const turn = await runtime.submit(sessionId, question(round));
    for await (const event of events) {
      if (event.event_type === 'stream.chunk') {
        const data = (event.payload as { data?: unknown }).data;
        if (typeof data === 'string' && data !== '') clock.token();
      } else if (event.event_type === 'turn.completed') break;
    }
    const result = await turn.result;
    if (!result.ok) throw new Error(`turn failed: ${JSON.stringify(result.errors)}`);
    await runtime.end(sessionId);
    return clock.run();
  }

  // --- the AI SDK on createLocalModel, no runtime (where a difference would come from) --------
  // Shares the runtime's loaded model but not its context (another size): a context keeps what it
  // last evaluated, and the same question must not find its prompt already there.
  const sdkModel = options.withSdk ? await createLocalModel({ model, threads: THREADS, contextSize: 4000 }) : undefined;
  async function sdk(round: number): Promise<Run> {
    const clock = new Clock();
    const result = streamText({ model: sdkModel!, system: SYSTEM, prompt: question(round), maxOutputTokens: TOKENS });
    for await (const text of result.textStream) if (text !== '') clock.token();
    return clock.run();
  }

  try {
    console.log(
      `\nllm local: ${path.basename(model)}, ${TOKENS} tokens a reply, ${ROUNDS} rounds (ABBA: direct and Woodwork alternate which goes first), ${THREADS} llama.cpp thread(s), ${os.cpus().length} CPUs, load average ${loadBefore.join(' ')}`,
    );
    // One warm-up each: the first generation of a process pays for page faults and allocations.
    await direct(ROUNDS);
    await woodwork(ROUNDS + 1);
    const results = { direct: [] as Run[], woodwork: [] as Run[], sdk: [] as Run[] };
    const ways = { direct, woodwork, sdk };
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order: (keyof typeof ways)[] = round % 2 === 0 ? ['direct', 'woodwork'] : ['woodwork', 'direct'];
      if (sdkModel) order.push('sdk');
      const got: Partial<Record<keyof typeof ways, Run>> = {};
      for (const way of order) results[way].push((got[way] = await ways[way](round)));
      ratios.push(got.woodwork!.tokensPerSecond / got.direct!.tokensPerSecond);
    }
    const loadAfter = load();

    const row = (name: string, runs: Run[]) => {
      const tps = median(runs.map((run) => run.tokensPerSecond));
      const ttft = median(runs.map((run) => run.ttftMs));
      const cpu = median(runs.map((run) => run.cpuMsPerToken));
      console.log(
        `  ${name.padEnd(36)} ${tps.toFixed(1).padStart(6)} tokens/s   first token ${ttft.toFixed(0).padStart(5)} ms   CPU ${cpu.toFixed(2)} ms/token after the first   (rounds: ${runs.map((run) => run.tokensPerSecond.toFixed(0)).join(', ')} tokens/s; ${runs[0]!.tokens} tokens)`,
      );
      return { tps, ttft, cpu };
    };
    console.log(`  model load: direct ${directLoadMs.toFixed(0)} ms (getLlama + loadModel); runtime.start() with llm local ${woodworkStartMs.toFixed(0)} ms (the same, its own copy)`);
    const d = row('node-llama-cpp directly', results.direct);
    if (sdkModel) row('AI SDK streamText, createLocalModel', results.sdk);
    const w = row('through Woodwork (runtime.events)', results.woodwork);
    const medianRatio = median(ratios);
    const cpuRatio = d.cpu / w.cpu;
    console.log(
      `  ratio Woodwork / direct, median of the rounds' own ratios: ${(medianRatio * 100).toFixed(1)}% (target ≥ 95%: ${medianRatio >= 0.95 ? 'met' : 'NOT met'}); rounds ${ratios.map((ratio) => `${(ratio * 100).toFixed(0)}%`).join(', ')}`,
    );
    // CPU per token is what the machine's load does not blur: Woodwork's own work per token is the
    // difference, and if every token waited for that work (none of it overlapping the next token's
    // computation) Woodwork would keep direct CPU / Woodwork CPU of direct's speed.
    console.log(
      `  CPU per token: direct ${d.cpu.toFixed(2)} ms, Woodwork ${w.cpu.toFixed(2)} ms (+${(w.cpu - d.cpu).toFixed(2)} ms): at worst ${(cpuRatio * 100).toFixed(1)}% of direct's tokens/s on an idle machine (target ≥ 95%: ${cpuRatio >= 0.95 ? 'met' : 'NOT met'}); first token ${w.ttft >= d.ttft ? '+' : ''}${(w.ttft - d.ttft).toFixed(1)} ms; load average after ${loadAfter.join(' ')}`,
    );
    return {
      model: path.basename(model),
      rounds: ROUNDS,
      tokens: TOKENS,
      threads: THREADS,
      directTokensPerSecond: d.tps,
      woodworkTokensPerSecond: w.tps,
      medianRatio,
      roundRatios: ratios,
      directCpuMsPerToken: d.cpu,
      woodworkCpuMsPerToken: w.cpu,
      cpuRatio,
      directFirstTokenMs: d.ttft,
      woodworkFirstTokenMs: w.ttft,
      loadBefore,
      loadAfter,
    };
  } finally {
    await sdkModel?.close();
    await runtime.stop();
    chat.dispose();
    await context.dispose();
    await loaded.dispose();
    await llama.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const model = process.env.WOODWORK_LOCAL_MODEL;
  if (!model) {
    console.error('WOODWORK_LOCAL_MODEL is not set: run `eval "$(bash tools/models.sh env)"` in the repository first.');
    process.exit(2);
  }
  await runLocalBenchmark({
    model,
    rounds: Number(process.env.BENCH_LOCAL_ROUNDS ?? process.env.BENCH_ROUNDS ?? 7),
    tokens: Number(process.env.BENCH_LOCAL_TOKENS ?? process.env.BENCH_TOKENS ?? 128),
    withSdk: process.env.BENCH_LOCAL_SDK === '1',
  });
}
