/**
 * Retrying what must ride out a broker restart (connecting, creating a topic, joining a group):
 * kafkajs retries single requests, but gives up on some states a restart passes through (a closed
 * connection while connecting, "not controller" answers, a coordinator still loading).
 */

/**
 * kafkajs's own retry for every client: every ≤ 2 s for about 15 s, so a restarting broker is
 * reconnected to quickly (kafkajs's default waits up to 30 s between tries). Consumers that run
 * out of it crash and are restarted by kafkajs.
 */
export const KAFKAJS_RETRY = Object.freeze({ initialRetryTime: 100, maxRetryTime: 2_000, retries: 10 });

/**
 * Errors no retry can fix: bad credentials, an invalid topic configuration, no permission. Not
 * INVALID_REPLICATION_FACTOR: a KRaft broker starting up answers it until it has registered itself.
 */
export function isPermanent(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'KafkaJSSASLAuthenticationError') return true;
  const errors = (error as { errors?: unknown[] } | null)?.errors;
  const types = (Array.isArray(errors) ? errors : [error]).map((entry) => String((entry as { type?: unknown } | null)?.type ?? ''));
  return (
    types.length > 0 &&
    types.every((type) => /^INVALID_(?!REPLICATION_FACTOR)|POLICY_VIOLATION|AUTHORIZATION_FAILED|UNSUPPORTED_VERSION/.test(type))
  );
}

/** Runs `attempt` until it succeeds, a permanent error, or `timeoutMs` is used up (backoff 0.2 → 2 s). */
export async function retryFor<T>(timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 200;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (isPermanent(error) || Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }
}

export const TIMED_OUT = Symbol('timed out');

/** `promise`'s value, or TIMED_OUT if it has not settled within `ms` (the promise goes on). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
