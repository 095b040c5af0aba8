/**
 * Wake-ups (`wakeups.ts`) as BullMQ delayed jobs, for sessions in Redis, beside the session
 * timeouts (`bullmq-timer.ts`): one job per (session, component, key) on the queue
 * `session-wakeups` under `<prefix>:bull`. Every runtime runs a Worker on it, so a wake-up fires
 * in whichever host is alive at its time — also when the one that scheduled it has died — and
 * BullMQ hands each job to one worker. A delivery that fails is retried with backoff.
 */
import type * as Bullmq from 'bullmq';
import type { Redis as RedisClient } from 'ioredis';
import { WoodworkRuntimeError } from '../errors.js';
import { wakeupId, type WakeTimer, type Wakeup } from './wakeups.js';
import { loadDrivers } from './bullmq-timer.js';

/** The BullMQ queue that holds wake-ups. */
export const SESSION_WAKEUP_QUEUE = 'session-wakeups';

export interface BullmqWakeTimerOptions {
  readonly url: string;
  /** The session store's key prefix; BullMQ's keys go under `<prefix>:bull`. */
  readonly prefix?: string;
  readonly attempts?: number;
  readonly backoffMs?: number;
  readonly concurrency?: number;
}

/** BullMQ job ids may not hold `:`; `~` is not allowed in session ids and `\u0000` separates the parts. */
function jobIdOf(sessionId: string, component: string, key: string): string {
  return `wake-${Buffer.from(wakeupId(sessionId, component, key)).toString('base64url')}`;
}

class BullmqWakeTimer implements WakeTimer {
  private worker: Bullmq.Worker<Wakeup> | undefined;
  private workerClient: RedisClient | undefined;
  private closed = false;

  constructor(
    private readonly bullmq: typeof Bullmq,
    private readonly client: RedisClient,
    private readonly queue: Bullmq.Queue<Wakeup>,
    private readonly keyPrefix: string,
    private readonly concurrency: number,
  ) {}

  async schedule(wakeup: Wakeup): Promise<void> {
    const jobId = jobIdOf(wakeup.sessionId, wakeup.component, wakeup.key);
    await this.queue.remove(jobId);
    await this.queue.add('wakeup', wakeup, { jobId, delay: Math.max(0, wakeup.at - Date.now()) });
  }

  async cancel(sessionId: string, component: string, key: string): Promise<void> {
    await this.queue.remove(jobIdOf(sessionId, component, key));
  }

  start(fire: (wakeup: Wakeup) => Promise<void>, onError: (error: unknown) => void): void {
    if (this.worker || this.closed) return;
    this.workerClient = this.client.duplicate({ maxRetriesPerRequest: null });
    this.workerClient.on('error', () => undefined);
    const worker = new this.bullmq.Worker<Wakeup>(SESSION_WAKEUP_QUEUE, (job) => fire(job.data), {
      connection: this.workerClient,
      prefix: this.keyPrefix,
      concurrency: this.concurrency,
    });
    worker.on('error', onError);
    worker.on('failed', (job, error) => {
      if (!job) return;
      const attempts = job.opts.attempts ?? 1;
      onError(
        new WoodworkRuntimeError('WW_RUNTIME_SESSION', `a wake-up of \`${job.data.component}\` in session ${job.data.sessionId} could not be delivered (try ${job.attemptsMade} of ${attempts})`, {
          cause: error,
          sessionId: job.data.sessionId,
          component: job.data.component,
          isRetryable: job.attemptsMade < attempts,
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

export async function createBullmqWakeTimer(options: BullmqWakeTimerOptions): Promise<WakeTimer> {
  const { bullmq, Redis } = await loadDrivers('keep wake-ups in Redis');
  const keyPrefix = `${options.prefix ?? 'woodwork'}:bull`;
  const client = new Redis(options.url, { maxRetriesPerRequest: 3 });
  client.on('error', () => undefined);
  const queue = new bullmq.Queue<Wakeup>(SESSION_WAKEUP_QUEUE, {
    connection: client,
    prefix: keyPrefix,
    streams: { events: { maxLen: 1_000 } },
    defaultJobOptions: {
      attempts: options.attempts ?? 5,
      backoff: { type: 'exponential', delay: options.backoffMs ?? 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 24 * 3_600 },
    },
  });
  queue.on('error', () => undefined);
  return new BullmqWakeTimer(bullmq, client, queue, keyPrefix, options.concurrency ?? 8);
}
