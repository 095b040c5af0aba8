/**
 * The classic engine's example project shapes (test/fixtures/classic), as written in its dialect:
 * each validates with no error and runs end to end — embedded, the default registry as `woodwork
 * run` has it — against the scripted provider server, with real tools behind it (Python functions,
 * an HTTP API, a git repository in a bubblewrap sandbox, an MCP server).
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDiagnostic, loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { capturingStream } from './support/capture.js';

const fixtures = path.join(import.meta.dirname, 'fixtures/classic');

/** A copy of a fixture in a temporary folder (runs write into the project: .woodwork, logs). */
async function copyOf(name: string): Promise<AsyncDisposable & { dir: string; file: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), `ww-classic-${name.slice(0, 2)}-`));
  await cp(path.join(fixtures, name), dir, { recursive: true });
  return { dir, file: path.join(dir, 'main.ww'), [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

async function load(file: string, env: Record<string, string>) {
  const checked = await loadTopology(file, { mode: 'validate', env: {} });
  // Validation without the secrets: no errors (missing variables are warnings there).
  expect(checked.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d, { source: checked.sources }))).toEqual([]);
  const loaded = await loadTopology(file, { mode: 'run', env });
  if (!loaded.resolved) throw new Error(loaded.diagnostics.map((d) => formatDiagnostic(d, { source: loaded.sources })).join('\n'));
  return loaded.resolved;
}

