/**
 * Runs the CLI as a real child process, from its TypeScript sources (tsx and the
 * `@woodwork/source` condition, so no build is needed), with piped stdio or inside a
 * pseudo-terminal (a small Python relay around `pty.openpty`, since Node has no pty of its own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');

const PTY_RELAY = `
import os, pty, select, subprocess, sys, struct, fcntl, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
proc = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
stdin_open = True
while True:
    readers = [master] + ([sys.stdin.fileno()] if stdin_open else [])
    ready, _, _ = select.select(readers, [], [], 0.05)
    if master in ready:
        try:
            data = os.read(master, 4096)
        except OSError:
            data = b''
        if not data:
            break
        os.write(sys.stdout.fileno(), data)
    if stdin_open and sys.stdin.fileno() in ready:
        data = os.read(sys.stdin.fileno(), 4096)
        if data:
            os.write(master, data)
        else:
            stdin_open = False
    if proc.poll() is not None and master not in ready:
        break
sys.exit(proc.wait())
`;

export interface CliChild {
  readonly process: ChildProcess;
  /** Everything written to stdout and stderr so far (in a pty they are one stream). */
  output(): string;
  /** What was written to stderr alone (empty in a pty). */
  errors(): string;
  write(text: string): void;
  end(): void;
  /** Resolves with the first match in the output after `from` (default: anywhere). */
  waitFor(pattern: RegExp, options?: { timeoutMs?: number; from?: number }): Promise<RegExpMatchArray>;
  readonly exited: Promise<number | null>;
}

export function spawnCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; pty?: boolean }): CliChild {
  const node = [process.execPath, '--conditions=@woodwork/source', '--import', tsx, bin, ...args];
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...options.env };
  const child = options.pty
    ? spawn('python3', ['-c', PTY_RELAY, ...node], { cwd: options.cwd, env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(node[0]!, node.slice(1), { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    errors += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    process: child,
    output: () => output,
    errors: () => errors,
    write: (text) => child.stdin!.write(text),
    end: () => child.stdin!.end(),
    exited,
    async waitFor(pattern, { timeoutMs = 20_000, from = 0 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.slice(from).match(pattern);
        if (match) return match;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no ${pattern} in the output of woodwork ${args.join(' ')}${child.exitCode !== null ? ` (exited ${child.exitCode})` : ''}:\n${output}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

export const cliRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
