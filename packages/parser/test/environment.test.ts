// Environment references: `.env` reading, resolution with every missing variable reported at once,
// and loadTopology() end to end on real files.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDotenv } from '../src/dotenv.js';
import { loadTopology, resolveEnv, WoodworkParserError } from '../src/index.js';
import { check } from './support.js';

describe('.env files', () => {
  it('reads KEY=value, export, quotes, escapes, comments and multi-line quoted values', () => {
    const text = [
      '# a comment',
      'PLAIN=value',
      'export EXPORTED = spaced value  # trailing comment',
      'EMPTY=',
      'DOUBLE="line\\none \\"quoted\\""',
      "SINGLE='kept \\n as is'",
      'MULTI="first',
      'second"',
      'HASH=a#b',
      '',
    ].join('\n');
    const { values, diagnostics } = parseDotenv(text, '.env');
    expect(diagnostics).toEqual([]);
    expect(values).toEqual({
      PLAIN: 'value',
      EXPORTED: 'spaced value',
      EMPTY: '',
      DOUBLE: 'line\none "quoted"',
      SINGLE: 'kept \\n as is',
      MULTI: 'first\nsecond',
      HASH: 'a#b',
    });
  });

  it('warns (WW304) about a line it cannot read and carries on', () => {
    const { values, diagnostics } = parseDotenv('GOOD=1\nthis is not a variable\nBAD="open\nNEXT=2\n', '/p/.env');
    expect(diagnostics.map((d) => `${d.code} ${d.severity} ${d.line}:${d.column}`)).toEqual(['WW304 warning 2:1', 'WW304 warning 3:5']);
    expect(values).toEqual({ GOOD: '1', NEXT: '2' });
  });
});

describe('resolveEnv', () => {
  const source = `a = claude {
  api_key: $API_KEY
  base_url: "\${HOST:-localhost}:\${PORT}"
}
i = input api { port: \${PORT}, auth = { token = $API_KEY } }
b = redis { url: \${REDIS_URL:-redis://127.0.0.1:6379} }
`;
  const { topology, diagnostics } = check(source);

  it('keeps references in the topology and resolves a copy, converting to the expected type', () => {
    expect(diagnostics).toEqual([]);
    const { resolved, diagnostics: problems } = resolveEnv(topology, { env: { API_KEY: 'sk-1', PORT: '8081' }, mode: 'run' });
    expect(problems).toEqual([]);
    expect(resolved?.components[0]?.config).toMatchObject({ api_key: 'sk-1', base_url: 'localhost:8081' });
    expect(resolved?.components[1]?.config).toMatchObject({ port: 8081, auth: { token: 'sk-1' } });
    expect(resolved?.bus?.url).toBe('redis://127.0.0.1:6379');
    expect(topology.components[0]?.config.api_key).toEqual({ $env: 'API_KEY' });
  });

  it('reports every missing variable at once, with every place it is used, as errors when running', () => {
    const { resolved, diagnostics: problems } = resolveEnv(topology, { env: {}, mode: 'run' });
    expect(resolved).toBeUndefined();
    expect(problems.map((d) => `${d.code} ${d.severity} ${d.line}:${d.column} ${d.message}`)).toEqual([
      'WW301 error 2:12 environment variable `API_KEY` is not set (used 2 times)',
      'WW301 error 3:33 environment variable `PORT` is not set (used 2 times)',
    ]);
    expect(problems[0]?.related).toEqual([{ message: '`API_KEY` is also used here', file: 'main.ww', line: 5, column: 49 }]);
    expect(problems[1]?.related?.[0]).toMatchObject({ line: 5, column: 23 });
  });

  it('warns when validating about an llm with no api_key whose provider variable is unset (WW301, at the component), in the words run uses', () => {
    const { topology: models } = check(`chat = llm openai { model = "m" }
local = llm ollama {}
keyed = llm claude { api_key = "sk-in-file" }
referenced = llm claude { api_key = $MY_KEY }
`);
    const problems = (env: Record<string, string>) => resolveEnv(models, { env, mode: 'validate' }).diagnostics.map((d) => `${d.code} ${d.severity} ${d.line}:${d.column} ${d.message}`);
    expect(problems({})).toEqual([
      'WW301 warning 1:1 component `chat` (llm openai) has no API key: OPENAI_API_KEY is not set and the component has no `api_key`',
      'WW301 warning 4:37 environment variable `MY_KEY` is not set',
    ]);
    expect(problems({ OPENAI_API_KEY: 'sk-env', MY_KEY: 'sk-2' })).toEqual([]);
    // At run time the component itself refuses to start without it (@woodwork/ai).
    expect(resolveEnv(models, { env: { MY_KEY: 'k' }, mode: 'run' }).diagnostics).toEqual([]);
  });

  it('reports missing variables as warnings when validating', () => {
    const { diagnostics: problems } = resolveEnv(topology, { env: {}, mode: 'validate' });
    expect(problems.map((d) => d.severity)).toEqual(['warning', 'warning']);
  });

  it('uses a default when the variable is unset or empty, and an empty value when set empty without one', () => {
    const { resolved } = resolveEnv(topology, { env: { API_KEY: '', PORT: '1', HOST: '' }, mode: 'run' });
    expect(resolved?.components[0]?.config).toMatchObject({ api_key: '', base_url: 'localhost:1' });
  });

  it('WW305: a value that does not convert to what the key expects', () => {
    const { resolved, diagnostics: problems } = resolveEnv(topology, { env: { API_KEY: 'k', PORT: 'eighty' }, mode: 'run' });
    expect(resolved).toBeUndefined();
    expect(problems).toMatchObject([{ code: 'WW305', severity: 'error', line: 5, column: 23, message: 'expected a number from the environment, found "eighty"' }]);
  });

  it('throws a WoodworkParserError for a call without a mode (a programmer mistake)', () => {
    expect(() => resolveEnv(topology, { env: {} } as never)).toThrow(WoodworkParserError);
  });
});

