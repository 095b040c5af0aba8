import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const messy = 'a   =  llm openai{model:"x" # the model\n temperature :0.5}\n';
const tidy = 'a = llm openai {\n    model: "x" # the model\n    temperature: 0.5\n}\n';

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-fmt-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

describe('woodwork fmt', () => {
  it('--check passes on examples/: they are formatted', async () => {
    const result = await runCli(['fmt', '--check', 'examples'], { cwd: repoRoot });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.code).toBe(0);
  });

  it('--check passes on the project `woodwork init` writes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-fmt-init-'));
    expect((await runCli(['init', dir])).code).toBe(0);
    expect(await runCli(['fmt', '--check'], { cwd: dir })).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('--check lists the files that would change, exits 1, and writes nothing', async () => {
    const dir = await project({ 'main.ww': messy, 'sub/ok.ww': tidy, 'sub/bad.ww': messy, 'node_modules/x/skip.ww': messy });
    const result = await runCli(['fmt', '--check'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['main.ww', path.join('sub', 'bad.ww')]);
    expect(result.stderr).toContain('2 files not formatted; run `woodwork fmt` to fix');
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toBe(messy);
  });

  it('rewrites in place, lists what changed, and then has nothing left to do', async () => {
    const dir = await project({ 'main.ww': messy, 'other.ww': tidy });
    const result = await runCli(['fmt', '.'], { cwd: dir });
    expect(result).toMatchObject({ code: 0, stdout: 'main.ww\n' });
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toBe(tidy);
    expect(await runCli(['fmt', '--check', 'main.ww', 'other.ww'], { cwd: dir })).toMatchObject({ code: 0, stdout: '' });
  });

  it('--stdout prints the formatted text and leaves the file alone', async () => {
    const dir = await project({ 'main.ww': messy });
    const result = await runCli(['fmt', '--stdout', 'main.ww'], { cwd: dir });
    expect(result).toMatchObject({ code: 0, stdout: tidy });
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toBe(messy);
  });

  it('refuses a file with syntax errors: diagnostics with file:line:col, exit 1, file untouched', async () => {
    const broken = 'a = llm openai {\n  model: "x\n}\n';
    const dir = await project({ 'main.ww': broken, 'ok.ww': messy });
    const result = await runCli(['fmt'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:2:10: error WW102/);
    expect(result.stderr).toContain('main.ww: not formatted, fix the syntax errors above first');
    expect(result.stdout).toBe('ok.ww\n');
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toBe(broken);
  });

  it('reports a missing path as WW302 and exits 1; --check with --stdout is wrong usage (2)', async () => {
    const dir = await project({});
    const missing = await runCli(['fmt', 'nope.ww'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.ww:1:1: error WW302: `.*nope\.ww` does not exist/);
    expect((await runCli(['fmt', '--check', '--stdout'], { cwd: dir })).code).toBe(2);
  });

  it('says what its exit codes mean in its help', async () => {
    const result = await runCli(['fmt', '--help']);
    expect(result.stdout).toMatch(/Exit codes: 0 formatted/);
  });
});
