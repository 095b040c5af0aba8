/**
 * Riding out a broker restart: JetStream API calls that time out, find no responders (JetStream
 * still starting) or run into a reconnect are retried with backoff until a deadline; anything
 * else fails at once.
 */
const TRANSIENT = new Set(['TimeoutError', 'RequestError', 'NoRespondersError', 'JetStreamNotEnabled', 'ConnectionError']);

export function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, status } = error as { name?: unknown; status?: unknown };
  return (typeof name === 'string' && TRANSIENT.has(name)) || status === 503;
}

export async function retrying<T>(operation: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 100;
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransient(error) || Date.now() + delay >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 1_000);
    }
  }
}
