/**
 * The fault scenarios. Each runs a fresh steady stream of sessions through the gateways of a
 * cluster (`woodwork up` × instances over one broker), injects one fault once the stream flows,
 * watches until every session has been answered after the fault, stops sending, waits for what is
 * missing, and counts: lost, duplicate replies, recovery time (from the fault to the first reply of
 * the session that waited longest), and how often a message's handler ran more than once.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewaySession, keyOf, percentile, Traffic, type TrafficResult } from './client.js';
import { createPartitionable, netnsUnavailable } from './netns.js';
import { alive, cliCommand, root, sleep, treeRoot, until, type Cluster, type CliMode } from './processes.js';

export type FaultId = 'kill-gateway' | 'kill-work' | 'kill-tail' | 'broker-restart' | 'broker-pause' | 'network-cut' | 'poison' | 'slow-model';

/** In the order they run: the broker-wide faults last, so a topology they leave broken costs no other fault its run. */
export const ALL_FAULTS: readonly FaultId[] = ['kill-gateway', 'kill-work', 'kill-tail', 'network-cut', 'poison', 'slow-model', 'broker-pause', 'broker-restart'];

export const FAULT_TITLES: Record<FaultId, string> = {
  'kill-gateway': 'SIGKILL of a gateway host (`input api`)',
  'kill-work': 'SIGKILL of a `work` host (the transform)',
  'kill-tail': 'SIGKILL of a `tail` host (streaming transform + output)',
  'broker-restart': 'broker restart (`tools/services.sh restart`)',
  'broker-pause': 'broker paused 10 s (SIGSTOP, then SIGCONT)',
  'network-cut': 'network cut 10 s between a `work` host and the brokers (netns)',
  poison: 'poison message (its handler SIGKILLs the host)',
  'slow-model': 'slow model: one call of 12 s (longer than the 5 s lease)',
};

export interface FaultResult {
  readonly broker: string;
  readonly fault: FaultId;
  readonly skipped?: string;
  readonly error?: string;
  readonly sessions: number;
  readonly sent: number;
  readonly accepted: number;
  readonly replied: number;
  readonly lost: number;
  readonly lostKeys: string[];
  readonly duplicateReplies: number;
  readonly duplicateKeys: string[];
  readonly sseRepeats: number;
  readonly sseMissing: number;
  readonly resent: number;
  /** Second replies of inputs the client sent twice (a POST died with no sign the gateway took it). */
  readonly resentDuplicates: number;
  readonly errorReplies: number;
  /** Inputs of this run whose handler (the `work` pipe) started more than once. */
  readonly handlerRepeats: number;
  readonly faultDurationMs: number;
  /** From the fault's end (an instant fault: the fault) to the first reply of the session that waited longest after it. */
  readonly recoveryMs: number;
  readonly recoveryMedianMs: number;
  /** The longest a session waited between replies across the fault (its last reply before, first after). */
  readonly stallMs: number;
  /** Sessions that waited more than 1 s between replies across the fault. */
  readonly stalledSessions: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly notes: string[];
}

export interface FaultOptions {
  readonly sessions: number;
  readonly redisUrl: string;
  readonly cli: CliMode;
  /** How long the stream runs before the fault. */
  readonly warmupMs?: number;
  /** Longest wait for every session to be answered after the fault. */
  readonly observeMs?: number;
  readonly log: (line: string) => void;
}

interface Injected {
  readonly at: number;
  readonly durationMs: number;
  readonly notes: string[];
  /** Keys that are expected to get no echo reply (the poison). */
  readonly excluded?: string[];
}

const servicesDir = () => process.env.WOODWORK_SERVICES_DIR ?? path.join(root, '.services');

async function brokerPid(name: string): Promise<number> {
  return Number((await readFile(path.join(servicesDir(), name, `${name}.pid`), 'utf8')).trim());
}