async function running(file: string, env: Record<string, string>) {
  const runtime = createRuntime(await load(file, env), { logger: silentLogger, io: { stdout: capturingStream().stream, stderr: capturingStream().stream, color: false } });
  await runtime.start();
  return runtime;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

/** The classic files name no base URL: the OpenAI provider reads OPENAI_BASE_URL, as its SDK does. */
async function scripted() {
  const server = await startScriptedServer({ apiKey: 'sk-classic' });
  vi.stubEnv('OPENAI_BASE_URL', server.openaiBaseUrl);
  vi.stubEnv('OPENAI_API_KEY', 'sk-classic');
  return server;
}

const functionOutputs = (body: any): string[] => (body.input as any[]).filter((item) => item.type === 'function_call_output').map((item) => String(item.output));

describe('classic example projects', () => {
  it('01 short-term memory agent: an llm with memory remembers the conversation', async () => {
    await using server = await scripted();
    await using project = await copyOf('01-short-term-memory-agent');
    await using runtime = await running(project.file, { OPENAI_API_KEY: 'sk-classic' });
    server.enqueue({ text: 'Nice to meet you, Ada.' }, { text: 'Your name is Ada.' });
    const session = await runtime.create();
    expect((await runtime.ask(session, 'My name is Ada.')).text).toBe('Nice to meet you, Ada.');
    const second = await runtime.ask(session, 'What is my name?');
    expect(second.ok).toBe(true);
    expect(second.text).toBe('Your name is Ada.');
    expect(JSON.stringify(server.requests[1]!.body.input)).toContain('My name is Ada.');
    expect(server.requests[0]!.body.model).toBe('gpt-4o-mini');
  });

  it('02 function-tooling agent: the Python functions are tools the agent calls', async () => {
    await using server = await scripted();
    await using project = await copyOf('02-function-tooling-agent');
    await using runtime = await running(project.file, { OPENAI_API_KEY: 'sk-classic' });
    server.enqueue({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Lyon' } }, { name: 'add', arguments: { a: 2, b: 40 } }] }, { text: 'Sunny in Lyon; 42.' });
    const result = await runtime.ask(undefined, 'Weather in Lyon, and 2 + 40?');
    expect(result.ok).toBe(true);
    expect(result.text).toBe('Sunny in Lyon; 42.');
    const tools = server.requests[0]!.body.tools as any[];
    expect(tools.find((tool) => tool.name === 'get_weather').description).toContain('Returns the current weather in a city.');
    expect(functionOutputs(server.requests[1]!.body)).toEqual(['It is 21 degrees and sunny in Lyon.', '42']);
  });

  it('03 API agent: the agent calls an HTTP API from its documentation, and another model as a tool', async () => {
    const todos: { title: string }[] = [{ title: 'water the plants' }];
    const api: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        if (request.method === 'POST' && request.url === '/todos') todos.push(JSON.parse(body));
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(todos));
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      await using server = await scripted();
      await using project = await copyOf('03-api-agent');
      const url = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
      await using runtime = await running(project.file, { OPENAI_API_KEY: 'sk-classic', API_URL: url });
      server.enqueue({ toolCalls: [{ name: 'endpoint', arguments: { method: 'POST', path: 'todos', body: { title: 'buy milk' } } }] }, { text: 'Added; you have 2 to-dos.' });
      const result = await runtime.ask(undefined, 'Add "buy milk" to my list');
      expect(result.ok).toBe(true);
      expect(todos.map((todo) => todo.title)).toEqual(['water the plants', 'buy milk']);
      const tools = server.requests[0]!.body.tools as any[];
      expect(tools.map((tool) => tool.name).sort()).toEqual(['endpoint', 'model2']);
      expect(tools.find((tool) => tool.name === 'endpoint').description).toContain('POST /todos');
      expect(functionOutputs(server.requests[1]!.body)[0]).toContain('buy milk');
    } finally {
      api.close();
    }
  });

  it('04 coding agent: a cloned repository in the sandbox, set up once by its script, and an MCP server', async () => {
    // The repository the agent works on, made here.
    const origin = mkdtempSync(path.join(tmpdir(), 'ww-classic-origin-'));
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    git(origin, 'init', '--quiet', '--initial-branch=main');
    writeFileSync(path.join(origin, 'calc.py'), 'def add(a, b):\n    return a - b\n');
    git(origin, 'add', '.');
    git(origin, 'commit', '--quiet', '-m', 'calc with a bug');

    await using server = await scripted();
    await using project = await copyOf('04-coding-agent');
    const env = {
      OPENAI_API_KEY: 'sk-classic',
      REPO_URL: origin,
      MCP_COMMAND: process.execPath,
      MCP_TSX: pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
      MCP_SCRIPT: path.join(import.meta.dirname, 'support/mcp-test-server.ts'),
    };
    await using runtime = await running(project.file, env);
    server.enqueue(
      { toolCalls: [{ name: 'read_file', arguments: { file_path: 'calc.py' } }] },
      { toolCalls: [{ name: 'edit_file', arguments: { file_path: 'calc.py', old_string: 'a - b', new_string: 'a + b' } }] },
      { toolCalls: [{ name: 'execute_command', arguments: { command: 'python3 -c "import calc; print(calc.add(2, 3))" && git commit -qam "fix add" && git log --format="%an %s" -1' } }] },
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] },
      { text: 'Fixed add; it returns 5 now.' },
    );
    const result = await runtime.ask(undefined, 'Fix the bug in calc.py and commit it');
    expect(result.ok, JSON.stringify(result.errors)).toBe(true);
    expect(result.text).toBe('Fixed add; it returns 5 now.');
    const outputs = functionOutputs(server.requests.at(-1)!.body);
    expect(outputs[0]).toBe('     1\tdef add(a, b):\n     2\t    return a - b');
    expect(outputs[1]).toBe("Successfully replaced string in 'calc.py'");
    // Committed with the identity the setup script configured from environment_variables.
    expect(outputs[2]).toBe('5\nCoding Agent fix add');
    expect(outputs[3]).toBe('5');
    const workspace = path.join(project.dir, '.woodwork/coding-env');
    expect(git(workspace, 'log', '--oneline').trim().split('\n')).toHaveLength(2);
    expect(await readFile(path.join(workspace, '.setup-log'), 'utf8')).toBe('setup done for development\n');
    expect(await readFile(path.join(workspace, '.startups'), 'utf8')).toBe('started\n');
    // The classic hook (Python, keys in the classic order) saw the observations.
    await vi.waitFor(async () => expect(await readFile(path.join(project.dir, 'observations.log'), 'utf8')).toContain('execute_command'));
  });

  it('04 coding agent with the classic GitHub MCP server spelling validates as written', async () => {
    await using project = await copyOf('04-coding-agent');
    const text = (await readFile(project.file, 'utf8')).replace(
      /tools_server = mcp server \{[^}]*\}\n\}/,
      'tools_server = mcp server {\n    server: "github/mcp-server"\n    version: "latest"\n    toolsets: "repos,merge_requests"\n    readonly: TRUE\n}',
    );
    expect(text).toContain('toolsets: "repos,merge_requests"');
    writeFileSync(project.file, text);
    const checked = await loadTopology(project.file, { mode: 'validate', env: {} });
    expect(checked.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(checked.topology?.components.find((component) => component.name === 'tools_server')?.config).toMatchObject({ toolsets: 'repos,merge_requests', readonly: true });
  });
});
