/**
 * Lengths of time in `.ww` files: milliseconds as a number, or a string with a unit, so a user
 * writes `timeout = "90s"` instead of counting zeros. One parser for the analyser (which checks
 * and normalises what the file says) and for the runtime (which reads values that came from the
 * environment, `timeout = $TIMEOUT`, only at load time).
 */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$/;

/**
 * Milliseconds of a duration (`30000`, `"30000"`, `"500ms"`, `"30s"`, `"1.5m"`, `"1h"`), or
 * undefined when the value is not one. With `off`, `"off"` and `false` read as 0.
 */
export function parseDuration(value: unknown, options: { readonly off?: boolean } = {}): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (options.off && (value === false || (typeof value === 'string' && value.trim().toLowerCase() === 'off'))) return 0;
  if (typeof value !== 'string') return undefined;
  const match = PATTERN.exec(value.replace(/_/g, ''));
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

/** A duration for people: `250 ms`, `30 s`, `5 min`, `1 h`. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1_000) return `${milliseconds} ms`;
  if (milliseconds < 60_000 || milliseconds % 60_000 !== 0) return `${+(milliseconds / 1_000).toFixed(3)} s`;
  if (milliseconds < 3_600_000 || milliseconds % 3_600_000 !== 0) return `${milliseconds / 60_000} min`;
  return `${milliseconds / 3_600_000} h`;
}
