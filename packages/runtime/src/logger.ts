/**
 * The runtime's logger: one line per call, `level component: message key=value …`, written to a
 * stream (stderr by default) from a minimum level up. `silentLogger` drops everything.
 */
import type { Logger } from './types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface ConsoleLoggerOptions {
  /** Lines below this level are dropped. Default `warn`: a running topology is quiet unless something is wrong. */
  readonly level?: LogLevel;
  /** Default `process.stderr`, so logs never mix with replies printed on stdout. */
  readonly stream?: NodeJS.WritableStream;
  /** Fields on every line. */
  readonly fields?: Readonly<Record<string, unknown>>;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Whether a string names a log level (for `WOODWORK_LOG_LEVEL`). */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(ORDER, value);
}

export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const minimum = ORDER[options.level ?? 'warn'];
  const stream = options.stream ?? process.stderr;
  const make = (bound: Readonly<Record<string, unknown>>): Logger => {
    const write = (level: Exclude<LogLevel, 'silent'>, message: string, fields?: Readonly<Record<string, unknown>>) => {
      if (ORDER[level] < minimum) return;
      const all = fields ? { ...bound, ...fields } : bound;
      const { component, ...rest } = all as { component?: unknown };
      const where = component === undefined ? '' : ` ${String(component)}:`;
      const tail = Object.entries(rest)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => ` ${key}=${formatValue(value)}`)
        .join('');
      stream.write(`[woodwork] ${level}${where} ${message}${tail}\n`);
    };
    return {
      debug: (message, fields) => write('debug', message, fields),
      info: (message, fields) => write('info', message, fields),
      warn: (message, fields) => write('warn', message, fields),
      error: (message, fields) => write('error', message, fields),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

const noop = () => undefined;

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger };
