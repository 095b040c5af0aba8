/**
 * The agent loop for real on `llm local` (SmolLM2-135M-Instruct on node-llama-cpp, nothing
 * mocked): the model calls an `api functions` tool through native tool calls, the tool runs (its
 * side effect is a line in a file), its observation goes back to the model, and the model answers.
 *
 * A 135M model rarely decides to call a tool on its own, so the first step's tool choice is forced
 * (`tool_choice = "required"`): llm local then constrains the reply with a grammar made from the
 * tool's JSON schema (`llama.createGrammarForJsonSchema`), so the call is well-formed. The model's
 * words are never compared with fixed text; only the loop's shape and the tool's effect are.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Llama } from 'node-llama-cpp';
import { describe, expect, it, vi } from 'vitest';
import { createConsoleLogger, type SessionEvent } from '@woodwork/runtime';
import { localModelPath } from './support/local-model.js';
import { eventsUntil, project, started } from './support/project.js';

const file = localModelPath();
const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

describe('agent llm on llm local', { timeout: 300_000 }, () => {
  it('loads the model once for the llm and the agent that drives it, and says it is very small once, as the llm', async () => {
    await using files = await project({
      'main.ww': `
        model = llm local { model = "${file}", max_tokens = 8, temperature = 0 }
        assistant = agent llm { model = model, max_steps = 1 }
      `,
    });
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'warn', stream: { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream });
    // node-llama-cpp's own loader, counted where the file is actually read.
    const loads = vi.spyOn(Llama.prototype, 'loadModel');
    try {
      await using runtime = await started(await files.load(), { logger });
      expect(loads).toHaveBeenCalledTimes(1);
      const notices = lines.filter((line) => line.includes('a very small local model'));
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/^\[woodwork\] warn model: answers come from SmolLM2-135M-Instruct/);
      // The shared model answers the agent.
      const sessionId = await runtime.create();
      const result = await runtime.ask(sessionId, 'Name a colour.', { to: 'assistant', timeoutMs: 120_000 });
      expect(result.ok).toBe(true);
      expect(loads).toHaveBeenCalledTimes(1);
    } finally {
      loads.mockRestore();
    }
  });

  it('calls a tool through the loop (tool choice forced on the first step), sees its result and answers', async () => {
    await using files = await project({
      'main.ww': `
        model = llm local { model = "${file}", max_tokens = 48, temperature = 0 }
        calc = api functions { path = "calc.ts" }
        assistant = agent llm {
          model = model
          tools = [calc]
          tool_choice = "required"
          max_steps = 2
          prompt = "You are a calculator. Use the add tool."
        }
      `,
      'calc.ts': `
        import { appendFileSync } from 'node:fs';
        /** Adds two numbers. */
        export function add(a: number, b: number): number {
          appendFileSync(new URL('./calls.log', import.meta.url), JSON.stringify({ a, b }) + '\\n');
          return a + b;
        }
      `,
    });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    const result = await runtime.ask(sessionId, 'What is 2 plus 3?', { to: 'assistant', timeoutMs: 240_000 });
    const seen = await eventsUntil(events, 'turn.completed');
    expect(result.errors.map((error) => error.payload)).toEqual([]);
    expect(result.ok).toBe(true);

    const calls = payloads(seen, 'tool.call');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ tool: 'add', component: 'calc', step: 1 });
    // The grammar makes the arguments numbers; which numbers is the model's business.
    expect(typeof calls[0].input.a).toBe('number');
    expect(typeof calls[0].input.b).toBe('number');

    // The tool really ran, with the model's arguments, and its result was observed.
    const logged = (await readFile(path.join(files.dir, 'calls.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    expect(logged).toEqual([{ a: calls[0].input.a, b: calls[0].input.b }]);
    const observation = payloads(seen, 'tool.observation')[0];
    expect(observation).toMatchObject({ tool: 'add', ok: true, status: 'ok', call_id: calls[0].call_id });
    expect(Number(observation.output)).toBe(calls[0].input.a + calls[0].input.b);

    // Then the model answered (step 2 offers the tools with tool choice none).
    const steps = payloads(seen, 'agent.step_complete');
    expect(steps.map((step) => step.tool_calls.length)).toEqual([1, 0]);
    expect(payloads(seen, 'agent.response')).toHaveLength(1);
    expect(result.text.trim()).not.toBe('');
  });
});

describe('tool schemas narrowed to the grammar subset', () => {
  it('turns anyOf into oneOf, inlines $ref, drops unsupported keywords, and keeps only required properties when forced', async () => {
    const { toGbnfSchema } = await import('../src/providers/local-tools.js');
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        city: { type: 'string', pattern: '^[A-Z]', description: 'A city' },
        when: { anyOf: [{ type: 'string', format: 'date' }, { type: 'null' }] },
        unit: { $ref: '#/$defs/unit' },
        tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
      },
      required: ['city', 'unit'],
      additionalProperties: false,
      $defs: { unit: { enum: ['c', 'f'] } },
    };
    expect(toGbnfSchema(schema)).toEqual({
      type: 'object',
      properties: {
        city: { type: 'string', description: 'A city' },
        when: { oneOf: [{ type: 'string', format: 'date' }, { type: 'null' }] },
        unit: { enum: ['c', 'f'] },
        tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
      },
    });
    expect(toGbnfSchema(schema, { requiredOnly: true })).toEqual({
      type: 'object',
      properties: { city: { type: 'string', description: 'A city' }, unit: { enum: ['c', 'f'] } },
    });
  });
});

describe('the prompt as node-llama-cpp history', () => {
  it('gives tool calls back as function-call items with their results, and adds the forced-call instruction last', async () => {
    const { toHistory, planTools } = await import('../src/providers/local-tools.js');
    const warnings: unknown[] = [];
    const history = toHistory(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'What is 2 plus 3?' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Adding.' }, { type: 'tool-call', toolCallId: 'c1', toolName: 'add', input: { a: 2, b: 3 } }] },
        { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c1', toolName: 'add', output: { type: 'text', value: '5' } }] },
      ],
      warnings as never,
      'Call the tool `add` now.',
    );
    expect(history).toEqual([
      { type: 'system', text: 'Be brief.' },
      { type: 'user', text: 'What is 2 plus 3?' },
      { type: 'model', response: ['Adding.', { type: 'functionCall', name: 'add', params: { a: 2, b: 3 }, result: '5' }] },
      { type: 'system', text: 'Call the tool `add` now.' },
      { type: 'model', response: [] },
    ]);
    expect(warnings).toEqual([]);

    const tools = [
      { type: 'function' as const, name: 'add', description: 'Adds', inputSchema: { type: 'object' as const, properties: { a: { type: 'number' as const } }, required: ['a'] } },
      { type: 'function' as const, name: 'now', inputSchema: { type: 'object' as const, properties: {} } },
    ];
    const base = { prompt: [] };
    expect(planTools({ ...base, tools, toolChoice: { type: 'none' } }, [])).toEqual({ mode: 'none' });
    expect(planTools({ ...base, tools }, [])).toMatchObject({ mode: 'auto', functions: { add: { description: 'Adds' }, now: {} } });
    expect(planTools({ ...base, tools, toolChoice: { type: 'tool', toolName: 'add' } }, [])).toMatchObject({ mode: 'forced', schema: { type: 'object', properties: { a: { type: 'number' } } } });
    expect(planTools({ ...base, tools, toolChoice: { type: 'required' } }, [])).toMatchObject({
      mode: 'forced',
      schema: { oneOf: [{ properties: { name: { const: 'add' } } }, { properties: { name: { const: 'now' } } }] },
    });
  });
});
