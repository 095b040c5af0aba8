import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ModuleLoader } from '../src/index.js';

const who = { component: 'agent', role: 'function module' as const };
let loader: ModuleLoader | undefined;
afterEach(async () => {
  await loader?.close();
  loader = undefined;
});

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-loader-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

describe('ModuleLoader', () => {
  it('refuses absolute paths and paths that climb out of the project', async () => {
    loader = new ModuleLoader({ projectDir: await folder({}), stdout: new PassThrough(), stderr: new PassThrough() });
    expect(() => loader!.resolvePath('/etc/passwd', who)).toThrow(/is an absolute path/);
    expect(() => loader!.resolvePath('../outside.ts', who)).toThrow(/points outside the project folder/);
    expect(() => loader!.resolvePath('a/../../outside.ts', who)).toThrow(/points outside the project folder/);
    expect(loader.resolvePath('tools/x.ts', who)).toBe(path.join(loader.projectDir, 'tools', 'x.ts'));
  });

  it('lists a TypeScript module\'s functions with their parameters and JSDoc, for tools', async () => {
    loader = new ModuleLoader({
      projectDir: await folder({
        'functions.ts': `
/** Adds two numbers. */
export function add(a: number, b: number): number { return a + b; }
/** Says hello. */
export const greet = async (name: string) => \`hello \${name}\`;
export const notAFunction = 42;
`,
      }),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
    });
    const module = await loader.loadModule('functions.ts', who);
    expect(module.functions.map((fn) => [fn.name, fn.parameters, fn.description])).toEqual([
      ['add', ['a', 'b'], 'Adds two numbers.'],
      ['greet', ['name'], 'Says hello.'],
    ]);
    expect(await module.get('add')!.call(2, 3)).toBe(5);
    expect(await module.get('greet')!.call('ada')).toBe('hello ada');
  });

  it('lists a classic Python functions file and calls into it', async () => {
    loader = new ModuleLoader({
      projectDir: await folder({
        'functions.py': `
def add(a, b):
    """Adds two numbers."""
    return a + b

async def shout(text):
    return text.upper()

def _private():
    pass
`,
      }),
      stdout: new PassThrough(),
      stderr: new PassThrough(),
    });
    const module = await loader.loadModule('functions.py', who);
    expect(module.functions.map((fn) => [fn.name, fn.parameters, fn.description ?? null])).toEqual([
      ['add', ['a', 'b'], 'Adds two numbers.'],
      ['shout', ['text'], null],
    ]);
    expect(await module.get('add')!.call(2, 3)).toBe(5);
    expect(await module.get('shout')!.call('quiet')).toBe('QUIET');
    await expect(module.get('add')!.call('x', 1)).rejects.toMatchObject({ name: 'PythonError', message: expect.stringMatching(/^TypeError/) });
  });
});
