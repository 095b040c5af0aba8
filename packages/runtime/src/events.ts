/**
 * The events a session carries (noun.verb, as architecture.md lists them) and the payload
 * conventions the built-in components follow. Components may emit other noun.verb events; these are
 * the ones the runtime itself emits or gives meaning to.
 */
import type { StreamChunkPayload } from '@woodwork/stream';
import type { ErrorLocation, SerializedRuntimeError } from './errors.js';

export const EventTypes = {
  /** An input component accepted input; payload `{ input: "…", context? }` for text, or what was sent. */
  inputReceived: 'input.received',
  agentThought: 'agent.thought',
  agentAction: 'agent.action',
  toolCall: 'tool.call',
  toolObservation: 'tool.observation',
  agentStepComplete: 'agent.step_complete',
  /** An llm's or agent's answer. */
  agentResponse: 'agent.response',
  /** A message failed: a pipe threw, `handle` threw, a module could not load. Payload `AgentErrorPayload`. */
  agentError: 'agent.error',
  /** One chunk of a stream (`is_stream`, `stream_id`, `chunk_index`, `is_final` on the envelope). Payload `StreamChunkPayload`. */
  streamChunk: 'stream.chunk',
  /**
   * On the bus only: consecutive `stream.chunk` events of one stream in one envelope (payload
   * `StreamChunksPayload`), published when chunks queue up behind the publish in flight. Readers of
   * a session (`events()`, the gateway) and hooks get them as the `stream.chunk` events they are.
   */
  streamChunks: 'stream.chunks',
  /**
   * A stream starts over: its producer's host died mid-stream and the message that produces it was
   * handed to another instance, which produces it again from chunk 0 under the same `stream_id`.
   * Clients drop the partial text of that stream they have shown. Comes before the new producer's
   * first `stream.chunk`. Payload `StreamRestartedPayload`.
   */
  streamRestarted: 'stream.restarted',
  metricsComponentPerformance: 'metrics.component_performance',
  sessionStarted: 'session.started',
  sessionEnded: 'session.ended',
  /**
   * A branch of a turn reached its end: the payload is the reply (what the output delivered, or the
   * last component's result when nothing follows it). `component_source` is that component.
   */
  sessionReplied: 'session.replied',
  /** Every branch of a turn has replied or failed: nothing more will come for this input. Payload `TurnCompletedPayload`. */
  turnCompleted: 'turn.completed',
  /** What a call to another component carries unless the caller names another event. */
  componentCall: 'component.call',
  // Failures contained per component (see resilience.ts and the README).
  /** A handling ran past the component's `timeout` and was aborted. Payload `ComponentTimeoutPayload`. */
  componentTimeout: 'component.timeout',
  /** A handling failed with a retryable error and is tried again after a wait. Payload `ComponentRetryPayload`. */
  componentRetry: 'component.retry',
  /** A circuit breaker opened: calls to that downstream fail at once for its cooldown. Payload `CircuitPayload`. */
  circuitOpened: 'circuit.opened',
  /** The cooldown passed: one trial call goes through. Payload `CircuitPayload`. */
  circuitHalfOpen: 'circuit.half_open',
  /** A trial call succeeded: the circuit is closed again. Payload `CircuitPayload`. */
  circuitClosed: 'circuit.closed',
  /** The message was answered with the component's `fallback` instead of failing. Payload `ComponentFallbackPayload`. */
  componentFallback: 'component.fallback',
  /** The component is at its `max_concurrency`: this message waits for a slot. Payload `ComponentSaturatedPayload`. */
  componentSaturated: 'component.saturated',
} as const;

export type RuntimeEventType = (typeof EventTypes)[keyof typeof EventTypes];

/** The payload of `agent.error`: what failed, where, and what to do. */
export interface AgentErrorPayload {
  readonly error: SerializedRuntimeError;
  /** The component the message failed in. */
  readonly component: string;
  /**
   * What failed: one of the component's pipes, its `handle`, a stream, routing the result on, a
   * call — or `dead_letter`: the bus gave up on the message (it crashed its hosts `maxAttempts`
   * times, or could not be handled at all) and put it in the dead-letter topic.
   */
  readonly stage: 'pipe' | 'handle' | 'stream' | 'route' | 'call' | 'dead_letter';
  /** For a pipe: which one, as written in the file. */
  readonly pipe?: { readonly module: string; readonly export: string; readonly event: string; readonly location: ErrorLocation };
  /** Where the failing thing is declared in the `.ww` file. */
  readonly location?: ErrorLocation;
  /** The `message_id` of the message that failed. */
  readonly message_id: string;
}

/**
 * The payload of `stream.chunk` events on the session's events: @woodwork/stream's wire format
 * (`data_type`, `data` — base64 for binary, with `encoding` and `media_type`). The envelope
 * carries `stream_id`, `chunk_index` and `is_final`; the final marker has `data_type: null`.
 * Hooks never get that marker: to them the last chunk with data is the one marked `is_final`.
 */
export type { StreamChunkPayload } from '@woodwork/stream';

