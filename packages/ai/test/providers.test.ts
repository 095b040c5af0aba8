import { describe, expect, it } from 'vitest';
import { textOf } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { aiRegistry, eventsUntil, project, started } from './support/project.js';

const cases = [
  { type: 'openai', base: 'openaiBaseUrl', protocol: 'openai-responses' },
  { type: 'openai', base: 'openaiBaseUrl', protocol: 'openai-chat', extra: 'api = "chat"' },
  { type: 'claude', base: 'anthropicBaseUrl', protocol: 'anthropic' },
  { type: 'anthropic', base: 'anthropicBaseUrl', protocol: 'anthropic' },
  { type: 'ollama', base: 'ollamaBaseUrl', protocol: 'ollama' },
  { type: 'openai_compatible', base: 'openaiBaseUrl', protocol: 'openai-chat' },
] as const;

describe.each(cases)('llm $type over $protocol', ({ type, base, protocol, ...rest }) => {
  it('streams the reply as chunks, in order, and answers the turn with the whole text', async () => {
    await using server = await startScriptedServer({ apiKey: 'sk-test-key' });
    server.enqueue({ text: ['Hello', ', ', 'world', '!'] });
    await using files = await project({
      'main.ww': `
        chat = llm ${type} {
          model = "test-model"
          api_key = "sk-test-key"
          base_url = "${server[base]}"
          temperature = 0.2
          max_tokens = 50
          prompt = "You are terse."
          ${'extra' in rest ? rest.extra : ''}
        }
      `,
    });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    const turn = await runtime.submit(sessionId, 'hi there');
    const seen = await eventsUntil(events, 'turn.completed');
    const result = await turn.result;

    expect(result.ok).toBe(true);
    expect(result.text).toBe('Hello, world!');
    const chunks = seen.filter((event) => event.event_type === 'stream.chunk').map((event) => (event.payload as { data?: unknown }).data);
    expect(chunks.filter((chunk) => typeof chunk === 'string' && chunk !== '')).toEqual(['Hello', ', ', 'world', '!']);
    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.protocol).toBe(protocol);
    expect(request.userText).toBe('hi there');
    expect(JSON.stringify(request.body)).toContain('You are terse.');
    expect(request.body.model).toBe('test-model');
    expect(textOf(result.replies[0]?.payload)).toBe('Hello, world!');
  });
});

describe('tool-call deltas, as each provider streams them', () => {
  it.each(['openai-responses', 'openai-chat', 'anthropic', 'ollama'] as const)('%s: the provider package parses the scripted tool call', async (protocol) => {
    const { streamText, tool, jsonSchema } = await import('ai');
    const { createOpenAI } = await import('@ai-sdk/openai');
    const { createAnthropic } = await import('@ai-sdk/anthropic');
    const { createOllama } = await import('ollama-ai-provider-v2');
    await using server = await startScriptedServer();
    server.enqueue({ text: ['Checking.'], toolCalls: [{ name: 'weather', arguments: { city: 'Oslo', days: 2 } }], usage: { inputTokens: 7, outputTokens: 5 } });
    const model =
      protocol === 'openai-responses'
        ? createOpenAI({ apiKey: 'k', baseURL: server.openaiBaseUrl }).responses('m')
        : protocol === 'openai-chat'
          ? createOpenAI({ apiKey: 'k', baseURL: server.openaiBaseUrl }).chat('m')
          : protocol === 'anthropic'
            ? createAnthropic({ apiKey: 'k', baseURL: server.anthropicBaseUrl })('m')
            : createOllama({ baseURL: `${server.ollamaBaseUrl}/api` })('m');
    const weather = tool({ description: 'weather', inputSchema: jsonSchema<{ city: string; days: number }>({ type: 'object', properties: { city: { type: 'string' }, days: { type: 'number' } } }) });
    const result = streamText({ model, prompt: 'weather in Oslo?', tools: { weather }, maxRetries: 0, onError: () => undefined });
    const parts: string[] = [];
    let call: unknown;
    let usage: unknown;
    for await (const part of result.fullStream) {
      parts.push(part.type);
      if (part.type === 'tool-call') call = { name: part.toolName, input: part.input };
      if (part.type === 'finish') usage = { input: part.totalUsage.inputTokens, output: part.totalUsage.outputTokens, reason: part.finishReason };
      if (part.type === 'error') throw part.error;
    }
    expect(call).toEqual({ name: 'weather', input: { city: 'Oslo', days: 2 } });
    expect(usage).toEqual({ input: 7, output: 5, reason: 'tool-calls' });
    expect(parts).toContain('text-delta');
    if (protocol !== 'ollama') expect(parts).toContain('tool-input-delta'); // Ollama sends calls whole
    expect(server.requests[0]!.protocol).toBe(protocol);
  });
});

describe('llm keys reach the provider', () => {
  it('streaming = false answers whole, with no chunks; headers and provider_options go to the provider', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ text: ['whole ', 'reply'] });
    await using files = await project({
      'main.ww': `
        chat = llm openai {
          model = "gpt-4o-mini"
          api_key = "sk-x"
          base_url = "${server.openaiBaseUrl}"
          streaming = false
          headers = { x-team = "research" }
          provider_options = { user = "user-42", parallelToolCalls = false }
        }
      `,
    });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    const turn = await runtime.submit(sessionId, 'hi');
    const seen = await eventsUntil(events, 'turn.completed');
    expect((await turn.result).text).toBe('whole reply');
    expect(seen.filter((event) => event.event_type === 'stream.chunk')).toEqual([]);
    expect(seen.find((event) => event.event_type === 'agent.response')?.payload).toBe('whole reply');
    const request = server.requests[0]!;
    expect(request.headers['x-team']).toBe('research');
    expect(request.body).toMatchObject({ user: 'user-42', parallel_tool_calls: false });
  });
});

describe('readers that stop reading', () => {
  it('cancel the model call: the provider connection closes, and the branch ends without an error', async () => {
    const { defineComponent } = await import('@woodwork/runtime');
    await using server = await startScriptedServer();
    server.enqueue({ text: Array.from({ length: 200 }, (_, index) => `t${index} `), chunkDelayMs: 10 });
    // A next component that reads the first chunk of the stream and stops.
    const firstOnly = defineComponent({
      kind: 'transform',
      type: 'echo',
      acceptsStreams: true,
      create: () => ({
        async handle(message) {
          for await (const chunk of message.stream ?? []) return `first: ${String(chunk.data)}`;
          return message.text;
        },
      }),
    });
    await using files = await project({
      'main.ww': `chat = llm openai { model = "gpt-4o-mini", api_key = "sk-x", base_url = "${server.openaiBaseUrl}", to = first }\nfirst = transform echo {}\n`,
    });
    const registry = aiRegistry().register(firstOnly, { replace: true });
    await using runtime = await started(await files.load(), { registry });
    const result = await runtime.ask(undefined, 'go');
    expect(result).toMatchObject({ ok: true, text: 'first: t0 ' });
    await expect.poll(() => server.requests[0]?.clientClosed).toBe(true);
  });
});
