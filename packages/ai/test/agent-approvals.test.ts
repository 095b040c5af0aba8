import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

async function approvalProject(server: ScriptedServer, agentKeys = '') {
  return project({
    'main.ww': `
      model = llm openai { model = "test-model", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
      files = api functions { path = "files.ts", approval = true }
      assistant = agent llm { model = model, tools = [files] ${agentKeys} }
    `,
    'files.ts': `
      export const removed: string[] = [];
      /** Deletes a file. */
      export function remove(path: string): string {
        removed.push(path);
        return 'removed ' + path;
      }
      /** How many files were removed. */
      export function count(): number {
        return removed.length;
      }
    `,
  });
}

const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

async function turn(runtime: Awaited<ReturnType<typeof started>>, sessionId: string, input: unknown) {
  const events = runtime.events(sessionId, { from: 'live' });
  const submitted = await runtime.submit(sessionId, input, { to: 'assistant' });
  const seen = await eventsUntil(events, 'turn.completed');
  return { events: seen, result: await submitted.result };
}

/** Reads events up to and including the `count`-th of `type`. */
async function eventsUntilCount(events: AsyncIterable<SessionEvent>, type: string, count: number): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  let found = 0;
  for await (const event of events) {
    seen.push(event);
    if (event.event_type === type && ++found === count) break;
  }
  return seen;
}

const replies = (events: readonly SessionEvent[]) => payloads(events, 'session.replied').map((payload) => payload.text ?? payload);

function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

