/**
 * Errors of @woodwork/runtime. One class with a stable `code`; `isInstance` works across duplicate
 * installs (a `Symbol.for` marker), `toJSON` lets an error travel in an `agent.error` event.
 *
 * Every error a user can cause names the thing (component, pipe, module), the place (`file:line:col`
 * of the `.ww` file, the session) and what to do about it (`hint`). `userError` separates those
 * from bugs: the CLI prints user errors without a stack trace.
 */
const marker = Symbol.for('woodwork.runtime.error');

export type RuntimeErrorCode =
  /** The topology cannot run: no component to send input to, an unknown component name, … */
  | 'WW_RUNTIME_INVALID_TOPOLOGY'
  /** No implementation is registered for a kind/type pair the topology uses. */
  | 'WW_RUNTIME_UNKNOWN_COMPONENT_TYPE'
  /** A registration was refused (duplicate, not in the catalogue and not declared, malformed). */
  | 'WW_RUNTIME_REGISTRY'
  /** A component's `create` or `init` threw. */
  | 'WW_RUNTIME_COMPONENT_INIT'
  /** A pipe, hook or function-module path is absolute or points outside the project folder. */
  | 'WW_RUNTIME_MODULE_PATH'
  /** The module file does not exist. */
  | 'WW_RUNTIME_MODULE_NOT_FOUND'
  /** The module loaded but threw while loading, or has a syntax error. */
  | 'WW_RUNTIME_MODULE_LOAD'
  /** The module has no export of that name, or it is not a function. */
  | 'WW_RUNTIME_EXPORT_NOT_FOUND'
  /** A `.py` file is used and no `python3` is on PATH. */
  | 'WW_RUNTIME_PYTHON_MISSING'
  /** The Python bridge process failed or a Python function raised. */
  | 'WW_RUNTIME_PYTHON'
  /** A pipe threw: the message failed with an `agent.error` event. */
  | 'WW_RUNTIME_PIPE_FAILED'
  /** A hook threw (logged and counted; the chain goes on). */
  | 'WW_RUNTIME_HOOK_FAILED'
  /** A hook ran longer than `hookTimeoutMs` (logged and counted; the chain goes on). */
  | 'WW_RUNTIME_HOOK_TIMEOUT'
  /** A component's `handle` (or a method) threw. */
  | 'WW_RUNTIME_HANDLER_FAILED'
  /** A call to another component (a reference in the config) failed or timed out. */
  | 'WW_RUNTIME_CALL_FAILED'
  /** A chunk stream was aborted by its producer or cancelled. */
  | 'WW_RUNTIME_STREAM'
  /** Waiting for a turn, a call or a drain took longer than allowed, or a handling ran past the component's `timeout`. */
  | 'WW_RUNTIME_TIMEOUT'
  /** A component's (or one of its downstreams') circuit breaker is open: the message was not tried. */
  | 'WW_RUNTIME_CIRCUIT_OPEN'
  /** The session does not exist (anymore), or has ended. */
  | 'WW_RUNTIME_SESSION'
  /**
   * The bus gave up on a message to a component (it crashed the component's hosts `maxAttempts`
   * times, or the host could not handle it at all) and put it in the component's dead-letter
   * topic: the turn ends with this error instead of waiting for its timeout.
   */
  | 'WW_RUNTIME_DEAD_LETTERED'
  /**
   * The bus kept failing to take a message a component sent on (its broker down or restarting)
   * for longer than the runtime's `publishRetryMs`; the message names where it was going.
   */
  | 'WW_RUNTIME_PUBLISH_FAILED'
  /**
   * An `events()` reader fell more than `sessionHistory` events behind the live session: it got
   * every event up to the one named and must resume after it (`{ after }`, `Last-Event-ID`).
   */
  | 'WW_RUNTIME_READER_BEHIND'
  /** The runtime is not started, or is stopping or stopped. */
  | 'WW_RUNTIME_STATE'
  /** An optional driver (ioredis) is not installed. */
  | 'WW_RUNTIME_DRIVER_MISSING'
  /** An API was called with arguments of the wrong shape (a programmer mistake). */
  | 'WW_RUNTIME_INVALID_ARGUMENT';

/** A place in a `.ww` file (1-based line and column). */
export interface ErrorLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine?: number;
  readonly endColumn?: number;
}

export interface RuntimeErrorOptions {
  readonly cause?: unknown;
  /** What to do about it, one line. */
  readonly hint?: string;
  /** Where in the `.ww` file the problem is declared. */
  readonly location?: ErrorLocation;
  /** The component it happened in. */
  readonly component?: string;
  readonly sessionId?: string;
  /** True when trying again may work (a timeout, a broker blip). Default false. */
  readonly isRetryable?: boolean;
  /**
   * True when the user can fix it (their file, their module, their input); the CLI prints these
   * without a stack trace. Default true: almost everything here is about user input.
   */
  readonly userError?: boolean;
  /** For an error that stands for several problems found at once: each of them. */
  readonly problems?: readonly WoodworkRuntimeError[];
}

/** How an error is written into an `agent.error` payload or a log line (no stack by default). */
export interface SerializedRuntimeError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly hint?: string;
  readonly component?: string;
  readonly location?: ErrorLocation;
  readonly stack?: string;
}

export class WoodworkRuntimeError extends Error {
  readonly [marker] = true;
  override readonly name = 'WoodworkRuntimeError';
  readonly code: RuntimeErrorCode;
  readonly hint: string | undefined;
  readonly location: ErrorLocation | undefined;
  readonly component: string | undefined;
  readonly sessionId: string | undefined;
  readonly isRetryable: boolean;
  readonly userError: boolean;
  /** Several problems found at once (every bad module path of a topology): each, in file order. */
  readonly problems: readonly WoodworkRuntimeError[];

  constructor(code: RuntimeErrorCode, message: string, options: RuntimeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.location = options.location;
    this.component = options.component;
    this.sessionId = options.sessionId;
    this.isRetryable = options.isRetryable ?? false;
    this.userError = options.userError ?? true;
    this.problems = options.problems ?? [];
  }

  /** True for any WoodworkRuntimeError, also one from another copy of this package. */
  static isInstance(value: unknown): value is WoodworkRuntimeError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }

  toJSON(): SerializedRuntimeError {
    return serializeRuntimeError(this);
  }
}

/** `file:line:col` of a location, relative to `cwd` when given. */
export function formatLocation(location: ErrorLocation, cwd?: string): string {
  let file = location.file;
  if (cwd !== undefined && file.startsWith(cwd)) {
    const rest = file.slice(cwd.length).replace(/^[\\/]+/, '');
    if (rest !== '') file = rest;
  }
  return `${file}:${location.line}:${location.column}`;
}

/** Any thrown value as a plain JSON object (the stack only when `withStack`). */
export function serializeRuntimeError(error: unknown, withStack = false): SerializedRuntimeError {
  if (WoodworkRuntimeError.isInstance(error)) {
    return {
      name: error.name,
      message: error.message,
      code: error.code,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      ...(error.component === undefined ? {} : { component: error.component }),
      ...(error.location === undefined ? {} : { location: error.location }),
      ...(withStack && error.stack ? { stack: error.stack } : {}),
    };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(withStack && error.stack ? { stack: error.stack } : {}),
    };
  }
  return { name: 'NonError', message: typeof error === 'string' ? error : safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The message of any thrown value, without its stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : safeString(error);
}

/** Whether the bus (or a caller) may retry after this error. */
export function isRetryableError(error: unknown): boolean {
  return (error as { isRetryable?: unknown } | null)?.isRetryable === true;
}
