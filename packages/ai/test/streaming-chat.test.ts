/**
 * examples/streaming-chat as it is written — `input api`, a pipe, `claude` with memory and a hook,
 * `output api` — with the Anthropic provider pointed at the scripted server through
 * ANTHROPIC_BASE_URL, driven over HTTP as a client would: SSE, then a second turn, then the
 * OpenAI-compatible endpoint streaming.
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDiagnostic, loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { capturingStream } from './support/capture.js';

const example = path.resolve(import.meta.dirname, '../../../examples/streaming-chat/main.ww');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** SSE messages of a response, until `stop` says so. */
async function readSse(response: Response, stop: (event: string | undefined, data: string) => boolean) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: { event?: string; data: string }[] = [];
  let buffer = '';
  for (;;) {
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n');
      if (data === '') continue;
      messages.push({ ...(event === undefined ? {} : { event }), data });
      if (stop(event, data)) {
        await reader.cancel();
        return messages;
      }
    }
    const { done, value } = await reader.read();
    if (done) return messages;
    buffer += value;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('examples/streaming-chat', () => {
  it('streams a Claude reply over the API as it is generated, remembers the session and speaks OpenAI chat completions', async () => {
    await using server = await startScriptedServer({ apiKey: 'sk-ant-example' });
    vi.stubEnv('ANTHROPIC_BASE_URL', server.anthropicBaseUrl); // what @ai-sdk/anthropic reads, as a user would set it
    const port = await freePort();
    const env = { PORT: String(port), ANTHROPIC_API_KEY: 'sk-ant-example' };
    const loaded = await loadTopology(example, { mode: 'run', env });
    if (!loaded.resolved) throw new Error(loaded.diagnostics.map((d) => formatDiagnostic(d, { source: loaded.sources })).join('\n'));
    const printed = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const stderr = capturingStream();
    // The default registry, as `woodwork run` has it: @woodwork/ai is found and loaded.
    await using runtime = createRuntime(loaded.resolved, { logger: silentLogger, io: { stderr: stderr.stream, stdout: capturingStream().stream } });
    await runtime.start();
    const api = `http://127.0.0.1:${port}`;
    const headers = { authorization: 'Bearer dev-token', 'content-type': 'application/json' };

    server.enqueue({ text: ['Streams ', 'arrive ', 'word ', 'by ', 'word.'], chunkDelayMs: 5 });
    const accepted = await fetch(`${api}/v1/sessions`, { method: 'POST', headers, body: JSON.stringify({ input: 'How do streams work?', wait: false }) });
    expect(accepted.status).toBe(202);
    const { session_id: sessionId, events_url: eventsUrl } = (await accepted.json()) as { session_id: string; events_url: string };
    const events = await readSse(await fetch(new URL(eventsUrl, api), { headers }), (event) => event === 'turn.completed');
    const chunks = events
      .filter((message) => message.event === 'stream.chunk')
      .map((message) => JSON.parse(message.data))
      .filter((envelope) => envelope.component_source === 'chat' && typeof envelope.payload?.data === 'string' && envelope.payload.data !== '')
      .map((envelope) => envelope.payload.data);
    expect(chunks).toEqual(['Streams ', 'arrive ', 'word ', 'by ', 'word.']);
    const replied = events.find((message) => message.event === 'session.replied');
    expect(JSON.parse(replied!.data).payload).toBe('Streams arrive word by word.');

    // The pipe's context reached the model's system prompt, after the example's own prompt.
    const first = server.requests[0]!.body;
    expect(JSON.stringify(first.system)).toContain('You are a concise, friendly assistant.');
    expect(JSON.stringify(first.system)).toMatch(/received_at: \d{4}-\d\d-\d\dT/);
    expect(first).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 1024, temperature: 0.7, stream: true });

    // The second turn, waited for, carries the first one (memory = history).
    server.enqueue({ text: 'As chunks.' });
    const second = await fetch(`${api}/v1/sessions/${sessionId}/messages`, { method: 'POST', headers, body: JSON.stringify({ input: 'Say it shorter' }) });
    expect(await second.json()).toMatchObject({ ok: true, reply: 'As chunks.' });
    expect(server.requests[1]!.body.messages.map((message: any) => message.role)).toEqual(['user', 'assistant', 'user']);

    // OpenAI clients get the same chunks as chat.completion.chunk deltas.
    server.enqueue({ text: ['Hello', ' from', ' Claude'] });
    const completion = await fetch(`${api}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ model: 'any', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(completion.status).toBe(200);
    const deltas = await readSse(completion, (_event, data) => data === '[DONE]');
    const text = deltas.filter((message) => message.data !== '[DONE]').map((message) => JSON.parse(message.data).choices?.[0]?.delta?.content ?? '').join('');
    expect(text).toBe('Hello from Claude');

    // The example's hook counted the chunks of each reply (it prints with console.error).
    await expect.poll(() => printed.mock.calls.map((call) => String(call[0])).join('\n')).toMatch(/stream .+: \d+ chunks/);
  });
});
