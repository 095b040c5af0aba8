import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('woodwork init', () => {
  it('writes a project that validate accepts', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    const created = await runCli(['init', 'my-agent'], { cwd: parent });
    expect(created.code).toBe(0);
    const files = await readdir(path.join(parent, 'my-agent'));
    expect(files.sort()).toEqual(['.env.example', '.gitignore', 'README.md', 'hooks.ts', 'main.ww', 'package.json', 'pipes.ts']);
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
    const validated = await runCli(['validate', 'my-agent'], { cwd: parent });
    expect(validated.stderr).toBe('');
    expect(validated.code).toBe(0);
  });

  it('writes a project that runs with no API key, its pipe trimming the input', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-init-'));
    expect((await runCli(['init'], { cwd: dir })).code).toBe(0);
    const ran = await runCli(['run', '--input', '   world   '], { cwd: dir });
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toContain('Hello, world!');
    expect(ran.code).toBe(0);
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
