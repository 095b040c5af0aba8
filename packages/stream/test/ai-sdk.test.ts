// A real AI SDK `streamText(...).textStream` (with the SDK's mock model) as a stream's source,
// and a stream read back as a text stream the SDK's response helpers take.
import { randomUUID } from 'node:crypto';
import { createTextStreamResponse, simulateReadableStream, streamText } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { createBus } from '@woodwork/bus';
import { createStreamManager, toTextStream } from '@woodwork/stream';

const tokens = ['Wood', 'work', ' streams', ' tokens', '.'];

function mockModel(onAbort?: () => void) {
  return new MockLanguageModelV3({
    doStream: async ({ abortSignal }) => {
      abortSignal?.addEventListener('abort', () => onAbort?.());
      return {
        stream: simulateReadableStream({
          initialDelayInMs: 0,
          chunkDelayInMs: 1,
          chunks: [
            { type: 'text-start', id: 't' },
            ...tokens.map((delta) => ({ type: 'text-delta' as const, id: 't', delta })),
            { type: 'text-end', id: 't' },
            {
              type: 'finish',
              finishReason: { unified: 'stop', raw: 'stop' },
              usage: {
                inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
                outputTokens: { total: 5, text: 5, reasoning: undefined },
              },
            },
          ],
        }),
      };
    },
  });
}

describe('AI SDK interop', () => {
  it('streams streamText().textStream across the bus and back into an AI SDK text response', async () => {
    await using bus = await createBus(`memory://ai-${randomUUID().slice(0, 8)}`);
    await using llm = createStreamManager({ bus, component: 'llm' });
    await using gateway = createStreamManager({ bus, component: 'api' });
    const producer = await llm.create({ sessionId: 'session-1', target: 'api' });
    const reader = await gateway.open(producer.ref);

    const result = streamText({ model: mockModel(), prompt: 'hi', abortSignal: producer.signal });
    const piping = producer.pipeFrom(result.textStream);
    const response = createTextStreamResponse({ stream: toTextStream(reader) });
    expect(await response.text()).toBe(tokens.join(''));
    await piping;
    expect(producer.state).toBe('ended');
  });

  it('cancels the model call when the consumer cancels', async () => {
    await using bus = await createBus(`memory://ai-${randomUUID().slice(0, 8)}`);
    await using llm = createStreamManager({ bus, component: 'llm', window: 1 });
    await using gateway = createStreamManager({ bus, component: 'api', window: 1 });
    const producer = await llm.create({ sessionId: 'session-1', target: 'api' });
    const reader = await gateway.open(producer.ref);
    let modelAborted = false;
    const result = streamText({
      model: mockModel(() => (modelAborted = true)),
      prompt: 'hi',
      abortSignal: producer.signal,
      onError: () => undefined,
    });
    const piping = producer.pipeFrom(result.textStream).catch((error: unknown) => error);
    expect((await reader.read())?.data).toBe('Wood');
    await reader.cancel('user pressed stop');
    expect(String(await piping)).toContain('user pressed stop');
    expect(producer.signal.aborted).toBe(true);
    expect(modelAborted).toBe(true);
  });
});
