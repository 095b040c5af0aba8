/** Ports for the hosts `woodwork up` starts (their /health, /ready and /metrics). */
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Topology } from '@woodwork/parser';

/**
 * Free ports on 127.0.0.1, held until all are found so none is handed out twice, and none of
 * `avoid`: ports the topology's own servers will listen on once their host starts (free now, so the
 * kernel may hand one out here, and the gateway would then find it taken).
 */
export async function freePorts(count: number, avoid: ReadonlySet<number>): Promise<number[]> {
  const listen = () =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = await listen();
      held.push(server);
      const port = (server.address() as AddressInfo).port;
      if (!avoid.has(port)) ports.push(port);
    }
  } finally {
    await Promise.all(held.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
  return ports;
}

/** The ports the topology's servers listen on: each `port` key, and `WOODWORK_API_PORT`, which overrides the gateway's. */
export function serverPorts(topology: Topology, env: Readonly<Record<string, string | undefined>>): Set<number> {
  const ports = new Set<number>();
  for (const component of topology.components) if (typeof component.config.port === 'number') ports.add(component.config.port);
  const override = Number(env.WOODWORK_API_PORT);
  if (Number.isInteger(override) && override > 0) ports.add(override);
  return ports;
}
