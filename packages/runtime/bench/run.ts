/**
 * `npm run bench` (not a test): how fast the embedded runtime turns input into output.
 *
 * 1. Sessions per second and end-to-end latency (p50, p99) of input → component → output with
 *    1 000 and 10 000 concurrent sessions, embedded, in-memory bus: every session sends one message
 *    at the same moment and waits for its turn to complete (`runtime.ask`). With everything sent at
 *    once, latency is mostly queueing; the unloaded latency of one turn at a time is printed first.
 * 2. `woodwork dev` time to ready: the `ready in N ms` it prints (time since process start), for a
 *    project without and with a TypeScript pipe, using the built CLI (packages/cli/dist).
 *
 * Prints the figures; README.md ("Performance") records them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '../src/index.js';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const nowhere = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-bench-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function sessions(concurrent: number): Promise<void> {
  const dir = await project({ 'main.ww': 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n' });
  const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
  const runtime = createRuntime(resolved!, { logger: silentLogger, io: { stdout: nowhere(), stderr: nowhere() }, sessionHistory: 16 });
  await runtime.start();
  // Warm up the JIT and the bus.
  await Promise.all(Array.from({ length: 500 }, (_, index) => runtime.ask(undefined, `warm ${index}`)));
  const latencies = new Array<number>(concurrent);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrent }, async (_, index) => {
      const sent = performance.now();
      const result = await runtime.ask(undefined, `message ${index}`);
      if (result.text !== `MESSAGE ${index}`) throw new Error(`wrong reply ${result.text}`);
      latencies[index] = performance.now() - sent;
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const heap = process.memoryUsage().heapUsed / 2 ** 20;
  await runtime.stop();
  await rm(dir, { recursive: true, force: true });
  console.log(
    `${String(concurrent).padStart(6)} concurrent sessions: ${Math.round(concurrent / elapsed).toLocaleString('en-US').padStart(7)} sessions/s, ` +
      `p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms ` +
      `(all done in ${(elapsed * 1000).toFixed(0)} ms, heap ${heap.toFixed(0)} MiB)`,
  );
}

/** One turn at a time: the latency of a hop chain with no queueing at all. */
async function sequential(turns: number): Promise<void> {
  const dir = await project({ 'main.ww': 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n' });
  const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
  const runtime = createRuntime(resolved!, { logger: silentLogger, io: { stdout: nowhere(), stderr: nowhere() } });
  await runtime.start();
  const session = await runtime.session();
  for (let index = 0; index < 500; index++) await session.ask(`warm ${index}`);
  const latencies: number[] = [];
  for (let index = 0; index < turns; index++) {
    const sent = performance.now();
    await session.ask(`message ${index}`);
    latencies.push(performance.now() - sent);
  }
  latencies.sort((a, b) => a - b);
  await runtime.stop();
  await rm(dir, { recursive: true, force: true });
  console.log(`${String(turns).padStart(6)} turns one at a time:  p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms end to end (input → transform → output → turn.completed)`);
}

const cliBin = fileURLToPath(new URL('../../cli/bin/woodwork.js', import.meta.url));
const cliDist = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

function devReady(dir: string): Promise<{ reported: number; wall: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cliBin, 'dev', 'main.ww'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH, NO_COLOR: '1' } });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready in (\d+) ms/.exec(output);
      if (match) {
        const wall = performance.now() - started;
        child.stdin.end();
        child.once('exit', () => resolve({ reported: Number(match[1]), wall }));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      if (!/ready in/.test(output)) reject(new Error(`woodwork dev exited ${code} before it was ready:\n${output}`));
    });
  });
}

async function devStartup(): Promise<void> {
  if (!existsSync(cliDist)) {
    console.log('woodwork dev time to ready: skipped (build the CLI first: npx nx run @woodwork/cli:build)');
    return;
  }
  const cases = {
    'transforms only': { 'main.ww': 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n' },
    'with a TypeScript pipe and hook': {
      'main.ww': 'in = input cli {}\nshout = transform uppercase { pipes = ["p.ts::trim"], hooks = ["p.ts::log"] }\nout = output console {}\n',
      'p.ts': 'export const trim = (text: string): string => text.trim();\nexport const log = (): void => {};\n',
    },
  };
  for (const [name, files] of Object.entries(cases)) {
    const dir = await project(files);
    const runs: { reported: number; wall: number }[] = [];
    for (let index = 0; index < 5; index++) runs.push(await devReady(dir));
    await rm(dir, { recursive: true, force: true });
    const reported = runs.map((run) => run.reported).sort((a, b) => a - b);
    const wall = runs.map((run) => run.wall).sort((a, b) => a - b);
    console.log(
      `woodwork dev time to ready (${name}): median ${quantile(reported, 0.5)} ms reported, ${quantile(wall, 0.5).toFixed(0)} ms wall clock from spawn (5 runs, max ${reported.at(-1)} ms)`,
    );
  }
}

console.log(`@woodwork/runtime benchmark — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`);
await sequential(2_000);
await sessions(1_000);
await sessions(10_000);
await devStartup();
