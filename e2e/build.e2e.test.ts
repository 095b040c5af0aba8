/**
 * `woodwork build`, end to end, without a Docker engine: the built CLI writes the artifacts of
 * examples/scaled, and then every compose service is started the way its container would start it —
 * the Dockerfile's CMD, its ENV, the service's environment (compose's `${NAME:-default}` filled in
 * as compose would), the image's file layout — as real child processes over real Redis. A client
 * then talks to the gateway with the example's token and gets the reply through every unit.
 *
 * What differs from a container, and why: paths under /app map to the build's image folder and to
 * this repository's host app (the image installs the same package from npm); the broker's service
 * name maps to the test Redis; every process gets free ports, since here they share one network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(root, 'packages', 'cli', 'bin', 'woodwork.js');
const hostEntry = path.join(root, 'apps', 'host', 'main.js');
const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';

const workDirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(workDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function runCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** ENV and CMD of a Dockerfile, continuation lines joined. */
export function readDockerfile(text: string): { env: Record<string, string>; cmd: string[] } {
  const instructions = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const env: Record<string, string> = {};
  let cmd: string[] = [];
  for (const line of instructions) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction === 'ENV') {
      for (const pair of rest) {
        const equals = pair.indexOf('=');
        env[pair.slice(0, equals)] = pair.slice(equals + 1);
      }
    }
    if (instruction === 'CMD') cmd = JSON.parse(line.slice(4)) as string[];
  }
  return { env, cmd };
}

