/**
 * Where an environment's commands run: inside a bubblewrap sandbox (Debian's `bubblewrap`, the
 * `bwrap` program) confined to the workspace, or — only when the `.ww` file says `sandbox = "none"` —
 * directly on the host. Docker is not used on purpose: many machines and CI runners have no
 * container engine, and bubblewrap needs none (it is what Flatpak confines applications with).
 *
 * Inside the sandbox a command sees:
 *   - the workspace, read-write, at `mountPoint` (`/workspace` by default, where the classic engine's
 *     container had it), as its working directory;
 *   - the environment's own home folder, read-write, at `/home/agent` (`HOME`), so what setup scripts
 *     configure (`git config --global`, `~/.bashrc`) lasts from one command to the next;
 *   - the system's programs read-only (`/usr`, `/opt`, the few `/etc` files programs need — never
 *     `/etc/shadow` or the host's home folders), plus `readOnlyPaths` at their own place;
 *   - a private `/tmp`, `/proc` and `/dev`, its own PID, IPC, UTS and network namespaces: no network
 *     unless `network` is true, and no other process of the host to see or signal.
 *
 * Every command has a time limit (the process group is killed when it is reached) and an output
 * limit (what is kept; the command runs on). Both are named in what the model reads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import path from 'node:path';

export type SandboxKind = 'bubblewrap' | 'none';

export interface SandboxOptions {
  readonly kind: SandboxKind;
  /** The host folder commands work in. */
  readonly workspace: string;
  /** Where the workspace appears inside the sandbox (`working_directory`, default `/workspace`). */
  readonly mountPoint: string;
  /** The host folder that is `$HOME` inside the sandbox. */
  readonly home: string;
  readonly network: boolean;
  readonly env: Readonly<Record<string, string>>;
  /** Host paths visible read-only at the same place (a toolchain outside /usr). */
  readonly readOnlyPaths: readonly string[];
  /** Project files (setup scripts) visible read-only under `/woodwork/scripts/<name>`. */
  readonly scripts?: Readonly<Record<string, string>>;
}

export interface RunOptions {
  /** The folder to start in, relative to the workspace (`cd` kept per session). Default: the workspace. */
  readonly cwd?: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly signal?: AbortSignal;
}

export interface CommandResult {
  /** Exit code; null when the command was killed. */
  readonly exitCode: number | null;
  /** stdout and stderr, interleaved as they came, at most `maxOutputBytes`. */
  readonly output: string;
  readonly timedOut: boolean;
  /** Bytes the command wrote beyond the limit (0: all of it is in `output`). */
  readonly droppedBytes: number;
  readonly durationMs: number;
}

/** The bubblewrap program: `bwrap` on the PATH, or `WOODWORK_BWRAP` (a build of your own). */
function bwrap(): string {
  return process.env.WOODWORK_BWRAP || 'bwrap';
}

/** Why no sandbox can run here, or undefined when bubblewrap works. Checked once per program per process. */
const probed = new Map<string, string | undefined>();