describe('resolveEnv for part of a topology (components)', () => {
  // Two components with secrets of their own, one shared, and a bus that needs a variable.
  const source = `b = redis { url: $REDIS_URL }
model = claude {
  api_key: $MODEL_KEY
  base_url: "https://\${SHARED}/v1"
}
gate = input api { port: $PORT, auth = { token = "\${SHARED}-\${GATE_TOKEN}" } }
`;
  const { topology, diagnostics } = check(source);

  it('resolves the listed components and the bus; the others keep their references and are not checked', () => {
    expect(diagnostics).toEqual([]);
    const { resolved, diagnostics: problems } = resolveEnv(topology, {
      env: { REDIS_URL: 'redis://r:6379', GATE_TOKEN: 't', PORT: '9000', SHARED: 's' },
      mode: 'run',
      components: ['gate'],
    });
    expect(problems).toEqual([]);
    expect(resolved?.bus?.url).toBe('redis://r:6379');
    expect(resolved?.components[1]?.config).toMatchObject({ port: 9000, auth: { token: 's-t' } });
    // MODEL_KEY is missing, and that is not this process's business: the references stay as they are.
    expect(resolved?.components[0]?.config.api_key).toEqual({ $env: 'MODEL_KEY' });
    expect(resolved?.components[0]?.config.base_url).toEqual(topology.components[0]?.config.base_url);
    expect(resolved?.components[0]?.config.base_url).toHaveProperty('$template');
  });

  it('still reports a missing variable of a listed component (WW301, at its place), counting only its uses', () => {
    const { resolved, diagnostics: problems } = resolveEnv(topology, { env: { REDIS_URL: 'redis://r:6379', PORT: '1' }, mode: 'run', components: ['model'] });
    expect(resolved).toBeUndefined();
    expect(problems.map((d) => `${d.code} ${d.severity} ${d.file}:${d.line}:${d.column} ${d.message}`)).toEqual([
      'WW301 error main.ww:3:12 environment variable `MODEL_KEY` is not set',
      'WW301 error main.ww:4:22 environment variable `SHARED` is not set',
    ]);
    // SHARED is also used by `gate`, which is not listed: no related place points there.
    expect(problems[1]?.related).toBeUndefined();
  });

  it('always resolves the bus: its missing variable is an error whatever the components', () => {
    const { resolved, diagnostics: problems } = resolveEnv(topology, { env: {}, mode: 'run', components: [] });
    expect(resolved).toBeUndefined();
    expect(problems.map((d) => `${d.code} ${d.severity} ${d.line}:${d.column} ${d.message}`)).toEqual(['WW301 error 1:18 environment variable `REDIS_URL` is not set']);
    const none = resolveEnv(topology, { env: { REDIS_URL: 'redis://r:6379' }, mode: 'run', components: [] });
    expect(none.diagnostics).toEqual([]);
    expect(none.resolved?.components.map((component) => component.config)).toEqual(topology.components.map((component) => component.config));
  });

  it('checks conversions only where it resolves (WW305)', () => {
    const env = { REDIS_URL: 'redis://r:6379', MODEL_KEY: 'k', SHARED: 's', GATE_TOKEN: 't', PORT: 'eighty' };
    expect(resolveEnv(topology, { env, mode: 'run', components: ['model'] }).diagnostics).toEqual([]);
    expect(resolveEnv(topology, { env, mode: 'run', components: ['gate'] }).diagnostics.map((d) => d.code)).toEqual(['WW305']);
  });

  it('without components, resolves everything as before; a components that is not an array is a programmer mistake', () => {
    expect(resolveEnv(topology, { env: {}, mode: 'run' }).diagnostics.map((d) => d.message)).toEqual([
      'environment variable `REDIS_URL` is not set',
      'environment variable `MODEL_KEY` is not set',
      'environment variable `SHARED` is not set (used 2 times)',
      'environment variable `PORT` is not set',
      'environment variable `GATE_TOKEN` is not set',
    ]);
    expect(() => resolveEnv(topology, { env: {}, mode: 'run', components: 'gate' as never })).toThrow(WoodworkParserError);
  });
});

