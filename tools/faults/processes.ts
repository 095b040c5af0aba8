/**
 * Processes for the fault and load harness: the woodwork CLI (from source, or the built one), the
 * topology under test started with `woodwork up` as several supervisors sharing one namespace (so
 * every unit runs as several instances), `woodwork run` for the embedded runtime, and the small
 * things every scenario needs (free ports, RSS, waiting with a deadline).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const topologyDir = path.join(root, 'tools', 'faults', 'topology');

/**
 * How the CLI runs.
 * - `head` (the harness's default): the TypeScript sources of the last commit on the current branch,
 *   or of the commit `--commit` names (`git archive`, unpacked once per commit under
 *   ~/.cache/woodwork/faults-tree/, sharing this checkout's node_modules), through tsx and the
 *   `@woodwork/source` condition, which every host `up` starts inherits. What is committed on
 *   `main`, untouched by work in progress in a shared working tree, and no build needed.
 * - `source`: the same from this working tree as it is (uncommitted changes included).
 * - `built`: packages/cli/bin/woodwork.js (dist), as the e2e tests and users run it.
 */
export type CliMode = 'head' | 'source' | 'built';

let tree = root;

/** The tree the CLI and hosts run from (set by `prepareTree`). */
export const treeRoot = () => tree;

const exec = promisify(execFile);

/**
 * Unpacks HEAD for `head` mode (once per commit) and returns its commit; other modes: this tree.
 * `revision` runs another commit's hosts under this harness (comparing two commits' throughput with
 * the same clients and topology); it shares this checkout's node_modules like HEAD does.
 */
export async function prepareTree(mode: CliMode, revision = 'HEAD'): Promise<string> {
  if (mode !== 'head' && revision !== 'HEAD') throw new Error(`--commit ${revision} needs --cli head (the other modes run this working tree or its build)`);
  const commit = (await exec('git', ['rev-parse', '--verify', `${revision}^{commit}`], { cwd: root })).stdout.trim();
  if (mode !== 'head') {
    tree = root;
    return commit;
  }
  const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/tmp', '.cache'), 'woodwork', 'faults-tree');
  const target = path.join(cache, commit.slice(0, 12));
  if (!existsSync(path.join(target, '.complete'))) {
    const staging = `${target}.${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    await exec('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "${staging}"`], { cwd: root, maxBuffer: 1 << 26 });
    // node_modules: every installed package from this checkout, but the workspace links
    // (@woodwork/*, relative) point into the snapshot.
    await mkdir(path.join(staging, 'node_modules'));
    for (const entry of await readdir(path.join(root, 'node_modules'))) {
      if (entry === '@woodwork') await cp(path.join(root, 'node_modules', entry), path.join(staging, 'node_modules', entry), { recursive: true, verbatimSymlinks: true });
      else await symlink(path.join(root, 'node_modules', entry), path.join(staging, 'node_modules', entry));
    }
    for (const base of ['packages', 'apps']) {
      for (const name of await readdir(path.join(root, base)).catch(() => [] as string[])) {
        const modules = path.join(root, base, name, 'node_modules');
        if (existsSync(modules) && existsSync(path.join(staging, base, name))) await symlink(modules, path.join(staging, base, name, 'node_modules'));
      }
    }
    // Generated code is produced by a build step, never committed: the parser's, from the snapshot's grammar.
    await exec(process.execPath, ['scripts/generate.mjs'], { cwd: path.join(staging, 'packages', 'parser') });
    await exec('touch', [path.join(staging, '.complete')]);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    // Snapshots older than a day are of no use any more (a younger one may still run a soak).
    for (const old of await readdir(cache)) {
      const file = path.join(cache, old);
      if (old !== path.basename(target) && !old.includes('.') && Date.now() - (await stat(file)).mtimeMs > 86_400_000) await rm(file, { recursive: true, force: true });
    }
  }
  tree = target;
  return commit;
}

