/**
 * Request errors of the gateway: thrown anywhere in a handler, turned into a JSON error body with
 * the right status by the app's error handler (see `GatewayErrorCode` for the table).
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { WoodworkRuntimeError } from '../errors.js';
import type { GatewayErrorBody, GatewayErrorCode } from './types.js';

const STATUS: Record<GatewayErrorCode, ContentfulStatusCode> = {
  invalid_json: 400,
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  session_ended: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  idempotency_key_in_use: 409,
  idempotency_key_reused: 422,
  internal_error: 500,
  turn_failed: 502,
  unavailable: 503,
  timeout: 504,
};

function openAiType(code: GatewayErrorCode): string {
  if (code === 'unauthorized') return 'authentication_error';
  if (code === 'rate_limited') return 'rate_limit_error';
  if (code === 'not_found') return 'not_found_error';
  return STATUS[code] >= 500 ? 'server_error' : 'invalid_request_error';
}

export class GatewayRequestError extends Error {
  override readonly name = 'GatewayRequestError';
  readonly status: ContentfulStatusCode;

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly extra: { readonly param?: string; readonly retryAfterMs?: number } = {},
  ) {
    super(message);
    this.status = STATUS[code];
  }

  body(): GatewayErrorBody {
    return errorBody(this.code, this.message, this.extra);
  }
}

export function errorBody(code: GatewayErrorCode, message: string, extra: { readonly param?: string; readonly retryAfterMs?: number } = {}): GatewayErrorBody {
  return {
    error: {
      code,
      type: openAiType(code),
      message,
      param: extra.param ?? null,
      ...(extra.retryAfterMs === undefined ? {} : { retry_after_ms: extra.retryAfterMs }),
    },
  };
}

/** A runtime error met while serving a request, as the request error a client should see. */
export function fromRuntimeError(error: unknown): GatewayRequestError | undefined {
  if (error instanceof GatewayRequestError) return error;
  if (!WoodworkRuntimeError.isInstance(error)) return undefined;
  if (error.code === 'WW_RUNTIME_TIMEOUT') return new GatewayRequestError('timeout', 'the topology did not reply in time');
  if (error.code === 'WW_RUNTIME_SESSION') return new GatewayRequestError('session_ended', 'the session ended before the turn completed');
  if (error.code === 'WW_RUNTIME_STATE') return new GatewayRequestError('unavailable', 'the runtime is not running; try again shortly');
  return undefined;
}
