/**
 * A network cut between one host and the brokers, made with a network namespace of our own:
 *
 *   root namespace                               namespace ww-faults-<n>
 *   brokers on 127.0.0.1 ◀── relay on 10.231.n.1 ══veth══ 10.231.n.2 ◀── relay on 127.0.0.1 ◀── host
 *
 * The host runs inside the namespace (`ip netns exec`) with the very URLs every other host uses
 * (127.0.0.1:<port>): a relay inside the namespace carries its loopback ports over the veth pair to
 * a relay in the harness, which carries them to the brokers' loopback ports. Kafka's metadata names
 * 127.0.0.1:<port>, which therefore works inside the namespace too. The cut is `ip link set <veth>
 * down` (packets vanish, no reset: a real partition); the repair sets it up again. Addresses are a
 * private /30 that exists only on this veth pair; nothing is ever sent anywhere else.
 *
 * Needs root, `ip` (iproute2); cleanup deletes the namespace (and with it the veth pair) and ends
 * the processes it started.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { pendingCleanups, until } from './processes.js';

const exec = promisify(execFile);

/** Why a network cut cannot run here, or undefined when it can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)';
  for (const tool of ['ip', 'unshare']) {
    try {
      await exec('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `\`${tool}\` is not installed`;
    }
  }
  return undefined;
}

/** Relays TCP from `listenHost:port` to `targetHost:port` for each port: the root side of the tunnel. */
function relay(listenHost: string, targetHost: string, ports: readonly number[]): Promise<{ close(): void }> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  return Promise.all(
    ports.map(
      (port) =>
        new Promise<void>((resolve, reject) => {
          const server = createServer((inbound) => {
            const outbound = connect(port, targetHost);
            for (const socket of [inbound, outbound]) {
              sockets.add(socket);
              socket.on('close', () => sockets.delete(socket));
              socket.on('error', () => undefined);
            }
            inbound.pipe(outbound).pipe(inbound);
            inbound.on('close', () => outbound.destroy());
            outbound.on('close', () => inbound.destroy());
          });
          servers.push(server);
          server.once('error', reject);
          server.listen(port, listenHost, () => resolve());
        }),
    ),
  ).then(() => ({
    close: () => {
      for (const server of servers) server.close();
      for (const socket of sockets) socket.destroy();
    },
  }));
}

/** The same relay as a script, run inside the namespace. */
const RELAY_SCRIPT = `import { createServer, connect } from 'node:net';
const [target, ...ports] = process.argv.slice(2);
for (const port of ports.map(Number)) {
  createServer((inbound) => {
    const outbound = connect(port, target);
    inbound.on('error', () => {}); outbound.on('error', () => {});
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy()); outbound.on('close', () => inbound.destroy());
  }).listen(port, '127.0.0.1', () => console.log('relay ' + port));
}
`;

export interface Partitionable {
  readonly name: string;
  /** Starts `command` inside the namespace; its output goes to `logFile`. */
  spawn(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess;
  cut(): Promise<void>;
  repair(): Promise<void>;
  cleanup(): Promise<void>;
}

let created = 0;

export async function createPartitionable(options: { ports: readonly number[]; workDir: string; log?: (line: string) => void }): Promise<Partitionable> {
  const n = (process.pid % 200) + 20 + created++;
  const name = `ww-faults-${n}`;
  const outside = `wwf${n}a`;
  const inside = `wwf${n}b`;
  const hostAddress = `10.231.${n}.1`;
  const nsAddress = `10.231.${n}.2`;
  const children: ChildProcess[] = [];
  let rootRelay: { close(): void } | undefined;
  const ip = (...args: string[]) => exec('ip', args);
  const cleanup = async () => {
    pendingCleanups.delete(cleanup);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rootRelay?.close();
    await ip('netns', 'del', name).catch(() => undefined);
    await ip('link', 'del', outside).catch(() => undefined);
  };
  try {
    await cleanup(); // leftovers of an earlier run that was killed
    pendingCleanups.add(cleanup);
    await ip('netns', 'add', name);
    await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
    await ip('link', 'set', inside, 'netns', name);
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', outside);
    await ip('link', 'set', outside, 'up');
    await ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddress}/30`, 'dev', inside);
    await ip('netns', 'exec', name, 'ip', 'link', 'set', inside, 'up');
    await ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    rootRelay = await relay(hostAddress, '127.0.0.1', options.ports);
    await mkdir(options.workDir, { recursive: true });
    const script = path.join(options.workDir, 'netns-relay.mjs');
    await writeFile(script, RELAY_SCRIPT);
    const inner = spawn('ip', ['netns', 'exec', name, process.execPath, script, hostAddress, ...options.ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(inner);
    let ready = 0;
    inner.stdout!.setEncoding('utf8').on('data', (chunk: string) => (ready += (chunk.match(/relay \d+/g) ?? []).length));
    await until('the relay inside the namespace', 10_000, () => ready >= options.ports.length);
  } catch (error) {
    await cleanup();
    throw error;
  }
  options.log?.(`namespace ${name}: ${nsAddress} ⇄ ${hostAddress}, ports ${options.ports.join(', ')} relayed to 127.0.0.1`);
  return {
    name,
    spawn: (command, args, env, logFile) => {
      const child = spawn('sh', ['-c', `exec ip netns exec ${name} "$@" >>"${logFile}" 2>&1`, 'sh', command, ...args], { env, stdio: 'ignore' });
      children.push(child);
      return child;
    },
    cut: async () => {
      await ip('link', 'set', outside, 'down');
    },
    repair: async () => {
      await ip('link', 'set', outside, 'up');
    },
    cleanup,
  };
}
