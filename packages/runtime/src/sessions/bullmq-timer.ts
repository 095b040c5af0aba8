/**
 * Session timeouts as BullMQ delayed jobs, for sessions in Redis (see the runtime README, "Sessions
 * in Redis"). One job per session, its id made from the session id, on the queue `session-timeouts`
 * under `<prefix>:bull`. Every runtime runs a Worker on that queue, so a timeout fires in whichever
 * host is alive (BullMQ hands each job to one worker) and a pending timeout lives in Redis, not in
 * a process. A job that fires early (activity moved the deadline) moves itself back to the delayed
 * set; a failing end is retried with BullMQ's backoff and, after `attempts`, stays in the failed set.
 * `bullmq` (and `ioredis`) are optional peer dependencies, loaded on first use.
 */
import type * as Bullmq from 'bullmq';
import type { Redis as RedisClient } from 'ioredis';
import { WoodworkRuntimeError } from '../errors.js';
import type { SessionTimer, SessionTimerHandlers } from './timer.js';

export interface BullmqSessionTimerOptions {
  /** `redis://host:port/db` (or `rediss://`): the session store's Redis. */
  readonly url: string;
  /** The session store's key prefix. Default `woodwork`; the runtime passes `woodwork:<namespace>`. BullMQ's keys go under `<prefix>:bull`. */
  readonly prefix?: string;
  /** Tries for a timeout whose handling fails. Default 5: with the backoff, about 15 s, which outlasts a Redis failover or a bus reconnect. */
  readonly attempts?: number;
  /** First retry delay, doubling after each. Default 1 000 ms. */
  readonly backoffMs?: number;
  /** Timeouts one process handles at once. Default 8: each is a few round trips, and a burst of expiries should not wait in line. */
  readonly concurrency?: number;
  /** How long a timeout that failed for good stays in the failed set. Default 7 days: time to notice it and retry it. */
  readonly keepFailedSeconds?: number;
}

/** The BullMQ queue that holds session timeouts. */
export const SESSION_TIMEOUT_QUEUE = 'session-timeouts';

interface TimeoutData {
  readonly id: string;
  /** Set once the session is claimed, so a retry only reports the end. */
  readonly claimed?: boolean;
}

/** Session ids may hold `:`, which BullMQ refuses in job ids; `~` is not allowed in session ids, so this is one-to-one. */
function jobIdOf(sessionId: string): string {
  return `session-${sessionId.replaceAll(':', '~')}`;
}

/** BullMQ and ioredis, optional peers; `purpose` completes "install bullmq to …" when they are missing. */
export async function loadDrivers(purpose = 'time sessions out in Redis'): Promise<{ bullmq: typeof Bullmq; Redis: typeof RedisClient }> {
  try {
    const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bullmq, Redis: ioredis.default as unknown as typeof RedisClient };
  } catch (error) {
    throw new WoodworkRuntimeError('WW_RUNTIME_DRIVER_MISSING', `install bullmq to ${purpose} (npm install bullmq ioredis)`, {
      cause: error,
    });
  }
}

class BullmqSessionTimer implements SessionTimer {
  private worker: Bullmq.Worker<TimeoutData> | undefined;
  private workerClient: RedisClient | undefined;
  private closed = false;

  constructor(
    private readonly bullmq: typeof Bullmq,
    private readonly client: RedisClient,
    private readonly queue: Bullmq.Queue<TimeoutData>,
    private readonly keyPrefix: string,
    private readonly concurrency: number,
  ) {}

  async schedule(id: string, expiresAt: number): Promise<void> {
    const jobId = jobIdOf(id);
    // A job left under this id (an earlier session's, failed or not cancelled) would make `add` a no-op.
    await this.queue.remove(jobId);
    await this.queue.add('timeout', { id }, { jobId, delay: Math.max(0, expiresAt - Date.now()) });
  }

  async cancel(id: string): Promise<void> {
    await this.queue.remove(jobIdOf(id));
  }

  start(handlers: SessionTimerHandlers): void {
    if (this.worker || this.closed) return;
    const { Worker, DelayedError } = this.bullmq;
    // Workers block on Redis, so BullMQ needs a client that never gives up on a command.
    this.workerClient = this.client.duplicate({ maxRetriesPerRequest: null });
    this.workerClient.on('error', () => undefined);
    const worker = new Worker<TimeoutData>(
      SESSION_TIMEOUT_QUEUE,
      async (job, token) => {
        if (!job.data.claimed) {
          const outcome = await handlers.claim(job.data.id);
          if (outcome === undefined) return;
          if (outcome !== 'claimed') {
            await job.moveToDelayed(outcome, token);
            throw new DelayedError();
          }
          await job.updateData({ ...job.data, claimed: true });
        }
        await handlers.ended(job.data.id);
      },
      { connection: this.workerClient, prefix: this.keyPrefix, concurrency: this.concurrency },
    );
    worker.on('error', handlers.onError);
    worker.on('failed', (job, error) => {
      if (!job) return;
      const attempts = job.opts.attempts ?? 1;
      handlers.onError(
        new WoodworkRuntimeError('WW_RUNTIME_SESSION', `session ${job.data.id} could not be timed out (try ${job.attemptsMade} of ${attempts})`, {
          cause: error,
          sessionId: job.data.id,
          isRetryable: job.attemptsMade < attempts,
          hint: job.attemptsMade < attempts ? 'it is retried' : `it is kept in the failed set of BullMQ queue "${SESSION_TIMEOUT_QUEUE}" (prefix "${this.keyPrefix}")`,
        }),
      );
    });
    this.worker = worker;
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    const client = this.workerClient;
    this.worker = undefined;
    this.workerClient = undefined;
    await worker?.close();
    await client?.quit().catch(() => client.disconnect());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    await this.queue.close();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** A `SessionTimer` on BullMQ, in the Redis at `options.url`. It connects in the background. */
export async function createBullmqSessionTimer(options: BullmqSessionTimerOptions): Promise<SessionTimer> {
  const { bullmq, Redis } = await loadDrivers();
  const keyPrefix = `${options.prefix ?? 'woodwork'}:bull`;
  // Like the session store's client: a command fails after a few reconnects instead of waiting forever.
  const client = new Redis(options.url, { maxRetriesPerRequest: 3 });
  client.on('error', () => undefined); // reconnects are ioredis's job; failed commands reject to their callers
  const queue = new bullmq.Queue<TimeoutData>(SESSION_TIMEOUT_QUEUE, {
    connection: client,
    prefix: keyPrefix,
    // BullMQ's event log (for QueueEvents and dashboards): nothing here reads it, so 1 000 recent events, not 10 000.
    streams: { events: { maxLen: 1_000 } },
    defaultJobOptions: {
      attempts: options.attempts ?? 5,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: options.keepFailedSeconds ?? 7 * 24 * 3_600 },
    },
  });
  queue.on('error', () => undefined); // the same errors reject the calls that met them
  return new BullmqSessionTimer(bullmq, client, queue, keyPrefix, options.concurrency ?? 8);
}
