import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

async function project(source: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-'));
  await writeFile(path.join(dir, 'main.ww'), source);
  return dir;
}

describe('woodwork validate', () => {
  it.each(['echo', 'tool-agent', 'streaming-chat', 'scaled'])('accepts examples/%s', async (example) => {
    const result = await runCli(['validate', path.join('examples', example)], { cwd: repoRoot });
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/valid/);
  });

  it('lists no planned components once every kind of the language runs (knowledge bases, environments)', async () => {
    const dir = await project('m = llm openai {}\nkb = knowledge_base text_file { path = "main.ww" }\nenv = environment coding {}\n');
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('main.ww: 3 components, valid');
    expect(result.stdout).not.toContain('planned');
    const json = JSON.parse((await runCli(['validate', '--json'], { cwd: dir })).stdout);
    expect(json.planned).toEqual([]);
  });

  it('warns (WW306) about a pipe whose module does not export the function, as the language server does', async () => {
    const dir = await project('m = memory short_term { pipes: ["pipes.ts::trimm"] }\n');
    await writeFile(path.join(dir, 'pipes.ts'), 'export function trim(message) { return message; }\n');
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('warning WW306: `pipes.ts` does not export `trimm`');
    expect(result.stderr).toContain('did you mean `trim`?');
    expect(result.stdout).toContain('valid (1 warning)');
  });

  it('defaults to ./main.ww', async () => {
    const dir = await project('m = memory short_term {}\n');
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('main.ww: 1 component, valid');
  });

  it('reports every problem at once like a compiler and exits 1', async () => {
    const dir = await project('a = llm openai {\n  model: "x"\n  temprature: 0.2\n}\nb = agent llm { model: nowhere }\n');
    const result = await runCli(['validate', 'main.ww'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:3:3/);
    expect(result.stderr).toMatch(/temperature/);
    expect(result.stderr).toMatch(/main\.ww:5:\d+/);
    expect(result.stderr).toMatch(/nowhere/);
    expect(result.stderr).toMatch(/\^/);
    expect(result.stderr).not.toMatch(/\u001b\[/);
    expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('colours output only when asked (FORCE_COLOR) and never under NO_COLOR', async () => {
    const dir = await project('a = llm nope {}\n');
    const colored = await runCli(['validate'], { cwd: dir, env: { FORCE_COLOR: '1' } });
    expect(colored.stderr).toMatch(/\u001b\[/);
    const plain = await runCli(['validate'], { cwd: dir, env: { FORCE_COLOR: '0', NO_COLOR: '1' } });
    expect(plain.stderr).not.toMatch(/\u001b\[/);
    const onTerminal = await runCli(['validate'], { cwd: dir, env: {}, tty: true });
    expect(onTerminal.stderr).toMatch(/\u001b\[/);
    const forcedOff = await runCli(['validate'], { cwd: dir, env: { FORCE_COLOR: '0' }, tty: true });
    expect(forcedOff.stderr).not.toMatch(/\u001b\[/);
  });

  it('prints the topology as JSON with --json', async () => {
    const result = await runCli(['validate', 'examples/echo/main.ww', '--json'], { cwd: repoRoot });
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(output.ok).toBe(true);
    expect(output.topology.components.length).toBeGreaterThan(1);
  });

  it('prints diagnostics as JSON with --json when the file is invalid', async () => {
    const dir = await project('a = llm openai {\n');
    const result = await runCli(['validate', '--json'], { cwd: dir });
    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout);
    expect(output.ok).toBe(false);
    expect(output.topology).toBeNull();
    expect(output.diagnostics.find((diagnostic: { severity: string }) => diagnostic.severity === 'error')).toMatchObject({ code: expect.stringMatching(/^WW1/), line: expect.any(Number) });
  });

  it('points a typo of a required key inside a map value at the key, with what it means', async () => {
    const dir = await project('m = llm openai { api_key: "k" }\na = agent llm {\n  model: m\n  prompt: {\n    fiel: "prompt.md"\n  }\n}\n');
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('main.ww:5:5: error WW208: unknown key `fiel` for `prompt`, which is missing the required key `file`');
    expect(result.stderr).toContain('hint: did you mean `file`?');
    // One mistake, one diagnostic: no warning about the same key, nothing at the map's `{`.
    expect(result.stderr).not.toContain('WW207');
    expect(result.stderr).not.toMatch(/main\.ww:4:/);
    expect(result.stderr).toContain('1 error\n');
  });

  it('reports an unknown type once, without the unrouted-input warning that follows from it', async () => {
    const dir = await project('i = input api {}\na = agent lm {\n  model: "x"\n}\n');
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('main.ww:2:11: error WW202: unknown `agent` type `lm`');
    expect(result.stderr).not.toContain('WW220');
    expect(result.stderr).toMatch(/1 error\n$/);
  });

  it("warns about an llm with no API key, naming the component and the variable, as `run` would refuse it", async () => {
    const dir = await project('chat = llm openai {}\nlocal = llm ollama {}\n');
    const missing = await runCli(['validate'], { cwd: dir });
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain(
      'main.ww:1:1: warning WW301: component `chat` (llm openai) has no API key: OPENAI_API_KEY is not set and the component has no `api_key`',
    );
    expect(missing.stderr).toContain(
      'hint: set OPENAI_API_KEY in the environment, or write api_key = $OPENAI_API_KEY and put it in a .env file beside the .ww file; without a key, `woodwork run` refuses to start `chat`',
    );
    expect(missing.stdout).toContain('main.ww: 2 components, valid (1 warning)');
    const json = JSON.parse((await runCli(['validate', '--json'], { cwd: dir })).stdout);
    expect(json.ok).toBe(true);
    expect(json.diagnostics).toEqual([expect.objectContaining({ code: 'WW301', severity: 'warning', line: 1, column: 1 })]);

    const set = await runCli(['validate'], { cwd: dir, env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-test' } });
    expect(set.stderr).toBe('');
    // A written `api_key` is the parser's to check: its variable, unset, is the one warning.
    await writeFile(path.join(dir, 'main.ww'), 'chat = llm openai { api_key: $OPENAI_API_KEY }\n');
    const written = await runCli(['validate'], { cwd: dir });
    expect(written.stderr).toContain('warning WW301: environment variable `OPENAI_API_KEY` is not set');
    expect(written.stderr).not.toContain('has no API key');
  });

  it('reports a missing file as a problem, not a crash', async () => {
    const dir = await project('');
    const result = await runCli(['validate', 'nope.ww'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nope\.ww/);
  });

  it('says a scenario given where a .ww file goes is one, for every command that takes a .ww file (and fmt)', async () => {
    const dir = await project('in = input cli {}\nout = output console {}\n');
    await writeFile(path.join(dir, 'main.scenario.yaml'), 'turns:\n  - input: hi\n');
    for (const command of ['validate', 'run', 'dev', 'build', 'fmt']) {
      const result = await runCli([command, 'main.scenario.yaml'], { cwd: dir });
      const instead = command === 'fmt' ? 'give `woodwork fmt` .ww files or folders' : `give \`woodwork ${command}\` a .ww file (default: main.ww)`;
      expect(result.stderr).toContain(`error: main.scenario.yaml is a scenario for \`woodwork test\`, not a .ww file: run it with \`woodwork test main.scenario.yaml\`, or ${instead}`);
      // Not its YAML lines read as .ww syntax errors.
      expect(result.stderr).not.toMatch(/WW110/);
      expect(result.code).toBe(2);
    }
  });

  it('exits 2 on wrong usage', async () => {
    const result = await runCli(['validate', '--bogus']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown option/);
  });
});

describe('help and version', () => {
  it('prints help for every command', async () => {
    for (const argv of [['--help'], ['validate', '--help'], ['init', '--help']]) {
      const result = await runCli(argv);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage: woodwork/);
    }
  });

  it('prints the package version', async () => {
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default;
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('suggests the closest command for a typo', async () => {
    const result = await runCli(['validat']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Did you mean validate\?/);
  });
});
