// The command line: an option the server does not understand ends it with the usage, rather than
// leaving an editor waiting on a server that will never answer.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import packageJson from '../package.json' with { type: 'json' };

const bin = path.join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--conditions=@woodwork/source', '--import', 'tsx', bin, ...args]).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

describe('woodwork-language-server', () => {
  it('prints its version and its usage', async () => {
    expect(await run('--version')).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });
    expect(await run('--help')).toMatchObject({ code: 0, stderr: expect.stringContaining('usage: woodwork-language-server [--stdio]') });
  });

  it('refuses a transport it does not speak, with exit code 2', async () => {
    const result = await run('--node-ipc');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown option --node-ipc');
  });
});