/** Compose's interpolation: `${NAME:-default}`, `${NAME:?error}`, `$$`. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (match, name: string | undefined, operator: string | undefined, word: string | undefined) => {
    if (match === '$$') return '$';
    const current = env[name!];
    if (current !== undefined && current !== '') return current;
    if (operator === '-') return word ?? '';
    if (operator === '?') throw new Error(`compose would refuse to start: ${word}`);
    return '';
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe.skipIf(!redisUrl && !requireBrokers)('woodwork build: the containers of examples/scaled, started as their images would start them', () => {
  it('writes the artifacts, and every unit runs from them over Redis and answers through the gateway', async () => {
    expect(redisUrl, 'WOODWORK_TEST_REDIS_URL is not set: run `bash tools/services.sh start`').toBeDefined();
    const work = await mkdtemp(path.join(tmpdir(), 'ww-build-e2e-'));
    workDirs.push(work);
    const project = path.join(work, 'scaled');
    await cp(path.join(root, 'examples', 'scaled'), project, { recursive: true });
    // A secret beside the file: the build must neither copy it nor write its value anywhere.
    const secret = `secret-${randomUUID()}`;
    await writeFile(path.join(project, '.env'), `API_TOKEN=${secret}\n`);

    const built = await runCli(['build', 'scaled'], work);
    expect(built.stderr).toBe('');
    expect(built.code).toBe(0);
    expect(built.stdout).toContain('gateway  gateway; 2-10 replicas on connections; API on port 8000');
    const output = path.join(project, 'build');
    const dockerfileText = await readFile(path.join(output, 'image', 'Dockerfile'), 'utf8');
    const compose = parse(await readFile(path.join(output, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { environment?: Record<string, string>; deploy?: { replicas?: number }; ports?: string[] }>;
    };
    // The image context holds the project as written, and nothing else of the build.
    expect((await readdir(path.join(output, 'image', 'project'))).sort()).toEqual((await readdir(path.join(root, 'examples', 'scaled'))).sort());
    for (const file of await readdir(output, { recursive: true, withFileTypes: true })) {
      if (file.isFile()) expect(await readFile(path.join(file.parentPath, file.name), 'utf8'), file.name).not.toContain(secret);
    }

    const image = readDockerfile(dockerfileText);
    expect(image.cmd).toEqual(['node', '/app/node_modules/@woodwork/host/main.js']);
    const fromImage = (value: string) =>
      value.replace('/app/node_modules/@woodwork/host/main.js', hostEntry).replace('/app/project', path.join(output, 'image', 'project'));
    const brokerUrl = redisUrl!;
    const namespace = `build-e2e-${randomUUID().slice(0, 8)}`;

    const units = Object.entries(compose.services).filter(([, service]) => service.environment?.WOODWORK_COMPONENT !== undefined);
    expect(units.map(([name]) => name)).toEqual(['gateway', 'workers', 'reply']);
    const failures: string[] = [];
    const gatewayPorts: number[] = [];
    const hostPorts: number[] = [];
    for (const [name, service] of units) {
      for (let replica = 0; replica < (service.deploy?.replicas ?? 1); replica += 1) {
        const env: Record<string, string> = {};
        for (const [key, value] of Object.entries(image.env)) env[key] = fromImage(value);
        for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = interpolate(String(value), {});
        expect(env.WOODWORK_BUS_URL).toBe('redis://redis:6379');
        env.WOODWORK_BUS_URL = brokerUrl;
        if (env.REDIS_URL === 'redis://redis:6379') env.REDIS_URL = brokerUrl;
        env.WOODWORK_NAMESPACE = namespace;
        // Containers have a network each; here every process needs ports of its own.
        const hostPort = await freePort();
        env.WOODWORK_PORT = String(hostPort);
        hostPorts.push(hostPort);
        if (env.WOODWORK_API_PORT !== undefined) {
          expect(env.WOODWORK_API_PORT).toBe('8000');
          const apiPort = await freePort();
          env.WOODWORK_API_PORT = String(apiPort);
          gatewayPorts.push(apiPort);
        }
        const [command, ...args] = image.cmd.map(fromImage);
        expect(command).toBe('node');
        const child = spawn(process.execPath, args, {
          cwd: path.join(output, 'image'),
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env, WOODWORK_LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let log = '';
        child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
        child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
        child.on('exit', (code, signal) => {
          if (code !== 0) failures.push(`${name} #${replica} exited (${code ?? signal}):\n${log}`);
        });
        children.push(child);
      }
    }
    expect(gatewayPorts).toHaveLength(2);
    expect(children).toHaveLength(5);

    for (const port of hostPorts) {
      await waitFor(`/ready on ${port}`, async () => {
        if (failures.length > 0) throw new Error(failures.join('\n'));
        return (await fetch(`http://127.0.0.1:${port}/ready`)).ok ? true : undefined;
      });
    }

    // The gateway listens on every interface, as it must in a container (WOODWORK_API_HOST): it
    // answers on this machine's own address, not only on loopback.
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal);
    if (outside) {
      const reached = await fetch(`http://${outside.address}:${gatewayPorts[0]}/v1/sessions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(reached.status).toBe(401);
    }
    for (const port of gatewayPorts) {
      const refused = await fetch(`http://127.0.0.1:${port}/v1/sessions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(refused.status).toBe(401);
      const answer = await fetch(`http://127.0.0.1:${port}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: 'Bearer dev-token', 'content-type': 'application/json' },
        body: JSON.stringify({ input: `Hello From ${port}` }),
      });
      expect(answer.status).toBe(201);
      const body = (await answer.json()) as { ok: boolean; reply: string };
      expect(body).toMatchObject({ ok: true, reply: `You said: hello from ${port}` });
    }

    // SIGTERM, as a container runtime stops a container: every host drains and exits 0.
    const exits = children.map((child) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))));
    for (const child of children) child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual(children.map(() => 0));
  }, 120_000);

  it('refuses to overwrite a folder that is not an earlier build, and names the problem', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'ww-build-e2e-'));
    workDirs.push(work);
    await cp(path.join(root, 'examples', 'scaled'), path.join(work, 'scaled'), { recursive: true });
    const refused = await runCli(['build', 'scaled', '--output', 'scaled'], work);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error scaled exists and does not hold an earlier build');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });
});
