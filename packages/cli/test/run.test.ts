import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { allSpans, startOtlpReceiver } from '../../metrics/test/support/otlp-receiver.js';
import { main } from '../src/main.js';
import { spawnCli } from './child.js';

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-run-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

/** Runs the CLI in-process with captured output and the given stdin (never the test's own). */
async function cli(argv: string[], options: { cwd: string; stdin?: string; env?: NodeJS.ProcessEnv }) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  stdin.end(options.stdin ?? '');
  const code = await main(argv, { stdout, stderr, stdin, env: options.env ?? { PATH: process.env.PATH }, cwd: options.cwd } as never);
  return { code, stdout: out, stderr: err };
}

const echo = 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n';

describe('woodwork run', () => {
  it('prints the reply to --input and exits 0', async () => {
    const dir = await project({ 'main.ww': echo });
    const result = await cli(['run', '--input', 'hello'], { cwd: dir });
    expect(result).toMatchObject({ code: 0, stdout: 'HELLO\n', stderr: '' });
  });

  it('takes --input more than once, one turn each, in one session', async () => {
    const dir = await project({ 'main.ww': echo });
    const result = await cli(['run', 'main.ww', '-i', 'one', '-i', 'two'], { cwd: dir });
    expect(result).toMatchObject({ code: 0, stdout: 'ONE\nTWO\n' });
  });

  it('sends each piped stdin line as a message', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { prefix = "> " }\n' });
    const result = await cli(['run', dir], { cwd: tmpdir(), stdin: 'first\nsecond\n' });
    expect(result).toMatchObject({ code: 0, stdout: '> first\n> second\n' });
  });

  it('lists every missing environment variable at once, like validate, and exits 1', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {\n  prefix = "${FIRST}${SECOND}"\n}\n' });
    const result = await cli(['run', '--input', 'x'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:3:\d+: error WW301: environment variable `FIRST` is not set/);
    expect(result.stderr).toMatch(/main\.ww:3:\d+: error WW301: environment variable `SECOND` is not set/);
    expect(result.stderr).toMatch(/nothing was started/);
    expect(result.stderr).not.toMatch(/\s+at .*:\d+:\d+\)?$/m);
    expect(result.stdout).toBe('');
  });

  it('prints a bad module like a diagnostic, with its place and a code frame, and exits 1', async () => {
    const dir = await project({
      'main.ww': 'in = input cli {}\nt = transform echo {\n  pipes = ["p.ts::shoutt"]\n}\n',
      'p.ts': 'export const shout = (x: unknown) => x;\n',
    });
    const result = await cli(['run', '--input', 'x'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^main\.ww:3:12: error WW_RUNTIME_EXPORT_NOT_FOUND: pipe `p\.ts::shoutt` of component `t`: p\.ts has no function `shoutt`/m);
    expect(result.stderr).toMatch(/3 \|\s+pipes = \["p\.ts::shoutt"\]/);
    expect(result.stderr).toMatch(/\^/);
    expect(result.stderr).toMatch(/hint: did you mean `shout`\?/);
    expect(result.stderr).toMatch(/could not start/);
    expect(result.stderr).not.toMatch(/\s+at .*:\d+:\d+\)?$/m);
  });

  it('names a component it cannot run and exits 1', async () => {
    // Every pair of the language runs now; this one cannot start: its server does not answer.
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\ndocs = knowledge_base chroma { url = "http://127.0.0.1:1" }\nout = output cli {}\n' });
    const result = await cli(['run', '--input', 'x'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:3:1: error WW_AI_KNOWLEDGE_BASE: component `docs` \(knowledge_base chroma\) could not start: the Chroma server at http:\/\/127\.0\.0\.1:1 did not answer/);
    expect(result.stderr).toMatch(/hint: start a Chroma server there \(`pip install chromadb`/);
    expect(result.stderr).not.toMatch(/\s+at .*:\d+:\d+\)?$/m);
  });

  it('names the variable of a missing model key, in one line, and exits 1', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nbrain = llm openai { model = "gpt-4o-mini" }\nout = output cli {}\n' });
    const result = await cli(['run', '--input', 'x'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:2:1: error WW_AI_KEY_MISSING: component `brain` \(llm openai\) could not start: no API key: OPENAI_API_KEY is not set/);
    expect(result.stderr).not.toMatch(/\s+at .*:\d+:\d+\)?$/m);
  });

  it('names a bus that does not answer, how long it tried and what to check, and exits 1 (not a bug: no stack)', async () => {
    const dir = await project({ 'main.ww': echo });
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const url = `redis://127.0.0.1:${port}?connectTimeoutMs=500`;
    const result = await cli(['run', '--bus', url, '--input', 'hello'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`error WW_BUS_CONNECTION: the bus at redis://127\\.0\\.0\\.1:${port}\\S* did not answer \\(tried for \\d+\\.\\d s\\)`));
    expect(result.stderr).toMatch(/check that/i);
    // In the command line's terms: not the adapter's advice for this repository and for code that embeds it.
    expect(result.stderr).toContain(`hint: check that Redis runs and listens at 127.0.0.1:${port} (redis-cli -h 127.0.0.1 -p ${port} ping), and the URL's password, database and TLS (rediss://); to wait longer, add connectTimeoutMs to the URL (redis://127.0.0.1:${port}?connectTimeoutMs=20000)`);
    expect(result.stderr).not.toContain('tools/services.sh');
    expect(result.stderr).not.toContain('raise connectTimeoutMs');
    expect(result.stderr).toContain('main.ww: could not start');
    expect(result.stderr).not.toMatch(/internal error|^\s+at /m);
  });

  it('exits 1 when a turn fails, printing the failure', async () => {
    const dir = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["p.ts::fail"] }\n',
      'p.ts': "export const fail = () => { throw new Error('nope'); };\n",
    });
    const result = await cli(['run', '--input', 'x'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error pipe `p.ts::fail` of component `t` failed: nope (main.ww:2:31)\n  hint: fix p.ts; the message was not processed\n');
  });

  it('runs the project `woodwork init` writes, with no API key: the local model answers once', async () => {
    const model = process.env.WOODWORK_LOCAL_MODEL;
    if (!model) throw new Error('WOODWORK_LOCAL_MODEL is not set: run `eval "$(bash tools/models.sh env)"` in the repository (npm test does it)');
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-init-'));
    expect((await cli(['init', dir], { cwd: dir })).code).toBe(0);
    const result = await cli(['run', '--input', 'world'], { cwd: dir, env: { PATH: process.env.PATH, WOODWORK_LOCAL_MODEL: model } });
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).not.toBe('');
  }, 180_000);

  it('exports its spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set: one trace for the turn', async () => {
    await using receiver = await startOtlpReceiver();
    const dir = await project({ 'main.ww': echo });
    const result = await cli(['run', '--input', 'hello'], { cwd: dir, env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
    expect(result).toMatchObject({ code: 0, stdout: 'HELLO\n', stderr: '' });
    // Telemetry shuts down (and flushes) before the command returns.
    const spans = allSpans(receiver);
    expect(spans.map((span) => span.name).sort()).toEqual(['step in', 'step out', 'step shout']);
    expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
    expect(new Set(spans.map((span) => span.serviceName))).toEqual(new Set(['woodwork-run']));
  });

  it('warns about a WOODWORK_METRICS_EVENTS it does not understand and runs on', async () => {
    const dir = await project({ 'main.ww': echo });
    const result = await cli(['run', '--input', 'hello'], { cwd: dir, env: { PATH: process.env.PATH, WOODWORK_METRICS_EVENTS: 'maybe' } });
    expect(result).toMatchObject({ code: 0, stdout: 'HELLO\n' });
    expect(result.stderr).toMatch(/^warning: WOODWORK_METRICS_EVENTS is "maybe"; metrics events stay off/);
  });

  it('says where an `input api` listens, and serves there until stopped', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const dir = await project({ 'main.ww': `gateway = input api { port = ${port}, auth = "none" }\nshout = transform uppercase {}\nout = output api {}\n` });
    const child = spawnCli(['run'], { cwd: dir });
    try {
      const [, url] = (await child.waitFor(/input api `gateway` listening on (http:\/\/\S+)/)) as RegExpMatchArray;
      const reply = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'woodwork', messages: [{ role: 'user', content: 'hello' }] }),
      });
      expect(reply.status).toBe(200);
      expect(JSON.stringify(await reply.json())).toContain('HELLO');
    } finally {
      child.process.kill('SIGTERM');
      expect(await child.exited).toBe(0);
    }
  });

  it('shows run and dev in help', async () => {
    const result = await cli(['--help'], { cwd: tmpdir() });
    expect(result.stdout).toMatch(/run \[options\] \[file\]/);
    expect(result.stdout).toMatch(/dev \[options\] \[file\]/);
    const run = await cli(['run', '--help'], { cwd: tmpdir() });
    expect(run.stdout).toMatch(/--input <text>/);
    expect(run.stdout).toMatch(/--bus <url>/);
  });
});