describe('loadTopology', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'ww-load-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function project(name: string, files: Record<string, string>): Promise<string> {
    const folder = path.join(root, name);
    await mkdir(folder, { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(folder, file)), { recursive: true });
      await writeFile(path.join(folder, file), content);
    }
    return path.join(folder, 'main.ww');
  }

  const main = 'a = claude { api_key: $KEY, pipes: ["pipes.ts::enhance"] }\ni = input cli {}\n';

  it('reads .env beside the file, lets the given environment win, and resolves', async () => {
    const file = await project('ok', { 'main.ww': main, '.env': 'KEY=from-dotenv\nOTHER=x\n', 'pipes.ts': 'export const enhance = (m) => m;\n' });
    const fromDotenv = await loadTopology(file, { mode: 'run', env: {} });
    expect(fromDotenv.diagnostics).toEqual([]);
    expect(fromDotenv.resolved?.components[0]?.config.api_key).toBe('from-dotenv');
    expect(fromDotenv.topology?.components[0]?.config.api_key).toEqual({ $env: 'KEY' });
    expect(Object.keys(fromDotenv.sources)).toEqual([file, path.join(path.dirname(file), '.env')]);

    const fromProcess = await loadTopology(file, { mode: 'run', env: { KEY: 'from-process' } });
    expect(fromProcess.resolved?.components[0]?.config.api_key).toBe('from-process');
  });

  it('uses process.env when no environment is given', async () => {
    const file = await project('process-env', { 'main.ww': 'a = claude { api_key: $WW_TEST_KEY }\n' });
    process.env.WW_TEST_KEY = 'from-process-env';
    try {
      const result = await loadTopology(file, { mode: 'run' });
      expect(result.resolved?.components[0]?.config.api_key).toBe('from-process-env');
    } finally {
      delete process.env.WW_TEST_KEY;
    }
  });

  it('reports a missing variable as a warning when validating, with the topology still returned', async () => {
    const file = await project('no-env', { 'main.ww': main, 'pipes.ts': '' });
    const validated = await loadTopology(file, { mode: 'validate', env: {} });
    expect(validated.diagnostics.map((d) => `${d.code} ${d.severity}`)).toEqual(['WW301 warning']);
    expect(validated.topology).toBeDefined();
    expect(validated.resolved).toBeUndefined();
    const run = await loadTopology(file, { mode: 'run', env: {} });
    expect(run.diagnostics.map((d) => `${d.code} ${d.severity}`)).toEqual(['WW301 error']);
    expect(run.topology).toBeDefined();
  });

  it('resolves only the listed components and the bus with `components`, reading .env as usual', async () => {
    const file = await project('scoped', {
      'main.ww': 'b = redis { url: $REDIS_URL }\nmodel = claude { api_key: $MODEL_KEY }\ngate = input api { auth = { token = $GATE_TOKEN } }\n',
      '.env': 'REDIS_URL=redis://from-dotenv:6379\n',
    });
    const gate = await loadTopology(file, { mode: 'run', env: { GATE_TOKEN: 't' }, components: ['gate'] });
    expect(gate.diagnostics).toEqual([]);
    expect(gate.resolved?.bus?.url).toBe('redis://from-dotenv:6379');
    expect(gate.resolved?.components[1]?.config.auth).toMatchObject({ token: 't' });
    expect(gate.resolved?.components[0]?.config.api_key).toEqual({ $env: 'MODEL_KEY' });

    const model = await loadTopology(file, { mode: 'run', env: { GATE_TOKEN: 't' }, components: ['model'] });
    expect(model.resolved).toBeUndefined();
    expect(model.topology).toBeDefined();
    expect(model.diagnostics.map((d) => `${d.code} ${d.severity} ${path.basename(d.file)}:${d.line}:${d.column}`)).toEqual(['WW301 error main.ww:2:27']);
    await expect(loadTopology(file, { mode: 'run', components: 'gate' as never })).rejects.toSatisfy(WoodworkParserError.isInstance);
  });

  it('WW303: a pipe, hook or module file that does not exist', async () => {
    const file = await project('missing-module', { 'main.ww': main + 't = api functions { path: "tools/f.ts" }\n', '.env': 'KEY=1\n' });
    const result = await loadTopology(file, { mode: 'validate', env: {} });
    expect(result.diagnostics.map((d) => `${d.code} ${d.line}:${d.column}`)).toEqual(['WW303 1:37', 'WW303 3:27']);
    expect(result.topology).toBeUndefined();
  });

  it('WW306: a pipe or hook whose module does not export the function, a warning with the close name', async () => {
    const file = await project('missing-export', {
      'main.ww': 'a = claude {\n  pipes: ["pipes.ts::trimm", "pipes.ts::shout", "lib.ts::anything", "pipes.ts"]\n  hooks: ["hooks.py::log"]\n}\n',
      'pipes.ts': 'export function trim(text: string) { return text.trim(); }\nexport const shout = (t: string) => t.toUpperCase();\n',
      // Re-exports cannot be read without resolving them, so nothing in lib.ts is judged.
      'lib.ts': "export * from './pipes.js';\n",
      'hooks.py': 'def log(event):\n    print(event)\n',
    });
    const result = await loadTopology(file, { mode: 'validate', env: { ANTHROPIC_API_KEY: 'k' }, checkExports: true });
    expect((await loadTopology(file, { mode: 'validate', env: { ANTHROPIC_API_KEY: 'k' } })).diagnostics).toEqual([]);
    expect(result.diagnostics.map((d) => `${d.code} ${d.severity} ${d.line}:${d.column} ${d.message} (${d.hint})`)).toEqual([
      'WW306 warning 2:11 `pipes.ts` does not export `trimm` (did you mean `trim`?)',
      'WW306 warning 2:69 `pipes.ts` has no default export (it exports `trim` and `shout`)',
    ]);
    expect(result.topology).toBeDefined();
  });

  it('checks the text it is given in `source` instead of the file on disk (an editor buffer)', async () => {
    const file = await project('unsaved', { 'main.ww': 'a = claude {}\n' });
    const result = await loadTopology(file, { mode: 'validate', env: { ANTHROPIC_API_KEY: 'sk-test' }, source: 'a = claude { model: 1 }\n' });
    expect(result.diagnostics.map((d) => d.code)).toEqual(['WW209']);
    expect(result.source).toBe('a = claude { model: 1 }\n');
  });

  it('WW302: a missing file or a folder is a diagnostic, not an exception', async () => {
    const missing = await loadTopology(path.join(root, 'nowhere', 'main.ww'), { mode: 'validate', env: {} });
    expect(missing).toMatchObject({ source: '', diagnostics: [{ code: 'WW302', line: 1, column: 1 }] });
    expect(missing.diagnostics[0]?.message).toContain('does not exist');
    const folder = await loadTopology(root, { mode: 'validate', env: {} });
    expect(folder.diagnostics[0]?.message).toContain('is a folder');
  });

  it('returns every diagnostic of the .ww and .env files, sorted, with no topology when there are errors', async () => {
    const file = await project('broken', { 'main.ww': 'a = claude { model: 1 }\nb = lm x {}\n', '.env': 'not a line\n' });
    const result = await loadTopology(file, { mode: 'validate', env: { ANTHROPIC_API_KEY: 'sk-test' } });
    expect(result.diagnostics.map((d) => `${path.basename(d.file)} ${d.code}`)).toEqual(['main.ww WW209', 'main.ww WW201', '.env WW304']);
    expect(result.topology).toBeUndefined();
    expect(result.source).toContain('a = claude');
  });

  it('throws a WoodworkParserError only for programmer mistakes', async () => {
    await expect(loadTopology('', { mode: 'run' })).rejects.toSatisfy(WoodworkParserError.isInstance);
    await expect(loadTopology('x.ww', { mode: 'later' } as never)).rejects.toThrow(/mode/);
  });
});
