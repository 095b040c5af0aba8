/**
 * The agent's turn state in Redis: an approval answered in another process than the one that paused, and a
 * host killed with SIGKILL between two tool calls — the turn finishes on another process, the
 * finished call is not run again, the call in flight is reported as maybe-happened. Skipped
 * without WOODWORK_TEST_REDIS_URL (bash tools/services.sh start redis).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBus, type Envelope } from '@woodwork/bus';
import { componentGroup, componentTopic, type SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required');

const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

/** An agent whose one tool, `deploy`, needs approval. */
function deployProject(server: ScriptedServer, agentKeys = '') {
  return project({
    'main.ww': `
      model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
      ops = api functions { path = "ops.ts", approval = true }
      assistant = agent llm { model = model, tools = [ops]${agentKeys} }
    `,
    'ops.ts': `export function deploy(env: string) { return 'deployed to ' + env; }`,
  });
}

async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function host(file: string, components: string, namespace: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', path.join(import.meta.dirname, 'support/agent-host.ts'), file, components, url!, namespace], {
    cwd: path.resolve(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve(child));
    child.once('exit', (code) => reject(new Error(`host exited (${code}): ${stderr}`)));
  });
}

describe.skipIf(url === undefined)('agent turns in Redis', () => {
  it('resumes a turn paused for approval in another process', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'deploy', arguments: { env: 'prod' } }] }, { text: 'Deployed.' });
    await using files = await deployProject(server);
    const topology = await files.load();
    const namespace = `agent-${randomUUID().slice(0, 8)}`;
    const options = { bus: url!, sessions: { redis: url! }, namespace };
    // This process hosts the tool and asks; the agent runs first here, then in a child process.
    await using tools = await started(topology, { ...options, components: ['ops'] });
    const sessionId = randomUUID();
    let approvalId: string;
    {
      await using first = await started(topology, { ...options, components: ['assistant'] });
      await tools.create({ id: sessionId });
      const events = tools.events(sessionId);
      await tools.submit(sessionId, 'deploy to prod', { to: 'assistant' });
      const seen = await eventsUntil(events, 'turn.completed');
      approvalId = payloads(seen, 'tool.approval_requested')[0].approval_id;
    }
    // The instance that paused is gone; a process that never saw the turn gets the answer.
    const second = await host(files.file, 'assistant', namespace);
    try {
      const events = tools.events(sessionId, { from: 'live' });
      const turn = await tools.submit(sessionId, { approval: { id: approvalId, approved: true } }, { to: 'assistant' });
      const seen = await eventsUntil(events, 'turn.completed');
      expect((await turn.result).text).toBe('Deployed.');
      expect(payloads(seen, 'tool.observation')[0]).toMatchObject({ ok: true, output: 'deployed to prod' });
      expect(payloads(seen, 'tool.approval_answered')[0]).toMatchObject({ outcome: 'granted', approval_id: approvalId });
      expect(toolOutputs(server, 1)).toEqual(['deployed to prod']);
    } finally {
      second.kill('SIGTERM');
    }
  }, 60_000);

  it('takes the message that paused a turn, delivered again to another process, as a repeat of the question and not as an answer', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'deploy', arguments: { env: 'prod' } }] }, { text: 'Deployed.' });
    await using files = await deployProject(server);
    const topology = await files.load();
    const namespace = `agent-${randomUUID().slice(0, 8)}`;
    const options = { bus: url!, sessions: { redis: url! }, namespace };
    await using tools = await started(topology, { ...options, components: ['ops'] });
    // What the agent's inbox received, read as a second group would.
    const bus = await createBus(url!);
    const inbox: Envelope[] = [];
    await bus.subscribe(componentTopic(namespace, 'assistant'), { group: `${componentGroup('assistant')}-spy`, fromBeginning: true }, (envelope) => void inbox.push(envelope));
    try {
      const sessionId = randomUUID();
      let request: any;
      {
        await using first = await started(topology, { ...options, components: ['assistant'] });
        await tools.create({ id: sessionId });
        const events = tools.events(sessionId);
        await tools.submit(sessionId, 'deploy to prod', { to: 'assistant' });
        request = payloads(await eventsUntil(events, 'turn.completed'), 'tool.approval_requested')[0];
      }
      await waitFor(() => inbox.length === 1);
      // The broker hands the same message to a process that never saw it: what a host killed
      // after pausing but before its acknowledgement leaves behind.
      const second = await host(files.file, 'assistant', namespace);
      try {
        const again = tools.events(sessionId, { from: 'live' });
        await bus.publish(componentTopic(namespace, 'assistant'), inbox[0]!);
        // The reply and turn.completed it makes carry the first handling's ids, so listeners drop
        // them as duplicates; the question is asked again.
        const repeated = await eventsUntil(again, 'tool.approval_requested');
        expect(payloads(repeated, 'tool.approval_requested')).toEqual([request]);
        expect(payloads(repeated, 'tool.approval_answered')).toEqual([]);
        expect(server.requests).toHaveLength(1);

        const answered = tools.events(sessionId, { from: 'live' });
        const turn = await tools.submit(sessionId, 'yes', { to: 'assistant' });
        const seen = await eventsUntil(answered, 'turn.completed');
        expect((await turn.result).text).toBe('Deployed.');
        expect(payloads(seen, 'tool.approval_answered')).toEqual([expect.objectContaining({ outcome: 'granted', approval_id: request.approval_id })]);
        expect(toolOutputs(server, 1)).toEqual(['deployed to prod']);
      } finally {
        second.kill('SIGTERM');
      }
    } finally {
      await bus.close();
    }
  }, 60_000);

  it('answers a finished turn\'s message delivered again to another process without running the turn again', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'charge', arguments: { cents: 500 } }] }, { text: 'Charged.' }, { text: 'Second turn.' });
    await using files = await project({
      'main.ww': `
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        shop = api functions { path = "shop.ts" }
        assistant = agent llm { model = model, tools = [shop] }
      `,
      'shop.ts': `
        import { appendFileSync } from 'node:fs';
        export function charge(cents: number) { appendFileSync(process.env.SHOP_LOG!, 'charge\\n'); return 'charged ' + cents; }
      `,
    });
    const log = path.join(files.dir, 'calls.log');
    process.env.SHOP_LOG = log;
    const topology = await files.load();
    const namespace = `agent-${randomUUID().slice(0, 8)}`;
    const options = { bus: url!, sessions: { redis: url! }, namespace };
    await using tools = await started(topology, { ...options, components: ['shop'] });
    const bus = await createBus(url!);
    const inbox: Envelope[] = [];
    const topic = componentTopic(namespace, 'assistant');
    await bus.subscribe(topic, { group: `${componentGroup('assistant')}-spy`, fromBeginning: true }, (envelope) => void inbox.push(envelope));
    try {
      const sessionId = await tools.create();
      {
        await using first = await started(topology, { ...options, components: ['assistant'] });
        const turn = await tools.submit(sessionId, 'charge me', { to: 'assistant' });
        expect((await turn.result).text).toBe('Charged.');
      }
      await waitFor(() => inbox.length === 1);
      const second = await host(files.file, 'assistant', namespace);
      try {
        // Delivered again to a process that never saw it, as after a crash before the ack.
        await bus.publish(topic, inbox[0]!);
        await waitFor(async () => (await bus.queueDepth(topic, componentGroup('assistant'))) === 0);
        expect((await readFile(log, 'utf8')).split('\n').filter((line) => line === 'charge')).toHaveLength(1);
        expect(server.requests).toHaveLength(2);
        // The next turn is a new one, and the conversation has no trace of a second first turn.
        const next = await tools.submit(sessionId, 'and now?', { to: 'assistant' });
        expect((await next.result).text).toBe('Second turn.');
        expect(server.requests).toHaveLength(3);
      } finally {
        second.kill('SIGTERM');
      }
    } finally {
      await bus.close();
      delete process.env.SHOP_LOG;
    }
  }, 60_000);

  it('times a paused approval out at its deadline with no input, after the instance that paused it was killed', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ toolCalls: [{ name: 'deploy', arguments: { env: 'prod' } }] }, { text: 'Not deployed: nobody approved in time.' });
    await using files = await deployProject(server, ', approval_timeout = "3s"');
    const topology = await files.load();
    const namespace = `agent-${randomUUID().slice(0, 8)}`;
    // This process hosts the tool and watches; the agent pauses in one child, which is then
    // SIGKILLed; another child hosts the agent afterwards. Nobody answers.
    await using tools = await started(topology, { bus: url!, sessions: { redis: url! }, namespace, components: ['ops'] });
    const sessionId = randomUUID();
    await tools.create({ id: sessionId });
    const events = tools.events(sessionId, { from: 'live' });
    const first = await host(files.file, 'assistant', namespace);
    let second: ChildProcess | undefined;
    try {
      await tools.submit(sessionId, 'deploy to prod', { to: 'assistant' });
      const seen: SessionEvent[] = [];
      let completed = 0;
      for await (const event of events) {
        seen.push(event);
        if (event.event_type !== 'turn.completed') continue;
        completed++;
        if (completed === 1) {
          // Paused: the instance that paused dies at once, with the deadline still ahead.
          expect(payloads(seen, 'tool.approval_requested')).toHaveLength(1);
          first.kill('SIGKILL');
          second = await host(files.file, 'assistant', namespace);
        } else break;
      }
      const request = payloads(seen, 'tool.approval_requested')[0];
      expect(payloads(seen, 'tool.approval_answered')).toEqual([expect.objectContaining({ outcome: 'expired', approval_id: request.approval_id })]);
      const observation = payloads(seen, 'tool.observation')[0];
      expect(observation).toMatchObject({ turn_id: request.turn_id, ok: false, status: 'denied' });
      expect(observation.output).toContain('no one approved');
      expect(toolOutputs(server, 1)[0]).toContain('no one approved');
      expect(payloads(seen, 'session.replied').at(-1)).toBe('Not deployed: nobody approved in time.');
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
    }
  }, 90_000);

  it.each([
    { idempotent: false, answer: 'Charged; the shipment may or may not have gone out.' },
    { idempotent: true, answer: 'Charged and shipped.' },
  ])('finishes a turn on another process after its host is killed between two tool calls, without running the finished call again (idempotent: $idempotent)', async ({ idempotent, answer }) => {
    await using server = await startScriptedServer();
    server.enqueue(
      { toolCalls: [{ name: 'charge', arguments: { cents: 500 } }] },
      { toolCalls: [{ name: 'ship', arguments: { parcel: 'p-1' } }] },
      { text: answer },
    );
    await using files = await project({
      'main.ww': `
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        shop = api functions { path = "shop.ts", idempotent = ${idempotent} }
        assistant = agent llm { model = model, tools = [shop] }
      `,
      'shop.ts': `
        import { appendFileSync } from 'node:fs';
        const log = ${JSON.stringify('')} + process.env.SHOP_LOG;
        export function charge(cents: number) { appendFileSync(log, 'charge\\n'); return 'charged ' + cents; }
        export async function ship(parcel: string) { appendFileSync(log, 'ship\\n'); await new Promise((r) => setTimeout(r, 1500)); return 'shipped ' + parcel; }
      `,
    });
    const log = path.join(files.dir, 'calls.log');
    process.env.SHOP_LOG = log;
    const topology = await files.load();
    const namespace = `agent-${randomUUID().slice(0, 8)}`;
    const file = files.file;
    // This process hosts the tool; the agent runs in a child process that is killed mid-turn.
    await using tools = await started(topology, { bus: url!, sessions: { redis: url! }, namespace, components: ['shop'] });
    const first = await host(file, 'assistant', namespace);
    const sessionId = await tools.create();
    const events = tools.events(sessionId);
    const turn = await tools.submit(sessionId, 'charge and ship', { to: 'assistant' });
    await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes('ship'));
    first.kill('SIGKILL');
    const second = await host(file, 'assistant', namespace);
    try {
      const seen = await eventsUntil(events, 'turn.completed');
      const result = await turn.result;
      expect(result.ok).toBe(true);
      expect(result.text).toBe(answer);
      // charge ran once; the model's third request has both observations.
      const calls = (await readFile(log, 'utf8')).split('\n');
      expect(calls.filter((line) => line === 'charge')).toHaveLength(1);
      expect(server.requests).toHaveLength(3);
      const outputs = toolOutputs(server, 2);
      expect(outputs[0]).toBe('charged 500');
      if (idempotent) {
        // An idempotent call in flight is simply made again.
        expect(calls.filter((line) => line === 'ship')).toHaveLength(2);
        expect(outputs[1]).toBe('shipped p-1');
      } else {
        expect(calls.filter((line) => line === 'ship')).toHaveLength(1);
        expect(outputs[1]).toContain('may or may not have happened');
        expect(payloads(seen, 'tool.observation').at(-1)).toMatchObject({ tool: 'ship', status: 'interrupted' });
      }
    } finally {
      second.kill('SIGTERM');
      delete process.env.SHOP_LOG;
    }
  }, 60_000);
});
