/**
 * `mcp server` with real MCP servers built with the official SDK (test/support/mcp-test-server.ts):
 * over stdio (started and stopped with the component) and over streamable HTTP, driven by an agent
 * on the scripted model server; and the classic `server = "…"` spelling's errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WoodworkRuntimeError, type SessionEvent } from '@woodwork/runtime';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { eventsUntil, project, started } from './support/project.js';

const serverScript = path.join(import.meta.dirname, 'support/mcp-test-server.ts');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const payloads = (events: readonly SessionEvent[], type: string) => events.filter((event) => event.event_type === type).map((event) => event.payload as any);

function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

const model = (server: ScriptedServer) => `model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }`;

async function turn(runtime: Awaited<ReturnType<typeof started>>, input: string) {
  const sessionId = await runtime.create();
  const events = runtime.events(sessionId);
  const submitted = await runtime.submit(sessionId, input, { to: 'assistant' });
  return { events: await eventsUntil(events, 'turn.completed'), result: await submitted.result };
}

describe('mcp server', () => {
  it('offers a stdio server\'s tools with their schemas, calls them, reports progress and failures', async () => {
    await using server = await startScriptedServer();
    server.enqueue(
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }, { name: 'whoami', arguments: {} }, { name: 'fail', arguments: {} }, { name: 'slow_count', arguments: { n: 3 } }] },
      { text: 'All done.' },
    );
    await using files = await project({
      'main.ww': `
        ${model(server)}
        local = mcp server {
          command = "${process.execPath}"
          args = ["--import", "${tsx}", "${serverScript}"]
          env = { MCP_TEST_USER = "ada" }
        }
        assistant = agent llm { model = model, tools = [local] }
      `,
    });
    await using runtime = await started(await files.load());
    const { events, result } = await turn(runtime, 'use the tools');
    expect(result.ok).toBe(true);
    const tools = server.requests[0]!.body.tools as any[];
    expect(tools.map((tool) => tool.name).sort()).toEqual(['add', 'fail', 'slow_count', 'whoami']);
    expect(tools.find((tool) => tool.name === 'add').parameters).toMatchObject({ type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] });
    const [sum, user, failed, counted] = toolOutputs(server, 1);
    expect(sum).toBe('5');
    expect(user).toBe('ada');
    expect(failed).toContain('the tool is broken');
    expect(counted).toBe('counted to 3');
    const progress = payloads(events, 'tool.progress');
    expect(progress.map((item) => item.progress)).toEqual([1, 2, 3]);
    expect(progress[0]).toMatchObject({ tool: 'slow_count', component: 'local', total: 3, message: 'at 1' });
  });

  it('reaches a streamable HTTP server with headers', async () => {
    const child: ChildProcess = spawn(process.execPath, ['--import', tsx, serverScript, '--http', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          const match = /listening (\d+)/.exec(chunk.toString());
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`MCP test server exited (${code})`)));
      });
      await using server = await startScriptedServer();
      server.enqueue({ toolCalls: [{ name: 'add', arguments: { a: 40, b: 2 } }] }, { text: '42' });
      await using files = await project({
        'main.ww': `
          ${model(server)}
          remote = mcp server { url = "http://127.0.0.1:${port}/mcp", headers = { x-test-key = "secret" } }
          assistant = agent llm { model = model, tools = [remote] }
        `,
      });
      await using runtime = await started(await files.load());
      const { result } = await turn(runtime, 'add');
      expect(result.text).toBe('42');
      expect(toolOutputs(server, 1)).toEqual(['42']);
    } finally {
      child.kill();
    }
  });

  it('refuses a classic server name it cannot resolve, naming what to write instead', async () => {
    await using files = await project({
      'main.ww': `m = llm openai { model = "x", api_key = "sk-x" }\nweird = mcp server { server = "acme/mcp-server", toolsets = "a,b" }\n`,
    });
    const error = await started(await files.load()).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
    const problem = (error as WoodworkRuntimeError).problems.find((candidate) => candidate.component === 'weird') ?? (error as WoodworkRuntimeError);
    expect(problem.message).toContain('server = "acme/mcp-server" is not a server Woodwork knows');
    expect(problem.hint).toContain('command = "npx", args = ["-y", "acme/mcp-server"]');
    expect(problem.hint).toContain('url = ');
    expect(problem.location?.line).toBe(2);
  });

  it('maps the classic github/mcp-server spelling to its remote endpoint and asks for its token', async () => {
    const saved = process.env.GITHUB_PERSONAL_ACCESS_TOKEN;
    delete process.env.GITHUB_PERSONAL_ACCESS_TOKEN;
    try {
      await using files = await project({
        'main.ww': `gh = mcp server { server = "github/mcp-server", version = "latest", toolsets = "repos,issues", readonly = true }\n`,
      });
      const error = (await started(await files.load()).then(
        () => undefined,
        (thrown: unknown) => thrown,
      )) as WoodworkRuntimeError;
      const problem = error.problems.find((candidate) => candidate.component === 'gh') ?? error;
      expect(problem.message).toContain('needs GITHUB_PERSONAL_ACCESS_TOKEN');
    } finally {
      if (saved !== undefined) process.env.GITHUB_PERSONAL_ACCESS_TOKEN = saved;
    }
  });
});
