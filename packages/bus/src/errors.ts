/**
 * Errors of @woodwork/bus. One base class with a stable `code`; `isInstance` works across
 * duplicate installs (a Symbol.for marker), and `toJSON` lets an error travel in a dead letter.
 */
const marker = Symbol.for('woodwork.bus.error');

export type BusErrorCode =
  | 'WW_BUS_UNSUPPORTED_URL'
  | 'WW_BUS_DRIVER_MISSING'
  | 'WW_BUS_CONNECTION'
  | 'WW_BUS_CLOSED'
  | 'WW_BUS_INVALID_ENVELOPE'
  | 'WW_BUS_INVALID_OPTION'
  | 'WW_BUS_PUBLISH_FAILED'
  | 'WW_BUS_HANDLER_FAILED'
  | 'WW_BUS_TIMEOUT';

export class WoodworkBusError extends Error {
  readonly [marker] = true;
  readonly code: BusErrorCode;
  readonly isRetryable: boolean;

  constructor(code: BusErrorCode, message: string, options: { cause?: unknown; isRetryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'WoodworkBusError';
    this.code = code;
    this.isRetryable = options.isRetryable ?? false;
  }

  static isInstance(value: unknown): value is WoodworkBusError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }

  toJSON(): SerializedError {
    return serializeError(this);
  }
}

/** How an error is written into a dead letter or an `agent.error` payload. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(error.stack ? { stack: error.stack } : {}),
    };
  }
  return { name: 'NonError', message: String(error) };
}
