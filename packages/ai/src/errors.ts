/**
 * Errors of @woodwork/ai. They are `WoodworkRuntimeError`s (same `Symbol.for` marker, so
 * `WoodworkRuntimeError.isInstance` holds across installs), which is what makes the runtime carry
 * their `code`, `hint`, component and location into the session's `agent.error` event and lets the
 * CLI print them without a stack: a model that refuses a key is the user's to fix, not a crash.
 *
 * No message, hint or cause of these errors ever holds an API key or a bearer token: provider
 * errors are summarised (status, the provider's own error text with anything key-like masked), and
 * the original error is not kept as `cause`, because a cause travels into logs as it is.
 */
import { WoodworkRuntimeError, type ErrorLocation, type RuntimeErrorCode } from '@woodwork/runtime';

export type AiErrorCode =
  /** No API key: neither `api_key` nor the provider's environment variable is set. */
  | 'WW_AI_KEY_MISSING'
  /** The provider refused the key (401) or the key may not use the model (403). */
  | 'WW_AI_AUTH'
  /** 429 after the retries (each waited as long as `retry-after` asked). */
  | 'WW_AI_RATE_LIMITED'
  /** The provider failed (5xx) after the retries. */
  | 'WW_AI_PROVIDER_ERROR'
  /** The provider rejected the request (400, 404: an unknown model, a bad option). */
  | 'WW_AI_BAD_REQUEST'
  /** The server could not be reached (connection refused, DNS). */
  | 'WW_AI_CONNECTION'
  /** The connection dropped while the reply was streaming. */
  | 'WW_AI_STREAM_INTERRUPTED'
  /** No first token within `first_token_timeout_ms`, or the whole reply took longer than `timeout_ms`. */
  | 'WW_AI_TIMEOUT'
  /** A prompt file is missing or unreadable. */
  | 'WW_AI_PROMPT'
  /** The component's config cannot work (a provider-specific value that is wrong). */
  | 'WW_AI_CONFIG'
  /** A memory component refused or failed a read or write. */
  | 'WW_AI_MEMORY'
  /** `llm local`: no model file at the path, an hf: reference neither in the cache nor downloadable, or a file that does not load. */
  | 'WW_AI_MODEL_NOT_FOUND'
  /** A tool failed (the function threw, the input did not match its schema); agents show it to the model. */
  | 'WW_AI_TOOL_FAILED'
  /** An agent used all of `max_steps` and the model still asked for tools. */
  | 'WW_AI_MAX_STEPS'
  /** A pipe on an agent's `agent.action`, `tool.call` or `tool.observation` threw. */
  | 'WW_AI_PIPE_FAILED'
  /** `environment coding` could not prepare its workspace: the clone failed, a setup or startup script failed. */
  | 'WW_AI_ENVIRONMENT'
  /** No sandbox (bubblewrap) can run here and the environment did not say `sandbox = "none"`: commands are refused. */
  | 'WW_AI_SANDBOX_UNAVAILABLE'
  /** A knowledge base could not read, write, index or query its documents (a path outside its folder, the vector store unreachable). */
  | 'WW_AI_KNOWLEDGE_BASE';

export interface AiErrorOptions {
  readonly hint?: string;
  readonly component?: string;
  readonly location?: ErrorLocation;
  readonly sessionId?: string;
  readonly isRetryable?: boolean;
  readonly userError?: boolean;
  /** The HTTP status the provider answered with, when there was one. */
  readonly status?: number;
}

/** An error of an AI component; `code` is one of `AiErrorCode`. */
export class WoodworkAiError extends WoodworkRuntimeError {
  readonly aiCode: AiErrorCode;
  readonly status: number | undefined;

  constructor(code: AiErrorCode, message: string, options: AiErrorOptions = {}) {
    // The runtime's code type lists its own codes; ours travel in the same field.
    super(code as unknown as RuntimeErrorCode, message, {
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.component === undefined ? {} : { component: options.component }),
      ...(options.location === undefined ? {} : { location: options.location }),
      ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
      isRetryable: options.isRetryable ?? false,
      userError: options.userError ?? true,
    });
    this.aiCode = code;
    this.status = options.status;
  }

  static isAiError(value: unknown): value is WoodworkAiError {
    return WoodworkRuntimeError.isInstance(value) && typeof value.code === 'string' && value.code.startsWith('WW_AI_');
  }
}

const KEY_LIKE = /\b(sk-[A-Za-z0-9_-]{6,}|sk-ant-[A-Za-z0-9_-]{6,}|Bearer\s+[A-Za-z0-9._~+/=-]{6,})/g;

/**
 * Masks anything that looks like a key in text that came from a provider (its error message), and
 * the exact secrets given, so an error body that echoes a key never reaches a log.
 */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out.replace(KEY_LIKE, '[redacted]');
}
