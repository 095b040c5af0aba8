import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AgentErrorPayload, SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

/** One turn through `chat = llm <type> {…}`: the turn's result and every event the session saw. */
async function turn(server: ScriptedServer, type: string, keys: string, input = 'hello', env: Record<string, string> = {}) {
  const base = type === 'claude' ? server.anthropicBaseUrl : type === 'ollama' ? server.ollamaBaseUrl : server.openaiBaseUrl;
  await using files = await project({ 'main.ww': `chat = llm ${type} {\n  model = "gpt-4o-mini"\n  base_url = "${base}"\n  ${keys}\n}\n` });
  await using runtime = await started(await files.load(env));
  const sessionId = await runtime.create();
  const events = runtime.events(sessionId);
  const submitted = await runtime.submit(sessionId, input);
  const seen = await eventsUntil(events, 'turn.completed');
  return { result: await submitted.result, events: seen };
}

function errorOf(events: readonly SessionEvent[]): AgentErrorPayload['error'] & { hint?: string } {
  const event = events.find((candidate) => candidate.event_type === 'agent.error');
  expect(event, 'an agent.error event').toBeDefined();
  return (event!.payload as AgentErrorPayload).error;
}

describe('a refused key (401)', () => {
  it('names the component and the variable the key came from, never the key', async () => {
    const key = 'sk-wrong-0123456789abcdefghij';
    vi.stubEnv('CHAT_OPENAI_KEY', key);
    await using server = await startScriptedServer({ apiKey: 'sk-right' });
    const { result, events } = await turn(server, 'openai', 'api_key = $CHAT_OPENAI_KEY', 'hello', { CHAT_OPENAI_KEY: key });
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_AUTH');
    expect(error.message).toMatch(/OpenAI refused the API key of `chat` \(llm openai, model gpt-4o-mini\) \(401\)/);
    expect(error.hint).toContain('CHAT_OPENAI_KEY');
    expect(JSON.stringify(events)).not.toContain(key);
    expect(server.requests).toHaveLength(1); // a 401 is not retried
  });

  it("names the provider's variable when the file has no api_key", async () => {
    vi.stubEnv('ANTHROPIC_API_KEY', 'sk-ant-wrong-0123456789');
    await using server = await startScriptedServer({ apiKey: 'sk-ant-right' });
    const { result, events } = await turn(server, 'claude', '');
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error).toMatchObject({ code: 'WW_AI_AUTH', component: 'chat' });
    expect(error.message).toContain('Anthropic refused the API key');
    expect(error.hint).toContain('ANTHROPIC_API_KEY');
    expect(JSON.stringify(events)).not.toContain('sk-ant-wrong-0123456789');
  });
});

describe('rate limits and server errors', () => {
  it('waits as long as retry-after asks on a 429, then answers', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 429, retryAfter: 1 }, { text: ['fine ', 'now'] });
    const { result } = await turn(server, 'openai', 'api_key = "sk-x"');
    expect(result).toMatchObject({ ok: true, text: 'fine now' });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('gives up after max_retries with an error that says it was rate-limited', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 429, retryAfter: 0 }, { status: 429, retryAfter: 0 });
    const { result, events } = await turn(server, 'claude', 'api_key = "sk-x"\n  max_retries = 1');
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_RATE_LIMITED');
    expect(error.message).toMatch(/Anthropic is rate-limiting `chat` .*\(429\) after 2 attempts/);
    expect(server.requests).toHaveLength(2);
  });

  it('retries a 500 and answers', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ status: 500 }, { text: 'recovered' });
    const { result } = await turn(server, 'openai_compatible', 'max_retries = 1');
    expect(result).toMatchObject({ ok: true, text: 'recovered' });
    expect(server.requests).toHaveLength(2);
  });

  it('says the server is unreachable, with its URL, when nothing listens', async () => {
    const server = await startScriptedServer();
    await server.close();
    const { result, events } = await turn(server, 'ollama', 'max_retries = 0');
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_CONNECTION');
    expect(error.message).toContain(`could not reach Ollama at ${server.ollamaBaseUrl}`);
  });
});

describe('a connection dropped mid-stream', () => {
  it.each(['openai', 'claude', 'ollama', 'openai_compatible'])('%s: ends the stream with an error the client sees, and the turn with ok: false', async (type) => {
    await using server = await startScriptedServer();
    server.enqueue({ text: ['one ', 'two ', 'three ', 'four'], cutAfter: 2 });
    const { result, events } = await turn(server, type, 'api_key = "sk-x"');
    expect(result.ok).toBe(false);
    const chunks = events.filter((event) => event.event_type === 'stream.chunk').map((event) => (event.payload as { data?: unknown }).data);
    expect(chunks.filter((chunk) => typeof chunk === 'string' && chunk !== '')).toEqual(['one ', 'two ']);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_STREAM_INTERRUPTED');
    expect(error.message).toMatch(/the reply of `chat` .* broke off after 2 chunks/);
    expect(server.requests).toHaveLength(1); // a reply already streaming is never replayed
  });
});

describe('timeouts', () => {
  it('says the first token did not come in time', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ text: 'late', delayMs: 2_000 });
    const { result, events } = await turn(server, 'openai', 'api_key = "sk-x"\n  first_token_timeout_ms = 100');
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_TIMEOUT');
    expect(error.message).toContain('no first token within 100 ms (first_token_timeout_ms)');
  });

  it('says the whole reply took too long', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ text: ['a', 'b', 'c', 'd', 'e', 'f'], chunkDelayMs: 100 });
    const { result, events } = await turn(server, 'claude', 'api_key = "sk-x"\n  timeout_ms = 250');
    expect(result.ok).toBe(false);
    const error = errorOf(events);
    expect(error.code).toBe('WW_AI_TIMEOUT');
    expect(error.message).toContain('took longer than 250 ms (timeout_ms)');
  });
});
