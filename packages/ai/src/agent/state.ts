/**
 * The durable state of an agent turn, kept in the session store (`context.session`, Redis when
 * distributed) and written as each piece finishes: the model's answer of a step, each tool call
 * as it starts and as its observation comes back, a pause for approval. So whichever instance
 * handles the turn next — the bus redelivering the message after its host died, or the answer to
 * an approval arriving at another process — continues from the last recorded piece: finished tool
 * calls are not run again, their observations are reused.
 */
import type { ModelMessage } from 'ai';
import type { ToolApprovalRequestedPayload, ToolObservationPayload } from './events.js';

export interface CallRecord {
  readonly call_id: string;
  /** The tool's name as the model called it (after `agent.action` pipes). */
  tool: string;
  input: unknown;
  /**
   * `new`: the model asked for it; `ready`: its action and call events went out (pipes ran);
   * `running`: the call was sent; `done`: observed.
   */
  status: 'new' | 'ready' | 'running' | 'done';
  /** Waits for a person (the tool's `approval` key, or a `tool.call` pipe's `approval: true`). */
  approval?: boolean;
  /** The answer: granted, or a denial's observation already recorded. */
  approved?: boolean;
  veto?: string;
  /** Why the model's input could not be used (it did not parse or match the schema). */
  invalid?: string;
  /** Its `tool.observation` went out (after its pipes): not again on a resume. */
  observed?: boolean;
  observation?: {
    readonly status: ToolObservationPayload['status'];
    readonly output: string;
    readonly truncated?: { readonly chars: number; readonly limit: number };
    readonly duration_ms: number;
  };
}

export interface PausedApproval {
  readonly approval_id: string;
  readonly call_id: string;
  /** Epoch ms. */
  readonly expires_at: number;
  /** What the pause told the client, said again when the message that paused is delivered again. */
  readonly request?: ToolApprovalRequestedPayload;
}

export interface TurnState {
  readonly version: 1;
  readonly turn_id: string;
  /** The message being handled: a redelivery of it resumes the turn. */
  message_id: string;
  /** Messages the turn took in before `message_id` (the one that paused it, before an answer). */
  earlier_message_ids?: string[];
  status: 'running' | 'paused';
  readonly user_text: string;
  /** Everything the model is sent: memory, the user's message, each step's answer and tool results. */
  messages: ModelMessage[];
  /** Model calls completed. */
  step: number;
  /** The calls of the current step, until all are observed. */
  calls: CallRecord[];
  finish_reason: string;
  /** The text of each step, in order: the answer is their join. */
  text: string[];
  paused?: PausedApproval;
  /** How many pieces of `messages` are stored (`turn.messages.<i>`, each step's new messages). */
  pieces: number;
  /** `cache = true`: observations of finished calls by tool and input. */
  cache?: Record<string, string>;
  done: boolean;
}

/**
 * What is left of a finished turn until the next one starts: the messages it took in and its answer,
 * so a message delivered again after its host died before acknowledging it gets the same answer
 * instead of starting the turn over (and running its tools again).
 */
export interface FinishedTurn {
  readonly version: 1;
  readonly status: 'finished';
  readonly turn_id: string;
  readonly message_ids: readonly string[];
  readonly answer: string;
}

/** The state without `messages`, written as each piece of work finishes. */
export const TURN_KEY = 'turn';
/** `messages`, in pieces: `turn.messages.0`, `.1`, … — what each write added (it is most of the bytes). */
export const MESSAGES_KEY = 'turn.messages';