export function cliCommand(mode: CliMode): string[] {
  if (mode === 'built') return [process.execPath, path.join(root, 'packages', 'cli', 'bin', 'woodwork.js')];
  const tsx = import.meta.resolve('tsx');
  return [process.execPath, '--conditions=@woodwork/source', '--import', tsx, path.join(tree, 'packages', 'cli', 'src', 'bin.ts')];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(mode: CliMode, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const [command, ...prefix] = cliCommand(mode);
  return new Promise((resolve, reject) => {
    const child = spawn(command!, [...prefix, ...args], {
      cwd: tree,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`woodwork ${args.join(' ')} did not finish within ${options.timeoutMs ?? 120_000} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** What must be undone if the harness is interrupted (clusters, runs, namespaces): `report.ts` runs them on SIGINT/SIGTERM. */
export const pendingCleanups = new Set<() => Promise<void>>();

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false> | T | undefined | false, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (0 when it is gone). */
export async function rssOf(pid: number | null | undefined): Promise<number> {
  if (!pid) return 0;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time (user + system) a process has used so far, in ms; 0 when it is gone. On a shared machine
 * the CPU a session costs moves far less than sessions/s, which other engineers' work halves.
 */
export async function cpuMsOf(pid: number | null | undefined): Promise<number> {
  if (!pid) return 0;
  try {
    // The fields after the command name, which is in parentheses and may hold spaces: utime and stime
    // are the 14th and 15th of the line, in clock ticks (USER_HZ, 100 on Linux).
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// `woodwork up`, several times over one namespace

export type BrokerName = 'redis' | 'nats' | 'kafka';

export interface BrokerTarget {
  readonly name: BrokerName;
  readonly url: string;
}

export interface UpProcess {
  name: string;
  components: string[];
  pid: number | null;
  port: number;
  status: string;
  restarts: number;
}

interface UpState {
  pid: number;
  processes: UpProcess[];
}

/** One `woodwork up --detach` of the topology: a project copy, its gateway port and its state. */
export interface Supervisor {
  readonly index: number;
  readonly dir: string;
  readonly apiPort: number;
  state(): Promise<UpState | undefined>;
  process(unit: string): Promise<UpProcess | undefined>;
}

export interface Cluster {
  readonly broker: BrokerTarget;
  readonly namespace: string;
  readonly supervisors: readonly Supervisor[];
  /** Base URLs of every gateway (one per supervisor). */
  readonly gateways: readonly string[];
  /** Every host process's pid now (all supervisors), for RSS sampling. */
  pids(): Promise<number[]>;
  /** Lines of every `work` log that say a message started (`fault-pipe: start <text>`). */
  pipeStarts(): Promise<Map<string, number>>;
  /** `woodwork stop` of every supervisor, then SIGKILL of whatever is left; removes the copies. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly broker: BrokerTarget;
  readonly redisUrl: string;
  /** How many `woodwork up` (instances of every unit). Default 2. */
  readonly instances?: number;
  readonly cli?: CliMode;
  /** Extra environment for every host (e.g. FAULT_PACE_MS). */
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutS?: number;
  /** Extra log directories whose `work` starts count too (a host the harness started itself). */
  readonly extraLogs?: () => string[];
  /** Where each supervisor's `.woodwork/logs` is copied when the cluster stops. */
  readonly keepLogs?: string;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const cli = options.cli ?? 'head';
  const namespace = `faults-${options.broker.name}-${randomUUID().slice(0, 8)}`;
  const instances = options.instances ?? 2;
  const supervisors: Supervisor[] = [];
  const stopAll = async () => {
    pendingCleanups.delete(stopAll);
    await Promise.all(
      supervisors.map(async (supervisor) => {
        const state = await supervisor.state();
        await runCli(cli, ['stop', supervisor.dir, '--timeout', '20'], { timeoutMs: 40_000 }).catch(() => undefined);
        for (const pid of [state?.pid, ...(state?.processes.map((entry) => entry.pid) ?? [])]) if (alive(pid)) process.kill(pid!, 'SIGKILL');
      }),
    );
    for (const supervisor of supervisors) {
      // The hosts' logs outlive the run (where a lost message went is in them).
      if (options.keepLogs) await cp(path.join(supervisor.dir, '.woodwork', 'logs'), path.join(options.keepLogs, `${options.broker.name}-${supervisor.index + 1}`), { recursive: true }).catch(() => undefined);
      await rm(supervisor.dir, { recursive: true, force: true }).catch(() => undefined);
    }
  };
  pendingCleanups.add(stopAll);
  try {
    for (let index = 0; index < instances; index++) {
      const dir = await mkdtemp(path.join(tmpdir(), `ww-faults-${options.broker.name}-`));
      await cp(topologyDir, dir, { recursive: true });
      const apiPort = await freePort();
      const readState = async () => {
        try {
          return JSON.parse(await readFile(path.join(dir, '.woodwork', 'up.json'), 'utf8')) as UpState;
        } catch {
          return undefined;
        }
      };
      const supervisor: Supervisor = {
        index,
        dir,
        apiPort,
        state: readState,
        process: async (unit) => (await readState())?.processes.find((entry) => entry.name === unit),
      };
      supervisors.push(supervisor);
      // One at a time: every `up` notes the hosts already registered, and two Kafka groups joining at
      // once only slow each other down on two cores.
      const readyTimeoutS = options.readyTimeoutS ?? (options.broker.name === 'kafka' ? 180 : 90);
      const result = await runCli(
        cli,
        ['up', dir, '--bus', options.broker.url, '--sessions', options.redisUrl, '--namespace', namespace, '--detach', '--ready-timeout', String(readyTimeoutS), '--stop-timeout', '15'],
        { env: { ...options.env, WOODWORK_API_PORT: String(apiPort) }, timeoutMs: readyTimeoutS * 1000 + 60_000 },
      );
      if (result.code !== 0) throw new Error(`woodwork up (${options.broker.name}, instance ${index + 1}) failed:\n${result.stdout}\n${result.stderr}`);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const gateways = supervisors.map((supervisor) => `http://127.0.0.1:${supervisor.apiPort}`);
  // Every gateway answers before the traffic starts.
  for (const gateway of gateways) await until(`${gateway}/health`, 30_000, async () => (await fetch(`${gateway}/health`).catch(() => undefined))?.ok);
  return {
    broker: options.broker,
    namespace,
    supervisors,
    gateways,
    pids: async () => (await Promise.all(supervisors.map(async (s) => (await s.state())?.processes.map((entry) => entry.pid ?? 0) ?? []))).flat().filter((pid) => pid > 0),
    pipeStarts: async () => {
      const counts = new Map<string, number>();
      const files = [...supervisors.map((s) => path.join(s.dir, '.woodwork', 'logs', 'work.log')), ...(options.extraLogs?.() ?? [])];
      for (const file of files) {
        const text = await readFile(file, 'utf8').catch(() => '');
        for (const match of text.matchAll(/fault-pipe: start (\S+)/g)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1);
      }
      return counts;
    },
    stop: stopAll,
  };
}

// ---------------------------------------------------------------------------------------------
// `woodwork run` (embedded: one process, in-memory bus) with the same topology

export interface EmbeddedRun {
  readonly gateway: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startEmbedded(options: { cli?: CliMode; env?: NodeJS.ProcessEnv } = {}): Promise<EmbeddedRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-faults-embedded-'));
  await cp(topologyDir, dir, { recursive: true });
  const apiPort = await freePort();
  const [command, ...prefix] = cliCommand(options.cli ?? 'head');
  const child: ChildProcess = spawn(command!, [...prefix, 'run', path.join(dir, 'main.ww')], {
    cwd: tree,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...options.env, WOODWORK_API_PORT: String(apiPort), WOODWORK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-4000)));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-4000)));
  const gateway = `http://127.0.0.1:${apiPort}`;
  const stop = async () => {
    pendingCleanups.delete(stop);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('close', resolve)), sleep(15_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  pendingCleanups.add(stop);
  try {
    await until('woodwork run to serve', 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`woodwork run exited (${child.exitCode}):\n${output}`);
      return (await fetch(`${gateway}/health`).catch(() => undefined))?.ok;
    }, 250);
  } catch (error) {
    await stop();
    throw error;
  }
  return { gateway, pid: child.pid!, stop };
}
