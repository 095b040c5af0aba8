/**
 * Metrics across processes, end to end: `woodwork up --detach` (the built CLI) runs a three-component
 * pipeline as three host processes over real Redis, each exporting over OTLP/HTTP (JSON) to a
 * receiver started here. One turn gives three step spans, one per process, that share the turn's
 * trace id and chain parent → child from process to process. With `WOODWORK_METRICS_EVENTS=1` the
 * hosts also publish a `metrics.component_performance` event per step on the bus.
 *
 * Needs WOODWORK_TEST_REDIS_URL (`tools/services.sh env`); skipped without it unless
 * WOODWORK_TEST_REQUIRE_BROKERS=1.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger, type SessionEvent } from '@woodwork/runtime';
import { allSpans, eventually, startOtlpReceiver } from '../packages/metrics/test/support/otlp-receiver.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';

const FIXTURE = `// Three processes: in → shout → out.
in = command_line { to = shout }
shout = transform uppercase { to = out }
out = console {}
`;

function cli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`woodwork ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** What `woodwork stop` could not stop (a wedged process) is killed, so nothing outlives the test. */
async function killLeftovers(dir: string): Promise<void> {
  const state = await readFile(path.join(dir, '.woodwork', 'up.json'), 'utf8').then((text) => JSON.parse(text) as { pid: number; processes: { pid: number | null }[] }, () => undefined);
  for (const pid of [state?.pid, ...(state?.processes.map((entry) => entry.pid) ?? [])]) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

if (!redisUrl && !requireBrokers) console.warn('[metrics e2e] SKIPPING: WOODWORK_TEST_REDIS_URL is not set (run `eval "$(bash tools/services.sh start)"`)');

describe.skipIf(!redisUrl && !requireBrokers)('metrics across three host processes over Redis', () => {
  it('one turn is one trace, parent → child from process to process, and the hosts publish performance events', { timeout: 180_000 }, async () => {
    expect(redisUrl, 'set WOODWORK_TEST_REDIS_URL (tools/services.sh env)').toBeDefined();
    const receiver = await startOtlpReceiver();
    onTestFinished(() => receiver.close());
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-e2e-metrics-'));
    await writeFile(path.join(dir, 'main.ww'), FIXTURE);
    const namespace = `e2e-metrics-${randomUUID().slice(0, 8)}`;
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      WOODWORK_METRICS_EVENTS: '1',
    };
    onTestFinished(async () => {
      const stopped = await cli(['stop', dir, '--timeout', '30'], {}, 60_000).catch(() => undefined);
      await killLeftovers(dir);
      if (stopped?.code === 0) await rm(dir, { recursive: true, force: true });
    });

    const up = await cli(['up', dir, '--bus', redisUrl!, '--sessions', redisUrl!, '--namespace', namespace, '--detach', '--ready-timeout', '60'], env);
    expect(up.code, `woodwork up --detach failed:\n${up.output}`).toBe(0);

    const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run' });
    const client = createRuntime(resolved!, { bus: redisUrl!, sessions: { redis: redisUrl! }, namespace, components: [], logger: silentLogger, turnTimeoutMs: 60_000 });
    await client.start();
    onTestFinished(() => client.stop());

    const sessionId = await client.create();
    const turn = await client.submit(sessionId, 'one trace');
    const result = await turn.result;
    expect(result.text).toBe('ONE TRACE');

    // The three step spans of the turn, one from each process, in one trace: the turn's.
    const spans = await eventually(() => {
      const found = allSpans(receiver).filter((span) => span.traceId === turn.turnId);
      return found.length >= 3 ? found : undefined;
    }, 30_000, 'a span from each of the three processes');
    const byService = Object.fromEntries(spans.map((span) => [span.serviceName, span]));
    expect(Object.keys(byService).sort()).toEqual(['woodwork-in', 'woodwork-out', 'woodwork-shout']);
    const [input, shout, out] = [byService['woodwork-in']!, byService['woodwork-shout']!, byService['woodwork-out']!];
    expect([input.name, shout.name, out.name]).toEqual(['step in', 'step shout', 'step out']);
    // in's parent is the turn's root (the client's, not exported); each next hop is a child of the last.
    expect(input.parentSpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spans.map((span) => span.spanId)).not.toContain(input.parentSpanId);
    expect(shout.parentSpanId).toBe(input.spanId);
    expect(out.parentSpanId).toBe(shout.spanId);

    // WOODWORK_METRICS_EVENTS=1 reached the hosts: a performance event per step, on the bus.
    const events: SessionEvent[] = [];
    for await (const event of client.events(sessionId, { signal: AbortSignal.timeout(15_000) })) {
      if (event.event_type === 'metrics.component_performance') events.push(event);
      if (events.length === 3) break;
    }
    expect(events.map((event) => event.component_source).sort()).toEqual(['in', 'out', 'shout']);
    for (const event of events) {
      expect(Object.keys(event.payload as object).sort()).toEqual(['cost_estimate', 'custom_metrics', 'input_tokens', 'memory_usage_mb', 'output_tokens', 'processing_time_ms', 'tokens_processed']);
      // Each step's event carries that step's trace: the turn's trace id.
      expect(event.trace?.traceparent).toContain(`-${turn.turnId}-`);
    }
  });
});
