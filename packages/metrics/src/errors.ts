/**
 * Errors of @woodwork/metrics. One base class with a stable `code`; `isInstance` works across
 * duplicate installs (a Symbol.for marker), so a host can tell a metrics error from its own.
 *
 * Recording a measurement never throws because of the backend (a missing SDK, a failing bus or
 * ingestion client): those are logged. What throws is a programming error the caller can fix:
 * an invalid option, or a custom metric that the component's `.ww` block does not declare.
 */
const marker = Symbol.for('woodwork.metrics.error');

export type MetricsErrorCode =
  /** An option of `createMetricsEmitter` / `startTelemetry` is invalid (message says which). */
  | 'WW_METRICS_INVALID_OPTION'
  /** `recordCustom` / `customMetric` with a name not in `customMetrics` (from `.ww`). */
  | 'WW_METRICS_UNDECLARED_CUSTOM_METRIC'
  /** `startTelemetry` needs an OpenTelemetry SDK package that is not installed. */
  | 'WW_METRICS_SDK_MISSING'
  /** `startTelemetry` was called while another telemetry is registered globally. */
  | 'WW_METRICS_ALREADY_STARTED';

export class WoodworkMetricsError extends Error {
  readonly [marker] = true;
  readonly code: MetricsErrorCode;

  constructor(code: MetricsErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'WoodworkMetricsError';
    this.code = code;
  }

  static isInstance(value: unknown): value is WoodworkMetricsError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }
}
