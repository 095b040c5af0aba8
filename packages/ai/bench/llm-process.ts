/**
 * The benchmark's llm in a process of its own (bench/run.ts starts it): the llm runtime of the
 * split topology with its own bus connections and its own event loop, as `woodwork up` runs it, so
 * the model's stream is parsed on another core's time than the gateway's session hub and SSE.
 * Told its topology source and namespace by BENCH_LLM_PROCESS (JSON); says `ready` over IPC once
 * started and stops on `stop`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createBus } from '@woodwork/bus';
import { loadTopology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger } from '@woodwork/runtime';
import { aiComponents } from '../src/index.js';

const { source, namespace, redisUrl } = JSON.parse(process.env.BENCH_LLM_PROCESS ?? '{}') as { source: string; namespace: string; redisUrl: string };
const dir = await mkdtemp(path.join(tmpdir(), 'ww-ai-bench-llm-'));
await writeFile(path.join(dir, 'main.ww'), source);
const { resolved, diagnostics } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
if (!resolved) throw new Error(diagnostics.map((d) => d.message).join('\n'));
const registry = createComponentRegistry();
for (const definition of aiComponents) registry.register(definition);
const nowhere = () => new Writable({ write: (_chunk, _encoding, done) => done() });
const bus = await createBus(redisUrl);
const runtime = createRuntime(resolved, {
  logger: silentLogger,
  registry,
  bus,
  sessions: { redis: redisUrl },
  namespace,
  components: ['chat'],
  io: { stdout: nowhere(), stderr: nowhere() },
});
await runtime.start();
process.send?.('ready');
process.on('message', (message) => {
  if (message !== 'stop') return;
  void (async () => {
    await runtime.stop();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  })();
});
// The benchmark went away without saying stop: do not outlive it.
process.on('disconnect', () => process.exit(0));
