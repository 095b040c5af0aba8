import { loadTopology } from '@woodwork/parser';
import { createBus } from '@woodwork/bus';
import { afterEach, describe, expect, it } from 'vitest';
import { createComponentRegistry, createMemorySessionStore, defineComponent, type ComponentFactory, type ComponentReference } from '../src/index.js';
import { project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

const wiring = `
m = llm openai { model = "test-model" }
a = agent llm { model = m }
in = input cli {}
out = output cli {}
`;

function registry(llm: ComponentFactory, agent: ComponentFactory) {
  return createComponentRegistry()
    .register(defineComponent({ kind: 'llm', type: 'openai', create: llm }))
    .register(defineComponent({ kind: 'agent', type: 'llm', create: agent }));
}

describe('references between components', () => {
  it('turn a `model = m` into a handle that calls the component over the bus, in the same session', async () => {
    current = await project({ 'main.ww': wiring });
    let count = 0;
    const reg = registry(
      ({ config }) => ({
        handle: (message, context) => `${config.model}:${[...message.text].reverse().join('')}:${context.session.id === message.sessionId}`,
        methods: { count: () => ++count, fail: () => { throw new Error('method broke'); } },
      }),
      ({ config }) => ({
        async handle(message) {
          const model = config.model as ComponentReference;
          expect(model).toMatchObject({ $ref: 'm', name: 'm', kind: 'llm', type: 'openai', config: { model: 'test-model' } });
          const answer = await model.call({ input: message.text });
          const calls = await model.invoke('count');
          await expect(model.invoke('fail')).rejects.toMatchObject({ code: 'WW_RUNTIME_CALL_FAILED', message: expect.stringMatching(/method broke/) });
          await expect(model.invoke('nope')).rejects.toThrow(/has no method `nope`/);
          return `${String(answer)} after ${String(calls)} call(s)`;
        },
      }),
    );
    const { runtime, stdout } = await started(await current.load(), { registry: reg });
    try {
      const result = await runtime.ask(undefined, 'abc');
      expect(result.text).toBe('test-model:cba:true after 1 call(s)');
      expect(stdout()).toBe('test-model:cba:true after 1 call(s)\n');
      expect(runtime.stats().m!.calls).toBe(2);
    } finally {
      await runtime.stop();
    }
  });

  it.each(['in-process', 'bus'] as const)('streams a call (%s transport): the agent forwards the model\'s tokens as they come', async (streams) => {
    current = await project({ 'main.ww': wiring.replace('model = "test-model"', 'model = "test-model", streaming = true') });
    const reg = registry(
      () => ({
        async handle(message, context) {
          const writer = context.stream();
          for (const word of message.text.split(' ')) await writer.write(`${word.toUpperCase()} `);
          return undefined;
        },
      }),
      ({ config }) => ({
        async handle(message, context) {
          const writer = context.stream();
          for await (const chunk of (config.model as ComponentReference).callStream(message.text)) {
            if (chunk.data_type === 'text') await writer.write(chunk.data);
          }
          return undefined;
        },
      }),
    );
    const { runtime, stdout } = await started(await current.load(), { registry: reg, streams });
    try {
      expect((await runtime.ask(undefined, 'to be streamed')).text).toBe('TO BE STREAMED ');
      expect(stdout()).toBe('TO BE STREAMED \n');
    } finally {
      await runtime.stop();
    }
  });

  it("leaves a callee's env alone when another runtime hosts it: its variables are that process's", async () => {
    current = await project({ 'main.ww': wiring.replace('model = "test-model"', 'model = "test-model", api_key = $M_KEY') });
    // Each side loads only its own components' variables, as a distributed host does.
    const front = await loadTopology(current.file, { mode: 'run', env: {}, components: ['a', 'in', 'out'] });
    const back = await loadTopology(current.file, { mode: 'run', env: { M_KEY: 'sk-back' }, components: ['m'] });
    expect(front.diagnostics).toEqual([]);
    const reg = registry(
      ({ config }) => ({ handle: () => `key ${String(config.api_key)}` }),
      ({ config }) => ({
        async handle(message) {
          const model = config.model as ComponentReference;
          // Not resolved from this runtime's env, even though a variable of that name is set here.
          expect(model.config).toMatchObject({ model: 'test-model', api_key: { $env: 'M_KEY' } });
          return `${String(await model.call(message.text))} via ${model.name}`;
        },
      }),
    );
    await using bus = await createBus(`memory://callee-env-${Date.now()}`);
    const sessions = createMemorySessionStore();
    const shared = { registry: reg, bus, sessions, drainTimeoutMs: 50 };
    const model = await started(back.resolved!, { ...shared, components: ['m'], instanceId: 'back' });
    const agent = await started(front.resolved!, { ...shared, components: ['a', 'in', 'out'], instanceId: 'front', env: { M_KEY: 'sk-wrong-process' } });
    try {
      expect((await agent.runtime.ask(undefined, 'x')).text).toBe('key sk-back via m');
    } finally {
      await agent.runtime.stop();
      await model.runtime.stop();
    }
  });

  it('fails a call that times out, and reports it where it was made', async () => {
    current = await project({ 'main.ww': wiring });
    const reg = registry(
      () => ({ handle: async () => new Promise((resolve) => setTimeout(() => resolve('late'), 300)) }),
      ({ config }) => ({ handle: (message) => (config.model as ComponentReference).call(message.text, { timeoutMs: 50 }) }),
    );
    const { runtime } = await started(await current.load(), { registry: reg });
    try {
      const result = await runtime.ask(undefined, 'x');
      expect(result.ok).toBe(false);
      expect(result.errors[0]!.payload).toMatchObject({ component: 'a', error: { code: 'WW_RUNTIME_TIMEOUT' } });
    } finally {
      await runtime.stop();
    }
  });
});
