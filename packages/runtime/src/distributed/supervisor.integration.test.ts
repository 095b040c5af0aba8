/**
 * The supervisor over real Redis, and over NATS (sessions in Redis): a host process SIGKILLed with
 * a message in its handler. The supervisor releases what the dead process held at once
 * (`Bus.releaseConsumer`), so the restarted process takes the message without waiting for the dead
 * one's lease, and the turn completes. Skipped without WOODWORK_TEST_REDIS_URL (and, for NATS,
 * WOODWORK_TEST_NATS_URL), unless brokers are required.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, silentLogger } from '../index.js';
import { waitFor } from '../../test/helpers.js';
import { loadHostTopology, startSupervisor, type SupervisorEvent } from './index.js';

const url = process.env.WOODWORK_TEST_REDIS_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_REDIS_URL is not set but brokers are required (tools/services.sh start redis)');
if (url === undefined) console.warn('[supervisor.integration] SKIPPED: WOODWORK_TEST_REDIS_URL is not set (bash tools/services.sh start redis)');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const tsx = import.meta.resolve('tsx');

const natsUrl = process.env.WOODWORK_TEST_NATS_URL;
const targets = [
  { name: 'Redis', busUrl: url },
  { name: 'NATS', busUrl: url === undefined ? undefined : natsUrl },
];

describe.each(targets)('woodwork up’s supervisor over $name', ({ name, busUrl }) => {
  if (busUrl === undefined) {
    it.skip(`needs WOODWORK_TEST_REDIS_URL${name === 'NATS' ? ' and WOODWORK_TEST_NATS_URL' : ''}`, () => undefined);
    return;
  }
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ww-supervisor-'));
    await writeFile(path.join(dir, 'main.ww'), 'in = command_line { to = slow }\nslow = transform uppercase { to = out, pipes = ["pipes.ts::hang"] }\nout = console {}\n');
    // The first hand-out marks that it started and hangs; once marked, messages pass at once.
    await writeFile(
      path.join(dir, 'pipes.ts'),
      `import { existsSync, writeFileSync } from 'node:fs';
export async function hang(payload: unknown) {
  const mark = ${JSON.stringify(path.join(dir, 'started'))};
  if (!existsSync(mark)) {
    writeFileSync(mark, String(process.pid));
    await new Promise((resolve) => setTimeout(resolve, 120_000));
  }
  return payload;
}
`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('hands a killed host’s message on at once: the restarted host finishes the turn', { timeout: 90_000 }, async () => {
    const namespace = `sup-${randomUUID().slice(0, 8)}`;
    const file = path.join(dir, 'main.ww');
    const topology = await loadHostTopology(file, {});
    const events: SupervisorEvent[] = [];
    const supervisor = await startSupervisor({
      topology,
      file,
      projectDir: dir,
      busUrl,
      sessionsUrl: url!,
      namespace,
      hostEntry: path.join(root, 'apps', 'host', 'main.js'),
      nodeArgs: ['--conditions=@woodwork/source', '--import', tsx],
      env: { ...process.env, WOODWORK_LOG_LEVEL: 'warn' },
      readyTimeoutMs: 60_000,
      stopTimeoutMs: 5_000,
      onEvent: (event) => events.push(event),
    });
    const sink = new PassThrough();
    const client = createRuntime(topology, { bus: busUrl, sessions: { redis: url! }, namespace, components: ['in', 'out'], logger: silentLogger, io: { stdout: sink, stderr: sink } });
    try {
      await supervisor.ready;
      await client.start();
      const turn = await client.submit(undefined, 'survives a kill');
      await waitFor(() => existsSync(path.join(dir, 'started')), 30_000);
      const victim = supervisor.state().processes.find((entry) => entry.name === 'slow')!.pid!;
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');

      const result = await turn.result;
      const recoveredMs = Date.now() - killedAt;
      console.log(`[supervisor.integration] ${name}: reply ${recoveredMs} ms after SIGKILL (lease 5 s; restart backoff 1 s)`);
      expect(result.text).toBe('SURVIVES A KILL');
      expect(events).toContainEqual(expect.objectContaining({ type: 'exited', unit: 'slow', pid: victim, signal: 'SIGKILL', expected: false }));
      // What the dead process held went back at once, instead of after its lease.
      // (NATS counts what the dead member's partitions had unacknowledged: the message, and any
      // event its hook group was reading.)
      const released = events.find((event) => event.type === 'released' && event.unit === 'slow' && event.pid === victim);
      expect(released, JSON.stringify(events)).toBeDefined();
      if (name === 'Redis') expect(released).toEqual({ type: 'released', unit: 'slow', pid: victim, messages: 1 });
      else expect((released as { messages: number }).messages).toBeGreaterThanOrEqual(1);
    } finally {
      await client.stop();
      await supervisor.stop();
    }
  });
});
