/**
 * @woodwork/metrics: measurement for every Woodwork component, on `@opentelemetry/api` only.
 * With nothing configured every measurement goes to the API's noop instruments. The SDK wiring
 * (Prometheus `/metrics`, OTLP export) is the separate entry `@woodwork/metrics/node`.
 */
export { createMetricsEmitter, errorTypeOf } from './emitter.js';
export { WoodworkMetricsError } from './errors.js';
export type { MetricsErrorCode } from './errors.js';
export { componentPerformanceEventType, defaultMetricsTopic } from './events.js';
export type { ComponentPerformanceEvent, ComponentPerformancePayload, PublishFunction } from './events.js';
export { defaultIngestionModule, loadIngestionClient } from './enterprise.js';
export type {
  IngestionClient,
  IngestionClientSettings,
  IngestionModule,
  LoadIngestionClientOptions,
} from './enterprise.js';
export { attributeKeys, customInstrumentName, instrumentCatalogue } from './instruments.js';
export type { InstrumentDescriptor, InstrumentKey, InstrumentKind } from './instruments.js';
export type { MetricsLogger } from './logger.js';
export { defaultPrices, estimateCost, normalizeProviderName } from './pricing.js';
export type { ModelPrice, PriceTable, TokenUsage } from './pricing.js';
export {
  extractTraceContext,
  formatTraceparent,
  injectTraceContext,
  parseTraceparent,
} from './trace-context.js';
export type { EnvelopeTrace } from './trace-context.js';
export type {
  CircuitState,
  CustomMetric,
  GenAIOperationName,
  MetricsEmitter,
  MetricsEmitterOptions,
  MetricsStep,
  ModelMetrics,
  ModelOptions,
  StepOptions,
} from './types.js';
