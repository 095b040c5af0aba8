/**
 * The events an `agent llm` emits, named as the classic engine named them so hooks and clients
 * written for it keep working, with their payloads. Every payload carries `turn_id` (the agent's
 * turn: the same across an approval pause and a resume on another host) and `step` (1-based: one
 * model call and the tool calls it asked for).
 *
 *   input.received          the agent took a message as a new turn (and the input component's result)
 *   agent.thought           text the model wrote before calling tools (or its reasoning)
 *   agent.action            the model decided to call a tool        — pipes may rewrite it
 *   tool.call               the call as it is about to be made      — pipes may rewrite or veto it
 *   tool.approval_requested the call waits for a person's answer
 *   tool.approval_answered  the answer (granted, denied, expired)
 *   tool.observation        what the model will see of the result  — pipes may rewrite it
 *   agent.step_complete     a step finished (its calls all observed)
 *   agent.response          the agent's answer (its result event; the payload is the text)
 *   agent.error             the turn failed (the runtime's `AgentErrorPayload`)
 */

export const AgentEvents = {
  input: 'input.received',
  thought: 'agent.thought',
  action: 'agent.action',
  toolCall: 'tool.call',
  approvalRequested: 'tool.approval_requested',
  approvalAnswered: 'tool.approval_answered',
  toolObservation: 'tool.observation',
  stepComplete: 'agent.step_complete',
  response: 'agent.response',
  error: 'agent.error',
} as const;

/**
 * The agent took a message as a new turn: its own `input.received`, so an agent's hooks on it fire
 * as in the classic engine (hooks see the events their component emits). The input component's
 * `input.received` (from `in`, say; without an input component, the runtime's) comes before it.
 */
export interface AgentInputPayload {
  readonly turn_id: string;
  /** The text of the message. */
  readonly input: string;
  /** The message as it arrived (after the agent's pipes). */
  readonly payload: unknown;
  /** Who sent it: the input component, another component, or `runtime`. */
  readonly source: string;
}

export interface AgentThoughtPayload {
  readonly turn_id: string;
  readonly step: number;
  /** What the model wrote before its tool calls, or its reasoning when the provider sends it. */
  readonly thought: string;
  readonly kind: 'text' | 'reasoning';
}

/** The model's decision to call a tool. A pipe may change `tool` and `input`. */
export interface AgentActionPayload {
  readonly turn_id: string;
  readonly step: number;
  /** The provider's id of the call; ties the call, its approval and its observation together. */
  readonly call_id: string;
  /** The tool's name as the model called it. */
  readonly tool: string;
  /** The arguments the model wrote (JSON). */
  readonly input: unknown;
}

/**
 * The call as it is about to be made. A pipe may change `input`, set `approval: true` (this call
 * waits for a person, whatever the tool's `approval` key says), or veto it: return `false`, or the
 * payload with `veto: "why"`. A vetoed call is not made; the model sees `vetoed: why`.
 */
export interface ToolCallPayload {
  readonly turn_id: string;
  readonly step: number;
  readonly call_id: string;
  readonly tool: string;
  /** The component that runs it (`api functions`, `mcp server`, an agent). */
  readonly component: string;
  readonly input: unknown;
  readonly approval?: boolean;
  readonly veto?: string;
}

export interface ToolApprovalRequestedPayload {
  readonly turn_id: string;
  readonly step: number;
  /** What the answer names (`{ approval: { id, approved } }`); the same as `call_id`. */
  readonly approval_id: string;
  readonly call_id: string;
  readonly tool: string;
  readonly component: string;
  readonly input: unknown;
  /** ISO 8601: an answer after this counts as denied (`approval_timeout`). */
  readonly expires_at: string;
  /** The question, as the terminal prints it. */
  readonly text: string;
}

export interface ToolApprovalAnsweredPayload {
  readonly turn_id: string;
  readonly approval_id: string;
  readonly call_id: string;
  readonly tool: string;
  readonly outcome: 'granted' | 'denied' | 'expired';
  readonly reason?: string;
}

/**
 * What the model sees of a call. `ok: false` for a failure, a timeout, a veto or a denial (the
 * model is told which, with the limit named); `truncated` when the output was cut to
 * `max_output_chars`. A pipe may rewrite `output`.
 */
export interface ToolObservationPayload {
  readonly turn_id: string;
  readonly step: number;
  readonly call_id: string;
  readonly tool: string;
  readonly component: string;
  readonly ok: boolean;
  /** The text the model gets. */
  readonly output: string;
  readonly status: 'ok' | 'failed' | 'timed_out' | 'vetoed' | 'denied' | 'unknown_tool' | 'interrupted';
  readonly truncated?: { readonly chars: number; readonly limit: number };
  /** The call's round trip as the agent saw it, in milliseconds to 0.01 ms (0 for calls not made). */
  readonly duration_ms: number;
  /** True when the result was recorded before a restart and reused, not run again. */
  readonly replayed?: boolean;
}

export interface AgentStepCompletePayload {
  readonly turn_id: string;
  readonly step: number;
  /** The calls of the step, in the order the model made them. */
  readonly tool_calls: readonly { readonly call_id: string; readonly tool: string; readonly status: ToolObservationPayload['status'] }[];
  readonly finish_reason: string;
  readonly usage?: { readonly input_tokens: number; readonly output_tokens: number };
}
