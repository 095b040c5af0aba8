import { PassThrough } from 'node:stream';
import { main } from '../src/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output, as a user at a non-TTY terminal would see it. */
export async function runCli(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; tty?: boolean } = {}): Promise<CliResult> {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty === true });
  const stderr = Object.assign(new PassThrough(), { isTTY: options.tty === true });
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await main(argv, {
    stdout,
    stderr,
    env: options.env ?? { PATH: process.env.PATH },
    cwd: options.cwd ?? process.cwd(),
  });
  return { code, stdout: out, stderr: err };
}