export function bubblewrapProblem(): string | undefined {
  const program = bwrap();
  if (probed.has(program)) return probed.get(program);
  const result = spawnSync(program, ['--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
  const problem =
    result.error !== undefined
      ? (result.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'bubblewrap (`bwrap`) is not installed'
        : `bubblewrap could not run: ${result.error.message}`
      : result.status !== 0
        ? `bubblewrap is installed but cannot create a sandbox here (${(result.stderr || `exit ${result.status}`).trim()}); unprivileged user namespaces may be disabled`
        : undefined;
  probed.set(program, problem);
  return problem;
}

/** The `/etc` entries programs need (users, name resolution, certificates, the loader), nothing secret. */
const ETC_ENTRIES = ['passwd', 'group', 'hosts', 'nsswitch.conf', 'resolv.conf', 'ssl', 'ca-certificates', 'ca-certificates.conf', 'alternatives', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'mime.types', 'gitconfig', 'bash.bashrc', 'profile', 'inputrc'];

function systemMounts(): string[] {
  const args: string[] = ['--ro-bind', '/usr', '/usr'];
  // Merged-/usr systems (Debian 12, Ubuntu) have /bin, /lib … as symlinks into /usr: keep them so.
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    if (!existsSync(top)) continue;
    const stat = lstatSync(top);
    if (stat.isSymbolicLink()) args.push('--symlink', path.posix.join('usr', path.basename(top)), top);
    else args.push('--ro-bind', top, top);
  }
  args.push('--ro-bind-try', '/opt', '/opt');
  for (const entry of ETC_ENTRIES) args.push('--ro-bind-try', `/etc/${entry}`, `/etc/${entry}`);
  return args;
}

/** The bubblewrap arguments for one command (everything before `--`). */
export function bubblewrapArgs(options: SandboxOptions, cwd: string): string[] {
  const args = [
    '--die-with-parent',
    '--new-session',
    '--unshare-all',
    ...(options.network ? ['--share-net'] : []),
    ...systemMounts(),
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--dir', '/home',
    '--bind', options.home, '/home/agent',
    '--bind', options.workspace, options.mountPoint,
  ];
  for (const readOnly of options.readOnlyPaths) args.push('--ro-bind-try', readOnly, readOnly);
  for (const [name, file] of Object.entries(options.scripts ?? {})) args.push('--ro-bind', file, `/woodwork/scripts/${name}`);
  args.push('--chdir', cwd, '--clearenv');
  for (const [key, value] of Object.entries(sandboxEnv(options, true))) args.push('--setenv', key, value);
  return args;
}

function sandboxEnv(options: SandboxOptions, sandboxed: boolean): Record<string, string> {
  return {
    // Without a sandbox the host's PATH (its toolchains); nothing else of the host's environment,
    // so its secrets (API keys) never reach a command the model wrote.
    PATH: sandboxed ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'),
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    HOME: sandboxed ? '/home/agent' : options.home,
    USER: 'agent',
    WORKSPACE: sandboxed ? options.mountPoint : options.workspace,
    ...options.env,
  };
}

/** Runs `command` through `/bin/sh -c` in the sandbox (or on the host with `kind: 'none'`). Never throws for the command's own failure. */
export function runCommand(options: SandboxOptions, command: string, run: RunOptions): Promise<CommandResult> {
  const relative = run.cwd ?? '.';
  const started = performance.now();
  const [program, args, spawnCwd, env] =
    options.kind === 'bubblewrap'
      ? [bwrap(), [...bubblewrapArgs(options, path.posix.join(options.mountPoint, relative)), '--', '/bin/sh', '-c', command], options.workspace, {}]
      : ['/bin/sh', ['-c', command], path.join(options.workspace, relative), sandboxEnv(options, false)];
  return new Promise((resolve) => {
    // detached: the command gets its own process group, so a time limit kills all it started.
    const child = spawn(program, args as string[], { cwd: spawnCwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let kept = 0;
    let dropped = 0;
    let timedOut = false;
    const collect = (chunk: Buffer) => {
      const room = run.maxOutputBytes - kept;
      if (room > 0) {
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        chunks.push(part);
        kept += part.length;
      }
      dropped += Math.max(0, chunk.length - Math.max(0, room));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, run.timeoutMs);
    const onAbort = () => kill();
    run.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (exitCode: number | null, extra = '') => {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode, output: Buffer.concat(chunks).toString('utf8') + extra, timedOut, droppedBytes: dropped, durationMs: performance.now() - started });
    };
    child.on('error', (error) => finish(null, `could not start ${program}: ${error.message}`));
    child.on('close', (code) => finish(timedOut ? null : code));
  });
}

/** What the model reads of a command's result: its output, then what happened if not a plain success. */
export function describeResult(result: CommandResult, limits: { timeoutMs: number; component: string }): string {
  const notes: string[] = [];
  if (result.droppedBytes > 0) notes.push(`[output cut: ${result.droppedBytes} more bytes were not kept (max_command_output of \`${limits.component}\`)]`);
  if (result.timedOut) notes.push(`[killed: the command ran longer than ${limits.timeoutMs} ms (command_timeout of \`${limits.component}\`)]`);
  else if (result.exitCode !== 0) notes.push(`[exit code ${result.exitCode}]`);
  const output = result.output.trimEnd();
  return [output === '' && notes.length === 0 ? '(no output)' : output, ...notes].filter((part) => part !== '').join('\n');
}
