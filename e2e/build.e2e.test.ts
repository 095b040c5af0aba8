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
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { freePort } from './free-port.js';

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
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined } });
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

type ComposeFile = { services: Record<string, { environment?: Record<string, string>; deploy?: { replicas?: number }; ports?: string[] }> };

/** A build's output as a container runtime would use it: the image's ENV and CMD, the compose services. */
async function readBuild(output: string): Promise<{ image: { env: Record<string, string>; cmd: string[] }; compose: ComposeFile; fromImage: (value: string) => string }> {
  const image = readDockerfile(await readFile(path.join(output, 'image', 'Dockerfile'), 'utf8'));
  const compose = parse(await readFile(path.join(output, 'docker-compose.yml'), 'utf8')) as ComposeFile;
  const fromImage = (value: string) =>
    value.replace('/app/node_modules/@woodwork/host/main.js', hostEntry).replace('/app/project', path.join(output, 'image', 'project'));
  return { image, compose, fromImage };
}

/**
 * Starts one container of a build as a child process: the image's ENV, then `environment` (the
 * service's, interpolated), then `overrides`; the image's CMD. Its output is collected in `log()`.
 */
function startContainer(
  output: string,
  built: Awaited<ReturnType<typeof readBuild>>,
  environment: Record<string, string>,
  overrides: Record<string, string>,
): { child: ChildProcess; log: () => string; exit: Promise<number | null> } {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(built.image.env)) env[key] = built.fromImage(value);
  Object.assign(env, environment, overrides);
  const [command, ...args] = built.image.cmd.map(built.fromImage);
  expect(command).toBe('node');
  const child = spawn(process.execPath, args, {
    cwd: path.join(output, 'image'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env, WOODWORK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  children.push(child);
  return { child, log: () => log, exit };
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
    const artifacts = await readBuild(output);
    const { image, compose } = artifacts;
    // The image context holds the project as written, and nothing else of the build.
    expect((await readdir(path.join(output, 'image', 'project'))).sort()).toEqual((await readdir(path.join(root, 'examples', 'scaled'))).sort());
    for (const file of await readdir(output, { recursive: true, withFileTypes: true })) {
      if (file.isFile()) expect(await readFile(path.join(file.parentPath, file.name), 'utf8'), file.name).not.toContain(secret);
    }

    expect(image.cmd).toEqual(['node', '/app/node_modules/@woodwork/host/main.js']);
    const brokerUrl = redisUrl!;
    const namespace = `build-e2e-${randomUUID().slice(0, 8)}`;

    const units = Object.entries(compose.services).filter(([, service]) => service.environment?.WOODWORK_COMPONENT !== undefined);
    expect(units.map(([name]) => name)).toEqual(['gateway', 'workers', 'reply']);
    // Only the gateway uses API_TOKEN and PORT: the other containers do not get them, and start anyway.
    expect(units.filter(([, service]) => 'API_TOKEN' in service.environment!).map(([name]) => name)).toEqual(['gateway']);
    const failures: string[] = [];
    const gatewayPorts: number[] = [];
    const hostPorts: number[] = [];
    const containers: ReturnType<typeof startContainer>[] = [];
    for (const [name, service] of units) {
      for (let replica = 0; replica < (service.deploy?.replicas ?? 1); replica += 1) {
        const env: Record<string, string> = {};
        for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = interpolate(String(value), {});
        expect(env.WOODWORK_BUS_URL).toBe('redis://redis:6379');
        const overrides: Record<string, string> = { WOODWORK_BUS_URL: brokerUrl, WOODWORK_NAMESPACE: namespace };
        if (env.REDIS_URL === 'redis://redis:6379') overrides.REDIS_URL = brokerUrl;
        // Containers have a network each; here every process needs ports of its own.
        const hostPort = await freePort();
        overrides.WOODWORK_PORT = String(hostPort);
        hostPorts.push(hostPort);
        if (env.WOODWORK_API_PORT !== undefined) {
          expect(env.WOODWORK_API_PORT).toBe('8000');
          const apiPort = await freePort();
          overrides.WOODWORK_API_PORT = String(apiPort);
          gatewayPorts.push(apiPort);
        }
        const started = startContainer(output, artifacts, env, overrides);
        started.child.on('exit', (code, signal) => {
          if (code !== 0) failures.push(`${name} #${replica} exited (${code ?? signal}):\n${started.log()}`);
        });
        containers.push(started);
      }
    }
    expect(gatewayPorts).toHaveLength(2);
    expect(containers).toHaveLength(5);

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

    // The autoscalers scale on series the hosts really export: every External and Pods metric
    // of the manifests, with its selector, appears on some host's /metrics.
    const wanted: { name: string; component: string }[] = [];
    for (const file of await readdir(path.join(output, 'kubernetes'))) {
      for (const document of parseAllDocuments(await readFile(path.join(output, 'kubernetes', file), 'utf8'))) {
        const object = document.toJS() as { kind?: string; spec?: { metrics?: Record<string, { metric: { name: string; selector: { matchLabels: Record<string, string> } } }>[] } };
        if (object?.kind !== 'HorizontalPodAutoscaler') continue;
        for (const metric of object.spec!.metrics!) {
          const source = metric.external ?? metric.pods;
          if (source) wanted.push({ name: source.metric.name, component: source.metric.selector.matchLabels.woodwork_component_name! });
        }
      }
    }
    expect(wanted.map(({ name, component }) => `${name} ${component}`).sort()).toEqual([
      'woodwork_component_connections gateway',
      'woodwork_component_queue_depth normalize',
      'woodwork_component_queue_depth reply',
      'woodwork_component_queue_depth responder',
    ]);
    const series = (name: string, component: string) => new RegExp(`^${name}\\{[^}]*woodwork_component_name="${component}"[^}]*\\} (\\d+)`, 'm');
    await waitFor('the autoscalers\' series on /metrics', async () => {
      const exposition = (await Promise.all(hostPorts.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()))).join('\n');
      // Every turn is answered: nothing is left in any inbox.
      return wanted.every(({ name, component }) => {
        const match = series(name, component).exec(exposition);
        return match !== null && (name !== 'woodwork_component_queue_depth' || match[1] === '0');
      })
        ? true
        : undefined;
    }, 15_000);

    // SIGTERM, as a container runtime stops a container: every host drains and exits 0.
    for (const { child } of containers) child.kill('SIGTERM');
    expect(await Promise.all(containers.map(({ exit }) => exit))).toEqual(containers.map(() => 0));
  }, 120_000);

  it("gives each container only its unit's variables: a host starts without another unit's secret, and one without its own says which", async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'ww-build-e2e-'));
    workDirs.push(work);
    await mkdir(path.join(work, 'secrets'));
    await writeFile(
      path.join(work, 'secrets', 'main.ww'),
      'bus = redis { url = "${REDIS_URL:-redis://127.0.0.1:6379}" }\ngateway = input api { auth = { token = $API_TOKEN }, to = greet }\ngreet = transform template { template = "${GREETING} {{input}}" }\n',
    );
    const result = await runCli(['build', 'secrets', '--export', 'compose'], work);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('API_TOKEN (gateway), GREETING (greet)');
    const output = path.join(work, 'secrets', 'build');
    const artifacts = await readBuild(output);
    expect(artifacts.compose.services.gateway!.environment).not.toHaveProperty('GREETING');
    expect(artifacts.compose.services.greet!.environment).not.toHaveProperty('API_TOKEN');

    // What an operator's shell holds; compose gives each container the variables its service names.
    const shell = { API_TOKEN: 'e2e-token', GREETING: 'Hi' };
    const namespace = `build-e2e-${randomUUID().slice(0, 8)}`;
    const start = async (service: string, without?: string) => {
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(artifacts.compose.services[service]!.environment!)) if (key !== without) env[key] = interpolate(String(value), shell);
      const hostPort = await freePort();
      const apiPort = await freePort();
      const overrides = { WOODWORK_BUS_URL: redisUrl!, REDIS_URL: redisUrl!, WOODWORK_NAMESPACE: namespace, WOODWORK_PORT: String(hostPort), WOODWORK_API_PORT: String(apiPort) };
      return { ...startContainer(output, artifacts, env, overrides), hostPort, apiPort };
    };
    const gateway = await start('gateway');
    const greet = await start('greet');
    for (const container of [gateway, greet]) {
      await waitFor(`/ready on ${container.hostPort}`, async () => {
        if (container.child.exitCode !== null) throw new Error(`exited (${container.child.exitCode}):\n${container.log()}`);
        return (await fetch(`http://127.0.0.1:${container.hostPort}/ready`)).ok ? true : undefined;
      });
    }
    const answer = await fetch(`http://127.0.0.1:${gateway.apiPort}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer e2e-token', 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'there' }),
    });
    expect(answer.status).toBe(201);
    expect(await answer.json()).toMatchObject({ ok: true, reply: 'Hi there' });

    // A deployment that forgot the unit's own variable: configuration error (78), naming it and where it is used.
    const forgot = await start('greet', 'GREETING');
    expect(await forgot.exit).toBe(78);
    expect(forgot.log()).toContain('the host of `greet` needs GREETING, which is not set');
    expect(forgot.log()).toMatch(/main\.ww:3:\d+: error WW301: environment variable `GREETING` is not set/);

    for (const { child } of [gateway, greet]) child.kill('SIGTERM');
    expect(await Promise.all([gateway.exit, greet.exit])).toEqual([0, 0]);
  }, 90_000);

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
