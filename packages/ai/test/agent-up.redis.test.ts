/**
 * examples/tool-agent with `woodwork up` over Redis, as a user runs it: one process per component
 * (the functions tool `clock` in its own), the model pointed at the scripted server, a line piped to
 * `input command_line`, the answer printed by `out`. The CLI runs from its sources (tsx), and its
 * host processes inherit that. Skipped without WOODWORK_TEST_REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startScriptedServer } from '../src/testing/index.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required');
const root = path.resolve(import.meta.dirname, '../../..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

describe.skipIf(url === undefined)('examples/tool-agent with woodwork up', () => {
  it('answers through an agent whose tool runs in its own process', async () => {
    await using server = await startScriptedServer({
      respond: (request) => {
        const outputs = ((request.body?.input ?? []) as any[]).filter((item) => item.type === 'function_call_output');
        return outputs.length === 0 ? { toolCalls: [{ name: 'daysUntil', arguments: { date: '2999-01-01' } }] } : { text: `It is ${outputs.at(-1).output} days away.` };
      },
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-up-agent-'));
    await cp(path.join(root, 'examples/tool-agent'), dir, { recursive: true });
    const child = spawn(
      process.execPath,
      ['--conditions=@woodwork/source', '--import', tsx, path.join(root, 'packages/cli/src/bin.ts'), 'up', dir, '--bus', url!, '--namespace', `up-agent-${randomUUID().slice(0, 8)}`],
      {
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, OPENAI_BASE_URL: server.openaiBaseUrl, OPENAI_API_KEY: 'sk-up', WOODWORK_HOST_ENTRY: path.join(root, 'apps/host/main.js') },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      child.stdin.write('How many days until 2999?\n');
      const deadline = Date.now() + 90_000;
      while (!/out\s+\| It is \d+ days away\./.test(stdout)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no answer printed\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(stdout).toMatch(/6 processes ready .*clock, language_model, notes, assistant, in, out/);
      // The hook printed the call in the agent's process; the function ran in clock's.
      expect(stdout).toMatch(/assistant\s+\|\s+tool\.call: .*"tool":"daysUntil","component":"clock"/);
      expect(server.requests).toHaveLength(2);
    } finally {
      child.kill('SIGINT');
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
