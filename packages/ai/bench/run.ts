/**
 * `npm run bench -w @woodwork/ai` (not a test): what Woodwork adds on top of a model.
 *
 * A scripted OpenAI server (Responses API, SSE) answers after a fixed delay, so the model's own
 * time to first token is known. Each figure compares the same call made two ways, in interleaved
 * rounds, medians printed:
 *
 * 1. Time to first token: the AI SDK's `streamText` read directly (the provider's own TTFT) vs
 *    the first `stream.chunk` a client sees — embedded (`runtime.events`) and through the API
 *    gateway's SSE with the bus and sessions in Redis. The difference is what Woodwork adds.
 *    Targets: under 2 ms embedded, under 10 ms through the gateway over Redis.
 * 2. Tokens per second of a long reply (one token a chunk, no delay): the provider stream read
 *    directly vs the whole topology (llm → client), embedded and over Redis, with the ratio.
 *
 * Redis comes from WOODWORK_TEST_REDIS_URL (`eval "$(bash tools/services.sh env)"`); without it
 * the Redis rows are skipped. Everything runs in this process on the same cores, the scripted
 * server included, so the figures are relative, not absolute.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createOpenAI } from '@ai-sdk/openai';
import { streamText } from 'ai';
import { loadTopology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, type Runtime, type RuntimeOptions } from '@woodwork/runtime';
import { aiComponents } from '../src/index.js';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';

const MODEL_DELAY_MS = 50;
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

/** The provider read directly: time to the first text delta, and to the end. */
async function direct(server: ScriptedServer): Promise<{ firstMs: number; totalMs: number; chunks: number }> {
  const model = createOpenAI({ apiKey: 'sk-bench', baseURL: server.openaiBaseUrl }).responses('gpt-4o-mini');
  const started = performance.now();
  let firstMs = 0;
  let chunks = 0;
  const result = streamText({ model, prompt: 'bench', maxRetries: 0 });
  for await (const part of result.fullStream) {
    if (part.type !== 'text-delta') continue;
    if (chunks === 0) firstMs = withoutModel(server, started, performance.now());
    chunks++;
  }
  return { firstMs, totalMs: performance.now() - started, chunks };
}

/** Through a runtime: time from submit to the first `stream.chunk` of the llm, and to turn.completed. */
async function embedded(server: ScriptedServer, runtime: Runtime): Promise<{ firstMs: number; totalMs: number; chunks: number }> {
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
async function gateway(server: ScriptedServer, api: string, token: string): Promise<{ firstMs: number; totalMs: number; chunks: number }> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = (await (await fetch(`${api}/v1/sessions`, { method: 'POST', headers, body: '{}' })).json()) as { session_id: string };
  const controller = new AbortController();
  const response = await fetch(`${api}/v1/sessions/${created.session_id}/events?from=live`, { headers, signal: controller.signal });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  // Wait for the stream to be open (its first comment) before starting the clock.
  while (!buffer.includes('\n\n')) buffer += (await reader.read()).value ?? '';
  buffer = '';
  const started = performance.now();
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
        if (chunks === 0) firstMs = withoutModel(server, started, performance.now());
        chunks++;
      }
      if (block.includes('event: turn.completed')) done = true;
    }
  }
  const totalMs = performance.now() - started;
  await posted;
  controller.abort();
  await reader.cancel().catch(() => undefined);
  return { firstMs, totalMs, chunks };
}

type Path = () => Promise<{ firstMs: number; totalMs: number; chunks: number }>;

/** Interleaved rounds of several paths (so load on the shared cores hits all alike). */
async function rounds(paths: Record<string, Path>, count: number) {
  const results: Record<string, { firstMs: number; totalMs: number; chunks: number }[]> = Object.fromEntries(Object.keys(paths).map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (const [name, run] of Object.entries(paths)) results[name]!.push(await run());
  }
  return results;
}

