/**
 * The runtime's metrics wiring: `metrics.component_performance` events on the bus (the design
 * document's layout), and the enterprise seam — a component with `enterprise_enabled = true`
 * feeds the installed ingestion package, here @woodwork/metrics' own test double, found through
 * `WOODWORK_ENTERPRISE_MODULE`.
 */
import { createConnection, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentPerformanceEventType, type ComponentPerformanceEvent } from '@woodwork/metrics';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiInput, createComponentRegistry, defineComponent, type Gateway, type Logger, type SessionEvent } from '../src/index.js';
import { project, started, waitFor, type Project } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The metrics package's double of an ingestion package (never shipped). */
const enterpriseDouble = path.resolve(here, '../../metrics/test/fixtures/enterprise-double/index.js');

interface DoubleState {
  clients: { apiKey: string; closed: boolean }[];
  events: ComponentPerformanceEvent[];
}
const doubleState = () => (globalThis as { __woodworkEnterpriseDouble?: DoubleState }).__woodworkEnterpriseDouble;

let current: Project | undefined;
afterEach(async () => {
  delete (globalThis as { __woodworkEnterpriseDouble?: DoubleState }).__woodworkEnterpriseDouble;
  await current?.remove();
  current = undefined;
});

const topology = (enterprise: boolean) => `
in = input cli { to = a }
a = llm openai {
  model = "gpt-4o"
  to = out
  metrics = { custom_metrics = ["score"], enterprise_enabled = ${enterprise} }
}
out = output cli {}
`;

/** A scripted model: 1 input and 105 output tokens of gpt-4o, and a custom metric, per message. */
const registry = () =>
  createComponentRegistry().register(
    defineComponent({
      kind: 'llm',
      type: 'openai',
      create: ({ metrics }) => {
        const model = metrics.model({ provider: 'openai', model: 'gpt-4o' });
        return {
          handle(message, context) {
            context.step.recordUsage(model, { inputTokens: 1, outputTokens: 105 });
            context.step.recordCustom('score', 0.9);
            return message.text.toUpperCase();
          },
        };
      },
    }),
  );

/** The first `count` performance events of a session (fewer if the stream ends first). */
async function performanceEvents(events: AsyncIterable<SessionEvent>, count: number): Promise<ComponentPerformanceEvent[]> {
  const seen: ComponentPerformanceEvent[] = [];
  for await (const event of events) {
    if (event.event_type === componentPerformanceEventType) seen.push(event as unknown as ComponentPerformanceEvent);
    if (seen.length === count) break;
  }
  return seen;
}

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    debug: (message) => void lines.push(`debug: ${message}`),
    info: (message) => void lines.push(`info: ${message}`),
    warn: (message) => void lines.push(`warn: ${message}`),
    error: (message) => void lines.push(`error: ${message}`),
    child: () => logger,
  };
  return { logger, lines };
}

describe('metrics.component_performance events', () => {
  it('are published on the events topic, one per step, in the design document layout', async () => {
    current = await project({ 'main.ww': topology(false) });
    const { runtime } = await started(await current.load(), { registry: registry(), metrics: { events: true } });
    try {
      const session = await runtime.session();
      const result = await session.ask('hello');
      expect(result.text).toBe('HELLO');
      const events = await performanceEvents(session.events({ signal: AbortSignal.timeout(5_000) }), 3);
      expect(events.map((event) => event.component_source).sort()).toEqual(['a', 'in', 'out']);
      const model = events.find((event) => event.component_source === 'a')!;
      expect(model).toMatchObject({ session_id: session.id, event_type: 'metrics.component_performance' });
      expect(Object.keys(model.payload).sort()).toEqual(['cost_estimate', 'custom_metrics', 'input_tokens', 'memory_usage_mb', 'output_tokens', 'processing_time_ms', 'tokens_processed']);
      expect(model.payload).toMatchObject({ tokens_processed: 106, cost_estimate: 0.0010525, custom_metrics: { score: 0.9 } });
      expect(model.payload.processing_time_ms).toBeGreaterThanOrEqual(0);
      expect(model.payload.memory_usage_mb).toBeGreaterThan(0);
      const input = events.find((event) => event.component_source === 'in')!;
      expect(input.payload).toMatchObject({ tokens_processed: null, input_tokens: null, output_tokens: null, cost_estimate: null, custom_metrics: {} });
    } finally {
      await runtime.stop();
    }
  });

  it('are off by default', async () => {
    current = await project({ 'main.ww': topology(false) });
    const { runtime } = await started(await current.load(), { registry: registry() });
    try {
      const session = await runtime.session();
      await session.ask('hello');
      const types: string[] = [];
      for await (const event of session.events({ signal: AbortSignal.timeout(300) })) types.push(event.event_type);
      expect(types).toContain('session.replied');
      expect(types).not.toContain('metrics.component_performance');
    } finally {
      await runtime.stop();
    }
  });
});

