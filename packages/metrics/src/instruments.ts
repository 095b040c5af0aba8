/**
 * The instrument catalogue: every instrument the emitter creates, with its OpenTelemetry name,
 * kind, unit and attributes. GenAI instruments follow the OpenTelemetry GenAI semantic
 * conventions (names, units, required attributes and advised bucket boundaries); the rest use
 * `woodwork.*` names. The README's instrument table is checked against this list by a test.
 */

/** Attribute keys used on instruments and spans. */
export const attributeKeys = {
  component: 'woodwork.component.name',
  sessionId: 'woodwork.session.id',
  eventType: 'woodwork.event_type',
  messageId: 'messaging.message.id',
  errorType: 'error.type',
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  tokenType: 'gen_ai.token.type',
  downstream: 'woodwork.downstream.name',
} as const;

export type InstrumentKind = 'histogram' | 'counter' | 'updowncounter' | 'gauge' | 'observable updowncounter';

export interface InstrumentDescriptor {
  /** OpenTelemetry instrument name; Prometheus shows it with `.` → `_` (and `_total` on counters). */
  readonly name: string;
  readonly kind: InstrumentKind;
  /** UCUM unit, as OpenTelemetry wants it (`s`, `By`, `{token}`); empty when unknown. */
  readonly unit: string;
  readonly description: string;
  /** Attribute keys on every point; `error.type` only on failures. */
  readonly attributes: readonly string[];
  /** Histogram bucket boundaries, given to the SDK as advice. */
  readonly buckets?: readonly number[];
}

const genAIAttributes = [
  attributeKeys.operationName,
  attributeKeys.providerName,
  attributeKeys.requestModel,
  attributeKeys.component,
] as const;

/** Bucket boundaries the GenAI semantic conventions advise. */
const tokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const operationDurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const firstChunkBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const perChunkBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5];
/** Woodwork's own latency buckets, in seconds: from 1 ms (a pipe) to a minute (a long agent step). */
const stepBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Chunk hand-over latency, in seconds, around the design's 50 ms per-chunk target. */
const chunkBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export const instrumentCatalogue = {
  processingDuration: {
    name: 'woodwork.component.processing.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Time a component took to process one message (one step), from start to end.',
    attributes: [attributeKeys.component, attributeKeys.errorType],
    buckets: stepBuckets,
  },
  inFlight: {
    name: 'woodwork.component.messages.in_flight',
    kind: 'updowncounter',
    unit: '{message}',
    description: 'Messages a component is processing right now (steps started and not ended).',
    attributes: [attributeKeys.component],
  },
  queueDepth: {
    name: 'woodwork.component.queue.depth',
    kind: 'gauge',
    unit: '{message}',
    description: "Messages of a component's inbox its group has not acknowledged (waiting and in hand), as its host last read them from the broker.",
    attributes: [attributeKeys.component],
  },
  connections: {
    name: 'woodwork.component.connections',
    kind: 'updowncounter',
    unit: '{connection}',
    description: 'Client connections open to an input component (the API gateway: HTTP, Server-Sent Events, WebSockets).',
    attributes: [attributeKeys.component],
  },
  retries: {
    name: 'woodwork.component.messages.retries',
    kind: 'counter',
    unit: '{retry}',
    description: 'Tries of a message that were retries: redeliveries by the bus (attempt > 1) and tries the host made again after a retryable error.',
    attributes: [attributeKeys.component],
  },
  deadLetters: {
    name: 'woodwork.component.messages.dead_lettered',
    kind: 'counter',
    unit: '{message}',
    description: 'Messages a component gave up on and sent to the dead-letter queue.',
    attributes: [attributeKeys.component],
  },
  timeouts: {
    name: 'woodwork.component.timeouts',
    kind: 'counter',
    unit: '{timeout}',
    description: "Handlings of a message that ran past the component's `timeout` and were aborted.",
    attributes: [attributeKeys.component],
  },
  fallbacks: {
    name: 'woodwork.component.fallbacks',
    kind: 'counter',
    unit: '{message}',
    description: "Messages answered with the component's `fallback` instead of failing (circuit open, or retries exhausted).",
    attributes: [attributeKeys.component],
  },
  circuitState: {
    name: 'woodwork.component.circuit.state',
    kind: 'gauge',
    unit: '{state}',
    description: 'State of a circuit breaker of a component, per downstream: 0 closed, 1 half-open, 2 open.',
    attributes: [attributeKeys.component, attributeKeys.downstream],
  },
  waiting: {
    name: 'woodwork.component.messages.waiting',
    kind: 'updowncounter',
    unit: '{message}',
    description: "Messages a component has received and that wait for a slot under its `max_concurrency`.",
    attributes: [attributeKeys.component],
  },
  chunkLatency: {
    name: 'woodwork.stream.chunk.latency',
    kind: 'histogram',
    unit: 's',
    description: 'Time from a stream chunk being produced to it being consumed by the next component.',
    attributes: [attributeKeys.component],
    buckets: chunkBuckets,
  },
  memoryUsage: {
    name: 'process.memory.usage',
    kind: 'observable updowncounter',
    unit: 'By',
    description: 'Resident set size of the host process (OpenTelemetry process semantic conventions).',
    attributes: [],
  },
  tokenUsage: {
    name: 'gen_ai.client.token.usage',
    kind: 'histogram',
    unit: '{token}',
    description: 'Number of input and output tokens used, per model call.',
    attributes: [...genAIAttributes, attributeKeys.tokenType],
    buckets: tokenBuckets,
  },
  operationDuration: {
    name: 'gen_ai.client.operation.duration',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of one GenAI operation (a model call), as the client sees it.',
    attributes: [...genAIAttributes, attributeKeys.errorType],
    buckets: operationDurationBuckets,
  },
  timeToFirstChunk: {
    name: 'gen_ai.client.operation.time_to_first_chunk',
    kind: 'histogram',
    unit: 's',
    description: 'Time from issuing a streaming model request to receiving its first chunk.',
    attributes: genAIAttributes,
    buckets: firstChunkBuckets,
  },
  timePerOutputChunk: {
    name: 'gen_ai.client.operation.time_per_output_chunk',
    kind: 'histogram',
    unit: 's',
    description: 'Time between consecutive chunks of a streaming model response, after the first.',
    attributes: genAIAttributes,
    buckets: perChunkBuckets,
  },
  cost: {
    name: 'woodwork.gen_ai.cost',
    kind: 'counter',
    unit: '{USD}',
    description: 'Estimated cost of model calls in US dollars, from token counts and the price table.',
    attributes: genAIAttributes,
  },
  custom: {
    name: 'woodwork.custom.<name>',
    kind: 'histogram',
    unit: '',
    description: 'One histogram per custom metric declared in the component\'s .ww block (unit unspecified: the name says it).',
    attributes: [attributeKeys.component],
  },
} as const satisfies Record<string, InstrumentDescriptor>;

export type InstrumentKey = keyof typeof instrumentCatalogue;

/** The instrument name of a declared custom metric. */
export function customInstrumentName(name: string): string {
  return `woodwork.custom.${name}`;
}
