/**
 * Where the package says what it does not throw: a missing ingestion package, a failing publish.
 * By default the OpenTelemetry diagnostic logger (`diag` from `@opentelemetry/api`), silent until
 * an application sets one (`diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.DEBUG)`), the way
 * every OpenTelemetry library reports about itself.
 */
import { diag } from '@opentelemetry/api';

export interface MetricsLogger {
  debug(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
}

export function defaultLogger(): MetricsLogger {
  return diag.createComponentLogger({ namespace: '@woodwork/metrics' });
}
