/**
 * The fault harness (tools/faults) scaled down for CI: `woodwork up` of the harness's topology twice
 * over one namespace (two instances of every unit), clients streaming sessions through both API
 * gateways (POST waiting for the reply, SSE read from the other gateway), and per broker:
 *
 * - SIGKILL of one of the two `work` hosts mid-stream (Redis, NATS, Kafka);
 * - SIGKILL of one of the two `tail` hosts, where `shout` streams its reply into `out` (Redis,
 *   NATS): a stream whose producer died is produced again and read from the start by whichever
 *   `out` reads it (decision 13) — no error reply, where the readers used to give up after 30 s.
 *   Not on Kafka yet: there the group's rebalance after the kill can take longer than a stream's
 *   30 s idle timeout (one run: 71 s, one error reply; the full report measures it);
 * - a poison message whose handler SIGKILLs its host, every time it runs (Redis, NATS): only the
 *   poison is dead-lettered — an innocent message of another session in flight at a crash is run
 *   alone afterwards, not charged the poison's crashes (decision 0012) — and its session gets an
 *   error reply (`WW_RUNTIME_DEAD_LETTERED`) instead of waiting for the turn's timeout.
 *
 * Asserted: no accepted input lost, no reply seen twice by a client; after the `tail` kill, no error
 * reply; for the poison, an error reply. Wall-clock figures (recovery, latency) are printed, never asserted: this machine is shared. The full runs, with every fault on
 * every broker, and the load and soak runs are `tools/faults/report.ts` (docs/fault-and-load-report.md).
 *
 * Broker URLs come from WOODWORK_TEST_{REDIS,NATS,KAFKA}_URL (`tools/services.sh env`); a broker
 * that is unset is skipped with a message, or fails when WOODWORK_TEST_REQUIRE_BROKERS=1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runFault, type FaultId, type FaultResult } from '../tools/faults/faults.js';
import { prepareTree, startCluster, type BrokerName, type CliMode, type Cluster } from '../tools/faults/processes.js';

const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
// The built CLI, as the other e2e tests; WOODWORK_FAULTS_CLI=head runs the last commit's sources
// instead (no build needed; see tools/faults/README.md).
const cli = (process.env.WOODWORK_FAULTS_CLI ?? 'built') as CliMode;
await prepareTree(cli);
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;

const plan: { name: BrokerName; url: string | undefined; faults: FaultId[]; timeoutMs: number }[] = [
  { name: 'redis', url: redisUrl, faults: ['kill-work', 'kill-tail', 'poison'], timeoutMs: 360_000 },
  { name: 'nats', url: process.env.WOODWORK_TEST_NATS_URL, faults: ['kill-work', 'kill-tail', 'poison'], timeoutMs: 360_000 },
  { name: 'kafka', url: process.env.WOODWORK_TEST_KAFKA_URL, faults: ['kill-work'], timeoutMs: 480_000 },
];

const clusters: Cluster[] = [];
afterAll(async () => {
  for (const cluster of clusters) await cluster.stop().catch(() => undefined);
}, 120_000);

function describeResult(result: FaultResult): string {
  return `[faults e2e] ${result.broker} ${result.fault}: lost ${result.lost}, duplicate replies ${result.duplicateReplies}, recovery ${Math.round(result.recoveryMs)} ms (median ${Math.round(result.recoveryMedianMs)} ms), longest stall ${Math.round(result.stallMs)} ms, ${result.sent} sent / ${result.replied} replied, handler re-runs ${result.handlerRepeats}; ${result.notes.join('; ')}`;
}

for (const broker of plan) {
  const missing = [broker.url ? undefined : `WOODWORK_TEST_${broker.name.toUpperCase()}_URL`, redisUrl ? undefined : 'WOODWORK_TEST_REDIS_URL'].filter(Boolean);
  if (missing.length > 0 && !requireBrokers) console.warn(`[faults e2e] SKIPPING ${broker.name}: ${missing.join(' and ')} not set (run \`eval "$(bash tools/services.sh start)"\`)`);
  const suite = missing.length > 0 && !requireBrokers ? describe.skip : describe;

  suite(`faults over ${broker.name}, two instances of every unit`, () => {
    let cluster: Cluster | undefined;
    const log = (line: string) => console.log(`[faults e2e] ${line}`);

    for (const fault of broker.faults) {
      it(`${fault}: nothing lost, no duplicate reply`, { timeout: broker.timeoutMs }, async () => {
        expect(missing, `set ${missing.join(', ')} (tools/services.sh env)`).toEqual([]);
        if (!cluster) {
          cluster = await startCluster({ broker: { name: broker.name, url: broker.url! }, redisUrl: redisUrl!, instances: 2, cli });
          clusters.push(cluster);
        }
        const result = await runFault(cluster, fault, { sessions: 4, redisUrl: redisUrl!, cli, warmupMs: 1_000, observeMs: 60_000, log });
        console.log(describeResult(result));
        expect(result.error).toBeUndefined();
        expect(result.sent).toBeGreaterThan(0);
        expect(result.lostKeys, 'accepted inputs without a reply').toEqual([]);
        expect(result.duplicateReplies, 'replies a client saw twice').toBe(0);
        if (fault === 'kill-tail') expect(result.errorReplies, 'turns that failed instead of streaming the reply again').toBe(0);
        if (fault === 'poison') {
          // Dead-lettered, and its session told at once (not after the turn's timeout).
          expect(result.notes, 'what happened to the poison').toContain('the poison got an error reply');
          expect(result.notes).toContain("the poisoned session's next message was answered");
        }
      });
    }
  });
}
