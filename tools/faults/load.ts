/**
 * Load through the API gateway with streaming replies: every session is created with a POST, reads
 * its Server-Sent Events, sends a message and waits for the reply, as an application does.
 *
 * - throughput: `concurrency` clients each run whole sessions back to back (create, open the event
 *   stream, one message, reply, close the stream, DELETE) for `seconds`: sessions per second, the
 *   message → reply latency (p50, p99), and the CPU time the Woodwork processes spent per session
 *   beyond what they spend idle (what a regression in the runtime shows on a shared machine, where
 *   sessions/s moves 2× with the load of others);
 * - held sessions: `held` sessions opened and kept (event stream open), each answered twice;
 *   memory per session is the growth of the resident memory of every Woodwork process (not the
 *   brokers') divided by the sessions held;
 * - soak: steady sessions for a long time, resident memory sampled every 30 s, and a verdict.
 */
import { GatewaySession, percentile } from './client.js';
import { cpuMsOf, rssOf, sleep } from './processes.js';

export interface LoadOptions {
  readonly concurrency: number;
  readonly seconds: number;
  readonly held: number;
  readonly log: (line: string) => void;
}

export interface LoadResult {
  readonly target: string;
  readonly processes: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly sessionsCompleted: number;
  readonly sessionsFailed: number;
  readonly sessionsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * CPU (user + system) of every Woodwork process during the throughput run, less what they spend
   * idle (`idleCpuMsPerSecond` × its duration), ÷ sessions completed.
   */
  readonly cpuMsPerSession: number;
  /** CPU the same processes spent per second just before, with no session running. */
  readonly idleCpuMsPerSecond: number;
  readonly held: number;
  readonly heldAnswered: number;
  readonly heldP50Ms: number;
  readonly heldP99Ms: number;
  readonly rssBeforeBytes: number;
  readonly rssHeldBytes: number;
  readonly bytesPerSession: number;
  readonly error?: string;
}

const sumRss = async (pids: readonly number[]) => (await Promise.all(pids.map(rssOf))).reduce((a, b) => a + b, 0);
/** How long the processes are watched idle before the throughput run (their CPU then is subtracted). */
const IDLE_SAMPLE_MS = 5_000;
const sumCpu = async (pids: readonly number[]) => (await Promise.all(pids.map(cpuMsOf))).reduce((a, b) => a + b, 0);

