/**
 * An in-memory OpenTelemetry SDK: metrics collected on demand, finished spans kept, so a test can
 * read what a run recorded (and search all of it for a secret).
 */
import { trace } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}

  async all(): Promise<MetricData[]> {
    const { resourceMetrics } = await this.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  }

  async points(name: string, where: Record<string, unknown> = {}): Promise<DataPoint<number | Histogram>[]> {
    const metric = (await this.all()).find((candidate) => candidate.descriptor.name === name);
    if (!metric) return [];
    return (metric.dataPoints as DataPoint<number | Histogram>[]).filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value));
  }
}

export function inMemoryTelemetry() {
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  trace.setGlobalTracerProvider(tracerProvider);
  return {
    reader,
    meterProvider,
    spans,
    async [Symbol.asyncDispose]() {
      trace.disable();
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
    },
  };
}
