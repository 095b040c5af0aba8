/**
 * `npm run bench -w @woodwork/ai` (not a test): what Woodwork adds on top of a model.
 *
 * A scripted OpenAI server (Responses API, SSE) answers after a fixed delay, so the model's own
 * time to first token is known. Each figure compares the same call made two ways, in interleaved
 * rounds, medians printed:
 *
 * 1. Time to first token: the AI SDK's `streamText` read directly (the provider's own TTFT) vs
 *    the first `stream.chunk` a client sees — embedded (`runtime.events`) and through the API
 *    gateway's SSE with the bus and sessions in Redis: the whole topology in one runtime, and split
 *    as `woodwork up` splits it (the llm in a runtime of its own, with its own bus connections; and
 *    the llm in a process of its own, bench/llm-process.ts, with its own event loop).
 *    The difference is what Woodwork adds.
 *    Targets: under 2 ms embedded, under 10 ms through the gateway over Redis.
 * 2. Tokens per second of a long reply (one token a chunk, no delay): the provider stream read
 *    directly vs the whole topology (llm → client), embedded and over Redis, with the ratio.
 *
 * 3. Where the gateway's first token spends its time: every bus publish and delivery of the Redis
 *    runtime is timestamped (a wrapper around the bus, no change to the code measured), and each
 *    turn's path is cut into legs — the gateway's bookkeeping, the hops to the llm, the model call,
 *    the token's way back — printed as medians beside the direct call's own legs.
 * 4. `llm local` (when WOODWORK_LOCAL_MODEL is set: `eval "$(bash tools/models.sh env)"`): tokens/s
 *    through Woodwork vs node-llama-cpp called directly, in ABBA rounds, the median of the rounds'
 *    ratios and CPU time per token both ways (bench/local.bench.ts). Target ≥ 95%.
 *
 * Redis comes from WOODWORK_TEST_REDIS_URL (`eval "$(bash tools/services.sh env)"`); without it
 * the Redis rows are skipped. Everything runs in this process on the same cores, the scripted
 * server included, so the figures are relative, not absolute; the load average is printed beside
 * them (the development machines are shared: compare figures of one run, not across runs).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { loadavg } from 'node:os';
import { createOpenAI } from '@ai-sdk/openai';
import { streamText } from 'ai';
import { createBus, type Bus } from '@woodwork/bus';
import { loadTopology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, type Runtime, type RuntimeOptions } from '@woodwork/runtime';
import { aiComponents } from '../src/index.js';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { runLocalBenchmark, type LocalBenchmarkResult } from './local.bench.js';

const MODEL_DELAY_MS = 50;
/**
 * The paced rows: the model's later tokens 10 ms apart (100 tokens/s, faster than hosted models
 * stream), where the other rows send the whole 20-token reply at once after the first: a burst
 * puts the parsing of all the rest on the first token's way, which no real provider does.
 */
const PACED_TOKEN_GAP_MS = Number(process.env.BENCH_TOKEN_GAP_MS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const LONG_REPLY_TOKENS = Number(process.env.BENCH_TOKENS ?? 2000);
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const p90 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.9))]!;
const ms = (value: number) => `${value.toFixed(2)} ms`;
const nowhere = () => new Writable({ write: (_chunk, _encoding, done) => done() });
const load = () => loadavg().map((n) => n.toFixed(1)).join(' ');

/**
 * Bus publishes and deliveries, timestamped while armed (one gateway turn at a time). The wrapper
 * adds a function call per publish and delivery; nothing in the measured code changes.
 */
class Timeline {
  marks: { readonly at: number; readonly what: string; readonly topic: string; readonly type: string }[] = [];
  armed = false;
  mark(what: string, topic: string, type: string): void {
    if (this.armed) this.marks.push({ at: performance.now(), what, topic, type });
  }
  find(what: string, topic: string, type: string, after = 0): number {
    return this.marks.find((mark) => mark.at >= after && mark.what === what && mark.topic.endsWith(topic) && mark.type === type)?.at ?? Number.NaN;
  }
}

