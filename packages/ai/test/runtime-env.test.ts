import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startScriptedServer } from '../src/testing/index.js';
import { project, started } from './support/project.js';

// An application that embeds the runtime passes its own `env` (secrets from a vault, not the
// process environment): a provider's usual variable must be read from there too.
describe('llm keys from the runtime env option', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
  });
  afterEach(() => {
    if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
  });

  it('an llm without api_key uses OPENAI_API_KEY from createRuntime({ env })', async () => {
    await using server = await startScriptedServer({ apiKey: 'sk-from-options' });
    server.enqueue({ text: ['Hi', '!'] });
    await using files = await project({
      'main.ww': `chat = llm openai { model = "test-model", base_url = "${server.openaiBaseUrl}" }`,
    });
    await using runtime = await started(await files.load(), { env: { OPENAI_API_KEY: 'sk-from-options' } });
    const sessionId = await runtime.create();
    const result = await (await runtime.submit(sessionId, 'hello')).result;

    expect(result.ok).toBe(true);
    expect(result.text).toBe('Hi!');
    expect(server.requests).toHaveLength(1);
  });

  it('without the variable in either place, the component says which variable to set', async () => {
    await using files = await project({ 'main.ww': 'chat = llm openai { model = "test-model" }' });
    await expect(started(await files.load(), { env: {} })).rejects.toThrow(/OPENAI_API_KEY is not set/);
  });
});
