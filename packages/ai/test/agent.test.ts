import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

/** A project with an agent on the scripted server and a functions tool. */
async function agentProject(server: ScriptedServer, options: { agent?: string; tool?: string; files?: Record<string, string>; model?: string } = {}) {
  return project({
    'main.ww': `
      model = llm openai {
        model = "test-model"
        api_key = "sk-test"
        base_url = "${server.openaiBaseUrl}"
        ${options.model ?? ''}
      }
      tools = api functions {
        path = "tools.ts"
        ${options.tool ?? ''}
      }
      assistant = agent llm {
        model = model
        tools = [tools]
        ${options.agent ?? ''}
      }
    `,
    'tools.ts': `
      export const calls: string[] = [];
      /** The weather in a city. */
      export function weather(city: string, unit: 'c' | 'f' = 'c'): string {
        calls.push(city);
        return \`sunny in \${city}, 21 \${unit}\`;
      }
      /** Always fails. */
      export function broken(): never {
        throw new Error('the disk is on fire');
      }
      /** Never answers in time. */
      export async function slow(ms = 5000): Promise<string> {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return 'late';
      }
      /** Far too much output. */
      export function huge(): string {
        return 'x'.repeat(50_000);
      }
      /** How many times weather ran. */
      export function count(): number {
        return calls.length;
      }
    `,
    ...options.files,
  });
}

const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

/** The function_call_output items the model got in a request (OpenAI Responses). */
function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

async function turn(runtime: Awaited<ReturnType<typeof started>>, input: unknown, sessionId?: string) {
  const id = sessionId ?? (await runtime.create());
  const events = runtime.events(id);
  const submitted = await runtime.submit(id, input, { to: 'assistant' });
  const seen = await eventsUntil(events, 'turn.completed');
  return { sessionId: id, events: seen, result: await submitted.result };
}

