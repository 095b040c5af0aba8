import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { boundMemory, type MemoryMessage } from '../src/index.js';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { aiRegistry, project, started } from './support/project.js';

const topology = (server: ScriptedServer, memoryKeys = '') => `
chat = llm openai {
  model = "gpt-4o-mini"
  api_key = "sk-x"
  base_url = "${server.openaiBaseUrl}"
  memory = history
  prompt = { file = "prompt.txt", variables = { persona = "a ship's cook" } }
}
history = memory short_term { ${memoryKeys} }
`;

/** The conversation the model was sent (Responses API `input`), as role: text lines. */
function conversation(body: any): string[] {
  return (body.input as any[]).map((item) => `${item.role}: ${typeof item.content === 'string' ? item.content : item.content.map((part: any) => part.text).join('')}`);
}

describe('memory short_term', () => {
  it("puts the session's earlier turns before the new message, and the prompt file's placeholders filled", async () => {
    await using server = await startScriptedServer();
    await using files = await project({ 'main.ww': topology(server), 'prompt.txt': 'You are {persona}. Session {session_id}. Keep {unknown} and {{braces}}.\n' });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create({ id: 'memory-session-1' });
    expect((await runtime.ask(sessionId, 'first question')).text).toBe('You said: first question');
    expect((await runtime.ask(sessionId, 'second question')).text).toBe('You said: second question');
    const other = await runtime.ask(undefined, 'another session');
    expect(other.ok).toBe(true);

    expect(conversation(server.requests[1]!.body)).toEqual([
      "system: You are a ship's cook. Session memory-session-1. Keep {unknown} and {braces}.",
      'user: first question',
      'assistant: You said: first question',
      'user: second question',
    ]);
    // Another session starts with nothing remembered.
    expect(conversation(server.requests[2]!.body).slice(1)).toEqual(['user: another session']);
  });

  it('keeps only the last max_messages', async () => {
    await using server = await startScriptedServer();
    await using files = await project({ 'main.ww': topology(server, 'max_messages = 3'), 'prompt.txt': 'Be brief.' });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    for (const text of ['one', 'two', 'three']) await runtime.ask(sessionId, text);
    // Kept: the last 3 of 4 messages, minus a leading assistant reply → user two, assistant two.
    expect(conversation(server.requests[2]!.body).slice(1)).toEqual(['user: two', 'assistant: You said: two', 'user: three']);
  });

  it('bounds by an estimated token budget too, and never opens with a reply', () => {
    const long = (role: MemoryMessage['role'], size: number): MemoryMessage => ({ role, content: 'x'.repeat(size) });
    const messages = [long('user', 400), long('assistant', 400), long('user', 40), long('assistant', 40)];
    // 40 chars ≈ 10 + 4 tokens each: two fit in 30, the 400-char ones (104) do not.
    expect(boundMemory(messages, 20, 30).map((message) => message.content.length)).toEqual([40, 40]);
    expect(boundMemory(messages, 3, 100_000).map((message) => message.role)).toEqual(['user', 'assistant']);
    // A single message over the budget is still kept: a model needs at least the last thing said.
    expect(boundMemory([long('user', 4000)], 20, 10)).toHaveLength(1);
  });

  it.skipIf(!process.env.WOODWORK_TEST_REDIS_URL)('is the same in another process: it lives in the session store (Redis)', async () => {
    const redis = process.env.WOODWORK_TEST_REDIS_URL!;
    const namespace = `ai${randomUUID().slice(0, 8)}`;
    await using server = await startScriptedServer();
    await using files = await project({ 'main.ww': topology(server), 'prompt.txt': 'Be brief.' });
    const topologyLoaded = await files.load();
    const options = { logger: silentLogger, registry: aiRegistry(), bus: redis, sessions: { redis }, namespace, streams: 'bus' as const };
    const sessionId = `shared-${randomUUID()}`;
    {
      await using first = createRuntime(topologyLoaded, options);
      await first.start();
      await first.create({ id: sessionId });
      expect((await first.ask(sessionId, 'remember the number 42')).ok).toBe(true);
    }
    // Another process, with nothing in its memory: what it knows comes from Redis.
    // Not spawnSync: the scripted server answering the child lives in this process's event loop.
    const child = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const process_ = spawn(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', path.join(import.meta.dirname, 'support/turn-process.ts')], {
        env: { ...process.env, WW_TOPOLOGY: files.file, WW_REDIS: redis, WW_NAMESPACE: namespace, WW_SESSION: sessionId, WW_INPUT: 'which number?' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      process_.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      process_.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      process_.on('error', reject);
      process_.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: true, text: 'You said: which number?' });
    expect(conversation(server.requests[1]!.body).slice(1)).toEqual(['user: remember the number 42', 'assistant: You said: remember the number 42', 'user: which number?']);
  });
});
