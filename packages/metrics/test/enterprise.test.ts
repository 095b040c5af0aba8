import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import {
  type ComponentPerformanceEvent,
  type MetricsLogger,
  createMetricsEmitter,
  loadIngestionClient,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const double = path.join(here, 'fixtures', 'enterprise-double', 'index.js');
const broken = path.join(here, 'fixtures', 'broken-enterprise', 'index.js');

interface DoubleState {
  clients: { apiKey: string; closed: boolean; close(): void }[];
  events: ComponentPerformanceEvent[];
}
const doubleState = () => (globalThis as { __woodworkEnterpriseDouble?: DoubleState }).__woodworkEnterpriseDouble;

function recordingLogger() {
  const lines: string[] = [];
  const logger: MetricsLogger = {
    debug: (message) => void lines.push(`debug: ${message}`),
    warn: (message) => void lines.push(`warn: ${message}`),
  };
  return { logger, lines };
}

afterEach(() => {
  delete (globalThis as { __woodworkEnterpriseDouble?: DoubleState }).__woodworkEnterpriseDouble;
});

describe('the enterprise seam', () => {
  it('stays off unless enterprise_enabled is set', async () => {
    const { logger, lines } = recordingLogger();
    expect(await loadIngestionClient({ moduleSpecifier: double, apiKey: 'key', logger })).toBeNull();
    expect(doubleState()).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('sends nothing without an API key, and says so at debug', async () => {
    const { logger, lines } = recordingLogger();
    expect(await loadIngestionClient({ enabled: true, moduleSpecifier: double, logger, env: {} })).toBeNull();
    expect(doubleState()).toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^debug: .*WOODWORK_ENTERPRISE_API_KEY is not/)]);
  });

  it('sends nothing and fails nothing when the package is not installed (@woodwork/enterprise)', async () => {
    const { logger, lines } = recordingLogger();
    expect(await loadIngestionClient({ enabled: true, logger, env: { WOODWORK_ENTERPRISE_API_KEY: 'key' } })).toBeNull();
    expect(lines).toEqual(['debug: enterprise ingestion package @woodwork/enterprise is not installed: metrics events go to the void']);
  });

  it('finds the package from the environment, activates it with the key, and it receives every event', async () => {
    const client = await loadIngestionClient({
      enabled: true,
      env: { WOODWORK_ENTERPRISE_API_KEY: 'ww-test-key', WOODWORK_ENTERPRISE_MODULE: pathToFileURL(double).href },
    });
    expect(client).not.toBeNull();
    const state = doubleState()!;
    expect(state.clients.map((entry) => entry.apiKey)).toEqual(['ww-test-key']);

    const metrics = createMetricsEmitter({ component: 'agent_001', customMetrics: ['score'], ingestion: client });
    const model = metrics.model({ provider: 'openai', model: 'gpt-4o' });
    await metrics.runStep({ sessionId: 'session-a' }, (step) => {
      step.recordUsage(model, { inputTokens: 1, outputTokens: 105 });
      step.recordCustom('score', 0.9);
    });
    await metrics.runStep({ sessionId: 'session-b' }, () => undefined);
    await metrics.flush();
    expect(state.events.map((event) => [event.session_id, event.payload.cost_estimate, event.payload.custom_metrics])).toEqual([
      ['session-a', 0.0010525, { score: 0.9 }],
      ['session-b', null, {}],
    ]);
    await client!.close();
    expect(state.clients[0]!.closed).toBe(true);
  });

  it('gives the bus and the ingestion client the same event', async () => {
    const client = await loadIngestionClient({ enabled: true, moduleSpecifier: double, apiKey: 'k' });
    const published: ComponentPerformanceEvent[] = [];
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      ingestion: client,
      events: { publish: (_topic, event) => void published.push(event) },
    });
    metrics.startStep({ sessionId: 's' }).end();
    await metrics.flush();
    expect(doubleState()!.events).toEqual(published);
  });

  it('warns about a package that does not implement the interface, and goes on', async () => {
    const { logger, lines } = recordingLogger();
    expect(await loadIngestionClient({ enabled: true, moduleSpecifier: broken, apiKey: 'k', logger })).toBeNull();
    expect(lines).toEqual([expect.stringMatching(/^warn: .*does not export createIngestionClient/)]);
  });

  it('keeps a failing ingestion client away from the component', async () => {
    const { logger, lines } = recordingLogger();
    const metrics = createMetricsEmitter({
      component: 'agent_001',
      logger,
      ingestion: {
        ingest: () => {
          throw new Error('ingestion down');
        },
        close: () => undefined,
      },
    });
    expect(() => metrics.startStep({ sessionId: 's' }).end()).not.toThrow();
    expect(lines).toEqual([expect.stringMatching(/^warn: agent_001: ingest of a metrics.component_performance event failed/)]);
  });

  it('is quiet about a missing package in a plain Node process too', () => {
    const script = `
      import { diag, DiagLogLevel } from '@opentelemetry/api';
      import { loadIngestionClient } from '@woodwork/metrics';
      const line = (level) => (...parts) => console.log(level, ...parts);
      diag.setLogger({ debug: line('debug'), warn: line('warn'), error: line('error'), info() {}, verbose() {} }, DiagLogLevel.DEBUG);
      const client = await loadIngestionClient({ enabled: true, apiKey: 'k' });
      console.log('client', String(client));`;
    const result = spawnSync(
      process.execPath,
      ['--conditions=@woodwork/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: here, encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('is not installed: metrics events go to the void');
    expect(result.stdout).toContain('client null');
    expect(result.stdout).not.toMatch(/^(warn|error)/m);
  });
});