async function main(): Promise<void> {
  console.log(`@woodwork/ai benchmark — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${ROUNDS} rounds, model delay ${MODEL_DELAY_MS} ms`);
  if (!redisUrl) console.log('(WOODWORK_TEST_REDIS_URL not set: the Redis rows are skipped)');
  const server = await startScriptedServer();
  const words = (count: number) => Array.from({ length: count }, (_, index) => `w${index} `);
  const stopping: (() => Promise<unknown>)[] = [async () => server.close()];
  try {
    // ---- time to first token
    server.enqueue();
    const shortReply = () => ({ text: words(20), delayMs: MODEL_DELAY_MS });
    const source = (extra = '') => `chat = llm openai { model = "gpt-4o-mini", api_key = "sk-bench", base_url = "${server.openaiBaseUrl}", max_retries = 0${extra ? `, ${extra}` : ''} }\n`;
    const paths: Record<string, Path> = {};
    const direct1: Path = () => (server.enqueue(shortReply()), direct(server));
    paths['provider directly'] = direct1;

    const plain = await topology(source());
    stopping.push(plain.remove);
    const embeddedRuntime = createRuntime(plain.resolved, { logger: silentLogger, registry: registry(), io: { stdout: nowhere(), stderr: nowhere() } });
    await embeddedRuntime.start();
    stopping.unshift(() => embeddedRuntime.stop());
    paths['embedded (memory bus)'] = () => (server.enqueue(shortReply()), embedded(server, embeddedRuntime));

    let gatewayApi: string | undefined;
    if (redisUrl) {
      const port = await freePort();
      const viaGateway = await topology(
        `input = api { port = ${port}, auth = { token = "bench-token" }, rate_limit = false }\n${source('streaming = true')}output = api { streaming = true }\n`,
      );
      stopping.push(viaGateway.remove);
      const options: RuntimeOptions = { logger: silentLogger, registry: registry(), bus: redisUrl, sessions: { redis: redisUrl }, namespace: `aibench${randomUUID().slice(0, 6)}`, io: { stdout: nowhere(), stderr: nowhere() } };
      const redisRuntime = createRuntime(viaGateway.resolved, options);
      await redisRuntime.start();
      stopping.unshift(() => redisRuntime.stop());
      gatewayApi = `http://127.0.0.1:${port}`;
      const api = gatewayApi;
      paths['gateway SSE, Redis bus + sessions'] = () => (server.enqueue(shortReply()), gateway(server, api, 'bench-token'));
    }
    // Warm up every path (JIT, connections), then measure.
    await rounds(paths, 5);
    const ttft = await rounds(paths, ROUNDS);
    const base = median(ttft['provider directly']!.map((r) => r.firstMs));
    console.log('\nTime to first token without the model’s own delay (call → request at the server, plus first chunk written → seen by the reader), median and p90; Woodwork adds the difference to the provider read directly:');
    for (const [name, results] of Object.entries(ttft)) {
      const firsts = results.map((r) => r.firstMs);
      const added = median(firsts) - base;
      const target = name.startsWith('embedded') ? 2 : name.startsWith('gateway') ? 10 : undefined;
      console.log(
        `  ${name.padEnd(36)} ${ms(median(firsts)).padStart(10)}  p90 ${ms(p90(firsts)).padStart(10)}${name === 'provider directly' ? '' : `  added ${ms(added)}${target ? ` (target < ${target} ms: ${added < target ? 'met' : 'NOT met'})` : ''}`}`,
      );
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
    await rounds(throughputPaths, 2);
    const throughput = await rounds(throughputPaths, Math.max(5, Math.floor(ROUNDS / 3)));
    const rate = (results: { totalMs: number; chunks: number }[]) => median(results.map((r) => (r.chunks / r.totalMs) * 1000));
    const directRate = rate(throughput['provider directly']!);
    console.log(`\nTokens per second of a ${LONG_REPLY_TOKENS}-token reply (one token a chunk), median, whole topology vs the provider stream read directly:`);
    for (const [name, results] of Object.entries(throughput)) {
      const value = rate(results);
      const chunks = results[0]!.chunks;
      console.log(`  ${name.padEnd(36)} ${value.toFixed(0).padStart(8)} tokens/s${name === 'provider directly' ? '' : `  ratio ${(value / directRate).toFixed(2)}`}${chunks !== LONG_REPLY_TOKENS ? `  (saw ${chunks} chunks!)` : ''}`);
    }
  } finally {
    for (const stop of stopping) await stop().catch(() => undefined);
  }
}

await main();
