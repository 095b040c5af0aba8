/**
 * Lazy loading of the OpenTelemetry SDK packages, which are optional peer dependencies: an app
 * that never calls `startTelemetry` (or does not turn OTLP on) never needs them installed.
 */
import { WoodworkMetricsError } from '../errors.js';

/** Versions this package is tested with; the install hint names them. */
const peerRanges: Readonly<Record<string, string>> = {
  '@opentelemetry/sdk-metrics': '^3',
  '@opentelemetry/resources': '^3',
  '@opentelemetry/sdk-trace': '^3',
  '@opentelemetry/context-async-hooks': '^3',
  '@opentelemetry/core': '^3',
  '@opentelemetry/exporter-prometheus': '^0.301',
  '@opentelemetry/exporter-metrics-otlp-http': '^0.301',
  '@opentelemetry/exporter-trace-otlp-http': '^0.301',
};

export async function loadPeer<Module>(name: string, purpose: string, load: () => Promise<Module>): Promise<Module> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : '';
    if ((code === 'ERR_MODULE_NOT_FOUND' || /cannot find (module|package)/i.test(message)) && message.includes(name)) {
      throw new WoodworkMetricsError(
        'WW_METRICS_SDK_MISSING',
        `${purpose} needs ${name}, which is not installed. Install it next to @woodwork/metrics: npm install ${name}@${peerRanges[name] ?? 'latest'}`,
        { cause: error },
      );
    }
    throw error;
  }
}
