/**
 * `npm run bench`: the cost of one recorded measurement, in nanoseconds, with nothing configured
 * (the API's noop meter), with the OpenTelemetry SDK active (Prometheus reader), and with the bus
 * events on — each against an empty loop measured in the same run. Not a test: it prints figures.
 */
import os from 'node:os';

import { type MetricsEmitter, createMetricsEmitter } from '@woodwork/metrics';
import { startTelemetry } from '@woodwork/metrics/node';

const iterations = Number(process.env.BENCH_ITERATIONS ?? 2_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);

/** Median ns per iteration of `loop(n)` over `rounds` runs, after a warm-up run. */
function nsPerIteration(loop: (n: number) => number, n = iterations): number {
  let sink = loop(Math.min(n, 200_000));
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    sink += loop(n);
    samples.push(Number(process.hrtime.bigint() - started) / n);
  }
  if (sink === -1) console.log(sink); // keep the loops' results alive
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

// One loop function per operation, so each call site stays monomorphic.
const emptyLoop = (n: number) => {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += i & 7;
  return sum;
};

function loopsFor(metrics: MetricsEmitter) {
  const model = metrics.model({ provider: 'openai', model: 'gpt-4o-mini' });
  const custom = metrics.customMetric('token_count');
  return {
    'histogram: recordChunkLatency': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        metrics.recordChunkLatency((i & 1023) * 1e-5);
        sum += i & 7;
      }
      return sum;
    },
    'gauge: recordQueueDepth': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        metrics.recordQueueDepth(i & 63);
        sum += i & 7;
      }
      return sum;
    },
    'counter: recordRetry': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        metrics.recordRetry();
        sum += i & 7;
      }
      return sum;
    },
    'custom metric handle: record': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        custom.record(i & 255);
        sum += i & 7;
      }
      return sum;
    },
    'GenAI histogram: recordTimeToFirstChunk': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        model.recordTimeToFirstChunk((i & 1023) * 1e-4);
        sum += i & 7;
      }
      return sum;
    },
    'recordUsage (2 token records + cost, per call)': (n: number) => {
      let sum = 0;
      const usage = { inputTokens: 0, outputTokens: 0 };
      for (let i = 0; i < n; i++) {
        usage.inputTokens = i & 4095;
        usage.outputTokens = i & 1023;
        sum += model.recordUsage(usage)! > 0 ? 1 : 0;
      }
      return sum;
    },
  };
}

function stepLoops(metrics: MetricsEmitter) {
  const model = metrics.model({ provider: 'openai', model: 'gpt-4o-mini' });
  const usage = { inputTokens: 120, outputTokens: 40 };
  return {
    'step.recordCustom (inside a step)': (n: number) => {
      const step = metrics.startStep({ sessionId: 'bench' });
      let sum = 0;
      for (let i = 0; i < n; i++) {
        step.recordCustom('token_count', i & 255);
        sum += i & 7;
      }
      step.end();
      return sum;
    },
    'whole step: start, recordUsage, recordCustom, end (per step)': (n: number) => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const step = metrics.startStep({ sessionId: 'bench' });
        step.recordUsage(model, usage);
        step.recordCustom('token_count', i & 255);
        sum += step.end() === null ? 0 : 1;
      }
      return sum;
    },
  };
}

type Row = { scenario: string; operation: string; ns: number; overEmpty: number };
const rows: Row[] = [];
function run(scenario: string, loops: Record<string, (n: number) => number>, n = iterations) {
  const empty = nsPerIteration(emptyLoop, n);
  rows.push({ scenario, operation: 'empty loop', ns: empty, overEmpty: 0 });
  for (const [operation, loop] of Object.entries(loops)) {
    const ns = nsPerIteration(loop, n);
    rows.push({ scenario, operation, ns, overEmpty: ns - empty });
  }
}

// 1. Nothing configured: the global MeterProvider is the API's noop one.
const voidEmitter = createMetricsEmitter({ component: 'bench', customMetrics: ['token_count'] });
run('nothing configured', { ...loopsFor(voidEmitter), ...stepLoops(voidEmitter) });

// 2. The OpenTelemetry SDK active, with the Prometheus reader a host has.
const telemetry = await startTelemetry({ serviceName: 'bench', otlp: false });
const sdkEmitter = createMetricsEmitter({ component: 'bench', customMetrics: ['token_count'] });
run('OpenTelemetry SDK active', loopsFor(sdkEmitter));
run('OpenTelemetry SDK active', stepLoops(sdkEmitter), iterations / 10);
if ((await telemetry.renderPrometheus()).length === 0) throw new Error('the SDK recorded nothing');
await telemetry.shutdown();

// 3. Bus events on (publish to a function that drops them), nothing else configured.
let published = 0;
const eventsEmitter = createMetricsEmitter({
  component: 'bench',
  customMetrics: ['token_count'],
  events: { publish: () => void published++ },
});
run('bus events on', stepLoops(eventsEmitter), iterations / 10);
if (published === 0) throw new Error('no event was published');

console.log(`@woodwork/metrics bench — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores)`);
console.log(`median of ${rounds} rounds; "over empty" subtracts the empty loop measured in the same scenario\n`);
console.log('| scenario | operation | ns/op | ns/op over empty loop |');
console.log('|---|---|---:|---:|');
for (const row of rows) {
  console.log(`| ${row.scenario} | ${row.operation} | ${row.ns.toFixed(1)} | ${row.operation === 'empty loop' ? '' : row.overEmpty.toFixed(1)} |`);
}
