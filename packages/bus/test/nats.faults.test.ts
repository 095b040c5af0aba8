/**
 * NATS faults the shared broker must not see: each test here starts its OWN nats-server (JetStream,
 * a free loopback port, a temporary store) and pauses it with SIGSTOP, as the fault harness's
 * `broker-pause` does — never the shared one other engineers' tests use. Also the rules of
 * `releaseConsumer` (no broker). Needs `nats-server` on the PATH (`tools/services.sh install nats`);
 * the broker part is skipped loudly without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { isMemberOf, withoutMembers } from '../src/adapters/nats/release.js';
import { emptyDocument } from '../src/adapters/nats/ownership.js';
import { createBus } from '../src/create-bus.js';
import type { Bus } from '../src/types.js';
import { waitFor } from '../src/testing/index.js';
import { freePort } from './free-port.js';

const hasServer = spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasServer) console.warn('\n*** nats.faults.test.ts SKIPPED (broker part): no nats-server on the PATH (`bash tools/services.sh install nats`). ***\n');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('nats releaseConsumer rules (no broker)', () => {
  it('matches a process’s members by consumer name or as a prefix up to a dash', () => {
    expect(isMemberOf('host-12-1-ab12cd34#9f8e7d6c', 'host-12')).toBe(true);
    expect(isMemberOf('host-12-1-ab12cd34#9f8e7d6c', 'host-12-1-ab12cd34')).toBe(true);
    expect(isMemberOf('host-123-1-ab12cd34#9f8e7d6c', 'host-12')).toBe(false);
    expect(isMemberOf('worker#9f8e7d6c', 'worker')).toBe(true);
    expect(isMemberOf('worker2#9f8e7d6c', 'worker')).toBe(false);
  });

  it('removes the dead members and frees their partitions, leaving the others', () => {
    const document = {
      ...emptyDocument(4),
      members: { 'h-1-1-a#x': 3, 'h-2-1-b#y': 7 },
      owners: ['h-1-1-a#x', 'h-2-1-b#y', 'h-1-1-a#x', null],
    };
    const change = withoutMembers(document, 'h-1');
    expect(change?.dead).toEqual(['h-1-1-a#x']);
    expect(change?.freed).toEqual([0, 2]);
    expect(change?.document.members).toEqual({ 'h-2-1-b#y': 7 });
    expect(change?.document.owners).toEqual([null, 'h-2-1-b#y', null, null]);
    expect(withoutMembers(document, 'h-3')).toBeUndefined();
  });
});

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface PrivateServer {
  readonly url: string;
  readonly process: ChildProcess;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function startPrivateServer(): Promise<PrivateServer> {
  const port = await freePort();
  const store = await mkdtemp(path.join(tmpdir(), 'ww-nats-faults-'));
  const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
  let paused = false;
  const server: PrivateServer = {
    url: `nats://127.0.0.1:${port}`,
    process: child,
    pause: () => {
      paused = true;
      child.kill('SIGSTOP');
    },
    resume: () => {
      paused = false;
      child.kill('SIGCONT');
    },
    stop: async () => {
      if (paused) child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await rm(store, { recursive: true, force: true });
    },
  };
  await waitFor(() => accepts(port), { timeoutMs: 30_000, intervalMs: 100, message: 'the private nats-server never listened' });
  return server;
}

describe.skipIf(!hasServer)('nats through a paused broker (a private nats-server, SIGSTOP)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it(
    'moves every session on when acks sent during the pause are confirmed only after their deadline',
    { timeout: 120_000 },
    async () => {
      const server = await startPrivateServer();
      cleanups.push(() => server.stop());
      // Short request timeout and lease: the acks' deadline (the larger of the two) passes well
      // inside the pause, which is what happened to the gateways' event streams in the fault run.
      const bus: Bus = await createBus(`${server.url}?requestTimeoutMs=1000`);
      cleanups.push(() => bus.close());
      const keys = 40;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const handled = new Set<string>();
      await bus.subscribe(
        'events',
        // Like the session hub: one member, no retries.
        { group: 'hub', maxInFlight: 64, leaseMs: 2_000, maxAttempts: 1, onError: () => undefined },
        async (envelope) => {
          handled.add(`${envelope.session_id}/${String(envelope.payload)}`);
          if (envelope.payload === 1) await gate;
        },
      );
      const message = (session: string, payload: number) => ({ session_id: session, event_type: 'test.message', component_source: 'test', payload });
      for (let key = 0; key < keys; key++) await bus.publish('events', message(`k${key}`, 1));
      await waitFor(() => handled.size === keys, { timeoutMs: 30_000, message: () => `${handled.size}/${keys} first records in handlers` });

      server.pause();
      await sleep(200);
      open(); // every handler finishes now: 40 acks wait in the paused server's socket
      await sleep(5_000); // past their deadline (2 s)
      server.resume();

      for (let key = 0; key < keys; key++) await bus.publish('events', message(`k${key}`, 2));
      await waitFor(() => [...handled].filter((entry) => entry.endsWith('/2')).length === keys, {
        timeoutMs: 60_000,
        message: () => `only ${[...handled].filter((entry) => entry.endsWith('/2')).length}/${keys} sessions moved on after the pause`,
      });
      // Ready again once the leases renew (spec v1.5 health counts a stalled subscription).
      await waitFor(async () => (await bus.health()).ready, { timeoutMs: 30_000, message: 'the bus never turned ready again' });
      const nc = await connect({ servers: new URL(server.url).host });
      cleanups.push(() => nc.close());
      const jsm = await jetstreamManager(nc);
      await waitFor(
        async () => {
          let pending = 0;
          for await (const consumer of jsm.consumers.list('WW_events')) pending += consumer.num_ack_pending + consumer.num_pending;
          return pending === 0;
        },
        { timeoutMs: 30_000, message: 'records left unacknowledged' },
      );
    },
  );
});
