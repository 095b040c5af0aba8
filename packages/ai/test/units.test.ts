import { APICallError, RetryError } from 'ai';
import { describe, expect, it } from 'vitest';
import { fillPlaceholders, redact } from '../src/index.js';
import { describeProviderError } from '../src/llm/errors-from-provider.js';
import { ollamaBaseUrl } from '../src/providers/ollama.js';
import { openaiProvider } from '../src/providers/openai.js';

describe('prompt placeholders', () => {
  it('fills known names, leaves unknown ones and code alone, and writes {{ }} as braces', () => {
    const values: Record<string, string> = { name: 'Ada', topic: 'engines' };
    expect(fillPlaceholders('Hi {name}, about {topic}. {missing} {"json": 1} function () {} {{name}}', (key) => values[key])).toBe(
      'Hi Ada, about engines. {missing} {"json": 1} function () {} {name}',
    );
  });
});

describe('redact', () => {
  it('masks the given secrets and anything shaped like a key or a bearer token', () => {
    expect(redact('key sk-proj-abcdefgh123 and sk-ant-api03-xyzxyzxyz and Bearer abc.def-ghi_jkl', [])).toBe('key [redacted] and [redacted] and [redacted]');
    expect(redact('my key is hunter2-custom', ['hunter2-custom'])).toBe('my key is [redacted]');
    expect(redact('nothing here', ['abc'])).toBe('nothing here'); // too short to be a key: left alone
  });
});

describe('ollama base URL', () => {
  it.each([
    ['http://127.0.0.1:11434', 'http://127.0.0.1:11434/api'],
    ['http://gpu-box:11434/', 'http://gpu-box:11434/api'],
    ['http://gpu-box:11434/api', 'http://gpu-box:11434/api'],
    ['0.0.0.0:11434', 'http://0.0.0.0:11434/api'], // OLLAMA_HOST is often written without a scheme
  ])('%s → %s', (input, expected) => expect(ollamaBaseUrl(input)).toBe(expected));
});

describe('provider errors', () => {
  const scene = {
    component: { name: 'chat', kind: 'llm', type: 'openai', role: 'processor', streaming: true, to: [], deployment: {} as never, metrics: {} as never, location: { file: 'main.ww', line: 3, column: 1 } },
    provider: openaiProvider,
    model: 'gpt-5-nope',
    keySource: 'OPENAI_API_KEY',
    fileKey: false,
    secrets: ['sk-secret-value-123'],
    sessionId: 's1',
    baseUrl: undefined,
  } as const;
  const apiError = (statusCode: number, body: unknown) =>
    new APICallError({ message: 'x', url: 'https://api.openai.com/v1/responses', requestBodyValues: {}, statusCode, responseBody: JSON.stringify(body), data: body, isRetryable: statusCode >= 500 || statusCode === 429 });

  it('names the model and what to check for a 404, with the place in the .ww file', () => {
    const error = describeProviderError(scene, apiError(404, { error: { message: 'The model `gpt-5-nope` does not exist' } }));
    expect(error).toMatchObject({ code: 'WW_AI_BAD_REQUEST', status: 404, component: 'chat', sessionId: 's1', location: { file: 'main.ww', line: 3 } });
    expect(error.message).toBe('OpenAI rejected the request of `chat` (llm openai, model gpt-5-nope) (404): The model `gpt-5-nope` does not exist');
    expect(error.hint).toContain('check `model` (gpt-5-nope)');
  });

  it('counts attempts through a RetryError and masks the key in the provider text', () => {
    const last = apiError(503, { error: { message: 'overloaded for sk-secret-value-123' } });
    const retried = new RetryError({ message: 'Failed after 3 attempts', reason: 'maxRetriesExceeded', errors: [last, last, last] });
    const error = describeProviderError(scene, retried);
    expect(error.code).toBe('WW_AI_PROVIDER_ERROR');
    expect(error.message).toBe('OpenAI failed for `chat` (llm openai, model gpt-5-nope) (503) after 3 attempts: overloaded for [redacted]');
    expect(error.isRetryable).toBe(false); // the SDK already retried: the bus must not multiply it
  });
});