/** A MeterProvider whose reader is collected on demand. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
  async gauge(name: string, component: string): Promise<number | undefined> {
    const { resourceMetrics } = await this.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue;
        const point = metric.dataPoints.find((candidate) => candidate.attributes['woodwork.component.name'] === component);
        if (point && typeof point.value === 'number') return point.value;
      }
    }
    return undefined;
  }
}

describe('queue depth', () => {
  it("records each component's unacknowledged inbox messages from the bus, and 0 once they are handled", async () => {
    current = await project({ 'main.ww': 'in = input cli { to = slow }\nslow = transform uppercase { to = out }\nout = output cli {}\n' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    const slow = createComponentRegistry().register(
      defineComponent({
        kind: 'transform',
        type: 'uppercase',
        create: () => ({
          async handle(message) {
            entered++;
            await gate;
            return message.text.toUpperCase();
          },
        }),
      }),
      { replace: true },
    );
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const { runtime } = await started(await current.load(), { registry: slow, maxInFlight: 1, queueDepthIntervalMs: 20, metrics: { meterProvider } });
    try {
      const turns = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((text) => runtime.submit(undefined, text)));
      await waitFor(() => entered === 1);
      // One in the handler, four waiting behind maxInFlight 1: five not acknowledged.
      expect(await waitFor(async () => ((await reader.gauge('woodwork.component.queue.depth', 'slow')) === 5 ? 5 : undefined))).toBe(5);
      release();
      expect((await Promise.all(turns.map((turn) => turn.result))).map((result) => result.text)).toEqual(['A', 'B', 'C', 'D', 'E']);
      expect(await waitFor(async () => ((await reader.gauge('woodwork.component.queue.depth', 'slow')) === 0 ? 'empty' : undefined))).toBe('empty');
    } finally {
      release();
      await runtime.stop();
      await meterProvider.shutdown();
    }
  });
});

describe('gateway connections', () => {
  it('counts the client connections open to an input api, down to 0 when they close', async () => {
    current = await project({ 'main.ww': 'api = input api { auth = { token = "k" } }\nshout = transform uppercase {}\n' });
    let gateway: Gateway | undefined;
    const registry = createComponentRegistry().register(createApiInput({ host: '127.0.0.1', port: 0, env: {}, onListening: (value) => (gateway = value) }), { replace: true });
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const { runtime } = await started(await current.load(), { registry, metrics: { meterProvider } });
    const connections = () => reader.gauge('woodwork.component.connections', 'api');
    const sockets: Socket[] = [];
    try {
      for (let index = 0; index < 3; index++) {
        const socket = createConnection(gateway!.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        sockets.push(socket);
      }
      expect(await waitFor(async () => ((await connections()) === 3 ? 3 : undefined))).toBe(3);
      sockets[0]!.destroy();
      expect(await waitFor(async () => ((await connections()) === 2 ? 2 : undefined))).toBe(2);
      for (const socket of sockets) socket.destroy();
      expect(await waitFor(async () => ((await connections()) === 0 ? 'none' : undefined))).toBe('none');
    } finally {
      for (const socket of sockets) socket.destroy();
      await runtime.stop();
      await meterProvider.shutdown();
    }
  });
});

describe('the enterprise seam', () => {
  it('delivers every metrics event of an enterprise_enabled component to the ingestion package, and closes it on stop', async () => {
    current = await project({ 'main.ww': topology(true) });
    const env = { WOODWORK_ENTERPRISE_API_KEY: 'ww-test-key', WOODWORK_ENTERPRISE_MODULE: enterpriseDouble };
    const { runtime } = await started(await current.load(), { registry: registry(), env });
    const state = doubleState()!;
    try {
      expect(state.clients.map((client) => client.apiKey)).toEqual(['ww-test-key']);
      const first = await runtime.ask(undefined, 'one');
      const second = await runtime.ask(undefined, 'two');
      await waitFor(() => state.events.length >= 2);
      // Only `a` declared enterprise_enabled; bus events stay off.
      expect(state.events.map((event) => [event.component_source, event.session_id, event.payload.cost_estimate, event.payload.custom_metrics])).toEqual([
        ['a', first.sessionId, 0.0010525, { score: 0.9 }],
        ['a', second.sessionId, 0.0010525, { score: 0.9 }],
      ]);
      expect(state.clients[0]!.closed).toBe(false);
    } finally {
      await runtime.stop();
    }
    expect(state.clients[0]!.closed).toBe(true);
  });

  it('sends nothing and fails nothing without the API key or the package: one debug line', async () => {
    current = await project({ 'main.ww': topology(true) });
    for (const env of [{ WOODWORK_ENTERPRISE_MODULE: enterpriseDouble }, { WOODWORK_ENTERPRISE_API_KEY: 'ww-test-key' }]) {
      const { logger, lines } = recordingLogger();
      const { runtime } = await started(await current.load(), { registry: registry(), env, logger });
      try {
        expect((await runtime.ask(undefined, 'hello')).text).toBe('HELLO');
      } finally {
        await runtime.stop();
      }
      expect(doubleState()).toBeUndefined();
      expect(lines.filter((line) => /enterprise/i.test(line))).toEqual([expect.stringMatching(/^debug: .*metrics events go to the void$/)]);
      expect(lines.filter((line) => !line.startsWith('debug'))).toEqual([]);
    }
  });
});
