/**
 * `startTelemetry`: the OpenTelemetry SDK wiring for applications and the CLI (never for
 * libraries). One call gives a process a MeterProvider with a Prometheus reader (rendered on
 * demand for a host's `/metrics`, or served on a port of its own) and, when an OTLP endpoint is
 * configured, OTLP/HTTP export of metrics and traces. The SDK packages are optional peer
 * dependencies, loaded here and only here.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  type Attributes,
  type MeterProvider,
  type TracerProvider,
  context as contextApi,
  metrics as metricsApi,
  propagation as propagationApi,
  trace as traceApi,
} from '@opentelemetry/api';
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';

import { WoodworkMetricsError } from '../errors.js';
import { loadPeer } from './load-peer.js';

/** The Prometheus text exposition format, version 0.0.4, as `/metrics` answers it. */
export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * A `SpanProcessor` of `@opentelemetry/sdk-trace` and a `MetricReader` of
 * `@opentelemetry/sdk-metrics`, described by their shapes so this entry's public types check
 * without those optional peers installed (sdk-trace is needed only for traces).
 */
export interface SpanProcessorLike {
  onStart(span: unknown, parentContext: unknown): void;
  onEnd(span: unknown): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface MetricReaderLike {
  collect(options?: unknown): Promise<unknown>;
  forceFlush(options?: unknown): Promise<void>;
  shutdown(options?: unknown): Promise<void>;
}

export interface PrometheusOptions {
  /**
   * Serve `/metrics` on this port (0: any free port, see `prometheusUrl`). Default: no server of
   * its own; the host mounts `handleMetricsRequest` on the port that serves `/health` and `/ready`.
   */
  readonly port?: number;
  /** Interface for that server. Default: all interfaces, so a scraper in another container reaches it. */
  readonly host?: string;
}

export interface OtlpOptions {
  /**
   * Base URL of an OTLP/HTTP receiver (`http://collector:4318`); `/v1/metrics` and `/v1/traces`
   * are appended. Default: `OTEL_EXPORTER_OTLP_ENDPOINT` (or the per-signal
   * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` / `…_TRACES_ENDPOINT`, used as given).
   */
  readonly endpoint?: string;
  /** Metric export interval. Default `OTEL_METRIC_EXPORT_INTERVAL`, else 60 000 ms (the SDK's). */
  readonly exportIntervalMillis?: number;
  /** Extra HTTP headers (an auth token). Default: `OTEL_EXPORTER_OTLP_HEADERS`, read by the exporter. */
  readonly headers?: Record<string, string>;
}

export interface TelemetryOptions {
  /** `service.name` of the process: the component host (`woodwork-agent_001`), the CLI. Required. */
  readonly serviceName: string;
  /** More resource attributes (`service.instance.id`, `deployment.environment.name`, …). */
  readonly resourceAttributes?: Attributes;
  /** Prometheus reader. Default `{}`: on, rendered on demand, no server of its own. `false`: off. */
  readonly prometheus?: PrometheusOptions | false;
  /**
   * OTLP/HTTP (JSON) export of metrics and traces. Default: on exactly when an OTLP endpoint is in
   * the environment (see `OtlpOptions.endpoint`), so the same command exports in a cluster with
   * a collector and stays local on a laptop. `false`: off even then.
   */
  readonly otlp?: OtlpOptions | false;
  /** More metric readers (an `InMemoryMetricExporter` reader in tests). */
  readonly metricReaders?: readonly MetricReaderLike[];
  /**
   * More span processors. A tracer provider is registered only when there is a span destination
   * (OTLP or one of these): without one, spans stay non-recording and cost nothing, while trace
   * context still passes through the envelopes unchanged.
   */
  readonly spanProcessors?: readonly SpanProcessorLike[];
  /**
   * Register the providers as the process's globals (what `createMetricsEmitter` uses by default),
   * plus the async-hooks context manager and the W3C propagator. Default true.
   */
  readonly registerGlobal?: boolean;
  /** Where OTLP settings are read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface Telemetry extends AsyncDisposable {
  readonly meterProvider: MeterProvider;
  /** Null when no span destination was configured (see `TelemetryOptions.spanProcessors`). */
  readonly tracerProvider: TracerProvider | null;
  /** Whether metrics and traces are exported over OTLP. */
  readonly otlpEnabled: boolean;
  /** `http://host:port/metrics` of the server started for `prometheus.port`, else null. */
  readonly prometheusUrl: string | null;
  /** Collects now and returns the Prometheus text exposition (format 0.0.4). */
  renderPrometheus(): Promise<string>;
  /** A Node request handler answering with `renderPrometheus()`; mount it at `/metrics`. */
  handleMetricsRequest(request: IncomingMessage, response: ServerResponse): void;
  /** Exports what is pending (OTLP metrics and spans) now. */
  forceFlush(): Promise<void>;
  /** Flushes, stops exporting and serving, and unregisters the globals it registered. Idempotent. */
  shutdown(): Promise<void>;
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path}`;
}

/** Where each signal goes: the explicit endpoint, else the per-signal, else the general variable. */
function otlpUrls(otlp: OtlpOptions | false | undefined, env: Readonly<Record<string, string | undefined>>) {
  if (otlp === false) return null;
  const url = (signal: 'metrics' | 'traces', perSignal: string | undefined) => {
    if (otlp?.endpoint) return joinUrl(otlp.endpoint, `v1/${signal}`);
    if (perSignal) return perSignal;
    return env.OTEL_EXPORTER_OTLP_ENDPOINT ? joinUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT, `v1/${signal}`) : undefined;
  };
  const metrics = url('metrics', env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  const traces = url('traces', env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  return metrics || traces ? { metrics, traces } : null;
}

/**
 * Starts the OpenTelemetry SDK for this process. Call it before creating metrics emitters: an
 * emitter reads the global MeterProvider once, when it is created.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  if (typeof options?.serviceName !== 'string' || options.serviceName.length === 0) {
    throw new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'startTelemetry: serviceName must be a non-empty string');
  }
  const env = options.env ?? process.env;
  const registerGlobal = options.registerGlobal ?? true;
  const purpose = 'startTelemetry';
  const sdkMetrics = await loadPeer('@opentelemetry/sdk-metrics', purpose, () => import('@opentelemetry/sdk-metrics'));
  const resources = await loadPeer('@opentelemetry/resources', purpose, () => import('@opentelemetry/resources'));
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ ...options.resourceAttributes, 'service.name': options.serviceName }));

  const readers = [...(options.metricReaders ?? [])] as MetricReader[];
  let prometheus: { collect: () => Promise<string> } | null = null;
  if (options.prometheus !== false) {
    const exporter = await loadPeer('@opentelemetry/exporter-prometheus', 'the Prometheus endpoint', () =>
      import('@opentelemetry/exporter-prometheus'),
    );
    const reader = new exporter.PrometheusExporter({ preventServerStart: true });
    const serializer = new exporter.PrometheusSerializer();
    readers.push(reader);
    prometheus = {
      async collect() {
        const { resourceMetrics } = await reader.collect();
        return serializer.serialize(resourceMetrics);
      },
    };
  }

  const urls = otlpUrls(options.otlp, env);
  const headers = options.otlp ? options.otlp.headers : undefined;
  if (urls?.metrics) {
    const { OTLPMetricExporter } = await loadPeer('@opentelemetry/exporter-metrics-otlp-http', 'OTLP metrics export', () =>
      import('@opentelemetry/exporter-metrics-otlp-http'),
    );
    const configuredInterval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
    readers.push(
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: urls.metrics, ...(headers ? { headers } : {}) }),
        exportIntervalMillis:
          (options.otlp ? options.otlp.exportIntervalMillis : undefined) ??
          (configuredInterval > 0 ? configuredInterval : 60_000),
      }),
    );
  }

  const spanProcessors = [...(options.spanProcessors ?? [])] as SpanProcessor[];
  if (urls?.traces) {
    const { OTLPTraceExporter } = await loadPeer('@opentelemetry/exporter-trace-otlp-http', 'OTLP trace export', () =>
      import('@opentelemetry/exporter-trace-otlp-http'),
    );
    const { BatchSpanProcessor } = await loadPeer('@opentelemetry/sdk-trace', 'OTLP trace export', () =>
      import('@opentelemetry/sdk-trace'),
    );
    spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: urls.traces, ...(headers ? { headers } : {}) }) }));
  }
  let tracerProvider: import('@opentelemetry/sdk-trace').TracerProvider | null = null;
  // SDK 3 dropped NodeTracerProvider and its register(): Node's context manager and the W3C
  // propagator are set up here, as its register() did.
  let registerTracing = () => {};
  if (spanProcessors.length > 0) {
    const sdkTrace = await loadPeer('@opentelemetry/sdk-trace', 'tracing', () => import('@opentelemetry/sdk-trace'));
    const contextHooks = await loadPeer('@opentelemetry/context-async-hooks', 'tracing', () => import('@opentelemetry/context-async-hooks'));
    const core = await loadPeer('@opentelemetry/core', 'tracing', () => import('@opentelemetry/core'));
    const provider = new sdkTrace.TracerProvider({ resource, spanProcessors });
    tracerProvider = provider;
    registerTracing = () => {
      if (traceApi.setGlobalTracerProvider(provider)) {
        contextApi.setGlobalContextManager(new contextHooks.AsyncLocalStorageContextManager().enable());
        propagationApi.setGlobalPropagator(
          new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }),
        );
      }
    };
  }

  const meterProvider = new sdkMetrics.MeterProvider({ resource, readers });
  if (registerGlobal) {
    if (!metricsApi.setGlobalMeterProvider(meterProvider)) {
      await meterProvider.shutdown();
      throw new WoodworkMetricsError(
        'WW_METRICS_ALREADY_STARTED',
        'startTelemetry: a global MeterProvider is already registered; shut the previous telemetry down first, or pass registerGlobal: false',
      );
    }
    registerTracing();
  }

  let server: Server | null = null;
  let prometheusUrl: string | null = null;
  const handleMetricsRequest = (_request: IncomingMessage, response: ServerResponse) => {
    if (!prometheus) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('prometheus is turned off\n');
      return;
    }
    prometheus.collect().then(
      (text) => response.writeHead(200, { 'content-type': prometheusContentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`# collection failed: ${String(error)}\n`),
    );
  };
  const prometheusOptions = options.prometheus === false ? undefined : options.prometheus;
  if (prometheusOptions?.port !== undefined) {
    const started = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method === 'GET' && path === '/metrics') handleMetricsRequest(request, response);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve, reject) => {
      started.once('error', reject);
      started.listen(prometheusOptions.port, prometheusOptions.host, () => resolve());
    });
    started.unref();
    server = started;
    const address = started.address() as AddressInfo;
    const host = prometheusOptions.host ?? '127.0.0.1';
    prometheusUrl = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/metrics`;
  }

  let stopped: Promise<void> | null = null;
  const shutdown = () =>
    (stopped ??= (async () => {
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      await Promise.all([meterProvider.shutdown(), tracerProvider?.shutdown()]);
      if (registerGlobal) {
        metricsApi.disable();
        if (tracerProvider) {
          traceApi.disable();
          contextApi.disable();
          propagationApi.disable();
        }
      }
    })());

  return {
    meterProvider,
    tracerProvider,
    otlpEnabled: urls !== null,
    prometheusUrl,
    renderPrometheus: () => {
      if (!prometheus) return Promise.reject(new WoodworkMetricsError('WW_METRICS_INVALID_OPTION', 'renderPrometheus: prometheus is turned off'));
      return prometheus.collect();
    },
    handleMetricsRequest,
    forceFlush: async () => {
      await Promise.all([meterProvider.forceFlush(), tracerProvider?.forceFlush()]);
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
