/** The hosts' ports: never one the topology's own servers (the gateway) will listen on. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '@woodwork/parser';
import { freePorts, serverPorts } from './ports.js';

describe('host ports', () => {
  it('knows the ports the topology listens on: an input api port, and WOODWORK_API_PORT over it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-ports-'));
    try {
      await writeFile(path.join(dir, 'main.ww'), 'in = input api { port = 18000 }\nout = output api {}\n');
      const { resolved } = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
      expect([...serverPorts(resolved!, {})]).toEqual([18000]);
      expect([...serverPorts(resolved!, { WOODWORK_API_PORT: '18001' })].sort()).toEqual([18000, 18001]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hands out distinct free ports, none of those to avoid, even when the kernel offers them', async () => {
    // Ports the kernel handed out a moment ago are the likeliest to be offered again.
    const avoid = new Set(await freePorts(200, new Set()));
    expect(avoid.size).toBe(200);
    const ports = await freePorts(20, avoid);
    expect(new Set(ports).size).toBe(20);
    expect(ports.filter((port) => avoid.has(port))).toEqual([]);
  });
});