/**
 * The payload of a `stream.chunks` envelope: the chunks of `stream.chunk` events from the envelope's
 * `chunk_index` on, one after another; the envelope's `is_final` belongs to the last.
 */
export interface StreamChunksPayload {
  readonly chunks: readonly StreamChunkPayload[];
}

/** `component.timeout`: which limit was hit, and the key that sets it. */
/** The payload of `stream.restarted`. */
export interface StreamRestartedPayload {
  readonly stream_id: string;
  /** The producing component. */
  readonly component: string;
  /** The delivery attempt of the message that produces the stream again (2 or more). */
  readonly attempt: number;
  /** The `message_id` of that message. */
  readonly message_id: string;
  readonly reason: string;
}

export interface ComponentTimeoutPayload {
  readonly component: string;
  readonly limit_ms: number;
  /** The `.ww` key to raise: `timeout`. */
  readonly key: 'timeout';
  /** The try that timed out (1 for the first). */
  readonly attempt: number;
  readonly message_id: string;
}

/** `component.retry`: the try that failed, why, and how long until the next. */
export interface ComponentRetryPayload {
  readonly component: string;
  readonly attempt: number;
  readonly next_attempt: number;
  /** Of `retry.attempts`. */
  readonly attempts: number;
  readonly delay_ms: number;
  readonly error: SerializedRuntimeError;
  readonly message_id: string;
}

/** `circuit.opened`, `circuit.half_open`, `circuit.closed`. */
export interface CircuitPayload {
  readonly component: string;
  /** The component's own name for the breaker around its `handle`, else the name given to `context.downstream()`. */
  readonly downstream: string;
  readonly state: 'open' | 'half_open' | 'closed';
  /** `circuit.opened`: the failures in a row that opened it, the cooldown, and the last error. */
  readonly failures?: number;
  readonly cooldown_ms?: number;
  readonly error?: SerializedRuntimeError;
}

/** `component.fallback`: why the fallback answered instead of the component. */
export interface ComponentFallbackPayload {
  readonly component: string;
  /**
   * `circuit_open`: the circuit was open; `timeout` / `retries_exhausted`: the last try timed out /
   * failed with a retryable error; `downstream_failed`: a `context.downstream()` call failed with an
   * error its `isFailure` counted (not retried by the host).
   */
  readonly reason: 'circuit_open' | 'timeout' | 'retries_exhausted' | 'downstream_failed';
  /** For `circuit_open` and `downstream_failed`: which downstream. */
  readonly downstream?: string;
  /** The error the fallback stands in for. */
  readonly error: SerializedRuntimeError;
  readonly message_id: string;
}

/** `component.saturated`: the message waits for one of `limit` slots. */
export interface ComponentSaturatedPayload {
  readonly component: string;
  readonly limit: number;
  readonly in_flight: number;
  /** Messages waiting, this one included. */
  readonly waiting: number;
  readonly message_id: string;
}

export interface TurnCompletedPayload {
  /** The turn's id: the trace id of its envelopes. */
  readonly turn_id: string;
}

export interface SessionEndedPayload {
  readonly reason: string;
}

const TEXT_FIELDS = ['text', 'input', 'response', 'output', 'content', 'message', 'data'] as const;

/**
 * The text of a payload: a string is itself; an object gives its first string field among `text`,
 * `input`, `response`, `output`, `content`, `message`, `data`; null and undefined give `''`; anything
 * else is JSON. This is how components that work on text (transforms, outputs, llms) read messages
 * whatever shape the previous component or a pipe gave them.
 */
export function textOf(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  if (payload === null || payload === undefined) return '';
  if (typeof payload === 'object' && !Array.isArray(payload)) {
    const record = payload as Record<string, unknown>;
    for (const field of TEXT_FIELDS) {
      if (typeof record[field] === 'string') return record[field] as string;
    }
  }
  if (typeof payload === 'number' || typeof payload === 'boolean') return String(payload);
  try {
    return JSON.stringify(payload) ?? '';
  } catch {
    return String(payload);
  }
}

/**
 * The payload with its text replaced, keeping its shape: a string becomes `text`; an object gets
 * `text` in the field `textOf` read it from (other fields kept); anything else becomes `text`.
 * Transforms use it so that fields a pipe added upstream travel on.
 */
export function withText(payload: unknown, text: string): unknown {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload)) {
    const record = payload as Record<string, unknown>;
    for (const field of TEXT_FIELDS) {
      if (typeof record[field] === 'string') return { ...record, [field]: text };
    }
  }
  return text;
}

/**
 * The payload `runtime.send` puts on the wire for its input, as the design document's
 * `input.received` has it: a string becomes `{ input: "…" }`; an object travels as it is (the API
 * gateway adds `context`); nothing is `null`. Components read the text with `textOf`.
 */
export function inputPayload(input: unknown): unknown {
  return typeof input === 'string' ? { input } : (input ?? null);
}

/**
 * Whether an event type matches a pattern of a pipe or hook: `*` matches all, `agent.*` matches
 * `agent.thought` and `agent.x.y` (not `agent`), anything else matches itself.
 */
export function matchesEvent(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}
