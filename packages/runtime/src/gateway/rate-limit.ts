/**
 * A token bucket per client: `burst` tokens to start with, refilled at `requestsPerMinute`; each
 * request takes one. Buckets that have refilled completely are forgotten, so memory stays bounded
 * by the clients active in the last refill period.
 */
export interface RateDecision {
  readonly allowed: boolean;
  /** When denied: milliseconds until one token is back. */
  readonly retryAfterMs: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private lastSweep: number;

  constructor(
    private readonly settings: { readonly requestsPerMinute: number; readonly burst: number },
    private readonly now: () => number = () => Date.now(),
  ) {
    this.perMs = settings.requestsPerMinute / 60_000;
    this.lastSweep = now();
  }

  take(client: string): RateDecision {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(client) ?? { tokens: this.settings.burst, updatedAt: now };
    bucket.tokens = Math.min(this.settings.burst, bucket.tokens + (now - bucket.updatedAt) * this.perMs);
    bucket.updatedAt = now;
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.perMs) };
  }

  /** Clients tracked right now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops buckets that would be full by now: they are the same as no bucket. */
  private sweep(now: number): void {
    const fullAfterMs = this.settings.burst / this.perMs;
    if (now - this.lastSweep < Math.min(fullAfterMs, 60_000)) return;
    this.lastSweep = now;
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * this.perMs >= this.settings.burst) this.buckets.delete(client);
    }
  }
}
