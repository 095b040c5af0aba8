import { describe, expect, it } from 'vitest';
import { textOf } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

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
