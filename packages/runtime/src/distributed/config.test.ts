/**
 * The host's configuration and the split of a topology into processes: every user mistake names
 * the variable (or the file) and what to do. No broker needed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTopology, type Topology } from '@woodwork/parser';
import { distributedUrls, HostExitCode, hostUnits, loadHostTopology, readHostConfig, resolveUnit, runHostProcess } from './index.js';

const MAIN = `in = command_line { to = echo }
echo = transform echo { to = shout }
shout = transform uppercase { to = out }
out = console {}
tail = vm server { components = [shout, out] }
`;

let dir: string;
let topology: Topology;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ww-distributed-'));
  await writeFile(path.join(dir, 'main.ww'), MAIN);
  topology = await loadHostTopology(path.join(dir, 'main.ww'), {});
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('host units', () => {
  it('makes one process per vm server group and per component outside a group', () => {
    expect(hostUnits(topology)).toEqual([
      { name: 'in', components: ['in'], group: false },
      { name: 'echo', components: ['echo'], group: false },
      { name: 'tail', components: ['shout', 'out'], group: true },
    ]);
  });

  it('resolves WOODWORK_COMPONENT: a group, a component (to its group), or a list', () => {
    expect(resolveUnit(topology, 'tail').components).toEqual(['shout', 'out']);
    expect(resolveUnit(topology, 'out').name).toBe('tail');
    expect(resolveUnit(topology, 'echo').components).toEqual(['echo']);
    expect(resolveUnit(topology, 'in, echo')).toEqual({ name: 'in,echo', components: ['in', 'echo'], group: false });
  });

  it('names what exists when WOODWORK_COMPONENT names nothing', () => {
    expect(() => resolveUnit(topology, 'nope')).toThrow(/WOODWORK_COMPONENT names `nope`, which is not in/);
    try {
      resolveUnit(topology, 'nope');
    } catch (error) {
      expect((error as { hint: string }).hint).toBe('set it to one of: in, echo, tail (group: shout, out)');
    }
  });
});

describe('loading the topology', () => {
  it('loads topology JSON as `woodwork validate --json` prints it, resolving env references', async () => {
    const file = path.join(dir, 'topology.json');
    const withEnv = { ...topology, env: [] };
    await writeFile(file, JSON.stringify({ ok: true, file: 'main.ww', topology: withEnv, diagnostics: [] }));
    const loaded = await loadHostTopology(file, {});
    expect(loaded.components.map((component) => component.name)).toEqual(['in', 'echo', 'shout', 'out']);
  });

  it('reports a .ww file with problems with its diagnostics', async () => {
    await writeFile(path.join(dir, 'bad.ww'), 'in = command_line { to = nowhere }\n');
    await expect(loadHostTopology(path.join(dir, 'bad.ww'), {})).rejects.toThrow(/bad\.ww cannot run \(1 problem\)[\s\S]*nowhere/);
  });

  describe("a host resolves only its own unit's variables", () => {
    // Two units with a secret each, and a bus that needs a variable of its own.
    const SECRETS = `bus = redis { url = $BUS_URL }
api = input api { auth = { token = $API_TOKEN }, to = model }
model = transform template { template = "\${MODEL_KEY}: {{input}}" }
`;
    let file: string;
    beforeAll(async () => {
      file = path.join(dir, 'secrets.ww');
      await writeFile(file, SECRETS);
    });

    it("unit A's host loads without unit B's variable, whose references stay unresolved", async () => {
      const loaded = await loadHostTopology(file, { BUS_URL: 'redis://r:6379', API_TOKEN: 't' }, { unit: 'api' });
      expect(loaded.bus?.url).toBe('redis://r:6379');
      expect(loaded.components[0]?.config.auth).toMatchObject({ token: 't' });
      expect(loaded.components[1]?.config.template).toEqual({ $template: [{ $env: 'MODEL_KEY' }, ': {{input}}'] });
      const model = await loadHostTopology(file, { BUS_URL: 'redis://r:6379', MODEL_KEY: 'k' }, { unit: 'model' });
      expect(model.components[1]?.config.template).toBe('k: {{input}}');
      expect(model.components[0]?.config.auth).toMatchObject({ token: { $env: 'API_TOKEN' } });
    });

    it("unit B's host fails naming the unit, the variable and where the file uses it", async () => {
      const failure = loadHostTopology(file, { BUS_URL: 'redis://r:6379', API_TOKEN: 't' }, { unit: 'model' });
      await expect(failure).rejects.toThrow(/^the host of `model` needs MODEL_KEY, which is not set \(.*secrets\.ww, 1 problem\)/);
      await expect(failure).rejects.toThrow(/secrets\.ww:3:42: error WW301: environment variable `MODEL_KEY` is not set/);
      await expect(failure).rejects.toMatchObject({ hint: expect.stringContaining("set it in this host's environment") });
      // The bus's variable is every unit's.
      await expect(loadHostTopology(file, { API_TOKEN: 't' }, { unit: 'api' })).rejects.toThrow(/^the host of `api` needs BUS_URL, which is not set/);
      // Without a unit, every variable is needed, as before.
      await expect(loadHostTopology(file, { BUS_URL: 'redis://r:6379', API_TOKEN: 't' })).rejects.toThrow(/secrets\.ww cannot run \(1 problem\)[\s\S]*MODEL_KEY/);
    });

    it('does the same for topology JSON', async () => {
      const json = path.join(dir, 'secrets.json');
      const { topology: analysed } = await loadTopology(file, { mode: 'validate', env: {} });
      await writeFile(json, JSON.stringify({ ok: true, file: 'secrets.ww', topology: analysed, diagnostics: [] }));
      const loaded = await loadHostTopology(json, { BUS_URL: 'redis://r:6379', API_TOKEN: 't' }, { unit: 'api' });
      expect(loaded.components[1]?.config.template).toHaveProperty('$template');
      await expect(loadHostTopology(json, { BUS_URL: 'redis://r:6379', API_TOKEN: 't' }, { unit: 'model' })).rejects.toThrow(/^the host of `model` needs MODEL_KEY/);
    });

    it('runHostProcess: the host of the unit lacking its variable exits 78 naming both', async () => {
      const stderr = new PassThrough();
      let text = '';
      stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const code = await runHostProcess({ env: { WOODWORK_TOPOLOGY: file, WOODWORK_COMPONENT: 'model', WOODWORK_BUS_URL: 'redis://127.0.0.1:1', BUS_URL: 'redis://r:6379', API_TOKEN: 't' }, stderr });
      expect(code).toBe(HostExitCode.config);
      expect(text).toContain('[woodwork] error `model` could not start: the host of `model` needs MODEL_KEY, which is not set');
      expect(text).toContain("hint: set it in this host's environment (or in .env beside the .ww file); a host needs only the variables of its own components (model) and of the bus");
      expect(text).not.toMatch(/\n\s+at /);
    });
  });

  it('reports a JSON file that holds no topology', async () => {
    await writeFile(path.join(dir, 'other.json'), '{"hello": 1}');
    await expect(loadHostTopology(path.join(dir, 'other.json'), {})).rejects.toThrow(/does not hold a topology/);
    await expect(loadHostTopology(path.join(dir, 'missing.json'), {})).rejects.toThrow(/cannot read the topology/);
  });
});

describe('host configuration', () => {
  const base = { WOODWORK_TOPOLOGY: 'main.ww', WOODWORK_COMPONENT: 'echo' };

  it('reads the environment with its defaults', () => {
    const config = readHostConfig(base, '/project');
    expect(config).toMatchObject({
      topologyFile: '/project/main.ww',
      unit: 'echo',
      busUrl: undefined,
      sessionsUrl: undefined,
      namespace: 'woodwork',
      port: 8080,
      listenHost: '0.0.0.0',
      projectDir: '/project',
      drainTimeoutMs: 12_000,
      registryTtlMs: 15_000,
      logLevel: 'info',
      metricsEvents: false,
    });
    expect(readHostConfig({ ...base, WOODWORK_METRICS_EVENTS: '1' }).metricsEvents).toBe(true);
    expect(readHostConfig({ ...base, WOODWORK_METRICS_EVENTS: 'true' }).metricsEvents).toBe(true);
    expect(readHostConfig({ ...base, WOODWORK_METRICS_EVENTS: '0' }).metricsEvents).toBe(false);
  });

  it('names the variable and what to set it to', () => {
    expect(() => readHostConfig({ WOODWORK_COMPONENT: 'echo' })).toThrow(/^WOODWORK_TOPOLOGY is not set/);
    expect(() => readHostConfig({ WOODWORK_TOPOLOGY: 'main.ww' })).toThrow(/^WOODWORK_COMPONENT is not set/);
    expect(() => readHostConfig({ ...base, WOODWORK_PORT: 'eighty' })).toThrow(/^WOODWORK_PORT is "eighty", which is not a whole number from 0 to 65535/);
    expect(() => readHostConfig({ ...base, WOODWORK_NAMESPACE: '_bad' })).toThrow(/^WOODWORK_NAMESPACE is "_bad"/);
    expect(() => readHostConfig({ ...base, WOODWORK_LOG_LEVEL: 'loud' })).toThrow(/^WOODWORK_LOG_LEVEL is "loud"/);
    expect(() => readHostConfig({ ...base, WOODWORK_METRICS_EVENTS: 'yes please' })).toThrow(/^WOODWORK_METRICS_EVENTS is "yes please"/);
  });

  it('takes the bus from the file unless given, refuses the memory bus, needs Redis for sessions', () => {
    const source = { bus: 'WOODWORK_BUS_URL', sessions: 'WOODWORK_SESSIONS_URL', file: 'main.ww' };
    expect(distributedUrls({ busUrl: undefined, sessionsUrl: undefined }, 'redis://r:6379', source)).toEqual({ busUrl: 'redis://r:6379', sessionsUrl: 'redis://r:6379' });
    expect(distributedUrls({ busUrl: 'nats://n:4222', sessionsUrl: 'redis://r:6379' }, 'redis://other', source)).toEqual({ busUrl: 'nats://n:4222', sessionsUrl: 'redis://r:6379' });
    expect(() => distributedUrls({ busUrl: undefined, sessionsUrl: undefined }, undefined, source)).toThrow(/no broker to run main.ww on/);
    expect(() => distributedUrls({ busUrl: 'memory://x', sessionsUrl: undefined }, undefined, source)).toThrow(/in-memory bus \(memory:\/\/x\) cannot connect separate processes/);
    expect(() => distributedUrls({ busUrl: 'kafka://k:9092', sessionsUrl: undefined }, undefined, source)).toThrow(/the bus is kafka, and sessions need Redis/);
    expect(() => distributedUrls({ busUrl: 'kafka://k:9092', sessionsUrl: 'nats://n' }, undefined, source)).toThrow(/WOODWORK_SESSIONS_URL is "nats:\/\/n", which is not a redis:\/\/ URL/);
    expect(() => distributedUrls({ busUrl: 'amqp://q', sessionsUrl: undefined }, undefined, source)).toThrow(/not a redis:\/\/, nats:\/\/ or kafka:\/\/ URL/);
  });
});

describe('runHostProcess', () => {
  async function run(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const code = await runHostProcess({ env, stderr });
    return { code, stderr: text };
  }

  it('exits 78 (configuration) with the message and hint, no stack, for a user mistake', async () => {
    const missing = await run({});
    expect(missing.code).toBe(HostExitCode.config);
    expect(missing.stderr).toBe(
      '[woodwork] error the host cannot start: WOODWORK_TOPOLOGY is not set: the host does not know which topology to run\n  hint: set WOODWORK_TOPOLOGY to the path of the .ww file (or its topology JSON)\n',
    );
    const unknown = await run({ WOODWORK_TOPOLOGY: path.join(dir, 'main.ww'), WOODWORK_COMPONENT: 'nope', WOODWORK_BUS_URL: 'redis://127.0.0.1:1' });
    expect(unknown.code).toBe(HostExitCode.config);
    expect(unknown.stderr).toContain('`nope` could not start: WOODWORK_COMPONENT names `nope`');
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const noBus = await run({ WOODWORK_TOPOLOGY: path.join(dir, 'main.ww'), WOODWORK_COMPONENT: 'echo' });
    expect(noBus.code).toBe(HostExitCode.config);
    expect(noBus.stderr).toContain('no broker to run');
  });
});
