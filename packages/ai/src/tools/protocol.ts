/**
 * The tool protocol: how an agent and a tool component talk, over the bus, through the runtime's
 * `ComponentReference` (so a tool may run in another process or container).
 *
 *   tool.invoke('tools')                  → ToolSpec[]: what the tool offers the model
 *   tool.call({ tool, input })            → the tool's output (any JSON); throws when it failed
 *
 * A tool component (`api functions`, and the tool types that follow) answers both; an agent or an
 * llm listed in `tools` is offered as one tool named after the component, called with its text.
 * Limits (timeout, output size), approval and idempotency are declared per tool component in the
 * `.ww` file and travel in the spec, so the agent enforces them whichever process runs the tool.
 */
import type { JsonValue } from '@woodwork/runtime';

/** A JSON Schema (draft 7 / 2020-12 subset) of a tool's input object. */
export type JsonSchema = { readonly [key: string]: JsonValue };

/** One tool as the model sees it, and the limits the agent applies to it. */
export interface ToolSpec {
  /** The name the model calls it by (a function's name). */
  readonly name: string;
  readonly description: string;
  /** The input's JSON Schema: always an object schema. */
  readonly parameters: JsonSchema;
  /** Longest the agent waits for one call, in ms. Default: the agent's `tool_timeout`. */
  readonly timeout_ms?: number;
  /** Longest observation the model sees, in characters. Default: the agent's `max_observation_chars`. */
  readonly max_output_chars?: number;
  /** Every call waits for a person's yes (`approval = true`). */
  readonly approval?: boolean;
  /**
   * Running it twice does no harm (`idempotent = true`): a call in flight when the agent's host died
   * is run again; otherwise the model is told it may or may not have happened.
   */
  readonly idempotent?: boolean;
}

/** What `reference.call` sends a tool component. */
export interface ToolCallRequest {
  readonly tool: string;
  readonly input: JsonValue;
}

/** The `.ww` keys every tool component takes, besides the common ones (`timeout` is common). */
export interface ToolKeys {
  readonly approval?: boolean;
  readonly idempotent?: boolean;
  readonly max_output_chars?: number;
  readonly timeout?: number;
}

export function isToolCallRequest(value: unknown): value is ToolCallRequest {
  return typeof value === 'object' && value !== null && typeof (value as ToolCallRequest).tool === 'string';
}

/** The limits and flags of a tool component's keys, as they go into each of its specs. */
export function toolFlags(keys: ToolKeys): Pick<ToolSpec, 'approval' | 'idempotent' | 'max_output_chars' | 'timeout_ms'> {
  return {
    ...(keys.approval === true ? { approval: true } : {}),
    ...(keys.idempotent === true ? { idempotent: true } : {}),
    ...(typeof keys.max_output_chars === 'number' ? { max_output_chars: keys.max_output_chars } : {}),
    ...(typeof keys.timeout === 'number' && keys.timeout > 0 ? { timeout_ms: keys.timeout } : {}),
  };
}
