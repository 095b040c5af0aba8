/**
 * The fault and load report: runs the fault scenarios on every running broker, the load runs on the
 * embedded runtime and on every broker, and writes docs/fault-and-load-report.md with the figures of
 * this machine, the date and the git commit.
 *
 *   bash tools/with-node.sh npx tsx --conditions=@woodwork/source tools/faults/report.ts
 *       everything (about 25–35 minutes), then writes the report
 *   … report.ts --brokers redis --faults kill-work,poison --no-load --no-write      a short run
 *   … report.ts --soak 30m [--soak-target redis|embedded]     only the soak; its result goes into
 *       tools/faults/soak-result-<target>.json, which the next report includes
 *
 * Options: --brokers a,b (default: every broker `tools/services.sh env` lists), --faults a,b (see
 * faults.ts), --no-faults, --no-load, --no-embedded (no load run on `woodwork run`), --sessions N
 * (clients per fault run, default 8), --instances N (`woodwork up` per broker, default 2),
 * --load-seconds S (15), --load-concurrency C (8),
 * --held N (300), --cli head|source|built (see processes.ts; head: the last commit, through tsx),
 * --commit REV (with head: that commit's hosts under this harness, to compare two commits),
 * --keep-logs DIR (where the hosts' logs are copied; default a new folder in the temp dir), --no-write.
 * A full run also saves its figures in tools/faults/last-run.json; `--render` writes the report
 * again from them (after editing tools/faults/notes.md, the hand-written analysis it includes).
 *
 * Brokers come from the WOODWORK_TEST_*_URL variables when set, else `tools/services.sh env`.
 * The broker restart and pause faults disturb anyone else using the same brokers: each is short
 * (a pause is 10 s) and they run back to back per broker.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ALL_FAULTS, FAULT_TITLES, runFault, type FaultId, type FaultResult } from './faults.js';
import { runLoad, runSoak, soakVerdict, type LoadResult, type SoakResult } from './load.js';
import { pendingCleanups, prepareTree, root, startCluster, startEmbedded, type BrokerName, type BrokerTarget, type CliMode } from './processes.js';

const exec = promisify(execFile);

function parseArgs(argv: string[]) {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) flags.set(name, inline);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(name, argv[++i]!);
    else flags.set(name, true);
  }
  return flags;
}

function duration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (!match) throw new Error(`--soak takes a duration like 30m, 600s or 1h, not ${text}`);
  return Number(match[1]) * ({ s: 1 / 60, m: 1, h: 60 }[match[2] ?? 'm'] ?? 1);
}

async function brokerTargets(only: string[] | undefined): Promise<{ brokers: BrokerTarget[]; redisUrl: string | undefined }> {
  let env: Record<string, string> = {};
  try {
    env = JSON.parse((await exec('bash', [path.join(root, 'tools', 'services.sh'), 'env', '--json'])).stdout) as Record<string, string>;
  } catch {
    // services not running
  }
  const url = (name: string) => process.env[`WOODWORK_TEST_${name.toUpperCase()}_URL`] ?? env[`WOODWORK_TEST_${name.toUpperCase()}_URL`];
  const brokers = (['redis', 'nats', 'kafka'] as BrokerName[]).filter((name) => url(name) && (!only || only.includes(name))).map((name) => ({ name, url: url(name)! }));
  return { brokers, redisUrl: url('redis') };
}

const log = (line: string) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${line}`);
const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '–');
const msText = (ms: number) => (Number.isFinite(ms) ? `${Math.round(ms)} ms` : '–');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function machine() {
  const git = async (...args: string[]) => (await exec('git', args, { cwd: root }).catch(() => ({ stdout: '' }))).stdout.trim();
  const commit = await git('rev-parse', '--short', 'HEAD');
  const subject = await git('log', '-1', '--format=%s');
  const dirty = (await git('status', '--porcelain', '--untracked-files=no', '--', 'packages', 'apps')).split('\n').filter(Boolean).length;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return { commit, subject, dirty, cpu, cores: os.cpus().length, memory: os.totalmem(), node: process.version };
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const cli = (flags.get('cli') as CliMode | undefined) ?? 'head';
  const commit = await prepareTree(cli, typeof flags.get('commit') === 'string' ? (flags.get('commit') as string) : 'HEAD');
  log(`running ${cli === 'head' ? `the committed tree of ${commit.slice(0, 10)} (from ~/.cache/woodwork/faults-tree)` : cli === 'source' ? 'the working tree as it is' : 'the built CLI'}`);
  const only = typeof flags.get('brokers') === 'string' ? (flags.get('brokers') as string).split(',') : undefined;
  const { brokers, redisUrl } = await brokerTargets(only);
  const soak = flags.get('soak');
  // Interrupted: stop every cluster and run, delete the namespace; a paused broker gets SIGCONT on exit.
  const interrupted = async (signal: string) => {
    log(`${signal}: cleaning up ${pendingCleanups.size} run(s)`);
    await Promise.race([Promise.allSettled([...pendingCleanups].map((cleanup) => cleanup())), new Promise((resolve) => setTimeout(resolve, 60_000))]);
    process.exit(130);
  };
  process.once('SIGINT', () => void interrupted('SIGINT'));
  process.once('SIGTERM', () => void interrupted('SIGTERM'));

  if (typeof soak === 'string') {
    const minutes = duration(soak);
    const target = (flags.get('soak-target') as string | undefined) ?? 'redis';
    const soakStarted = new Date();
    const result = await soakRun(target, minutes, brokers, redisUrl, cli);
    console.log(JSON.stringify(result));
    console.log(`soak ${target} ${minutes} min: ${result.verdict.toUpperCase()} — RSS ${mib(result.samples[0]?.rssBytes ?? NaN)} → ${mib(result.samples[Math.floor(result.samples.length / 3)]?.rssBytes ?? NaN)} (after warm-up) → ${mib(result.samples.at(-1)?.rssBytes ?? NaN)}, growth ${mib(result.growthBytes)} (last third vs middle third), slope ${mib(result.slopeBytesPerHour)}/h, ${result.sessions} sessions, ${result.failed} failed`);
    if (!flags.has('no-write')) {
      await writeFile(path.join(root, 'tools', 'faults', `soak-result-${target}.json`), JSON.stringify({ date: soakStarted.toISOString(), command: `report.ts ${process.argv.slice(2).join(' ')}`, commit: commit.slice(0, 7), loadAverage: os.loadavg(), ...result }, null, 2) + '\n');
    }
    return;
  }

  const lastRun = path.join(root, 'tools', 'faults', 'last-run.json');
  if (flags.has('render')) {
    // Only the report again, from the last full run's figures (e.g. after editing notes.md).
    const saved = JSON.parse(await readFile(lastRun, 'utf8')) as { run: RunInfo; faults: FaultResult[]; loads: LoadResult[] };
    const run = { ...saved.run, startedAt: new Date(saved.run.startedAt), finishedAt: new Date(saved.run.finishedAt) };
    const revive = (value: unknown) => (value === null ? NaN : value);
    const faultsSaved = saved.faults.map((f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, revive(v)])) as unknown as FaultResult);
    const loadsSaved = saved.loads.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, revive(v)])) as unknown as LoadResult);
    await writeFile(path.join(root, 'docs', 'fault-and-load-report.md'), await renderReport(run, faultsSaved, loadsSaved));
    log('wrote docs/fault-and-load-report.md from tools/faults/last-run.json');
    return;
  }

  if (!redisUrl) throw new Error('Redis is needed (sessions and the registry live there): run `bash tools/services.sh start`');
  const faultList = typeof flags.get('faults') === 'string' ? ((flags.get('faults') as string).split(',') as FaultId[]) : [...ALL_FAULTS];
  for (const fault of faultList) if (!ALL_FAULTS.includes(fault)) throw new Error(`unknown fault ${fault}; one of ${ALL_FAULTS.join(', ')}`);
  const sessions = Number(flags.get('sessions') ?? 8);
  const instances = Number(flags.get('instances') ?? 2);
  const startedAt = new Date();
  const keepLogs = typeof flags.get('keep-logs') === 'string' ? path.resolve(flags.get('keep-logs') as string) : path.join(os.tmpdir(), `ww-faults-logs-${startedAt.toISOString().replace(/[:.]/g, '-')}`);
  log(`hosts' logs will be kept in ${keepLogs}`);
  const loadBefore = os.loadavg();
  const faults: FaultResult[] = [];
  const loads: LoadResult[] = [];
  const loadOptions = { concurrency: Number(flags.get('load-concurrency') ?? 8), seconds: Number(flags.get('load-seconds') ?? 15), held: Number(flags.get('held') ?? 300), log };

  if (!flags.has('no-load') && !flags.has('no-embedded')) {
    const embedded = await startEmbedded({ cli });
    try {
      loads.push(await runLoad('embedded (`woodwork run`, in-memory bus)', [embedded.gateway], async () => [embedded.pid], loadOptions));
    } catch (error) {
      log(`embedded load failed: ${String(error)}`);
    } finally {
      await embedded.stop();
    }
  }

  for (const broker of brokers) {
    log(`${broker.name}: woodwork up × ${instances} (one namespace)`);
    let cluster;
    try {
      cluster = await startCluster({ broker, redisUrl, instances, cli, keepLogs });
    } catch (error) {
      log(`${broker.name}: could not start: ${String(error)}`);
      for (const fault of faultList) faults.push({ broker: broker.name, fault, error: `woodwork up failed: ${String(error).slice(0, 300)}`, sessions: 0, sent: 0, accepted: 0, replied: 0, lost: 0, lostKeys: [], duplicateReplies: 0, duplicateKeys: [], sseRepeats: 0, sseMissing: 0, resent: 0, resentDuplicates: 0, errorReplies: 0, handlerRepeats: 0, faultDurationMs: 0, recoveryMs: NaN, recoveryMedianMs: NaN, stallMs: NaN, stalledSessions: 0, p50Ms: NaN, p99Ms: NaN, notes: [] });
      continue;
    }
    try {
      if (!flags.has('no-load')) {
        try {
          loads.push(await runLoad(`${broker.name} (\`woodwork up\` × ${instances})`, cluster.gateways, () => cluster.pids(), loadOptions));
        } catch (error) {
          log(`${broker.name} load failed: ${String(error)}`);
        }
      }
      if (!flags.has('no-faults')) {
        for (const fault of faultList) {
          const result = await runFault(cluster, fault, { sessions, redisUrl, cli, log });
          log(`  → lost ${result.lost}, duplicates ${result.duplicateReplies}, recovery ${seconds(result.recoveryMs)}${result.error ? `, ERROR ${result.error}` : ''}${result.skipped ? `, skipped: ${result.skipped}` : ''}`);
          faults.push(result);
        }
      }
    } finally {
      await cluster.stop();
    }
  }

  const finishedAt = new Date();
  const run: RunInfo = { startedAt, finishedAt, commit, loadBefore, loadAfter: os.loadavg(), brokers: brokers.map((b) => b.name), sessions, instances, cli, argv: process.argv.slice(2), loadOptions: { concurrency: loadOptions.concurrency, seconds: loadOptions.seconds, held: loadOptions.held } };
  console.log(JSON.stringify({ faults, loads }));
  printSummary(faults, loads);
  if (!flags.has('no-write')) {
    await writeFile(lastRun, JSON.stringify({ run, faults, loads }, null, 1) + '\n');
    const file = path.join(root, 'docs', 'fault-and-load-report.md');
    await writeFile(file, await renderReport(run, faults, loads));
    log(`wrote ${path.relative(root, file)}`);
  }
}

async function soakRun(target: string, minutes: number, brokers: BrokerTarget[], redisUrl: string | undefined, cli: CliMode): Promise<SoakResult> {
  const concurrency = 4;
  if (target === 'embedded') {
    const embedded = await startEmbedded({ cli });
    try {
      return await runSoak('embedded', embedded.gateway ? [embedded.gateway] : [], async () => [embedded.pid], { minutes, concurrency, log });
    } finally {
      await embedded.stop();
    }
  }
  const broker = brokers.find((b) => b.name === target);
  if (!broker || !redisUrl) throw new Error(`--soak-target ${target}: that broker is not running (tools/services.sh start)`);
  const cluster = await startCluster({ broker, redisUrl, instances: 1, cli });
  try {
    return await runSoak(`${target} (\`woodwork up\`, one instance per unit)`, cluster.gateways, () => cluster.pids(), { minutes, concurrency, log });
  } finally {
    await cluster.stop();
  }
}

function printSummary(faults: FaultResult[], loads: LoadResult[]): void {
  for (const f of faults) {
    console.log(`${f.broker.padEnd(6)} ${f.fault.padEnd(15)} ${f.skipped ? `skipped: ${f.skipped}` : f.error ? `ERROR: ${f.error.split('\n')[0]}` : `lost ${f.lost}  dup ${f.duplicateReplies}  recovery ${seconds(f.recoveryMs)} (median ${seconds(f.recoveryMedianMs)})  stall ${seconds(f.stallMs)} (${f.stalledSessions}/${f.sessions})  sent ${f.sent} replied ${f.replied}  handler re-runs ${f.handlerRepeats}${f.lost ? `  LOST ${f.lostKeys.join(' ')}` : ''}${f.duplicateReplies ? `  TWICE ${f.duplicateKeys.join(' ')}` : ''}  ${f.notes.join('; ')}`}`);
  }
  for (const l of loads) {
    console.log(`${l.target}: ${l.sessionsPerSecond.toFixed(1)} sessions/s  p50 ${msText(l.p50Ms)} p99 ${msText(l.p99Ms)}  CPU ${l.cpuMsPerSession.toFixed(1)} ms/session (idle ${Math.round(l.idleCpuMsPerSecond)} ms/s)  held ${l.heldAnswered}/${l.held}  ${(l.bytesPerSession / 1024).toFixed(1)} KiB/session`);
  }
}

interface RunInfo {
  startedAt: Date;
  finishedAt: Date;
  commit: string;
  loadBefore: number[];
  loadAfter: number[];
  brokers: string[];
  sessions: number;
  instances: number;
  cli: CliMode;
  argv: string[];
  loadOptions: { concurrency: number; seconds: number; held: number };
}

async function renderReport(run: RunInfo, faults: FaultResult[], loads: LoadResult[]): Promise<string> {
  const info = await machine();
  const soaks: (SoakResult & { date: string; command: string; commit: string })[] = [];
  for (const target of ['embedded', 'redis', 'nats', 'kafka']) {
    const file = path.join(root, 'tools', 'faults', `soak-result-${target}.json`);
    if (!existsSync(file)) continue;
    const saved = JSON.parse(await readFile(file, 'utf8')) as SoakResult & { date: string; command: string; commit: string };
    soaks.push({ ...saved, ...soakVerdict(saved.samples) }); // today's rule, on the samples as taken
  }
  const notesFile = path.join(root, 'tools', 'faults', 'notes.md');
  const notes = existsSync(notesFile) ? await readFile(notesFile, 'utf8') : '';
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more);
  const minutes = ((run.finishedAt.getTime() - run.startedAt.getTime()) / 60_000).toFixed(1);
  push(
    '# Fault and load report',
    '',
    '<!-- Generated by `tools/faults/report.ts` (see tools/faults/README.md); do not edit by hand: run it again. -->',
    '',
    `Measured ${run.startedAt.toISOString().replace('T', ' ').slice(0, 16)}–${run.finishedAt.toISOString().slice(11, 16)} UTC (${minutes} min) at commit \`${run.commit.slice(0, 7)}\` (${run.commit.startsWith(info.commit) ? info.subject : 'see `git show`'})${info.dirty > 0 && run.cli !== 'head' ? `, with ${info.dirty} uncommitted change(s) by others under packages/ and apps/ in the shared working tree` : ''}.`,
    `Machine: **a shared ${info.cores}-core machine** (${info.cpu}, ${(info.memory / 2 ** 30).toFixed(0)} GiB), used by other engineers' builds and tests at the same time — load average ${run.loadBefore.map((v) => v.toFixed(1)).join(' / ')} at the start, ${run.loadAfter.map((v) => v.toFixed(1)).join(' / ')} at the end — with the brokers on the same cores (\`tools/services.sh\`: Redis 7.0, NATS 2.9 JetStream, Kafka 4.4 KRaft). Node ${info.node}; the CLI and hosts ran ${run.cli === 'head' ? 'from the TypeScript sources of that commit (`git archive HEAD`, through tsx with `--conditions=@woodwork/source`; work in progress in the shared working tree is not measured)' : run.cli === 'source' ? 'from the TypeScript sources of the working tree as it was (tsx, `--conditions=@woodwork/source`)' : 'from the built packages'}.`,
    `Command: \`npm run report:faults${run.argv.length ? ` -- ${run.argv.join(' ')}` : ''}\` (or \`bash tools/with-node.sh npx tsx --conditions=@woodwork/source tools/faults/report.ts${run.argv.length ? ` ${run.argv.join(' ')}` : ''}\`).`,
    '',
    'Figures are single runs on a busy machine: recovery times and latencies move by tens of percent between runs; counts of lost and duplicated replies are what must hold.',
    '',
    '## The setup',
    '',
    '`tools/faults/topology/main.ww`: `gateway` (`input api`, HTTP) → `work` (`transform echo` with a pipe that paces each message 20 ms and can be made slow or crash) → `tail`, a `vm server` of `shout` (`transform uppercase`, streaming the reply word by word) and `out` (`output api`, streaming).',
    `Per broker, \`woodwork up --detach\` of that file runs **${run.instances} times with one namespace**, so every unit runs as ${run.instances} instances that share the work (each \`up\` supervises and restarts its own processes), each gateway on its own port. Sessions and the registry are in Redis on every broker.`,
    `Clients: ${run.sessions} sessions at once per fault run, each sending its next input 100 ms after the last reply: a POST that waits for the reply, to one gateway, while the session's Server-Sent Events stream is read from the other gateway (resumed with \`Last-Event-ID\` on whichever gateway answers after a failure). A POST whose connection fails before the stream shows its \`input.received\` is sent again to the other gateway (counted as *resent*).`,
    '',
    'Each fault: the stream flows, the fault is injected once, the run watches until every session has been answered after the fault (at most 90 s), stops sending, and waits up to 60 s more for missing replies.',
    '',
    '- **lost**: inputs the gateway accepted (a 200/202, or its `input.received` on the stream) that never got a reply, by POST or on the stream. Must be 0.',
    '- **duplicates**: extra `session.replied` events (distinct message ids) for one input, seen by the clients on the stream. Inputs the client itself sent twice (*resent*) are counted apart in the notes: the gateway takes no idempotency key, so a resent input is a second turn.',
    '- **recovery**: from the end of the fault (the SIGKILL; the broker answering again after a restart; the SIGCONT; the link up again) to the first reply of the session that waited longest after it (median over sessions in brackets).',
    '- **longest stall**: the longest a session waited across the fault, from its last reply before the fault to its first after it (the fault\'s own length included), and how many sessions waited more than 1 s. 0 sessions stalled after a SIGKILL means the killed instance held no session at that moment.',
    '- **handler re-runs**: inputs whose `work` handler started more than once (from the hosts\' logs): work done twice, invisible to the client when deduplicated.',
    '',
    '## Faults',
    '',
    '| fault | broker | lost | duplicates | recovery (median) | longest stall (sessions > 1 s) | handler re-runs | sent / replied | resent | notes |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const fault of ALL_FAULTS) {
    for (const f of faults.filter((r) => r.fault === fault)) {
      const title = FAULT_TITLES[fault];
      if (f.skipped) push(`| ${title} | ${f.broker} | – | – | – | – | – | – | – | skipped: ${f.skipped} |`);
      else if (f.error) push(`| ${title} | ${f.broker} | – | – | – | – | – | – | – | **run failed**: ${f.error.split('\n')[0]!.replace(/\|/g, '\\|').slice(0, 200)} |`);
      else {
        const extra = [...f.notes, f.sseMissing ? `${f.sseMissing} reply(ies) missing from the stream (returned by the POST)` : '', f.sseRepeats ? `${f.sseRepeats} event(s) repeated on resumed streams` : '', f.errorReplies ? `${f.errorReplies} error reply(ies)` : '', f.resentDuplicates ? `${f.resentDuplicates} second reply(ies) to inputs the client sent twice` : '', f.lost ? `lost: ${f.lostKeys.slice(0, 5).join(', ')}` : '', f.duplicateReplies ? `replied twice: ${f.duplicateKeys.slice(0, 5).join(', ')}` : ''].filter(Boolean);
        push(`| ${title} | ${f.broker} | ${f.lost === 0 ? '0' : `**${f.lost}**`} | ${f.duplicateReplies === 0 ? '0' : `**${f.duplicateReplies}**`} | ${seconds(f.recoveryMs)} (${seconds(f.recoveryMedianMs)}) | ${seconds(f.stallMs)} (${f.stalledSessions} / ${f.sessions}) | ${f.handlerRepeats} | ${f.sent} / ${f.replied} | ${f.resent} | ${extra.join('; ').replace(/\|/g, '\\|')} |`);
      }
    }
  }
  const ran = faults.filter((f) => !f.skipped && !f.error);
  const lostTotal = ran.reduce((a, f) => a + f.lost, 0);
  const dupTotal = ran.reduce((a, f) => a + f.duplicateReplies, 0);
  const kills = ran.filter((f) => f.fault.startsWith('kill-') && f.broker !== 'kafka');
  push(
    '',
    `Against the targets: **${lostTotal} lost** in ${ran.length} fault runs (must be 0); ${dupTotal} duplicate replies seen by clients; after SIGKILL of a host on Redis and NATS the longest wait for a reply was ${kills.length ? seconds(Math.max(...kills.map((f) => f.recoveryMs).filter(Number.isFinite))) : '–'} (target ≤ 5 s).`,
    '',
    '## Load',
    '',
    `Through the gateways with streaming replies. *Sessions/s*: ${run.loadOptions.concurrency} clients each run whole sessions back to back for ${run.loadOptions.seconds} s — create (POST), open the event stream, one message (POST, waiting), the reply, close the stream, DELETE — latency is message → reply. *Held*: ${run.loadOptions.held} sessions opened and kept with their event streams open, each answered twice (second-message latency shown); memory per session is the growth of the resident memory of every Woodwork process (not the brokers') from before opening them to while they are held, divided by their number.`,
    '',
    '| runtime | processes | sessions/s | p50 | p99 | held sessions answered | held p50 / p99 | RSS before → held | memory per session |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const l of loads) {
    push(`| ${l.target} | ${l.processes} | ${l.sessionsPerSecond.toFixed(1)}${l.sessionsFailed ? ` (${l.sessionsFailed} failed)` : ''} | ${msText(l.p50Ms)} | ${msText(l.p99Ms)} | ${l.heldAnswered} / ${l.held} | ${msText(l.heldP50Ms)} / ${msText(l.heldP99Ms)} | ${mib(l.rssBeforeBytes)} → ${mib(l.rssHeldBytes)} | ${(l.bytesPerSession / 1024).toFixed(1)} KiB |`);
  }
  push('', '## Soak', '');
  for (const soak of soaks) {
    push(
      `\`${soak.command}\`, started ${soak.date.replace('T', ' ').slice(0, 16)} UTC at commit \`${soak.commit}\`: ${soak.concurrency} clients running sessions of three messages back to back (each ended with DELETE) for ${soak.minutes} minutes on ${soak.target}; ${soak.sessions} sessions, ${soak.failed} failed messages; latency p50 ${msText(soak.p50Ms)}, p99 ${msText(soak.p99Ms)}.`,
      '',
      `**Verdict: ${soak.verdict}** — summed RSS of the Woodwork processes ${mib(soak.samples[0]?.rssBytes ?? NaN)} at the start, ${mib(soak.samples[Math.floor(soak.samples.length / 3)]?.rssBytes ?? NaN)} after the first third (warm-up: heaps growing to their working size), ${mib(soak.samples.at(-1)?.rssBytes ?? NaN)} at the end; the median of the last third is ${soak.growthBytes >= 0 ? '+' : '−'}${mib(Math.abs(soak.growthBytes))} from the middle third's; least-squares slope over the last two thirds ${mib(soak.slopeBytesPerHour)} per hour. (Flat: the last third's median within 5 % and 16 MiB of the middle third's.)`,
      '',
      'RSS every 30 s (MiB): ' + soak.samples.map((s) => (s.rssBytes / 2 ** 20).toFixed(0)).join(' '),
      '',
    );
  }
  if (soaks.length === 0) push('Not run yet: `npm run report:faults -- --soak 30m`.');
  if (notes.trim()) push('', notes.trim());
  push('');
  return lines.join('\n');
}

await main();
