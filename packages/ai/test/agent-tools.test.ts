import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

const model = (server: ScriptedServer) => `model = llm openai { model = "test-model", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }`;
const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

async function turn(runtime: Awaited<ReturnType<typeof started>>, input: unknown, to = 'assistant') {
  const sessionId = await runtime.create();
  const events = runtime.events(sessionId);
  const submitted = await runtime.submit(sessionId, input, { to });
  const seen = await eventsUntil(events, 'turn.completed');
  return { events: seen, result: await submitted.result };
}

const hasPython = (() => {
  try {
    execFileSync(process.env.WOODWORK_PYTHON ?? 'python3', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe('api functions', () => {
  it('takes a zod schema exported beside a function, checks the input with it and passes the parsed object', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'book', arguments: { city: 'Lisbon', nights: '3' } }] }, { toolCalls: [{ name: 'book', arguments: { city: 'Lisbon', nights: 2 } }] }, { text: 'booked' });
    await using files = await project({
      'main.ww': `${model(server)}\ntravel = api functions { path = "travel.ts" }\nassistant = agent llm { model = model, tools = [travel] }\n`,
      'travel.ts': `
        import { z } from 'zod';
        export const bookSchema = z.object({ city: z.string().describe('Where to'), nights: z.number().int().min(1) });
        /** Books a hotel. */
        export function book({ city, nights }: z.infer<typeof bookSchema>) {
          return { city, nights, total: nights * 100 };
        }
      `,
    });
    // The project's own zod, as a user's project has it in node_modules.
    await mkdir(path.join(files.dir, 'node_modules'));
    await symlink(path.resolve(import.meta.dirname, '../../../node_modules/zod'), path.join(files.dir, 'node_modules', 'zod'));
    await using runtime = await started(await files.load());
    const { result } = await turn(runtime, 'book');
    expect(result.ok).toBe(true);
    const tool = (server.requests[0]!.body.tools as any[]).find((candidate) => candidate.name === 'book');
    expect(tool.parameters.properties.city).toMatchObject({ type: 'string', description: 'Where to' });
    expect(tool.parameters.required).toEqual(['city', 'nights']);
    // Step 1: nights was a string; the schema refused it and the model was told why.
    expect(toolOutputs(server, 1)[0]).toMatch(/does not match its schema[\s\S]*nights/);
    // Step 2: the parsed object reached the function.
    expect(toolOutputs(server, 2).at(-1)).toBe('{"city":"Lisbon","nights":2,"total":200}');
  });

  it('reads JSDoc @param types and descriptions of a plain JavaScript function', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] }, { text: '5' });
    await using files = await project({
      'main.ww': `${model(server)}\nmath = api functions { path = "math.js" }\nassistant = agent llm { model = model, tools = [math] }\n`,
      'math.js': `
        /**
         * Adds two numbers.
         * @param {number} a - the first
         * @param {number} b - the second
         */
        export function add(a, b) { return a + b; }
      `,
    });
    await using runtime = await started(await files.load());
    await turn(runtime, 'add');
    const tool = (server.requests[0]!.body.tools as any[])[0];
    expect(tool.description).toBe('Adds two numbers.');
    expect(tool.parameters.properties).toEqual({ a: { type: 'number', description: 'the first' }, b: { type: 'number', description: 'the second' } });
    expect(toolOutputs(server, 1)).toEqual(['5']);
  });

  it.skipIf(!hasPython)('runs the classic engine\'s Python tool files, with type hints and the docstring as the schema', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'greet', arguments: { name: 'Ada', times: 2 } }] }, { text: 'done' });
    await using files = await project({
      'main.ww': `${model(server)}\nclassic = api functions { path = "tools.py" }\nassistant = agent llm { model = model, tools = [classic] }\n`,
      'tools.py': `
def greet(name: str, times: int = 1) -> str:
    """Greets someone.

    name: who to greet
    """
    return " ".join(["hello " + name] * times)
`,
    });
    await using runtime = await started(await files.load());
    await turn(runtime, 'greet');
    const tool = (server.requests[0]!.body.tools as any[])[0];
    expect(tool.name).toBe('greet');
    expect(tool.parameters.properties.name).toEqual({ type: 'string', description: 'who to greet' });
    expect(tool.parameters.properties.times).toEqual({ type: 'integer', default: 1 });
    expect(tool.parameters.required).toEqual(['name']);
    expect(toolOutputs(server, 1)).toEqual(['hello Ada hello Ada']);
  });
});

describe('agents as tools', () => {
  it('calls an agent listed in another agent\'s tools, over the bus, with its own tools', async () => {
    await using server = await startScriptedServer();
    server.enqueue(
      { toolCalls: [{ name: 'researcher', arguments: { input: 'find the capital of France' } }] }, // boss, step 1
      { toolCalls: [{ name: 'lookup', arguments: { country: 'France' } }] }, // researcher, step 1
      { text: 'Paris' }, // researcher, step 2
      { text: 'The capital is Paris.' }, // boss, step 2
    );
    await using files = await project({
      'main.ww': `
        ${model(server)}
        atlas = api functions { path = "atlas.ts" }
        researcher = agent llm { model = model, tools = [atlas], streaming = false }
        boss = agent llm { model = model, tools = [researcher] }
      `,
      'atlas.ts': `export function lookup(country: string) { return country === 'France' ? 'Paris' : 'unknown'; }`,
    });
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'capital of France?', 'boss');
    expect(result.ok).toBe(true);
    expect(result.text).toBe('The capital is Paris.');
    expect(server.requests[1]!.userText).toBe('find the capital of France');
    expect(toolOutputs(server, 3)).toEqual(['Paris']);
    const observations = payloads(events, 'tool.observation');
    expect(observations.map((observation) => [observation.tool, observation.output])).toEqual([
      ['lookup', 'Paris'],
      ['researcher', 'Paris'],
    ]);
    expect(events.find((event) => event.event_type === 'tool.observation' && (event.payload as any).tool === 'lookup')?.component_source).toBe('researcher');
  });
});

