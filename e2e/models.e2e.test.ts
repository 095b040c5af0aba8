/**
 * A model topology in distributed mode: `woodwork up examples/streaming-chat` (the built CLI, as a
 * user runs it) over Redis — input, the Claude llm, its memory and the output each their own
 * process — with the Anthropic provider pointed at @woodwork/ai's scripted server through
 * ANTHROPIC_BASE_URL. A client streams a reply over the gateway's SSE, then a second turn shows the
 * memory process kept the first one (in Redis), and the key never shows in the processes' logs.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startScriptedServer } from '@woodwork/ai/testing';
import { freePort } from './free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;

function cli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`woodwork ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every file under a folder, read as text (the processes' logs `up --detach` keeps). */
async function allText(dir: string): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += await readFile(path.join(entry.parentPath, entry.name), 'utf8').catch(() => '');
  }
  return text;
}

describe.skipIf(!redisUrl)('examples/streaming-chat with woodwork up over Redis', () => {
  it('streams a reply through four processes, remembers the session in Redis, and logs no key', { timeout: 240_000 }, async () => {
    const key = 'sk-ant-e2e-never-printed-0123456789';
    await using server = await startScriptedServer({ apiKey: key });
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-e2e-models-'));
    await cp(path.join(root, 'examples', 'streaming-chat'), dir, { recursive: true });
    const port = await freePort();
    const env = { PORT: String(port), ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: server.anthropicBaseUrl };
    const namespace = `e2e-models-${process.pid}-${Date.now()}`;
    try {
      const started = await cli(['up', dir, '--bus', redisUrl!, '--namespace', namespace, '--detach'], env);
      expect(started.code, `${started.stdout}\n${started.stderr}`).toBe(0);
      expect(started.stdout).toMatch(/✔ 4 processes ready/);

      const api = `http://127.0.0.1:${port}`;
      const headers = { authorization: 'Bearer dev-token', 'content-type': 'application/json' };
      server.enqueue({ text: ['Four ', 'processes, ', 'one ', 'reply.'], chunkDelayMs: 5 });
      const first = await fetch(`${api}/v1/sessions`, { method: 'POST', headers, body: JSON.stringify({ input: 'How many processes?' }) });
      const firstBody = (await first.json()) as { session_id: string; ok: boolean; reply: string; turn_id: string };
      expect(firstBody).toMatchObject({ ok: true, reply: 'Four processes, one reply.' });

      // The turn's events, replayed: the llm's chunks, one by one.
      const events = await (await fetch(`${api}/v1/sessions/${firstBody.session_id}/events?turn_id=${firstBody.turn_id}`, { headers })).text();
      const chunks = [...events.matchAll(/^data: (.*)$/gm)]
        .map((match) => JSON.parse(match[1]!))
        .filter((envelope) => envelope.event_type === 'stream.chunk' && envelope.component_source === 'chat' && typeof envelope.payload?.data === 'string' && envelope.payload.data !== '')
        .map((envelope) => envelope.payload.data);
      expect(chunks).toEqual(['Four ', 'processes, ', 'one ', 'reply.']);

      server.enqueue({ text: 'Four.' });
      const second = await fetch(`${api}/v1/sessions/${firstBody.session_id}/messages`, { method: 'POST', headers, body: JSON.stringify({ input: 'Say it shorter' }) });
      expect(await second.json()).toMatchObject({ ok: true, reply: 'Four.' });
      expect(server.requests[1]!.body.messages.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant', 'user']);
      expect(JSON.stringify(server.requests[1]!.body.messages[1])).toContain('Four processes, one reply.');

      const logs = await allText(path.join(dir, '.woodwork'));
      expect(logs).toMatch(/ready: chat on the redis bus/); // the processes' logs were read
      expect(logs).not.toContain(key);
    } finally {
      const stopped = await cli(['stop', dir, '--timeout', '30'], {}, 90_000).catch((error: Error) => ({ code: 1, stdout: '', stderr: error.message }));
      expect(stopped.code, stopped.stderr).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