function services(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(root, 'tools', 'services.sh'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * The broker-wide faults act on the broker `tools/services.sh` manages, with this process's
 * environment (WOODWORK_SERVICES_DIR, WOODWORK_*_PORT): refuse when that is not the broker the
 * cluster uses (e.g. WOODWORK_TEST_*_URL set to private brokers and WOODWORK_SERVICES_DIR left
 * unset would restart and pause the shared ones).
 */
async function assertManagedBroker(cluster: Cluster): Promise<void> {
  const { name, url } = cluster.broker;
  const result = await services(['env', '--json']);
  let managed: string | undefined;
  try {
    managed = (JSON.parse(result.output.trim().split('\n').at(-1) ?? '{}') as Record<string, string>)[`WOODWORK_TEST_${name.toUpperCase()}_URL`];
  } catch {
    // not JSON: nothing managed
  }
  const hostPort = (text: string | undefined) => (text ? new URL(text).host : undefined);
  if (hostPort(managed) !== hostPort(url)) {
    throw new Error(`refusing to restart or pause ${name}: the cluster uses ${url}, but tools/services.sh (WOODWORK_SERVICES_DIR=${servicesDir()}) manages ${managed ?? 'no running ' + name}; run the harness with the environment the brokers were started with`);
  }
}

/** Every process of every supervisor is `ready` again (after a restart). */
export async function waitHealthy(cluster: Cluster, timeoutMs = 120_000): Promise<void> {
  await until('every host ready', timeoutMs, async () => {
    for (const supervisor of cluster.supervisors) {
      const state = await supervisor.state();
      if (!state || state.processes.some((entry) => entry.status !== 'ready' || !alive(entry.pid))) return false;
    }
    return true;
  }, 250);
}

/** Lines of a unit's log (`fault-pipe: start`, `tail-pipe:`) written in the last `ms`. */
async function recentWork(dir: string, unit: string, ms: number): Promise<number> {
  const text = await readFile(path.join(dir, '.woodwork', 'logs', `${unit}.log`), 'utf8').catch(() => '');
  const since = Date.now() - ms;
  let count = 0;
  for (const line of text.slice(-200_000).split('\n')) {
    if (!line.includes('fault-pipe: start') && !line.includes('tail-pipe:')) continue;
    if (Date.parse(line.slice(0, 24)) >= since) count++;
  }
  return count;
}

/**
 * SIGKILL of a host of `unit` mid-stream — of the instance that handled more messages in the last
 * 2 s (the gateways share the clients evenly: the first one) — and its `up` restarts it.
 */
function killUnit(unit: string) {
  return async (cluster: Cluster, options: FaultOptions): Promise<Injected> => {
    let chosen = cluster.supervisors[0]!;
    if (unit !== 'gateway') {
      let most = -1;
      for (const supervisor of cluster.supervisors) {
        const count = await recentWork(supervisor.dir, unit, 2_000);
        if (count > most) [most, chosen] = [count, supervisor];
      }
    }
    const owner = chosen;
    const victim = (await owner.process(unit))!;
    const at = Date.now();
    process.kill(victim.pid!, 'SIGKILL');
    options.log(`  SIGKILL ${unit} of up #${owner.index + 1} (pid ${victim.pid})`);
    const notes: string[] = [];
    const back = await until(`${unit} restarted`, 120_000, async () => {
      const entry = await owner.process(unit);
      return entry && entry.restarts > victim.restarts && entry.status === 'ready' ? entry : undefined;
    }, 100).catch(() => undefined);
    notes.push(back ? `restarted by \`up\` and ready after ${((Date.now() - at) / 1000).toFixed(1)} s` : 'not restarted within 120 s');
    return { at, durationMs: 0, notes };
  };
}

async function brokerRestart(cluster: Cluster, options: FaultOptions): Promise<Injected> {
  const at = Date.now();
  const result = await services(['restart', cluster.broker.name]);
  const durationMs = Date.now() - at;
  options.log(`  restart ${cluster.broker.name}: ${durationMs} ms (exit ${result.code})`);
  const notes = [`\`services.sh restart ${cluster.broker.name}\` took ${(durationMs / 1000).toFixed(1)} s`];
  if (result.code !== 0) notes.push(`restart failed: ${result.output.slice(-300)}`);
  return { at, durationMs, notes };
}

async function brokerPause(cluster: Cluster, options: FaultOptions): Promise<Injected> {
  const pid = await brokerPid(cluster.broker.name);
  const at = Date.now();
  process.kill(pid, 'SIGSTOP');
  const resume = () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  };
  process.once('exit', resume); // whatever happens to the harness, the broker runs again
  try {
    await sleep(10_000);
  } finally {
    resume();
    process.removeListener('exit', resume);
  }
  options.log(`  ${cluster.broker.name} (pid ${pid}) paused 10 s`);
  return { at, durationMs: Date.now() - at, notes: [] };
}

export async function runFault(cluster: Cluster, fault: FaultId, options: FaultOptions): Promise<FaultResult> {
  const broker = cluster.broker.name;
  const empty = { sessions: 0, sent: 0, accepted: 0, replied: 0, lost: 0, lostKeys: [], duplicateReplies: 0, duplicateKeys: [], sseRepeats: 0, sseMissing: 0, resent: 0, resentDuplicates: 0, errorReplies: 0, handlerRepeats: 0, faultDurationMs: 0, recoveryMs: NaN, recoveryMedianMs: NaN, stallMs: NaN, stalledSessions: 0, p50Ms: NaN, p99Ms: NaN, notes: [] };
  let partition: Awaited<ReturnType<typeof createPartitionable>> | undefined;
  let extraHost: ReturnType<Awaited<ReturnType<typeof createPartitionable>>['spawn']> | undefined;
  const extraLog = path.join(cluster.supervisors[0]!.dir, '.woodwork', 'logs', 'work-netns.log');
  const notes: string[] = [];

  let inject: (cluster: Cluster, options: FaultOptions) => Promise<Injected>;
  let special: GatewaySession | undefined;
  // Inputs start with the tag: letters that can never spell a fault's trigger word.
  const tag = `t${ALL_FAULTS.indexOf(fault)}${randomUUID().slice(0, 6).replace(/[^0-9a-f]/g, '')}`;
  switch (fault) {
    case 'kill-gateway':
      inject = killUnit('gateway');
      break;
    case 'kill-work':
      inject = killUnit('work');
      break;
    case 'kill-tail':
      inject = killUnit('tail');
      break;
    case 'broker-restart':
    case 'broker-pause':
      try {
        await assertManagedBroker(cluster);
      } catch (error) {
        return { broker, fault, error: error instanceof Error ? error.message : String(error), ...empty, notes };
      }
      inject = fault === 'broker-restart' ? brokerRestart : brokerPause;
      break;
    case 'network-cut': {
      const why = await netnsUnavailable();
      if (why) return { broker, fault, skipped: why, ...empty };
      const ports = [...new Set([new URL(cluster.broker.url).port, new URL(options.redisUrl).port].map(Number))];
      partition = await createPartitionable({ ports, workDir: cluster.supervisors[0]!.dir, log: options.log });
      // A third `work` host, inside the namespace, started as `woodwork up` starts its hosts.
      const [node, ...flags] = cliCommand(options.cli);
      const entry = path.join(treeRoot(), 'apps', 'host', 'main.js');
      extraHost = partition.spawn(node!, [...flags.slice(0, -1), entry], {
        ...process.env,
        WOODWORK_TOPOLOGY: path.join(cluster.supervisors[0]!.dir, 'main.ww'),
        WOODWORK_COMPONENT: 'work',
        WOODWORK_BUS_URL: cluster.broker.url,
        WOODWORK_SESSIONS_URL: options.redisUrl,
        WOODWORK_NAMESPACE: cluster.namespace,
        WOODWORK_PORT: '0',
        WOODWORK_LISTEN_HOST: '127.0.0.1',
        NO_COLOR: '1',
      }, extraLog);
      await until('the namespaced work host ready', 180_000, async () => (await readFile(extraLog, 'utf8').catch(() => '')).includes('ready:'), 250);
      // Let the group settle with three members before the stream starts (Kafka rebalances).
      await sleep(broker === 'kafka' ? 8_000 : 2_000);
      inject = async () => {
        const at = Date.now();
        await partition!.cut();
        options.log('  network cut');
        await sleep(10_000);
        await partition!.repair();
        options.log('  network repaired');
        return { at, durationMs: Date.now() - at, notes: [] };
      };
      break;
    }
    case 'poison':
      inject = async (c) => {
        special = new GatewaySession(c.gateways, 999, { replyTimeoutMs: 40_000 });
        await special.open();
        const at = Date.now();
        const poisonText = `${tag}-poison poison`;
        const answered = await special.send(poisonText);
        const afterText = `${tag}-after`;
        const next = await special.send(afterText);
        const starts = (await c.pipeStarts()).get(keyOf(poisonText)) ?? 0;
        const waited = Date.now() - at;
        const t = special.finish();
        return {
          at,
          durationMs: 0,
          excluded: [keyOf(poisonText)],
          notes: [
            `the poison ran ${starts} time(s) (each killed a \`work\` host)`,
            answered ? 'the poison was answered (unexpected)' : t.errorReplies > 0 ? 'the poison got an error reply' : 'the poison got no reply and no error within 40 s',
            next ? 'the poisoned session\'s next message was answered' : 'the poisoned session\'s next message got NO reply within 60 s',
            `poison session done after ${(waited / 1000).toFixed(1)} s`,
          ],
        };
      };
      break;
    case 'slow-model':
      inject = async (c) => {
        special = new GatewaySession(c.gateways, 998, { replyTimeoutMs: 60_000 });
        await special.open();
        const at = Date.now();
        const text = `${tag}-slow slow:12000`;
        const answered = await special.send(text);
        const took = Date.now() - at;
        const starts = (await c.pipeStarts()).get(keyOf(text)) ?? 0;
        const t = special.finish();
        return {
          at,
          durationMs: 0,
          notes: [
            answered ? `the slow call was answered after ${(took / 1000).toFixed(1)} s` : 'the slow call got NO reply within 60 s',
            `its handler ran ${starts} time(s)`,
            `${t.duplicateReplies} duplicate reply(ies) of the slow call`,
          ],
        };
      };
      break;
  }

  options.log(`${broker} / ${fault}`);
  const traffic = new Traffic({ gateways: cluster.gateways, sessions: options.sessions, tag, log: options.log });
  let result: TrafficResult | undefined;
  try {
    await traffic.start();
    await until('the stream to flow', 60_000, () => traffic.replied >= options.sessions * 2);
    await sleep(options.warmupMs ?? 2_000);
    const injected = await inject(cluster, options);
    notes.push(...injected.notes);
    const end = injected.at + injected.durationMs;
    if (Date.now() < end) throw new Error('the fault ended in the future');
    // Every session answered after the fault ended, or the observation window is over.
    await until('every session answered after the fault', options.observeMs ?? 90_000, () => traffic.clients.every((client) => client.replies.some((reply) => reply.at > end)), 100).catch(() => notes.push('not every session was answered after the fault within the observation window'));
    await sleep(2_000);
    result = await traffic.stop(60_000);
    const starts = await cluster.pipeStarts();
    const extraStarts = await readFile(extraLog, 'utf8').catch(() => '');
    for (const match of extraStarts.matchAll(/fault-pipe: start (\S+)/g)) starts.set(match[1]!, (starts.get(match[1]!) ?? 0) + 1);
    const handlerRepeats = [...starts.entries()].filter(([key, count]) => key.startsWith(tag) && count > 1 && !injected.excluded?.includes(key)).length;
    const recovery = traffic.recovery(injected.at, end);
    const lostKeys = result.lost.filter((key) => !injected.excluded?.includes(key));
    if (result.errorTexts.length > 0 && fault !== 'poison') notes.push(`error replies: ${result.errorTexts.join(' | ')}`);
    return {
      broker,
      fault,
      sessions: result.sessions,
      sent: result.sent,
      accepted: result.accepted,
      replied: result.replied,
      lost: lostKeys.length,
      lostKeys,
      duplicateReplies: result.duplicateReplies,
      duplicateKeys: result.duplicateKeys,
      sseRepeats: result.sseRepeats,
      sseMissing: result.sseMissing,
      resent: result.resent,
      resentDuplicates: result.resentDuplicates,
      errorReplies: result.errorReplies,
      handlerRepeats,
      faultDurationMs: injected.durationMs,
      recoveryMs: recovery.worstMs,
      recoveryMedianMs: recovery.medianMs,
      stallMs: recovery.stallMs,
      stalledSessions: recovery.stalled,
      p50Ms: percentile(result.latencies, 50),
      p99Ms: percentile(result.latencies, 99),
      notes,
    };
  } catch (error) {
    if (!result) await traffic.stop(5_000).catch(() => undefined);
    return { broker, fault, error: error instanceof Error ? error.message : String(error), ...empty, notes };
  } finally {
    await special?.close(true).catch(() => undefined);
    if (extraHost && extraHost.exitCode === null) extraHost.kill('SIGKILL');
    await partition?.cleanup();
    await waitHealthy(cluster).catch(() => options.log('  (not every host is ready again)'));
  }
}
