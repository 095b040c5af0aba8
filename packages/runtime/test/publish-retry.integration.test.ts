/**
 * A broker restart while a component sends its result on (the fault report's "Kafka restart":
 * turns in flight ended with an error reply when a publish outlasted the bus's publish timeout).
 * The host publishes again, under the same message ids, until the broker is back or the runtime's
 * `publishRetryMs` runs out; only then does the turn fail, with an error naming the component,
 * where the message was going and what to do.
 *
 * On a PRIVATE Redis this file starts and restarts itself (`tools/services.sh` with its own state
 * directory and port), never the shared one. The bus URL's `maxRetriesPerRequest=0` makes a
 * publish to a stopped Redis fail at once, as a Kafka publish does after `publishTimeoutMs`, so
 * the host's own retries are what carry the turn. The restart is driven by what the host logs,
 * not by timers; nothing is asserted on wall-clock time.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createComponentRegistry, type Logger } from '../src/index.js';
import type { AgentErrorPayload } from '../src/events.js';
import { freePort } from '../../bus/test/free-port.js';
import { project, started, waitFor, type Project } from './helpers.js';

const installed = process.env.WOODWORK_TEST_REDIS_URL !== undefined;
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A Redis of our own: `tools/services.sh <command> redis` with its own state dir and port (AOF on). */
class PrivateRedis {
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  async services(command: 'start' | 'stop'): Promise<void> {
    await promisify(execFile)('bash', ['tools/services.sh', command, 'redis'], {
      cwd: repositoryRoot,
      timeout: 60_000,
      env: { ...process.env, WOODWORK_SERVICES_DIR: this.dir, WOODWORK_REDIS_PORT: String(this.port) },
    });
  }
}

/** A logger that keeps every line (the test waits on what the hosts say). */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: (message) => lines.push(message),
    warn: (message) => lines.push(message),
    error: (message) => lines.push(message),
    child: () => logger,
  };
  return logger;
}

const TOPOLOGY = 'in = input cli {}\nfirst = transform echo { to = [second] }\nsecond = transform uppercase {}\n';

describe.skipIf(!installed)('a broker restart while a component publishes its result (private Redis)', () => {
  let redis: PrivateRedis;
  let current: Project | undefined;

  beforeAll(async () => {
    redis = new PrivateRedis(mkdtempSync(path.join(tmpdir(), 'ww-publish-retry-')), await freePort());
    await redis.services('start');
  }, 120_000);

  afterEach(async () => {
    await current?.remove();
    current = undefined;
    await redis.services('start');
  }, 60_000);

  afterAll(async () => {
    await redis?.services('stop').catch(() => undefined);
    if (redis) rmSync(redis.dir, { recursive: true, force: true });
  }, 60_000);

  /**
   * A runtime whose `first` holds its first message until the test has stopped the broker, so
   * its result is published into the outage.
   */
  async function turnIntoOutage(publishRetryMs: number) {
    current = await project({ 'main.ww': TOPOLOGY });
    let entered!: () => void;
    const handling = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: async (message) => {
          entered();
          await gate;
          return `${message.text}!`;
        },
      }),
      { replace: true },
    );
    const lines: string[] = [];
    const { runtime } = await started(await current.load(), {
      bus: `redis://127.0.0.1:${redis.port}?maxRetriesPerRequest=0`,
      namespace: `pr${Date.now().toString(36)}`,
      registry,
      publishRetryMs,
      logger: recordingLogger(lines),
    });
    const session = await runtime.session();
    const turn = await session.send('hello');
    await handling;
    await redis.services('stop');
    release();
    return { runtime, turn, lines };
  }

  it('completes the turn once the broker is back within publishRetryMs', async () => {
    const { runtime, turn, lines } = await turnIntoOutage(60_000);
    try {
      await waitFor(() => lines.some((line) => line.startsWith('publishing to component `second` failed, trying again')), 30_000);
      await redis.services('start');
      const result = await turn.result;
      expect(result.errors).toEqual([]);
      expect(result).toMatchObject({ ok: true, text: 'HELLO!' });
      expect(runtime.stats().first).toMatchObject({ handled: 1, failed: 0 });
    } finally {
      await runtime.stop();
    }
  }, 90_000);

  it('fails the turn with an error naming the component and what to do when the broker stays down longer', async () => {
    const { runtime, turn, lines } = await turnIntoOutage(8_000);
    try {
      // `first` gave up on its result; its error report is the next publish, which the broker,
      // started again now, takes within its own publishRetryMs.
      await waitFor(() => lines.some((line) => line.startsWith('route failed:')), 60_000);
      await redis.services('start');
      const result = await turn.result;
      expect(result.ok).toBe(false);
      expect(result.errors).toHaveLength(1);
      const payload = result.errors[0]!.payload as AgentErrorPayload;
      expect(payload).toMatchObject({ component: 'first', stage: 'route', error: { code: 'WW_RUNTIME_PUBLISH_FAILED' } });
      // Its result goes to `second` and, as a copy, to the events topic: whichever gave up first.
      expect(payload.error.message).toMatch(/^component `first` could not send to (component `second`|the events topic `pr\w+\.events`) \(session [\w-]+\) for /);
      expect(payload.error.hint).toContain('broker is up');
      expect(payload.error.hint).toContain('publishRetryMs');
    } finally {
      await runtime.stop();
    }
  }, 90_000);
});
