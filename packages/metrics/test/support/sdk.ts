/**
 * An in-memory OpenTelemetry SDK for unit tests: a MeterProvider whose reader is collected on
 * demand, and a tracer provider that keeps finished spans.
 */
import {
  DataPointType,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}

  async metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  }

  /** Data points of one instrument whose attributes include `where`. */
  async points(name: string, where: Record<string, unknown> = {}): Promise<DataPoint<number | Histogram>[]> {
    const metric = (await this.metrics()).get(name);
    if (!metric) return [];
    const points = metric.dataPoints as DataPoint<number | Histogram>[];
    return points.filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value));
  }

  async value(name: string, where: Record<string, unknown> = {}): Promise<number | undefined> {
    const [point] = await this.points(name, where);
    return point && typeof point.value === 'number' ? point.value : undefined;
  }

  async histogram(name: string, where: Record<string, unknown> = {}): Promise<Histogram | undefined> {
    const metric = (await this.metrics()).get(name);
    if (metric && metric.dataPointType !== DataPointType.HISTOGRAM) throw new Error(`${name} is not a histogram`);
    const [point] = await this.points(name, where);
    return point?.value as Histogram | undefined;
  }
}

export function inMemorySdk() {
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  return {
    reader,
    meterProvider,
    tracerProvider,
    spans,
    async [Symbol.asyncDispose]() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
    },
  };
}