describe('agent approvals', () => {
  it('pauses before a call that needs approval and runs it when the user says yes', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'remove', arguments: { path: 'a.txt' } }] }, { text: 'Removed a.txt.' });
    await using files = await approvalProject(server);
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();

    const first = await turn(runtime, sessionId, 'delete a.txt');
    expect(first.result.ok).toBe(true);
    const request = payloads(first.events, 'tool.approval_requested')[0];
    expect(request).toMatchObject({ tool: 'remove', component: 'files', input: { path: 'a.txt' }, step: 1 });
    expect(first.result.text).toContain('wants to call `remove`');
    expect(server.requests).toHaveLength(1); // waiting: no second model call yet
    expect(payloads(first.events, 'tool.observation')).toEqual([]);

    const second = await turn(runtime, sessionId, 'yes');
    expect(second.result.ok).toBe(true);
    expect(second.result.text).toBe('Removed a.txt.');
    expect(payloads(second.events, 'tool.approval_answered')[0]).toMatchObject({ outcome: 'granted', approval_id: request.approval_id });
    expect(toolOutputs(server, 1)).toEqual(['removed a.txt']);
    // The resumed turn is the same agent turn.
    expect(payloads(second.events, 'tool.observation')[0]).toMatchObject({ turn_id: request.turn_id, ok: true });
    // The conversation the model sees is the original one, not "yes".
    expect(JSON.stringify(server.requests[1]!.body.input)).not.toContain('"yes"');
  });

  it('tells the model a denied call was not run, with the reason', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'remove', arguments: { path: 'b.txt' } }] }, { text: 'I did not delete it.' });
    await using files = await approvalProject(server);
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const first = await turn(runtime, sessionId, 'delete b.txt');
    const { approval_id } = payloads(first.events, 'tool.approval_requested')[0];

    const second = await turn(runtime, sessionId, { approval: { id: approval_id, approved: false, reason: 'keep it' } });
    expect(second.result.text).toBe('I did not delete it.');
    const [observation] = toolOutputs(server, 1);
    expect(observation).toContain('denied');
    expect(observation).toContain('keep it');
    expect(payloads(second.events, 'tool.observation')[0]).toMatchObject({ ok: false, status: 'denied' });
    expect(payloads(second.events, 'tool.approval_answered')[0]).toMatchObject({ outcome: 'denied', reason: 'keep it' });
  });

  it('times a paused approval out at its deadline with no further input: the call is not run, the model hears why and answers', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'remove', arguments: { path: 'c.txt' } }] }, { text: 'Too late.' }, { text: 'Hello again.' });
    await using files = await approvalProject(server, ', approval_timeout = "300ms"');
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId, { from: 'live' });
    await runtime.submit(sessionId, 'delete c.txt', { to: 'assistant' });
    // Two turns: the one that paused, then the deadline's — nothing else is sent.
    const seen = await eventsUntilCount(events, 'turn.completed', 2);
    const paused = seen.findIndex((event) => event.event_type === 'turn.completed');
    const request = payloads(seen.slice(0, paused), 'tool.approval_requested')[0];
    const late = seen.slice(paused + 1);
    expect(payloads(late, 'tool.approval_answered')[0]).toMatchObject({ outcome: 'expired', approval_id: request.approval_id, tool: 'remove' });
    const observation = payloads(late, 'tool.observation')[0];
    expect(observation).toMatchObject({ turn_id: request.turn_id, call_id: request.call_id, ok: false, status: 'denied' });
    expect(observation.output).toContain('no one approved the call of `remove` in time');
    expect(toolOutputs(server, 1)[0]).toContain('no one approved');
    expect(server.requests).toHaveLength(2);
    expect(replies(late)).toEqual(['Too late.']);

    // The session goes on: a later message is a new turn, not an answer to the expired request.
    const next = await turn(runtime, sessionId, 'yes');
    expect(payloads(next.events, 'tool.approval_answered')).toEqual([]);
    expect(server.requests[2]!.userText).toBe('yes');
    expect(next.result.text).toBe('Hello again.');
  });

  it('an answer before the deadline cancels its wake-up: nothing happens at the deadline', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'remove', arguments: { path: 'e.txt' } }] }, { text: 'Removed.' }, { text: 'Hi.' });
    await using files = await approvalProject(server, ', approval_timeout = "300ms"');
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    await turn(runtime, sessionId, 'delete e.txt');
    expect((await turn(runtime, sessionId, 'yes')).result.text).toBe('Removed.');
    const events = runtime.events(sessionId, { from: 'live' });
    await new Promise((resolve) => setTimeout(resolve, 700)); // past the deadline
    await runtime.submit(sessionId, 'hi', { to: 'assistant' });
    const seen = await eventsUntil(events, 'turn.completed');
    // The first turn that completed after the answer is the one just sent: no deadline turn came.
    expect(payloads(seen, 'tool.approval_answered')).toEqual([]);
    expect(replies(seen)).toEqual(['Hi.']);
    expect(server.requests).toHaveLength(3);
  });

  it('a tool.call pipe can ask for approval of one call', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'count', arguments: {} }] }, { text: 'none removed' });
    await using files = await project({
      'main.ww': `
        model = llm openai { model = "test-model", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        files = api functions { path = "files.ts" }
        assistant = agent llm { model = model, tools = [files], pipes = [{ event = "tool.call", function = "pipes.ts::ask" }] }
      `,
      'files.ts': `export function count(): number { return 0; }`,
      'pipes.ts': `export function ask(call: any) { return { ...call, approval: true }; }`,
    });
    await using runtime = await started(await files.load());
    const sessionId = await runtime.create();
    const first = await turn(runtime, sessionId, 'count');
    expect(payloads(first.events, 'tool.approval_requested')[0]).toMatchObject({ tool: 'count' });
    const second = await turn(runtime, sessionId, 'no');
    expect(toolOutputs(server, 1)[0]).toContain('denied');
    expect(second.result.text).toBe('none removed');
  });

  it('takes the answer through the API gateway (HTTP), as a client would send it', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'remove', arguments: { path: 'e.txt' } }] }, { text: 'Removed e.txt.' });
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    await using files = await project({
      'main.ww': `
        model = llm openai { model = "test-model", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        files = api functions { path = "files.ts", approval = true }
        in = input api { port = ${port} }
        assistant = agent llm { model = model, tools = [files] }
      `,
      'files.ts': `export function remove(path: string) { return 'removed ' + path; }`,
    });
    await using runtime = await started(await files.load());
    const api = `http://127.0.0.1:${port}/v1`;
    const post = async (route: string, body: unknown) =>
      (await (await fetch(`${api}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;

    const first = await post('/sessions', { input: 'delete e.txt' });
    expect(first.reply).toContain('wants to call `remove`');
    // The reply carries the request, so a client needs no event stream to answer it.
    const approvalId = first.replies[0].approval_requested.approval_id;
    expect(approvalId).toBeTypeOf('string');
    const second = await post(`/sessions/${first.session_id}/messages`, { input: { approval: { id: approvalId, approved: true } } });
    expect(second.ok).toBe(true);
    expect(second.reply).toBe('Removed e.txt.');
    expect(toolOutputs(server, 1)).toEqual(['removed e.txt']);
  });
});
