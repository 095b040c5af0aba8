/**
 * What a provider said, as an error the user can act on. The AI SDK reports HTTP failures as
 * `APICallError` (status, headers, the provider's body), gives up after retries with `RetryError`
 * (holding each attempt's error) and reports a broken connection as the fetch error it got; these
 * become `WoodworkAiError`s that name the component, the provider, the model, the session and the
 * key's *variable* — the key itself, and anything key-like in the provider's text, is masked.
 */
import { APICallError, RetryError } from 'ai';
import type { ComponentInfo } from '@woodwork/runtime';
import { redact, WoodworkAiError, type AiErrorCode } from '../errors.js';
import type { LlmProvider } from './provider.js';

export interface ErrorScene {
  readonly component: ComponentInfo;
  readonly provider: LlmProvider;
  readonly model: string;
  /** The environment variable the key came from, when known. */
  readonly keySource: string | undefined;
  /** Whether the key was written in the file (`api_key`) rather than taken from the provider's variable. */
  readonly fileKey: boolean;
  readonly secrets: readonly (string | undefined)[];
  readonly sessionId?: string;
  readonly baseUrl: string | undefined;
}

function who(scene: ErrorScene): string {
  return `\`${scene.component.name}\` (llm ${scene.provider.type}, model ${scene.model})`;
}

function options(scene: ErrorScene, hint: string, status?: number) {
  return {
    component: scene.component.name,
    location: scene.component.location,
    hint,
    ...(scene.sessionId === undefined ? {} : { sessionId: scene.sessionId }),
    ...(status === undefined ? {} : { status }),
  };
}

/** The provider's own explanation from an error body (`{ error: { message } }` and its cousins). */
function providerText(error: APICallError, scene: ErrorScene): string {
  let text = '';
  const data = error.data as { error?: { message?: unknown } | string; message?: unknown } | undefined;
  if (typeof data?.error === 'object' && typeof data.error?.message === 'string') text = data.error.message;
  else if (typeof data?.error === 'string') text = data.error;
  else if (typeof data?.message === 'string') text = data.message;
  else if (typeof error.responseBody === 'string' && error.responseBody.length < 300) text = error.responseBody;
  text = redact(text.trim(), scene.secrets);
  return text === '' ? '' : `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

function keyPlace(scene: ErrorScene): string {
  if (scene.keySource) return scene.keySource;
  return scene.fileKey ? `the value of \`api_key\` in the .ww file` : 'its api_key';
}

function fromApiCall(scene: ErrorScene, error: APICallError, attempts: number): WoodworkAiError {
  const status = error.statusCode;
  const label = scene.provider.label;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (status !== undefined && status < 400) {
    return make('WW_AI_STREAM_INTERRUPTED', scene, `the reply of ${who(scene)} broke off before its first token: ${redact(causeText(error), scene.secrets)}`, 'the connection to the provider dropped; send the message again');
  }
  if (status === undefined) {
    return make('WW_AI_CONNECTION', scene, `${who(scene)} could not reach ${label} at ${scene.baseUrl ?? origin(error.url)}${tries}: ${redact(causeText(error), scene.secrets)}`, 'check `base_url`, the network, and that the server is running and reachable');
  }
  if (status === 401 || status === 403) {
    return make(
      'WW_AI_AUTH',
      scene,
      `${label} refused the API key of ${who(scene)} (${status})${providerText(error, scene)}`,
      status === 401 ? `check ${keyPlace(scene)}: the key is wrong, revoked or for another provider` : `the key in ${keyPlace(scene)} may not use model ${scene.model}`,
      status,
    );
  }
  if (status === 429) {
    const after = error.responseHeaders?.['retry-after'];
    return make('WW_AI_RATE_LIMITED', scene, `${label} is rate-limiting ${who(scene)} (429)${tries}${providerText(error, scene)}`, `wait${after ? ` (${label} asked for ${after} s)` : ''} and try again, raise \`max_retries\`, or check the account's limits`, status);
  }
  if (status >= 500) {
    return make('WW_AI_PROVIDER_ERROR', scene, `${label} failed for ${who(scene)} (${status})${tries}${providerText(error, scene)}`, `the provider's side failed; try again later, or raise \`max_retries\``, status);
  }
  return make(
    'WW_AI_BAD_REQUEST',
    scene,
    `${label} rejected the request of ${who(scene)} (${status})${providerText(error, scene)}`,
    status === 404 ? `check \`model\` (${scene.model}) and \`base_url\`` : 'check the component\'s keys (model, temperature, max_tokens, provider_options)',
    status,
  );
}

