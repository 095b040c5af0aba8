/**
 * Polling with a deadline, for tests against real brokers: never a fixed sleep, never forever.
 */
export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Pause between checks. Default 10 ms: quick to notice, cheap on a 2-core CI machine. */
  readonly intervalMs?: number;
  /** Said when it times out, to tell which wait failed (a function is evaluated then). */
  readonly message?: string | (() => string);
}

/**
 * Resolves with the predicate's first truthy result; rejects when the deadline passes (with the
 * predicate's last error, if it threw, as the cause).
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const said = typeof options.message === 'function' ? options.message() : options.message;
      throw new Error(`waitFor timed out after ${timeoutMs} ms${said ? `: ${said}` : ''}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