export async function runLoad(target: string, gateways: readonly string[], pids: () => Promise<number[]>, options: LoadOptions): Promise<LoadResult> {
  options.log(`load on ${target}: ${options.concurrency} clients for ${options.seconds} s, then ${options.held} sessions held`);
  // Throughput.
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  let counter = 0;
  // The CPU the processes spend with nothing to do (Kafka's consumers poll, heartbeats, timers),
  // so the figure per session is what the sessions cost, not how long the run lasted.
  const loadProcesses = await pids();
  const idleStart = await sumCpu(loadProcesses);
  const idleStarted = Date.now();
  await sleep(IDLE_SAMPLE_MS);
  const idleMsPerSecond = ((await sumCpu(loadProcesses)) - idleStart) / ((Date.now() - idleStarted) / 1000);
  const cpuBefore = await sumCpu(loadProcesses);
  const endAt = Date.now() + options.seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      while (Date.now() < endAt) {
        const session = new GatewaySession(gateways, worker, { replyTimeoutMs: 30_000 });
        try {
          await session.open(15_000);
          const ok = await session.send(`load${worker}-${counter++}`);
          if (ok) completed++;
          else failed++;
          latencies.push(...session.latencies);
        } catch {
          failed++;
        } finally {
          await session.close(true);
        }
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  const cpuMs = (await sumCpu(loadProcesses)) - cpuBefore;

  // Held sessions.
  await sleep(3_000);
  const processes = await pids();
  const rssBefore = await sumRss(processes);
  const held: GatewaySession[] = [];
  const heldLatencies: number[] = [];
  let answered = 0;
  for (let batch = 0; batch < options.held; batch += 25) {
    const group = Array.from({ length: Math.min(25, options.held - batch) }, (_, i) => new GatewaySession(gateways, batch + i, { replyTimeoutMs: 60_000 }));
    held.push(...group);
    await Promise.all(group.map(async (session) => {
      await session.open(30_000).catch(() => undefined);
      if (session.id) await session.send(`held${session.index}-a`);
    }));
  }
  await sleep(3_000);
  const rssHeld = await sumRss(processes);
  await Promise.all(held.map(async (session) => {
    if (!session.id) return;
    if (await session.send(`held${session.index}-b`)) answered++;
    heldLatencies.push(...session.latencies);
  }));
  for (let batch = 0; batch < held.length; batch += 50) await Promise.all(held.slice(batch, batch + 50).map((session) => session.close(true)));
  return {
    target,
    processes: processes.length,
    concurrency: options.concurrency,
    seconds: options.seconds,
    sessionsCompleted: completed,
    sessionsFailed: failed,
    sessionsPerSecond: completed / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMsPerSession: (cpuMs - idleMsPerSecond * elapsed) / completed,
    idleCpuMsPerSecond: idleMsPerSecond,
    held: options.held,
    heldAnswered: answered,
    heldP50Ms: percentile(heldLatencies, 50),
    heldP99Ms: percentile(heldLatencies, 99),
    rssBeforeBytes: rssBefore,
    rssHeldBytes: rssHeld,
    bytesPerSession: (rssHeld - rssBefore) / options.held,
  };
}

// ---------------------------------------------------------------------------------------------

export interface SoakResult {
  readonly target: string;
  readonly minutes: number;
  readonly concurrency: number;
  readonly sessions: number;
  readonly failed: number;
  readonly samples: { readonly atS: number; readonly rssBytes: number }[];
  readonly verdict: 'flat' | 'growing';
  readonly growthBytes: number;
  readonly slopeBytesPerHour: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Steady load for `minutes`: `concurrency` clients each run sessions of three messages back to
 * back (ending each with DELETE, as an application that is done with a session does), the summed
 * RSS of every Woodwork process sampled every 30 s; the verdict is `soakVerdict`'s.
 */
export async function runSoak(target: string, gateways: readonly string[], pids: () => Promise<number[]>, options: { minutes: number; concurrency: number; log: (line: string) => void }): Promise<SoakResult> {
  const startedAt = Date.now();
  const endAt = startedAt + options.minutes * 60_000;
  const samples: { atS: number; rssBytes: number }[] = [];
  let sessions = 0;
  let failed = 0;
  let counter = 0;
  const latencies: number[] = [];
  const sampler = (async () => {
    while (Date.now() < endAt) {
      const rss = await sumRss(await pids());
      samples.push({ atS: Math.round((Date.now() - startedAt) / 1000), rssBytes: rss });
      options.log(`  soak ${target} t=${Math.round((Date.now() - startedAt) / 1000)} s rss=${(rss / 2 ** 20).toFixed(1)} MiB sessions=${sessions} failed=${failed}`);
      await sleep(Math.min(30_000, Math.max(0, endAt - Date.now())));
    }
    samples.push({ atS: Math.round((Date.now() - startedAt) / 1000), rssBytes: await sumRss(await pids()) });
  })();
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      while (Date.now() < endAt) {
        const session = new GatewaySession(gateways, worker, { replyTimeoutMs: 30_000 });
        try {
          await session.open(15_000);
          for (let m = 0; m < 3; m++) if (!(await session.send(`soak${worker}-${counter++}`))) failed++;
          sessions++;
          if (latencies.length < 200_000) latencies.push(...session.latencies);
        } catch {
          failed++;
        } finally {
          await session.close(true);
        }
        await sleep(200);
      }
    }),
  );
  await sampler;
  return { target, minutes: options.minutes, concurrency: options.concurrency, sessions, failed, samples, ...soakVerdict(samples), p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/**
 * Flat or not: the first third of the run is warm-up (heaps grow to their working size, JIT,
 * connection pools); the median RSS of the last third must be within 5 % and 16 MiB of the median
 * of the middle third. The slope is the least-squares fit over the last two thirds.
 */
export function soakVerdict(samples: readonly { atS: number; rssBytes: number }[]): Pick<SoakResult, 'verdict' | 'growthBytes' | 'slopeBytesPerHour'> {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const middle = median(samples.slice(third, 2 * third).map((s) => s.rssBytes));
  const last = median(samples.slice(-third).map((s) => s.rssBytes));
  const growth = last - middle;
  const usable = samples.slice(third);
  const n = usable.length;
  const meanX = usable.reduce((a, s) => a + s.atS, 0) / n;
  const meanY = usable.reduce((a, s) => a + s.rssBytes, 0) / n;
  const slope = usable.reduce((a, s) => a + (s.atS - meanX) * (s.rssBytes - meanY), 0) / (usable.reduce((a, s) => a + (s.atS - meanX) ** 2, 0) || 1);
  return { verdict: growth <= Math.min(0.05 * middle, 16 * 2 ** 20) ? 'flat' : 'growing', growthBytes: growth, slopeBytesPerHour: slope * 3600 };
}