describe('agent llm', () => {
  it('calls a tool the model asks for and answers with what it observed', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }] }, { text: ['It is ', 'sunny in Paris.'] });
    await using files = await agentProject(server);
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'weather in Paris?');

    expect(result.ok).toBe(true);
    expect(result.text).toBe('It is sunny in Paris.');
    // The model was offered the function with a schema read from its TypeScript signature.
    const tools = server.requests[0]!.body.tools as any[];
    const weather = tools.find((tool) => tool.name === 'weather');
    expect(weather.description).toBe('The weather in a city.');
    expect(weather.parameters.properties.city).toEqual({ type: 'string' });
    expect(weather.parameters.properties.unit).toMatchObject({ type: 'string', enum: ['c', 'f'], default: 'c' });
    expect(weather.parameters.required).toEqual(['city']);
    // The second request carried the observation.
    expect(toolOutputs(server, 1)).toEqual(['sunny in Paris, 21 c']);

    // The turn starts with the runtime's input.received (no input component here), then the agent's own.
    const received = events.filter((event) => event.event_type === 'input.received');
    expect(received.map((event) => event.component_source)).toEqual(['runtime', 'assistant']);
    expect(received[1]!.payload).toMatchObject({ input: 'weather in Paris?', source: 'runtime' });
    const action = payloads(events, 'agent.action')[0];
    expect(action).toMatchObject({ step: 1, tool: 'weather', input: { city: 'Paris' } });
    expect(payloads(events, 'tool.call')[0]).toMatchObject({ step: 1, tool: 'weather', component: 'tools', input: { city: 'Paris' }, call_id: action.call_id });
    expect(payloads(events, 'tool.observation')[0]).toMatchObject({ step: 1, tool: 'weather', ok: true, status: 'ok', output: 'sunny in Paris, 21 c', call_id: action.call_id });
    expect(payloads(events, 'agent.step_complete').map((step) => step.step)).toEqual([1, 2]);
    // The classic order of events.
    const order = events.map((event) => event.event_type).filter((type) => ['input.received', 'agent.action', 'tool.call', 'tool.observation', 'agent.step_complete', 'agent.response'].includes(type));
    expect(order).toEqual(['input.received', 'input.received', 'agent.action', 'tool.call', 'tool.observation', 'agent.step_complete', 'agent.step_complete', 'agent.response']);
    // The answer streamed.
    const chunks = events.filter((event) => event.event_type === 'stream.chunk').map((event) => (event.payload as any).data).filter((data) => data);
    expect(chunks).toEqual(['It is ', 'sunny in Paris.']);
  });

  it('makes parallel calls at once and sends every observation back in the model order', async () => {
    await using server = await startScriptedServer();
    server.enqueue(
      { text: 'Let me look.', toolCalls: [{ name: 'weather', arguments: { city: 'Oslo' } }, { name: 'weather', arguments: { city: 'Rome', unit: 'f' } }] },
      { text: 'Oslo and Rome are sunny.' },
    );
    await using files = await agentProject(server);
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'Oslo and Rome?');
    expect(result.ok).toBe(true);
    expect(toolOutputs(server, 1)).toEqual(['sunny in Oslo, 21 c', 'sunny in Rome, 21 f']);
    expect(payloads(events, 'agent.thought')[0]).toMatchObject({ step: 1, thought: 'Let me look.', kind: 'text' });
    expect(payloads(events, 'agent.step_complete')[0].tool_calls.map((call: any) => call.status)).toEqual(['ok', 'ok']);
  });

  it('shows a failing tool to the model as an observation, and the turn goes on', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'broken', arguments: {} }] }, { text: 'The tool failed, sorry.' });
    await using files = await agentProject(server);
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'try it');
    expect(result.ok).toBe(true);
    expect(result.text).toBe('The tool failed, sorry.');
    const [observation] = toolOutputs(server, 1);
    expect(observation).toContain('broken');
    expect(observation).toContain('the disk is on fire');
    expect(payloads(events, 'tool.observation')[0]).toMatchObject({ ok: false, status: 'failed' });
  });

  it('tells the model a tool timed out, naming the limit, without waiting for it', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'slow', arguments: { ms: 1000 } }] }, { text: 'It was too slow.' });
    await using files = await agentProject(server, { tool: 'timeout = "200ms"' });
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'go');
    expect(result.ok).toBe(true);
    const [observation] = toolOutputs(server, 1);
    expect(observation).toContain('did not answer within 200 ms');
    expect(observation).toContain('timeout of `tools`');
    expect(payloads(events, 'tool.observation')[0]).toMatchObject({ ok: false, status: 'timed_out' });
  });

  it('uses the agent tool_timeout when the tool has none', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'slow', arguments: { ms: 1000 } }] }, { text: 'ok' });
    await using files = await agentProject(server, { agent: 'tool_timeout = "150ms"' });
    await using runtime = await started(await files.load());
    await turn(runtime, 'go');
    expect(toolOutputs(server, 1)[0]).toContain('within 150 ms (tool_timeout of the agent)');
  });

  it('cuts a too-large observation to the limit and says so', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'huge', arguments: {} }] }, { text: 'That was a lot.' });
    await using files = await agentProject(server, { tool: 'max_output_chars = 1000' });
    await using runtime = await started(await files.load());
    const { events } = await turn(runtime, 'go');
    const [observation] = toolOutputs(server, 1);
    expect(observation!.length).toBeLessThan(1200);
    expect(observation).toContain('output truncated: 50000 characters, the limit is 1000 (max_output_chars of `tools`)');
    expect(payloads(events, 'tool.observation')[0]).toMatchObject({ ok: true, truncated: { chars: 50000, limit: 1000 } });
  });

  it('stops at max_steps with an error naming the key, offering no tools on the last step', async () => {
    await using server = await startScriptedServer({ respond: () => ({ toolCalls: [{ name: 'weather', arguments: { city: 'Loop' } }] }) });
    await using files = await agentProject(server, { agent: 'max_steps = 3' });
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'loop forever');
    expect(result.ok).toBe(false);
    const error = payloads(events, 'agent.error')[0];
    expect(error.error.code).toBe('WW_AI_MAX_STEPS');
    expect(error.error.message).toContain('all 3 steps (max_steps)');
    expect(error.component).toBe('assistant');
    expect(server.requests).toHaveLength(3);
    expect(server.requests[2]!.body.tool_choice).toBe('none');
    expect(server.requests[1]!.body.tool_choice).toBe('auto');
  });

  it('lets a pipe on tool.call rewrite the input and a pipe on tool.observation rewrite what the model sees', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'weather', arguments: { city: 'paris' } }] }, { text: 'done' });
    await using files = await agentProject(server, {
      agent: `pipes = [
        { event = "tool.call", function = "pipes.ts::capitalise" },
        { event = "tool.observation", function = "pipes.ts::stamp" },
      ]`,
      files: {
        'pipes.ts': `
          export function capitalise(call: any) {
            return { ...call, input: { ...call.input, city: call.input.city.toUpperCase() } };
          }
          export function stamp(observation: any) {
            return { ...observation, output: '[checked] ' + observation.output };
          }
        `,
      },
    });
    await using runtime = await started(await files.load());
    const { events } = await turn(runtime, 'go');
    expect(toolOutputs(server, 1)).toEqual(['[checked] sunny in PARIS, 21 c']);
    expect(payloads(events, 'tool.call')[0].input).toEqual({ city: 'PARIS' });
    expect(payloads(events, 'agent.action')[0].input).toEqual({ city: 'paris' });
  });

  it('does not make a call a pipe vetoes, and tells the model why', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'weather', arguments: { city: 'Atlantis' } }, { name: 'count', arguments: {} }] }, { text: 'vetoed' });
    await using files = await agentProject(server, {
      agent: `pipes = [{ event = "tool.call", function = "pipes.ts::guard" }]`,
      files: {
        'pipes.ts': `
          export function guard(call: any) {
            if (call.input?.city === 'Atlantis') return { ...call, veto: 'no such place' };
          }
        `,
      },
    });
    await using runtime = await started(await files.load());
    const { events } = await turn(runtime, 'go');
    const [vetoed, counted] = toolOutputs(server, 1);
    expect(vetoed).toContain('vetoed (no such place)');
    // The vetoed call never ran: `count` saw no weather calls.
    expect(counted).toBe('0');
    expect(payloads(events, 'tool.call')[0]).toMatchObject({ veto: 'no such place' });
    expect(payloads(events, 'tool.observation')[0]).toMatchObject({ ok: false, status: 'vetoed' });
  });

  it('tells the model about a tool that does not exist', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'teleport', arguments: {} }] }, { text: 'no teleport' });
    await using files = await agentProject(server);
    await using runtime = await started(await files.load());
    const { result } = await turn(runtime, 'go');
    expect(result.ok).toBe(true);
    expect(toolOutputs(server, 1)[0]).toContain('there is no tool `teleport`');
  });
});
