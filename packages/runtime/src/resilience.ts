/**
 * Failures contained per component: the pieces the host puts around every `handle` so that one slow
 * or failing component (a model provider down, a tool hanging, an MCP server flapping) costs its
 * own messages a bounded wait and nothing more — no hung sessions, no retry storms, no unbounded
 * piles of work. The `.ww` keys (`timeout`, `retry`, `circuit_breaker`, `fallback`,
 * `max_concurrency`) are declared in @woodwork/parser's catalogue; this file reads them, with the
 * runtime's defaults, and implements:
 *
 * - `CircuitBreaker`: closed → open after `failures` failures in a row within `window`; open for
 *   `cooldown`; then one trial call (half-open) decides between closed and open again. A failure is
 *   a timeout or an error marked `isRetryable` — a bug or a bad input says nothing about the
 *   downstream's health and never trips a breaker. State is per component instance, in memory.
 * - `ConcurrencyLimiter`: at most `max_concurrency` handlings at once; the rest wait in order.
 * - `backoffDelay`: exponential backoff with jitter for the host's retries.
 *
 * ## For component authors: `context.downstream(name)`
 *
 * The host already guards the component's whole `handle` with a breaker named after the
 * component. A component that talks to several things (an llm with a provider, an agent with
 * tools, an MCP client with servers) guards each call to a named downstream so that one of them
 * failing opens only its own circuit:
 *
 * ```ts
 * handle: async (message, context) => {
 *   const text = await context.downstream('openai').call((signal) => generate({ prompt: message.text, abortSignal: signal }));
 *   return text;
 * }
 * ```
 *
 * `call(work)` runs `work(signal)` — `signal` is the handling's `context.signal` (stop, `timeout`) —
 * and records its outcome on that downstream's breaker (settings: the component's
 * `circuit_breaker`). While the circuit is open it throws `WW_RUNTIME_CIRCUIT_OPEN` without calling
 * `work`; the host then answers with the component's `fallback` when it has one. Failures counted
 * by a downstream are not counted again by the component's own breaker. What counts as the
 * downstream's failure is, by default, an error marked `isRetryable`; pass `{ isFailure }` to
 * count others (a provider's 5xx or 429 after the SDK's own retries); the component's `fallback`
 * answers for those too (`component.fallback`, reason `downstream_failed`). Errors your code already
 * retried (the AI SDK's `maxRetries`) should reach the host as they are: keep `isRetryable` only
 * where trying the whole handling again makes sense, or turn the host's `retry` off for that
 * component, so that retries do not multiply.
 */
import { formatDuration, parseDuration, type TopologyComponent } from '@woodwork/parser';
import type { CircuitState } from '@woodwork/metrics';
import { WoodworkRuntimeError } from './errors.js';

export type { CircuitState } from '@woodwork/metrics';

/** The runtime's defaults for the keys, as the catalogue's descriptions state them. */
export const resilienceDefaults = Object.freeze({
  timeoutMs: 10 * 60_000,
  retry: Object.freeze({ attempts: 3, backoffMs: 250, maxBackoffMs: 30_000, jitter: 0.5 }),
  circuitBreaker: Object.freeze({ failures: 5, windowMs: 60_000, cooldownMs: 30_000 }),
});

export interface RetrySettings {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** 0–1: the share of each wait that is random. */
  readonly jitter: number;
}

