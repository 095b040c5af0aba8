/**
 * examples/local-chat end to end with the built CLI, on the real local model (`llm local`,
 * SmolLM2-135M from `bash tools/models.sh`, which `npm test` fetches and passes as
 * WOODWORK_LOCAL_MODEL): `woodwork run` embedded, and `woodwork up` with every component in its own
 * process over Redis. Replies are checked for being there, never for their words.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const example = path.join(root, 'examples', 'local-chat');
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';

function localModel(): string {
  const file = process.env.WOODWORK_LOCAL_MODEL;
  if (!file) throw new Error('WOODWORK_LOCAL_MODEL is not set: run `eval "$(bash tools/models.sh env)"` in the repository (npm test does it)');
  return file;
}

const env = () => ({ PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', WOODWORK_LOCAL_MODEL: localModel() });

describe('examples/local-chat', () => {
  it('woodwork run answers each input once, saying it is a very small model', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [cliBin, 'run', example, '--input', 'What is the capital of France?', '--input', 'And of Italy?'], { cwd: root, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/chat: answers come from SmolLM2-135M-Instruct.*a very small local model/);
    expect(stderr.match(/very small local model/g)).toHaveLength(1);
    expect(stdout.trim()).not.toBe('');
  });

  const suite = redisUrl ? it : it.skip;
  if (!redisUrl && !requireBrokers) console.warn('[local-chat e2e] SKIPPING woodwork up: WOODWORK_TEST_REDIS_URL not set');
  suite('woodwork up runs it as processes over Redis: the typed question gets the model’s reply', { timeout: 240_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-e2e-local-chat-'));
    await cp(example, dir, { recursive: true });
    const child = spawn(process.execPath, [cliBin, 'up', dir, '--bus', redisUrl!, '--namespace', `e2e-local-${randomUUID().slice(0, 8)}`], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: undefined, ...env() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      child.stdin.write('What is the capital of France?\n');
      child.stdin.end();
      const deadline = Date.now() + 200_000;
      // `woodwork up` prefixes each process's lines with its name (padded): the reply is the line of
      // `output` that is not one of its log lines.
      const reply = /^output\s+\| (?!\[woodwork\])(\S.*)$/m;
      while (!reply.test(stdout)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no reply from \`output\`\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(`${stdout}${stderr}`).toMatch(/very small local model/);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
