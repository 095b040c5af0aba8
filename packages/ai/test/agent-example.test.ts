/**
 * examples/tool-agent as it is written — `agent llm` with `api functions` from tools.ts, memory,
 * hooks in the classic spelling, `input command_line` → agent → `output console` — with the model
 * pointed at the scripted server through the file's own OPENAI_BASE_URL, embedded, with the
 * default registry as `woodwork run` has it.
 */
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDiagnostic, loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { capturingStream } from './support/capture.js';

const example = path.resolve(import.meta.dirname, '../../../examples/tool-agent/main.ww');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('examples/tool-agent', () => {
  it('answers with the help of its functions, prints its tool calls through the hooks and remembers the conversation', async () => {
    await using server = await startScriptedServer({ apiKey: 'sk-example' });
    const env = { OPENAI_BASE_URL: server.openaiBaseUrl, OPENAI_API_KEY: 'sk-example', OPENAI_MODEL: 'gpt-test' };
    const loaded = await loadTopology(example, { mode: 'run', env });
    if (!loaded.resolved) throw new Error(loaded.diagnostics.map((d) => formatDiagnostic(d, { source: loaded.sources })).join('\n'));
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void printed.push(String(line)));
    const stdout = capturingStream();
    await using runtime = createRuntime(loaded.resolved, { logger: silentLogger, io: { stdout: stdout.stream, stderr: capturingStream().stream, color: false } });
    await runtime.start();

    server.enqueue({ toolCalls: [{ name: 'daysUntil', arguments: { date: '2999-01-01' } }] }, { text: ['Quite a ', 'few days.'] });
    const sessionId = await runtime.create();
    const first = await runtime.ask(sessionId, 'How long until the year 2999?');
    expect(first.ok).toBe(true);
    expect(first.text).toBe('Quite a few days.');

    // The model was offered both functions of tools.ts, with their doc comments and parameters.
    const tools = server.requests[0]!.body.tools as any[];
    expect(tools.map((tool) => tool.name).sort()).toEqual(['daysUntil', 'now']);
    expect(tools.find((tool) => tool.name === 'now').description).toContain('IANA time zone');
    expect(tools.find((tool) => tool.name === 'now').parameters.properties.timeZone).toMatchObject({ type: 'string', default: 'UTC' });
    // The function really ran: its answer went back to the model.
    const output = (server.requests[1]!.body.input as any[]).find((item) => item.type === 'function_call_output').output;
    expect(Number(output)).toBeGreaterThan(300_000);
    // The output component printed the answer; the hooks printed the tool events.
    await vi.waitFor(() => expect(stdout.text()).toContain('Quite a few days.'));
    await vi.waitFor(() => expect(printed.some((line) => line.includes('tool.call') && line.includes('daysUntil'))).toBe(true));
    expect(printed.some((line) => line.includes('tool.observation'))).toBe(true);

    // memory short_term: the second turn's request carries the first exchange.
    server.enqueue({ text: 'You asked about 2999.' });
    const second = await runtime.ask(sessionId, 'What did I ask?');
    expect(second.text).toBe('You asked about 2999.');
    const history = JSON.stringify(server.requests[2]!.body.input);
    expect(history).toContain('How long until the year 2999?');
    expect(history).toContain('Quite a few days.');
  });
});
