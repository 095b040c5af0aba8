/**
 * Every example in examples/ that needs no LLM, run end to end embedded — the built CLI as a user
 * runs it (`node packages/cli/bin/woodwork.js run …`), in-memory bus, one process:
 *
 * - an example with a terminal input gets a message with `--input` and through piped stdin, and
 *   must print the reply and exit 0;
 * - an example served over HTTP (`input api`) is started, asked over HTTP with its token, and
 *   stopped with SIGTERM, exiting 0.
 *
 * Which examples need an LLM is read from the examples themselves (an `llm` or `agent` component),
 * so a new example is covered without touching this file.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopology, type Topology } from '@woodwork/parser';
import { freePort } from './free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const examplesDir = path.join(root, 'examples');
const NEEDS_LLM = new Set(['llm', 'agent']);

interface Example {
  readonly name: string;
  readonly dir: string;
  readonly topology: Topology;
}

async function examples(): Promise<Example[]> {
  const found: Example[] = [];
  for (const entry of await readdir(examplesDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(examplesDir, entry.name);
    const { topology } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'validate', env: {} });
    if (topology) found.push({ name: entry.name, dir, topology });
  }
  return found;
}

const all = await examples();
const runnable = all.filter((example) => !example.topology.components.some((component) => NEEDS_LLM.has(component.kind)));
const hasTerminal = (example: Example) => example.topology.components.some((component) => component.kind === 'input' && component.type === 'command_line');
const hasApi = (example: Example) => example.topology.components.some((component) => component.kind === 'input' && component.type === 'api');

function run(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], {
      cwd: options.cwd ?? root,
      env: { PATH: process.env.PATH, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(options.stdin ?? '');
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples, embedded', () => {
  it('covers every example that needs no LLM (at least echo and scaled)', () => {
    expect(runnable.map((example) => example.name)).toEqual(expect.arrayContaining(['echo', 'scaled']));
    expect(runnable.every((example) => hasTerminal(example) || hasApi(example))).toBe(true);
  });

  describe.each(runnable.filter(hasTerminal).map((example) => [example.name, example] as const))('%s (terminal)', (_name, example) => {
    it('answers --input and exits 0', async () => {
      const result = await run(['run', path.relative(root, example.dir), '--input', '  hello   woodwork  ']);
      expect(result.stderr).not.toMatch(/error|Error:/);
      expect(result.code).toBe(0);
      expect(result.stdout.trim().length).toBeGreaterThan(0);
      if (example.name === 'echo') {
        expect(result.stdout).toBe('HELLO WOODWORK\n');
        // The hook logs every event the transform emits; it never holds up the reply.
        expect(result.stderr).toMatch(/\[shout\] transform\.response/);
      }
    });

    it('answers each piped line and exits 0 at the end of input', async () => {
      const result = await run(['run', 'main.ww'], { cwd: example.dir, stdin: 'first line\nsecond line\n' });
      expect(result.code).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines).toHaveLength(2);
      if (example.name === 'echo') expect(lines).toEqual(['FIRST LINE', 'SECOND LINE']);
    });
  });

  describe.each(runnable.filter(hasApi).map((example) => [example.name, example] as const))('%s (HTTP)', (_name, example) => {
    it('serves the topology over HTTP until SIGTERM, then exits 0', async () => {
      const port = await freePort();
      const token = 'e2e-token-0123456789abcdef';
      const child = spawn(process.execPath, [cliBin, 'run', path.relative(root, example.dir)], {
        cwd: root,
        env: { PATH: process.env.PATH, NO_COLOR: '1', PORT: String(port), API_TOKEN: token, CHAT_TOKEN: token, WOODWORK_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        let reply: Response | undefined;
        const deadline = Date.now() + 20_000;
        for (;;) {
          try {
            reply = await fetch(`http://127.0.0.1:${port}/v1/sessions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ input: 'Hello THERE' }),
            });
            break;
          } catch (error) {
            if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the gateway never answered: ${String(error)}\n${output}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        const body = (await reply.json()) as { ok?: boolean; reply?: unknown };
        expect(reply.status, JSON.stringify(body)).toBeLessThan(300);
        expect(body.ok).toBe(true);
        if (example.name === 'scaled') expect(body.reply).toBe('You said: hello there');
        const refused = await fetch(`http://127.0.0.1:${port}/v1/sessions`, { method: 'POST', body: '{"input":"x"}', headers: { 'content-type': 'application/json' } });
        expect(refused.status).toBe(401);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited, output).toBe(0);
    });
  });
});
