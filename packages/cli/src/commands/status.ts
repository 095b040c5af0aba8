/**
 * `woodwork status [file]`: what a `woodwork up` of this project runs and how each process is —
 * from the state file (pids, ports, restarts), each process's `/health` and `/ready`, and the
 * registry (the hosts' own heartbeats: state and counters). Hosts of the same namespace that this
 * `up` did not start (other machines, containers) are listed too. Exit 0 when everything is ready.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { createRedisHostRegistry, isStaleRecord, probe, readUpState, redactUrl, type HostRecord, type UpProcessState } from '@woodwork/runtime/distributed';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { displayPath, liveProcesses, printError, projectDirOf } from './up.js';

export interface StatusOptions {
  readonly json?: boolean;
}

interface ProcessReport {
  readonly name: string;
  readonly components: readonly string[];
  readonly pid: number | null;
  readonly port: number;
  readonly status: UpProcessState['status'];
  readonly restarts: number;
  readonly lastExit: UpProcessState['lastExit'];
  readonly alive: boolean;
  /** `/health` answered 200. */
  readonly health: boolean;
  /** `/ready` answered 200; otherwise its reason. */
  readonly ready: boolean;
  readonly notReadyReason: string | undefined;
  readonly registry: HostRecord | null;
}

function ago(epochMs: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - epochMs) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

function totals(record: HostRecord | null): { handled: number; failed: number; hookFailures: number; queued: number | null } | undefined {
  if (!record) return undefined;
  const sum = { handled: 0, failed: 0, hookFailures: 0, queued: null as number | null };
  for (const stats of Object.values(record.stats)) {
    sum.handled += stats.handled;
    sum.failed += stats.failed;
    sum.hookFailures += stats.hookFailures + stats.hookTimeouts;
    // Hosts of earlier versions report no depth.
    if (typeof stats.queueDepth === 'number') sum.queued = (sum.queued ?? 0) + stats.queueDepth;
  }
  return sum;
}

export async function statusCommand(terminal: Terminal, file: string | undefined, options: StatusOptions): Promise<number> {
  const { projectDir } = await projectDirOf(terminal, file);
  const shownDir = displayPath(terminal, projectDir);
  const state = await readUpState(projectDir);
  if (!state) {
    if (options.json) terminal.stdout.write(`${JSON.stringify({ running: false, project: projectDir, processes: [] }, null, 2)}\n`);
    else printError(terminal, `nothing runs here: no woodwork up state in ${path.join(shownDir, '.woodwork')}`, 'start one with `woodwork up --detach`');
    return ExitCode.problems;
  }

  const live = await liveProcesses(state);
  let records: HostRecord[] = [];
  let registryError: string | undefined;
  try {
    const registry = await createRedisHostRegistry({ url: state.sessionsUrl, namespace: state.namespace });
    try {
      records = await registry.list();
    } finally {
      await registry.close();
    }
  } catch (error) {
    registryError = (error as Error).message;
  }
  const here = hostname();
  const matched = new Set<HostRecord>();
  const processes: ProcessReport[] = await Promise.all(
    state.processes.map(async (entry) => {
      const alive = entry.pid !== null && live.children.includes(entry.pid);
      const [health, ready] = alive ? await Promise.all([probe(entry.port, '/health'), probe(entry.port, '/ready')]) : [{ status: 0, body: '' }, { status: 0, body: '' }];
      const record = records.find((candidate) => candidate.pid === entry.pid && candidate.hostname === here && candidate.port === entry.port) ?? null;
      if (record) matched.add(record);
      let notReadyReason: string | undefined;
      if (ready.status !== 200) {
        try {
          notReadyReason = (JSON.parse(ready.body) as { reason?: string }).reason;
        } catch {
          notReadyReason = alive ? 'no answer on /ready' : 'not running';
        }
      }
      return {
        name: entry.name,
        components: entry.components,
        pid: entry.pid,
        port: entry.port,
        status: entry.status,
        restarts: entry.restarts,
        lastExit: entry.lastExit,
        alive,
        health: health.status === 200,
        ready: ready.status === 200,
        notReadyReason,
        registry: record,
      };
    }),
  );
  const others = records.filter((record) => !matched.has(record) && !isStaleRecord(record));
  const allReady = live.supervisor && processes.every((entry) => entry.ready);

  if (options.json) {
    const report = {
      running: live.supervisor,
      ready: allReady,
      project: projectDir,
      file: state.file,
      supervisor: { pid: state.pid, alive: live.supervisor, detached: state.detached, startedAt: state.startedAt, phase: state.phase },
      bus: redactUrl(state.busUrl),
      sessions: redactUrl(state.sessionsUrl),
      namespace: state.namespace,
      processes,
      otherInstances: others,
      ...(registryError ? { registryError } : {}),
    };
    terminal.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return allReady ? ExitCode.ok : ExitCode.problems;
  }

  const color = useColor(terminal);
  const style = paint(color);
  const headline = live.supervisor
    ? `${style('green', 'running')} (supervisor pid ${state.pid}${state.detached ? ', detached' : ''}, up ${ago(Date.parse(state.startedAt))})`
    : style('red', `not running: the supervisor (pid ${state.pid}) is gone${live.children.length > 0 ? `, ${live.children.length} process(es) left behind — \`woodwork stop\` ends them` : ''}`);
  terminal.stdout.write(`woodwork up ${displayPath(terminal, state.file)}: ${headline}\n`);
  terminal.stdout.write(`${style('dim', `bus ${redactUrl(state.busUrl)}  sessions ${redactUrl(state.sessionsUrl)}  namespace ${state.namespace}`)}\n\n`);

  const rows: string[][] = [['PROCESS', 'PID', 'PORT', 'HEALTH', 'READY', 'RESTARTS', 'HANDLED', 'FAILED', 'HOOK ERRORS', 'QUEUED', 'HEARTBEAT']];
  for (const entry of processes) {
    const sum = totals(entry.registry);
    rows.push([
      entry.components.length > 1 ? `${entry.name} (${entry.components.join(', ')})` : entry.name,
      entry.pid === null ? '-' : String(entry.pid),
      String(entry.port),
      entry.health ? 'alive' : entry.alive ? 'no answer' : entry.status,
      entry.ready ? 'ready' : (entry.notReadyReason ?? 'no'),
      String(entry.restarts),
      sum ? String(sum.handled) : '-',
      sum ? String(sum.failed) : '-',
      sum ? String(sum.hookFailures) : '-',
      sum?.queued != null ? String(sum.queued) : '-',
      entry.registry ? `${ago(entry.registry.heartbeatAt)} ago` : 'not registered',
    ]);
  }
  const lines = table(rows).split('\n');
  terminal.stdout.write(`${style('bold', lines[0]!)}\n${lines.slice(1).join('\n')}\n`);
  if (others.length > 0) {
    terminal.stdout.write(`\n${others.length} other host${others.length === 1 ? '' : 's'} in namespace ${state.namespace} (not started by this up):\n`);
    const otherRows: string[][] = [['UNIT', 'INSTANCE', 'HOST', 'PORT', 'STATE', 'HANDLED', 'HEARTBEAT']];
    for (const record of others) {
      otherRows.push([record.unit, record.instance, record.hostname, String(record.port), record.state, String(totals(record)!.handled), `${ago(record.heartbeatAt)} ago`]);
    }
    terminal.stdout.write(`${table(otherRows)}\n`);
  }
  if (registryError) terminal.stdout.write(`\n${style('yellow', 'registry unreachable:')} ${registryError}\n`);
  return allReady ? ExitCode.ok : ExitCode.problems;
}