function timedBus(bus: Bus, timeline: Timeline): Bus {
  return new Proxy(bus, {
    get(target, key) {
      if (key === 'publish') {
        return (topic: string, envelope: { event_type: string }) => {
          timeline.mark('publish', topic, envelope.event_type);
          return target.publish(topic, envelope as never);
        };
      }
      if (key === 'subscribe') {
        return (topic: string, options: never, handler: (envelope: { event_type: string }, context: unknown) => unknown) =>
          target.subscribe(topic, options, (envelope, context) => {
            timeline.mark('deliver', topic, envelope.event_type);
            return handler(envelope as never, context) as never;
          });
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The legs of one gateway turn's first token, in ms (NaN where a mark is missing). */
interface Legs {
  readonly [leg: string]: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function registry() {
  const value = createComponentRegistry();
  for (const definition of aiComponents) value.register(definition);
  return value;
}

async function topology(source: string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-ai-bench-'));
  await writeFile(path.join(dir, 'main.ww'), source);
  const { resolved, diagnostics } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
  if (!resolved) throw new Error(diagnostics.map((d) => d.message).join('\n'));
  return { resolved, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Each path's `firstMs` is its time to first token without the model's own part: (request arrives
 * at the server − call started) + (reader sees the first token − server wrote it). The server runs
 * in this process, so its clock is ours; the model's delay, and its timer's jitter on a loaded
 * machine, drop out, and what is left is what each path spends before and after the model spoke.
 */
function withoutModel(server: ScriptedServer, started: number, seen: number): number {
  const request = server.requests.at(-1);
  if (!request || request.firstChunkAt === undefined) return seen - started;
  return request.at - started + (seen - request.firstChunkAt);
}

type Result = { firstMs: number; totalMs: number; chunks: number; legs?: Legs };

/** The provider read directly: time to the first text delta, and to the end. */
async function direct(server: ScriptedServer): Promise<Result> {
  const model = createOpenAI({ apiKey: 'sk-bench', baseURL: server.openaiBaseUrl }).responses('gpt-4o-mini');
  const started = performance.now();
  let firstMs = 0;
  let seen = 0;
  let chunks = 0;
  const result = streamText({ model, prompt: 'bench', maxRetries: 0 });
  for await (const part of result.fullStream) {
    if (part.type !== 'text-delta') continue;
    if (chunks === 0) {
      seen = performance.now();
      firstMs = withoutModel(server, started, seen);
    }
    chunks++;
  }
  const request = server.requests.at(-1)!;
  const legs = { request: request.at - started, back: seen - (request.firstChunkAt ?? Number.NaN) };
  return { firstMs, totalMs: performance.now() - started, chunks, legs };
}

/** Through a runtime: time from submit to the first `stream.chunk` of the llm, and to turn.completed. */
async function embedded(server: ScriptedServer, runtime: Runtime): Promise<Result> {
  const sessionId = await runtime.create();
  const events = runtime.events(sessionId, { from: 'live' })[Symbol.asyncIterator]();
  const started = performance.now();
  await runtime.submit(sessionId, 'bench');
  let firstMs = 0;
  let chunks = 0;
  for (;;) {
    const { value: event, done } = await events.next();
    if (done) break;
    if (event.event_type === 'stream.chunk' && event.component_source === 'chat' && typeof (event.payload as { data?: unknown }).data === 'string' && (event.payload as { data: string }).data !== '') {
      if (chunks === 0) firstMs = withoutModel(server, started, performance.now());
      chunks++;
    }
    if (event.event_type === 'turn.completed') break;
  }
  const totalMs = performance.now() - started;
  await events.return?.();
  await runtime.end(sessionId);
  return { firstMs, totalMs, chunks };
}

/** Through the API gateway: an SSE reader open on the session, a POST, time to the first chunk it reads. */
async function gateway(server: ScriptedServer, api: string, token: string, timeline?: Timeline): Promise<Result> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = (await (await fetch(`${api}/v1/sessions`, { method: 'POST', headers, body: '{}' })).json()) as { session_id: string };
  const controller = new AbortController();
  const response = await fetch(`${api}/v1/sessions/${created.session_id}/events?from=live`, { headers, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  // Wait for the stream to be open (its first comment) before starting the clock.
  while (!buffer.includes('\n\n')) buffer += (await reader.read()).value ?? '';
  buffer = '';
  if (timeline) {
    timeline.marks = [];
    timeline.armed = true;
  }
  const started = performance.now();
  let seen = 0;
  const posted = fetch(`${api}/v1/sessions/${created.session_id}/messages`, { method: 'POST', headers, body: JSON.stringify({ input: 'bench', wait: false }) });
  let firstMs = 0;
  let chunks = 0;
  let done = false;
  while (!done) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.includes('event: stream.chunk') && block.includes('"component_source":"chat"') && /"data":"[^"]/.test(block)) {
        if (chunks === 0) {
          seen = performance.now();
          firstMs = withoutModel(server, started, seen);
        }
        chunks++;
      }
      if (block.includes('event: turn.completed')) done = true;
    }
  }
  const totalMs = performance.now() - started;
  await posted;
  controller.abort();
  await reader.cancel().catch(() => undefined);
  if (!timeline) return { firstMs, totalMs, chunks };
  timeline.armed = false;
  const request = server.requests.at(-1)!;
  const written = request.firstChunkAt ?? Number.NaN;
  const inputPublished = timeline.find('publish', '.component.input', 'input.received');
  const handlerRuns = timeline.find('deliver', '.component.chat', 'input.received');
  const eventPublished = timeline.find('publish', '.events', 'stream.chunk', written);
  const hubHasIt = timeline.find('deliver', '.events', 'stream.chunk', written);
  const legs: Legs = {
    gateway: inputPublished - started,
    hops: handlerRuns - inputPublished,
    request: request.at - handlerRuns,
    llm: eventPublished - written,
    redis: hubHasIt - eventPublished,
    sse: seen - hubHasIt,
  };
  return { firstMs, totalMs, chunks, legs };
}

type Path = () => Promise<Result>;

/** Interleaved rounds of several paths (so load on the shared cores hits all alike). */
async function rounds(paths: Record<string, Path>, count: number) {
  const results: Record<string, Result[]> = Object.fromEntries(Object.keys(paths).map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (const [name, run] of Object.entries(paths)) results[name]!.push(await run());
  }
  return results;
}

async function main(): Promise<void> {
  console.log(`@woodwork/ai benchmark — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${ROUNDS} rounds, model delay ${MODEL_DELAY_MS} ms, load average ${load()}`);
  if (!redisUrl) console.log('(WOODWORK_TEST_REDIS_URL not set: the Redis rows are skipped)');
  const server = await startScriptedServer();
  const words = (count: number) => Array.from({ length: count }, (_, index) => `w${index} `);
  const stopping: (() => Promise<unknown>)[] = [async () => server.close()];
  try {
    // ---- time to first token
    server.enqueue();
    const shortReply = () => ({ text: words(20), delayMs: MODEL_DELAY_MS });
    const pacedReply = () => ({ text: words(20), delayMs: MODEL_DELAY_MS, chunkDelayMs: PACED_TOKEN_GAP_MS });
    const source = (extra = '') => `chat = llm openai { model = "gpt-4o-mini", api_key = "sk-bench", base_url = "${server.openaiBaseUrl}", max_retries = 0${extra ? `, ${extra}` : ''} }\n`;
    const paths: Record<string, Path> = {};
    const direct1: Path = () => (server.enqueue(shortReply()), direct(server));
    paths['provider directly'] = direct1;
    paths['provider directly, paced'] = () => (server.enqueue(pacedReply()), direct(server));

    const plain = await topology(source());
    stopping.push(plain.remove);
    const embeddedRuntime = createRuntime(plain.resolved, { logger: silentLogger, registry: registry(), io: { stdout: nowhere(), stderr: nowhere() } });
    await embeddedRuntime.start();
    stopping.unshift(() => embeddedRuntime.stop());
    paths['embedded (memory bus)'] = () => (server.enqueue(shortReply()), embedded(server, embeddedRuntime));

    let gatewayApi: string | undefined;
    let splitApi: string | undefined;
    let processApi: string | undefined;
    const timeline = new Timeline();
    const splitTimeline = new Timeline();
    if (redisUrl) {
      const port = await freePort();
      const viaGateway = await topology(
        `input = api { port = ${port}, auth = { token = "bench-token" }, rate_limit = false }\n${source('streaming = true')}output = api { streaming = true }\n`,
      );
      stopping.push(viaGateway.remove);
      const bus = await createBus(redisUrl);
      stopping.push(() => bus.close());
      const options: RuntimeOptions = {
        logger: silentLogger,
        registry: registry(),
        bus: timedBus(bus, timeline),
        sessions: { redis: redisUrl },
        namespace: `aibench${randomUUID().slice(0, 6)}`,
        io: { stdout: nowhere(), stderr: nowhere() },
      };
      const redisRuntime = createRuntime(viaGateway.resolved, options);
      await redisRuntime.start();
      stopping.unshift(() => redisRuntime.stop());
      gatewayApi = `http://127.0.0.1:${port}`;
      const api = gatewayApi;
      paths['gateway SSE, Redis bus + sessions'] = () => (server.enqueue(shortReply()), gateway(server, api, 'bench-token', timeline));
      paths['gateway SSE, Redis bus + sessions, paced'] = () => (server.enqueue(pacedReply()), gateway(server, api, 'bench-token'));

      // The same topology split as `woodwork up` splits it: the gateway (input, output) in one
      // runtime, the llm in another, each with its own bus connections, as two processes would.
      const splitPort = await freePort();
      const split = await topology(
        `input = api { port = ${splitPort}, auth = { token = "bench-token" }, rate_limit = false }\n${source('streaming = true')}output = api { streaming = true }\n`,
      );
      stopping.push(split.remove);
      const splitNamespace = `aibench${randomUUID().slice(0, 6)}`;
      for (const components of [['chat'], ['input', 'output']]) {
        const splitBus = await createBus(redisUrl);
        stopping.push(() => splitBus.close());
        const runtime = createRuntime(split.resolved, { ...options, registry: registry(), bus: timedBus(splitBus, splitTimeline), namespace: splitNamespace, components });
        await runtime.start();
        stopping.unshift(() => runtime.stop());
      }
      splitApi = `http://127.0.0.1:${splitPort}`;
      const splitUrl = splitApi;
      paths['gateway SSE, llm in another runtime'] = () => (server.enqueue(shortReply()), gateway(server, splitUrl, 'bench-token', splitTimeline));

      // The same split with the llm in a process of its own, as `woodwork up` runs it: the two
      // runtimes above share this process's event loop, so the llm parsing the rest of the model's
      // reply holds up the session hub's read of the first token (ai README, *leg by leg*). Its
      // turns are not cut into legs (its bus is in the other process); the time to first token is
      // measured as for the others, the model server and the client being here.
      const processPort = await freePort();
      const processSource = `input = api { port = ${processPort}, auth = { token = "bench-token" }, rate_limit = false }\n${source('streaming = true')}output = api { streaming = true }\n`;
      const processTopology = await topology(processSource);
      stopping.push(processTopology.remove);
      const processNamespace = `aibench${randomUUID().slice(0, 6)}`;
      const child = fork(fileURLToPath(new URL('./llm-process.ts', import.meta.url)), [], {
        execArgv: ['--conditions=@woodwork/source', '--import', 'tsx'],
        env: { ...process.env, BENCH_LLM_PROCESS: JSON.stringify({ source: processSource, namespace: processNamespace, redisUrl }) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      stopping.unshift(async () => {
        if (child.exitCode !== null) return;
        child.send('stop');
        // A child that does not stop in time is killed: the benchmark must not hang on it.
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await once(child, 'exit');
        clearTimeout(timer);
      });
      const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => ['exited'])])) as [unknown];
      if (message !== 'ready') throw new Error('the benchmark\'s llm process did not start');
      const processBus = await createBus(redisUrl);
      stopping.push(() => processBus.close());
      const gatewayRuntime = createRuntime(processTopology.resolved, { ...options, registry: registry(), bus: processBus, namespace: processNamespace, components: ['input', 'output'] });
      await gatewayRuntime.start();
      stopping.unshift(() => gatewayRuntime.stop());
      processApi = `http://127.0.0.1:${processPort}`;
      const processUrl = processApi;
      paths['gateway SSE, llm in another process'] = () => (server.enqueue(shortReply()), gateway(server, processUrl, 'bench-token'));
      paths['gateway SSE, llm in another process, paced'] = () => (server.enqueue(pacedReply()), gateway(server, processUrl, 'bench-token'));
    }
    // Warm up every path (JIT, connections), then measure.
    await rounds(paths, 5);
    const ttft = await rounds(paths, ROUNDS);
    const base = median(ttft['provider directly']!.map((r) => r.firstMs));
    const pacedBase = median(ttft['provider directly, paced']!.map((r) => r.firstMs));
    const summary: [string, string, string][] = [];
    console.log(
      `\nTime to first token without the model’s own delay (call → request at the server, plus first chunk written → seen by the reader), median and p90; Woodwork adds the difference to the provider read directly (a paced row: to the provider read directly, paced; the model's later tokens ${PACED_TOKEN_GAP_MS} ms apart instead of all at once):`,
    );
    for (const [name, results] of Object.entries(ttft)) {
      const firsts = results.map((r) => r.firstMs);
      const isDirect = name.startsWith('provider directly');
      const added = median(firsts) - (name.endsWith(', paced') ? pacedBase : base);
      const target = name.startsWith('embedded') ? 2 : name.startsWith('gateway') ? 10 : undefined;
      console.log(
        `  ${name.padEnd(46)} ${ms(median(firsts)).padStart(10)}  p90 ${ms(p90(firsts)).padStart(10)}${isDirect ? '' : `  added ${ms(added)}${target ? ` (target < ${target} ms: ${added < target ? 'met' : 'NOT met'})` : ''}`}`,
      );
      if (target) summary.push([`time to first token added, ${name}`, ms(added), `< ${target} ms: ${added < target ? 'met' : 'NOT met'}`]);
    }
    console.log(`  (load average ${load()})`);

    for (const [pathName, gatewayRuns] of Object.entries(ttft)) {
      if (!pathName.startsWith('gateway') || gatewayRuns.every((run) => run.legs === undefined)) continue;
      const leg = (runs: Result[], name: string) => median(runs.map((run) => run.legs?.[name] ?? Number.NaN));
      const directRuns = ttft['provider directly']!;
      console.log(`\nWhere the first token spends its time, ${pathName} (medians; bus publishes and deliveries timestamped), beside the provider read directly:`);
      const rows: [string, number, number | undefined][] = [
        ['POST → input published (auth, session read, turn bookkeeping)', leg(gatewayRuns, 'gateway'), undefined],
        ['input published → llm handler runs (input → llm, two bus hops)', leg(gatewayRuns, 'hops'), undefined],
        ['llm handler → request at the model server (AI SDK, HTTP)', leg(gatewayRuns, 'request'), leg(directRuns, 'request')],
        ['first chunk written → its stream.chunk event published (AI SDK, llm)', leg(gatewayRuns, 'llm'), leg(directRuns, 'back')],
        ['event published → session hub has it (Redis: XADD, XREADGROUP)', leg(gatewayRuns, 'redis'), undefined],
        ['session hub → SSE client reads it (gateway write, HTTP, client parse)', leg(gatewayRuns, 'sse'), undefined],
      ];
      for (const [name, value, directValue] of rows) {
        console.log(`  ${name.padEnd(72)} ${ms(value).padStart(10)}${directValue === undefined ? '' : `   directly ${ms(directValue)}`}`);
      }
    }

    // ---- tokens per second
    const longReply = () => ({ text: words(LONG_REPLY_TOKENS) });
    const throughputPaths: Record<string, Path> = {
      'provider directly': () => (server.enqueue(longReply()), direct(server)),
      'embedded (memory bus)': () => (server.enqueue(longReply()), embedded(server, embeddedRuntime)),
    };
    if (gatewayApi) {
      const api = gatewayApi;
      throughputPaths['gateway SSE, Redis bus + sessions'] = () => (server.enqueue(longReply()), gateway(server, api, 'bench-token'));
    }
    if (splitApi) {
      const api = splitApi;
      throughputPaths['gateway SSE, llm in another runtime'] = () => (server.enqueue(longReply()), gateway(server, api, 'bench-token'));
    }
    if (processApi) {
      const api = processApi;
      throughputPaths['gateway SSE, llm in another process'] = () => (server.enqueue(longReply()), gateway(server, api, 'bench-token'));
    }
    await rounds(throughputPaths, 2);
    const throughput = await rounds(throughputPaths, Math.max(5, Math.floor(ROUNDS / 3)));
    const rate = (results: { totalMs: number; chunks: number }[]) => median(results.map((r) => (r.chunks / r.totalMs) * 1000));
    const directRate = rate(throughput['provider directly']!);
    console.log(`\nTokens per second of a ${LONG_REPLY_TOKENS}-token reply (one token a chunk), median, whole topology vs the provider stream read directly:`);
    for (const [name, results] of Object.entries(throughput)) {
      const value = rate(results);
      const chunks = results[0]!.chunks;
      console.log(`  ${name.padEnd(38)} ${value.toFixed(0).padStart(8)} tokens/s${name === 'provider directly' ? '' : `  ratio ${(value / directRate).toFixed(2)}`}${chunks !== LONG_REPLY_TOKENS ? `  (saw ${chunks} chunks!)` : ''}`);
      if (name !== 'provider directly') summary.push([`tokens/s ratio to the provider read directly, ${name}`, (value / directRate).toFixed(2), 'no target (printed)']);
    }
    console.log(`  (load average ${load()})`);

    // ---- llm local
    const localModel = process.env.WOODWORK_LOCAL_MODEL;
    let local: LocalBenchmarkResult | undefined;
    if (localModel && process.env.BENCH_LOCAL !== '0') {
      local = await runLocalBenchmark({ model: localModel, rounds: Number(process.env.BENCH_LOCAL_ROUNDS ?? 7), tokens: Number(process.env.BENCH_LOCAL_TOKENS ?? 128) });
      summary.push(['llm local tokens/s through Woodwork / direct (median of rounds)', `${(local.medianRatio * 100).toFixed(1)}%`, `≥ 95%: ${local.medianRatio >= 0.95 ? 'met' : 'NOT met'}`]);
      summary.push(['llm local CPU per token, direct / Woodwork (load-independent)', `${(local.cpuRatio * 100).toFixed(1)}%`, `≥ 95%: ${local.cpuRatio >= 0.95 ? 'met' : 'NOT met'}`]);
    } else {
      console.log('\n(llm local skipped: set WOODWORK_LOCAL_MODEL with `eval "$(bash tools/models.sh env)"`)');
    }

    console.log(`\nSummary (load average ${load()}):`);
    for (const [name, value, target] of summary) console.log(`  ${name.padEnd(80)} ${value.padStart(10)}   ${target}`);
  } finally {
    for (const stop of stopping) await stop().catch(() => undefined);
  }
}

await main();
