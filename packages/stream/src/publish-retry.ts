/**
 * Riding out a broker restart: what the bus failed to take with a retryable error (WoodworkBusError
 * `isRetryable`: Redis reconnecting, a Kafka publish outlasting its confirmation timeout) is
 * published again, with backoff, until it goes through, the manager's `publishRetryMs` runs out
 * or the work it belongs to stops — as the Woodwork runtime's hosts do with their own messages.
 * Callers only come here from a failed publish: one that succeeds costs nothing more.
 */

/** The bus says trying again may succeed (a broker restarting, a timeout), not that the message is wrong. */
export function isRetryable(error: unknown): boolean {
  return (error as { isRetryable?: unknown } | null)?.isRetryable === true;
}

export interface PublishRetryOptions {
  /** How long after the first failure to keep trying (`publishRetryMs`): no try starts later; one under way is let finish. */
  readonly retryMs: number;
  /** Stops trying (the stream failed or was closed, the manager closes). */
  readonly signal: AbortSignal;
  /** Once, before the first try again: how long trying may go on. */
  readonly onRetrying?: (error: unknown, forMs: number) => void;
}

export type PublishRetryOutcome =
  | { readonly published: true }
  | {
      readonly published: false;
      /** The last failure: what to report. */
      readonly error: unknown;
      /** Why it stopped: not retryable, the bound ran out, or the signal aborted. */
      readonly reason: 'not-retryable' | 'bound' | 'stopped';
      readonly tries: number;
      /** Since the first failure. */
      readonly elapsedMs: number;
    };

const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;

/**
 * Calls `publish` again after `firstError` (one try already failed) until it succeeds. Backoff
 * 0.2 s doubling to 5 s, ±20 % so that the streams of a process do not hit a broker that comes
 * back all in the same millisecond.
 */
export async function publishAgain(publish: () => Promise<unknown>, firstError: unknown, options: PublishRetryOptions): Promise<PublishRetryOutcome> {
  const began = Date.now();
  const giveUpAt = began + options.retryMs;
  let error = firstError;
  let delayMs = FIRST_DELAY_MS;
  for (let tries = 1; ; tries++) {
    const waitMs = delayMs * (0.8 + 0.4 * Math.random());
    const reason = !isRetryable(error) ? 'not-retryable' : options.signal.aborted ? 'stopped' : Date.now() + waitMs >= giveUpAt ? 'bound' : undefined;
    if (reason !== undefined) return { published: false, error, reason, tries, elapsedMs: Date.now() - began };
    if (tries === 1) options.onRetrying?.(error, giveUpAt - Date.now());
    await pause(waitMs, options.signal);
    if (options.signal.aborted) return { published: false, error, reason: 'stopped', tries, elapsedMs: Date.now() - began };
    delayMs = Math.min(delayMs * 2, MAX_DELAY_MS);
    try {
      await publish();
      return { published: true };
    } catch (next) {
      error = next;
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** "12.3 s" / "2 min": how long something was tried, in an error message. */
export function formatDuration(ms: number): string {
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** The advice every "gave up" error ends with. */
export function outageHint(retryMs: number): string {
  return `check that the bus's broker is up and reachable from this process; a longer outage can be bridged with publishRetryMs (now ${formatDuration(retryMs)})`;
}