describe('the cache key', () => {
  it('answers an identical call in the same turn from the first observation', async () => {
    await using server = await startScriptedServer();
    server.enqueue(
      { toolCalls: [{ name: 'tick', arguments: { label: 'x' } }] },
      { toolCalls: [{ name: 'tick', arguments: { label: 'x' } }, { name: 'tick', arguments: { label: 'y' } }] },
      { text: 'done' },
    );
    await using files = await project({
      'main.ww': `${model(server)}\nclock = api functions { path = "clock.ts" }\nassistant = agent llm { model = model, tools = [clock], cache = true }\n`,
      'clock.ts': `let n = 0;\nexport function tick(label: string) { n++; return label + n; }`,
    });
    await using runtime = await started(await files.load());
    await turn(runtime, 'tick');
    expect(toolOutputs(server, 2)).toEqual(['x1', 'x1', 'y2']);
  });
});

describe('planning', () => {
  it('offers a todo list and a file area that last the session, and asks the model to plan first', async () => {
    await using server = await startScriptedServer();
    server.enqueue(
      { toolCalls: [{ name: 'todo_write', arguments: { items: [{ task: 'look up', status: 'done' }, { task: 'answer', status: 'in_progress' }] } }, { name: 'file_write', arguments: { path: 'notes.md', content: 'Paris' } }] },
      { text: 'Planned.' },
      { toolCalls: [{ name: 'todo_read', arguments: {} }, { name: 'file_read', arguments: { path: 'notes.md' } }, { name: 'file_read', arguments: { path: 'missing.md' } }] },
      { text: 'Still planned.' },
    );
    await using files = await project({ 'main.ww': `${model(server)}\nassistant = agent llm { model = model, planning = true, prompt = "Be brief." }\n` });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    await runtime.ask(sessionId, 'plan it', { to: 'assistant' });
    const second = await runtime.ask(sessionId, 'what was the plan?', { to: 'assistant' });
    expect(second.text).toBe('Still planned.');
    const names = (server.requests[0]!.body.tools as any[]).map((tool) => tool.name).sort();
    expect(names).toEqual(['file_list', 'file_read', 'file_write', 'todo_read', 'todo_write']);
    expect(server.requests[0]!.body.instructions ?? JSON.stringify(server.requests[0]!.body.input)).toMatch(/Be brief\.[\s\S]*Plan before you act/);
    expect(toolOutputs(server, 1)).toEqual(['1. [x] look up\n2. [~] answer', 'wrote notes.md (5 characters)']);
    const [list, note, missing] = toolOutputs(server, 3);
    expect(list).toBe('1. [x] look up\n2. [~] answer');
    expect(note).toBe('Paris');
    expect(missing).toContain('there is no file missing.md; the files are notes.md');
  });
});

describe('woodwork dev', () => {
  it('offers a functions module\'s new functions after a reload, on the next turn', async () => {
    await using server = await startScriptedServer({ respond: () => ({ text: 'ok' }) });
    await using files = await project({
      'main.ww': `${model(server)}\ntools = api functions { path = "tools.ts" }\nassistant = agent llm { model = model, tools = [tools] }\n`,
      'tools.ts': `/** One. */\nexport function one(): number { return 1; }\n`,
    });
    const topology = await files.load();
    await using runtime = await started(topology);
    await runtime.ask(undefined, 'first', { to: 'assistant' });
    expect((server.requests[0]!.body.tools as any[]).map((tool) => tool.name)).toEqual(['one']);

    await files.write('tools.ts', `/** One. */\nexport function one(): number { return 1; }\n/** Two. */\nexport function two(label: string): string { return label; }\n`);
    await runtime.reload(topology, { changedFiles: [path.join(files.dir, 'tools.ts')] });
    // The agent asks its tools again on a turn that starts more than 2 s after it last asked.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await runtime.ask(undefined, 'second', { to: 'assistant' });
    const tools = server.requests[1]!.body.tools as any[];
    expect(tools.map((tool) => tool.name).sort()).toEqual(['one', 'two']);
    expect(tools.find((tool) => tool.name === 'two').parameters.properties.label).toEqual({ type: 'string' });
  });
});

describe('knowledge_base on an agent', () => {
  it('offers the knowledge base\'s tools like those in `tools`', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'query', arguments: { query: 'llama' } }] }, { text: 'Llamas hum.' });
    await using files = await project({
      'main.ww': `${model(server)}\nkb = knowledge_base text_file { path = "docs" }\nassistant = agent llm { model = model, knowledge_base = kb }\n`,
      'docs/animals.md': '# Animals\n\nThe llama hums when it is content.\n',
    });
    await using runtime = await started(await files.load());
    const result = await runtime.ask(undefined, 'what do llamas do?', { to: 'assistant' });
    expect(result.text).toBe('Llamas hum.');
    expect((server.requests[0]!.body.tools as any[]).map((tool) => tool.name)).toEqual(expect.arrayContaining(['query', 'read', 'list']));
    expect(toolOutputs(server, 1)[0]).toContain('The llama hums when it is content.');
  });
});
