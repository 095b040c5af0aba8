import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

/** The local model `bash tools/models.sh env` fetches (npm test sets it); without it this test fails saying so. */
function localModelPath(): string {
  const file = process.env.WOODWORK_LOCAL_MODEL;
  if (!file) throw new Error('WOODWORK_LOCAL_MODEL is not set: run `eval "$(bash tools/models.sh env)"` in the repository (npm test does it)');
  return file;
}

describe('woodwork init', () => {
  it('writes a project that validate accepts', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    const created = await runCli(['init', 'my-agent'], { cwd: parent });
    expect(created.code).toBe(0);
    const files = await readdir(path.join(parent, 'my-agent'));
    expect(files.sort()).toEqual(['.env.example', '.gitignore', 'README.md', 'hooks.ts', 'main.scenario.yaml', 'main.ww', 'package.json', 'pipes.ts']);
    // A project of its own: `npx woodwork` there resolves the CLI it installs, not a registry namesake.
    const manifest = JSON.parse(await readFile(path.join(parent, 'my-agent', 'package.json'), 'utf8'));
    const { version } = JSON.parse(await readFile(path.join(import.meta.dirname, '..', 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: 'my-agent',
      private: true,
      type: 'module',
      scripts: { start: 'woodwork run', validate: 'woodwork validate' },
      dependencies: { '@woodwork/cli': `^${version}`, '@woodwork/runtime': `^${version}` },
    });
    const ignored = (await readFile(path.join(parent, 'my-agent', '.gitignore'), 'utf8')).split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules/', '.env', 'build/', '.woodwork/']));
    expect(created.stdout).toMatch(/npm install/);
    // Every command the next steps name works in the new project: test runs the scenario init wrote.
    expect(created.stdout).toMatch(/^  npx woodwork test$/m);
    const validated = await runCli(['validate', 'my-agent'], { cwd: parent });
    expect(validated.stderr).toBe('');
    expect(validated.code).toBe(0);
  });

  it('writes a project where a real model answers with no API key (llm local), saying it is a very small one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    expect((await runCli(['init'], { cwd: dir, env: { PATH: process.env.PATH } })).code).toBe(0);
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toMatch(/assistant = llm local \{/);
    // The model the llm local tests use (tools/models.sh), instead of the template's hf: download.
    const ran = await runCli(['run', '--input', '   What is the capital of France?   '], { cwd: dir, env: { PATH: process.env.PATH, WOODWORK_LOCAL_MODEL: localModelPath() } });
    expect(ran.stderr).toMatch(/a very small local model/);
    expect(ran.stdout.trim().length).toBeGreaterThan(0);
    expect(ran.code).toBe(0);
  }, 180_000);

  it('writes a project on the provider whose key is set', async () => {
    const openai = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    expect((await runCli(['init'], { cwd: openai, env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-test' } })).code).toBe(0);
    expect(await readFile(path.join(openai, 'main.ww'), 'utf8')).toMatch(/assistant = llm openai \{/);
    const claude = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    expect((await runCli(['init'], { cwd: claude, env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: 'sk-ant-test' } })).code).toBe(0);
    expect(await readFile(path.join(claude, 'main.ww'), 'utf8')).toMatch(/assistant = llm claude \{/);
    expect((await runCli(['validate'], { cwd: claude })).code).toBe(0);
  });

  it('names a folder with spaces in its next steps as a shell word that can be copied', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    const created = await runCli(['init', "Bob's Agent"], { cwd: parent });
    expect(created.code).toBe(0);
    expect(created.stdout).toContain("\n  cd 'Bob'\\''s Agent'\n");
    expect(JSON.parse(await readFile(path.join(parent, "Bob's Agent", 'package.json'), 'utf8')).name).toMatch(/^[a-z0-9-]+$/);
  });

  it('refuses to overwrite existing files unless --force', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    await writeFile(path.join(dir, 'main.ww'), '# mine\n');
    const refused = await runCli(['init'], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/main\.ww/);
    expect(refused.stderr).toMatch(/--force/);
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).toBe('# mine\n');
    expect(await readdir(dir)).toEqual(['main.ww']);

    const forced = await runCli(['init', '--force'], { cwd: dir });
    expect(forced.code).toBe(0);
    expect(await readFile(path.join(dir, 'main.ww'), 'utf8')).not.toBe('# mine\n');
  });
});