export interface CircuitBreakerSettings {
  readonly failures: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

/** A component's resilience settings, read once when it starts. */
export interface ResilienceSettings {
  /** 0: no limit. */
  readonly timeoutMs: number;
  readonly retry: RetrySettings;
  /** Undefined: `circuit_breaker = false`. */
  readonly circuitBreaker: CircuitBreakerSettings | undefined;
  /** The payload given instead of an error; undefined: none. */
  readonly fallback: string | { readonly text: string } | undefined;
  /** Undefined: only the runtime's `maxInFlight` bounds the work. */
  readonly maxConcurrency: number | undefined;
}

/**
 * Reads the keys from a component's config (env resolved). The parser checked what the file says;
 * what came from the environment (`timeout = $TIMEOUT`) is checked here, so a bad value refuses the
 * start with the key and the component named.
 */
export function resilienceSettings(config: Readonly<Record<string, unknown>>, component: TopologyComponent): ResilienceSettings {
  const problem = (key: string, value: unknown, expected: string) =>
    new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', `\`${key}\` of component \`${component.name}\` must be ${expected}, found ${JSON.stringify(value)}`, {
      component: component.name,
      location: component.location,
      hint: `fix \`${key}\` in the .ww file or the environment variable it reads`,
    });
  const duration = (key: string, value: unknown, fallback: number, off = false): number => {
    if (value === undefined || value === null) return fallback;
    const milliseconds = parseDuration(value, { off });
    if (milliseconds === undefined) throw problem(key, value, `a duration ("500ms", "30s", "5m", "1h") or milliseconds${off ? ', or "off"' : ''}`);
    return milliseconds;
  };
  const count = (key: string, value: unknown, fallback: number, min: number): number => {
    if (value === undefined || value === null) return fallback;
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < min) throw problem(key, value, `a whole number of at least ${min}`);
    return number;
  };

  const defaults = resilienceDefaults;
  const rawRetry = config.retry;
  let retry: RetrySettings = defaults.retry;
  if (rawRetry === false) retry = { ...defaults.retry, attempts: 1 };
  else if (typeof rawRetry === 'number' || typeof rawRetry === 'string') retry = { ...defaults.retry, attempts: count('retry', rawRetry, defaults.retry.attempts, 1) };
  else if (isRecord(rawRetry)) {
    const jitter = rawRetry.jitter === undefined || rawRetry.jitter === null ? defaults.retry.jitter : Number(rawRetry.jitter);
    if (!(jitter >= 0 && jitter <= 1)) throw problem('retry.jitter', rawRetry.jitter, 'a number from 0 to 1');
    retry = {
      attempts: count('retry.attempts', rawRetry.attempts, defaults.retry.attempts, 1),
      backoffMs: duration('retry.backoff', rawRetry.backoff, defaults.retry.backoffMs),
      maxBackoffMs: duration('retry.max_backoff', rawRetry.max_backoff, defaults.retry.maxBackoffMs),
      jitter,
    };
  }

  const rawBreaker = config.circuit_breaker;
  let circuitBreaker: CircuitBreakerSettings | undefined = defaults.circuitBreaker;
  if (rawBreaker === false) circuitBreaker = undefined;
  else if (isRecord(rawBreaker)) {
    circuitBreaker = {
      failures: count('circuit_breaker.failures', rawBreaker.failures, defaults.circuitBreaker.failures, 1),
      windowMs: duration('circuit_breaker.window', rawBreaker.window, defaults.circuitBreaker.windowMs),
      cooldownMs: duration('circuit_breaker.cooldown', rawBreaker.cooldown, defaults.circuitBreaker.cooldownMs),
    };
  }

  const rawFallback = config.fallback;
  let fallback: ResilienceSettings['fallback'];
  if (typeof rawFallback === 'string') fallback = rawFallback;
  else if (isRecord(rawFallback) && typeof rawFallback.text === 'string') fallback = { text: rawFallback.text };
  else if (rawFallback !== undefined && rawFallback !== null) throw problem('fallback', rawFallback, 'a text or { text }');

  return Object.freeze({
    timeoutMs: duration('timeout', config.timeout, defaults.timeoutMs, true),
    retry,
    circuitBreaker,
    fallback,
    maxConcurrency: config.max_concurrency === undefined || config.max_concurrency === null ? undefined : count('max_concurrency', config.max_concurrency, 1, 1),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The wait before retry number `retry` (1 for the first retry): `backoff × 2^(retry−1)`, at most
 * `max_backoff`, of which the share `jitter` is random — so that instances that failed together
 * (a provider's outage) do not come back together.
 */
export function backoffDelay(retry: number, settings: RetrySettings, random: () => number = Math.random): number {
  const exponential = Math.min(settings.maxBackoffMs, settings.backoffMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exponential * (1 - settings.jitter * random()));
}

/** A change of a breaker's state, for the host to announce (`circuit.opened`, …). */
export type CircuitTransition = 'opened' | 'half_open' | 'closed';

/** Whether a call may go ahead: `trial` is the one call a half-open circuit lets through. */
export type Admission =
  | { readonly ok: true; readonly trial: boolean; readonly transition?: CircuitTransition }
  | { readonly ok: false; readonly retryInMs: number };

/**
 * One downstream's circuit breaker. Transitions are returned, not emitted, so that whoever caused
 * one announces it in the session it happened in; half-opening happens on the first call after
 * the cooldown (no timers to clean up).
 */
export class CircuitBreaker {
  state: CircuitState = 'closed';
  /** Times of the failures in a row, oldest first; pruned to the window. */
  private failures: number[] = [];
  private openedAt = 0;
  private trialStartedAt = 0;
  /** The failure count when the circuit last opened, for the event. */
  lastFailures = 0;

  constructor(
    readonly name: string,
    readonly settings: CircuitBreakerSettings,
    private readonly now: () => number = Date.now,
  ) {}

  admit(): Admission {
    const now = this.now();
    if (this.state === 'closed') return { ok: true, trial: false };
    if (this.state === 'open') {
      const retryInMs = this.openedAt + this.settings.cooldownMs - now;
      if (retryInMs > 0) return { ok: false, retryInMs };
      this.state = 'half_open';
      this.trialStartedAt = now;
      return { ok: true, trial: true, transition: 'half_open' };
    }
    // Half-open with a trial in flight: the others wait their turn, unless the trial itself hung
    // for a whole cooldown (a handling without a timeout), which must not hold the circuit forever.
    if (now - this.trialStartedAt < this.settings.cooldownMs) return { ok: false, retryInMs: this.trialStartedAt + this.settings.cooldownMs - now };
    this.trialStartedAt = now;
    return { ok: true, trial: true };
  }

  /** The downstream answered (an error that is not its fault counts as an answer). */
  success(): CircuitTransition | undefined {
    this.failures = [];
    if (this.state === 'closed') return undefined;
    this.state = 'closed';
    return 'closed';
  }

  failure(): CircuitTransition | undefined {
    const now = this.now();
    if (this.state === 'half_open') return this.open(now, this.failures.length + 1);
    if (this.state === 'open') return undefined;
    this.failures.push(now);
    while (this.failures.length > 0 && now - this.failures[0]! > this.settings.windowMs) this.failures.shift();
    return this.failures.length >= this.settings.failures ? this.open(now, this.failures.length) : undefined;
  }

  private open(now: number, failures: number): CircuitTransition {
    this.state = 'open';
    this.openedAt = now;
    this.lastFailures = failures;
    this.failures = [];
    return 'opened';
  }

  /** The error a call gets while the circuit is open. */
  openError(component: TopologyComponent, sessionId: string, retryInMs: number): WoodworkRuntimeError {
    const which = this.name === component.name ? `component \`${component.name}\`` : `downstream \`${this.name}\` of component \`${component.name}\``;
    return new WoodworkRuntimeError(
      'WW_RUNTIME_CIRCUIT_OPEN',
      `the circuit of ${which} is open after ${this.lastFailures} failures in a row; it is tried again in ${formatDuration(Math.max(0, Math.ceil(retryInMs)))}`,
      {
        component: component.name,
        sessionId,
        location: component.location,
        hint: `fix what \`${this.name}\` depends on; set \`fallback\` on \`${component.name}\` to answer meanwhile, or tune \`circuit_breaker = { failures, window, cooldown }\` (\`false\` turns it off)`,
      },
    );
  }
}

/** Bounds the handlings of one component instance; the rest wait in arrival order. */
export class ConcurrencyLimiter {
  inFlight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Whether the next `acquire` has to wait. */
  get saturated(): boolean {
    return this.inFlight >= this.limit;
  }

  acquire(): Promise<void> | undefined {
    if (this.inFlight < this.limit) {
      this.inFlight++;
      return undefined;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Hands the slot to the next waiter, so `inFlight` never drops below the limit while some wait. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.inFlight--;
  }
}

/**
 * The timeouts of one component's handlings. They all have the same length, so their deadlines
 * come in the order they started: one timer, for the earliest, serves them all — a timer per
 * message would cost every message a `setTimeout` and a `clearTimeout` for a limit that almost
 * never fires.
 */
export class DeadlineQueue {
  /** From `head` on: in deadline order; some done (finished in time), skipped when reached. */
  private entries: { readonly deadline: number; readonly expire: () => void; done: boolean }[] = [];
  private head = 0;
  /** Entries not done. */
  private live = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly limitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `work`, or the error `onExpire` returns once `limitMs` has passed, whichever comes first. */
  race<T>(work: Promise<T>, onExpire: () => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = { deadline: this.now() + this.limitMs, expire: () => reject(onExpire()), done: false };
      this.entries.push(entry);
      this.live++;
      this.timer ??= this.arm(entry.deadline);
      const settle = () => {
        if (entry.done) return;
        entry.done = true;
        this.live--;
        this.compact();
      };
      work.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  /** Drops finished entries: from the front as they finish, and all at once when they are most of the queue (one hung handling must not keep every later one). */
  private compact(): void {
    while (this.head < this.entries.length && this.entries[this.head]!.done) this.head++;
    const length = this.entries.length - this.head;
    if (length === 0) {
      this.entries = [];
      this.head = 0;
    } else if (length > 1_024 && this.live * 2 < length) {
      this.entries = this.entries.slice(this.head).filter((entry) => !entry.done);
      this.head = 0;
    }
  }

  private arm(deadline: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => this.fire(), Math.max(0, deadline - this.now()));
    timer.unref?.();
    return timer;
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.now();
    for (let index = this.head; index < this.entries.length; index++) {
      const entry = this.entries[index]!;
      if (entry.deadline > now) break;
      if (!entry.done) {
        entry.done = true;
        this.live--;
        entry.expire();
      }
    }
    this.compact();
    const next = this.entries[this.head];
    if (next) this.timer = this.arm(next.deadline);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
