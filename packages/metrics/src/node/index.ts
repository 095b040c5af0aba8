/**
 * @woodwork/metrics/node: OpenTelemetry SDK wiring for applications and the CLI. Needs the SDK
 * packages (optional peer dependencies of @woodwork/metrics) installed; libraries use the main
 * entry only.
 */
export { prometheusContentType, startTelemetry } from './telemetry.js';
export type { MetricReaderLike, OtlpOptions, PrometheusOptions, SpanProcessorLike, Telemetry, TelemetryOptions } from './telemetry.js';
