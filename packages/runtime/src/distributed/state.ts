/**
 * The state of a `woodwork up`, in the project's `.woodwork/` folder, so other commands
 * (`woodwork status`, `logs`, `stop`) find it from another terminal:
 *
 * ```
 * .woodwork/
 *   up.json            this file: the supervisor, its processes (pids, ports), the bus
 *   logs/<unit>.log    each process's output, one `<ISO time> <line>` per line
 *   logs/up.log        the supervisor's own output when detached
 * ```
 *
 * The file is rewritten atomically (write, then rename) on every change, and removed when `up`
 * stops. It holds the bus and sessions URLs as given (they may carry a password), so it is written
 * readable by its owner only.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const STATE_DIR = '.woodwork';

export interface UpProcessState {
  /** The unit: a component or a `vm server` group. */
  readonly name: string;
  readonly components: readonly string[];
  /** The current process; null between a crash and its restart. */
  readonly pid: number | null;
  /** Where `/health`, `/ready` and `/metrics` answer (127.0.0.1). */
  readonly port: number;
  /** `starting`, `ready`, `restarting` (crashed, waiting for its backoff), `failed` (will not restart), `stopping`, `stopped`. */
  readonly status: 'starting' | 'ready' | 'restarting' | 'failed' | 'stopping' | 'stopped';
  readonly restarts: number;
  /** How the last process of this unit ended, if one did. */
  readonly lastExit: { readonly code: number | null; readonly signal: string | null; readonly at: string } | null;
  readonly startedAt: string | null;
  /** Relative to the project folder. */
  readonly logFile: string;
}

export interface UpState {
  readonly version: 1;
  /** The supervisor (`woodwork up`) process. */
  readonly pid: number;
  readonly file: string;
  readonly projectDir: string;
  readonly busUrl: string;
  readonly sessionsUrl: string;
  readonly namespace: string;
  /** The host app every process runs: `node <hostEntry>`. */
  readonly hostEntry: string;
  readonly startedAt: string;
  readonly detached: boolean;
  /** `starting` until every process was ready once, `running`, `stopping`. */
  readonly phase: 'starting' | 'running' | 'stopping';
  readonly processes: readonly UpProcessState[];
}

export function stateFile(projectDir: string): string {
  return path.join(projectDir, STATE_DIR, 'up.json');
}

export function logsDir(projectDir: string): string {
  return path.join(projectDir, STATE_DIR, 'logs');
}

/** The state, or undefined when no `up` wrote one (or it was removed). */
export async function readUpState(projectDir: string): Promise<UpState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(projectDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as UpState;
    return state.version === 1 && Array.isArray(state.processes) ? state : undefined;
  } catch {
    return undefined; // half-written by a crash; nothing to trust
  }
}

let sequence = 0;

export async function writeUpState(state: UpState): Promise<void> {
  const file = stateFile(state.projectDir);
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${sequence++}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

export async function removeUpState(projectDir: string): Promise<void> {
  await rm(stateFile(projectDir), { force: true });
}

/**
 * Runtime options for a client of a running `up`: the same bus, sessions and namespace, and no
 * components of its own — what `up` attaches its terminal with, and what `woodwork run` needs to
 * talk to an `up` instead of running a second copy of every component.
 */
export function upClientOptions(state: UpState): { bus: string; sessions: { redis: string }; namespace: string; components: string[] } {
  return { bus: state.busUrl, sessions: { redis: state.sessionsUrl }, namespace: state.namespace, components: [] };
}

/** Whether a process with this pid exists (and we may signal it). */
export function isAlive(pid: number | null | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` still runs the program we started (its command line mentions `marker`), so a pid
 * reused by the system is never signalled. Where `/proc` does not exist, trusts the pid.
 */
export async function runsProgram(pid: number | null | undefined, marker: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return commandLine.includes(marker);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' && process.platform !== 'linux';
  }
}