/** Scheme, host and port only: some providers put a key in the query string. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'its API';
  }
}

function make(code: AiErrorCode, scene: ErrorScene, message: string, hint: string, status?: number): WoodworkAiError {
  return new WoodworkAiError(code, message, options(scene, hint, status));
}

function causeText(error: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = error;
  const parts: string[] = [];
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const code = (current as { code?: unknown }).code;
    // The SDK repeats its cause in its own message ("Cannot connect to API: getaddrinfo ENOTFOUND …").
    const message = current.message;
    if (!parts.some((part) => part.includes(message))) parts.push(message);
    if (typeof code === 'string' && !parts.some((part) => part.includes(code))) parts.push(code);
    current = current.cause;
  }
  return parts.join(': ') || String(error);
}

/** Any error from a model call, before the first token, as a `WoodworkAiError`. */
export function describeProviderError(scene: ErrorScene, error: unknown): WoodworkAiError {
  if (WoodworkAiError.isAiError(error)) return error;
  let attempts = 1;
  let last = error;
  if (RetryError.isInstance(error)) {
    attempts = error.errors.length;
    last = error.lastError;
  }
  if (APICallError.isInstance(last)) return fromApiCall(scene, last, attempts);
  if (isAbort(last)) {
    return make('WW_AI_STREAM_INTERRUPTED', scene, `the call of ${who(scene)} was cancelled: every reader stopped or the component is stopping`, 'nothing to do unless it was unexpected');
  }
  return make('WW_AI_PROVIDER_ERROR', scene, `${who(scene)} failed: ${redact(causeText(last), scene.secrets)}`, 'see the message; if it persists, report it with the provider and model');
}

/** The connection dropped (or the provider sent an error) after `chunks` text chunks had arrived. */
export function interruptedError(scene: ErrorScene, error: unknown, chunks: number): WoodworkAiError {
  // A 2xx APICallError is the SDK saying the body of a successful response broke ("Failed to
  // process successful response"): that is the interruption itself, not an HTTP failure.
  if (APICallError.isInstance(error) && error.statusCode !== undefined && error.statusCode >= 400) return describeProviderError(scene, error);
  return make(
    'WW_AI_STREAM_INTERRUPTED',
    scene,
    `the reply of ${who(scene)} broke off after ${chunks} chunk${chunks === 1 ? '' : 's'}: ${redact(causeText(error), scene.secrets)}`,
    'the connection to the provider dropped mid-reply; the partial reply was not kept in memory — send the message again',
  );
}

export function timeoutError(scene: ErrorScene, which: 'first_token' | 'total', ms: number): WoodworkAiError {
  return which === 'first_token'
    ? make('WW_AI_TIMEOUT', scene, `${who(scene)} got no first token within ${ms} ms (first_token_timeout_ms)`, `the provider is slow or stuck; raise \`first_token_timeout_ms\` if the model needs longer`)
    : make('WW_AI_TIMEOUT', scene, `the reply of ${who(scene)} took longer than ${ms} ms (timeout_ms)`, 'raise `timeout_ms` for long replies, or lower `max_tokens`');
}

/**
 * Whether a model call's error says the provider is unhealthy: what counts towards opening its
 * circuit (`context.downstream(provider).call(…, { isFailure })`). Rate limits, 5xx, connections that
 * fail or drop, and timeouts do; a refused key or a rejected request does not — the provider
 * answered, and the caller must change something.
 */
export function isProviderFailure(error: unknown): boolean {
  if (!WoodworkAiError.isAiError(error)) return false;
  switch (error.code as AiErrorCode) {
    case 'WW_AI_RATE_LIMITED':
    case 'WW_AI_CONNECTION':
    case 'WW_AI_STREAM_INTERRUPTED':
    case 'WW_AI_TIMEOUT':
      return true;
    case 'WW_AI_PROVIDER_ERROR':
      // Without a status it is an error the SDK raised itself, not the provider's answer.
      return error.status !== undefined && error.status >= 500;
    default:
      return false;
  }
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
