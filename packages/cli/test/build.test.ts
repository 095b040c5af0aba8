/**
 * `woodwork build`: the artifacts it writes, checked by real validators (no Docker engine and no
 * cluster here): dockerfile-utils for the Dockerfile, the Compose Specification's own JSON schema
 * for docker-compose.yml, the Kubernetes OpenAPI models for the manifests, and the real `helm`
 * (`lint --strict`, `template`) for the chart, whose rendering must match the manifests. That the
 * image's command runs the topology is e2e/build.e2e.test.ts's part.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { runCli } from './run-cli.js';
import { helmLint, helmTemplate, lintDockerfile, skipWithoutValidators, validateCompose, validateKubernetes } from './support/validators.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

async function project(name: string, files: Record<string, string>): Promise<string> {
  const base = await mkdtemp(path.join(tmpdir(), 'ww-build-'));
  dirs.push(base);
  const dir = path.join(base, name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
  return dir;
}

async function example(name: string): Promise<string> {
  const base = await mkdtemp(path.join(tmpdir(), 'ww-build-'));
  dirs.push(base);
  await cp(path.join(root, 'examples', name), path.join(base, name), { recursive: true });
  return path.join(base, name);
}

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> };

async function manifests(dir: string): Promise<K8sObject[]> {
  const objects: K8sObject[] = [];
  for (const file of (await readdir(dir)).filter((name) => name !== 'kustomization.yaml').sort()) {
    for (const document of parseAllDocuments(await readFile(path.join(dir, file), 'utf8'))) objects.push(document.toJS() as K8sObject);
  }
  return objects;
}

async function validateManifestFolder(dir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const file of (await readdir(dir)).filter((name) => name !== 'kustomization.yaml')) {
    problems.push(...validateKubernetes(await readFile(path.join(dir, file), 'utf8')).map((problem) => `${file}: ${problem}`));
  }
  return problems;
}

const byKindAndName = (object: K8sObject) => `${object.kind}/${object.metadata.name}`;

/** What Helm adds to every object's labels, so a chart's objects compare with plain manifests. */
function withoutHelmLabels(object: K8sObject): K8sObject {
  const copy = structuredClone(object);
  const strip = (labels: Record<string, string> | undefined) => {
    if (!labels) return;
    delete labels['helm.sh/chart'];
    delete labels['app.kubernetes.io/instance'];
    delete labels['app.kubernetes.io/managed-by'];
  };
  strip(copy.metadata.labels);
  strip((copy.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template?.metadata?.labels);
  return copy;
}

const LLM_PROJECT = {
  'main.ww': `bus = nats { url = "\${NATS_URL:-nats://127.0.0.1:4222}" }

model = llm openai {
    model = "gpt-4o-mini"
    api_key = $OPENAI_API_KEY
}

api = input api {
    port = 9000
    auth = { token = $API_TOKEN }
    to = model
    deployment = { scaling = { min_instances = 1, max_instances = 4, scale_metric = "cpu", scale_threshold = 70 }, resources = { cpu = "200m" } }
}
`,
  '.env': 'OPENAI_API_KEY=sk-from-dotenv-never-copied\nAPI_TOKEN=token-from-dotenv\n',
  '.env.example': 'OPENAI_API_KEY=\nAPI_TOKEN=\n',
  'package.json': JSON.stringify({ name: 'llm-app', private: true, dependencies: { 'left-pad': '^1.3.0', '@woodwork/runtime': 'workspace:*' } }),
};

describe('woodwork build: examples/scaled (Redis bus, a gateway, a vm server group, scaling)', async () => {
  const dir = await example('scaled');
  const result = await runCli(['build', dir]);
  const out = path.join(dir, 'build');

  it('builds without a problem and says what it wrote and what to run next', () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Built ${path.join(dir, 'main.ww')} into ${out}/`);
    expect(result.stdout).toMatch(/workers\s+normalize, responder; 1-5 replicas on queue_depth/);
    expect(result.stdout).toContain(`kubectl apply -k ${out}/kubernetes`);
    expect(result.stdout).toContain(`helm install scaled ${out}/helm/scaled`);
  });

  it('writes a Dockerfile that dockerfile-utils finds nothing wrong with, running the host as the node user', async () => {
    const text = await readFile(path.join(out, 'image', 'Dockerfile'), 'utf8');
    expect(await lintDockerfile(text)).toEqual([]);
    expect(text).toContain('CMD ["node", "/app/node_modules/@woodwork/host/main.js"]');
    expect(text).toContain('USER node');
    expect(text).toContain('EXPOSE 8080 8000');
    expect(text).not.toContain('python3');
    const pkg = JSON.parse(await readFile(path.join(out, 'image', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).toEqual(['@woodwork/host']);
  });

  it('writes a compose file the Compose Specification schema accepts, with a service per unit and the broker', async () => {
    const text = await readFile(path.join(out, 'docker-compose.yml'), 'utf8');
    expect(validateCompose(text)).toEqual([]);
    const compose = parse(text) as { name: string; services: Record<string, Record<string, unknown>> };
    expect(compose.name).toBe('scaled');
    expect(Object.keys(compose.services)).toEqual(['redis', 'gateway', 'workers', 'reply']);
    expect(compose.services.gateway).toMatchObject({
      image: 'scaled:latest',
      build: { context: './image' },
      ports: ['8000-8001:8000'],
      deploy: { replicas: 2, resources: { limits: { cpus: '0.25', memory: '128m' } } },
      depends_on: { redis: { condition: 'service_healthy' } },
      environment: { WOODWORK_COMPONENT: 'gateway', WOODWORK_BUS_URL: 'redis://redis:6379', WOODWORK_API_PORT: '8000', API_TOKEN: '${API_TOKEN:-dev-token}' },
    });
    expect(compose.services.workers).toMatchObject({ environment: { WOODWORK_COMPONENT: 'workers' }, deploy: { replicas: 1 } });
    // The gateway's variables are the gateway's; the bus's are everyone's.
    for (const unit of ['workers', 'reply']) {
      expect(compose.services[unit]!.environment).toEqual({ WOODWORK_COMPONENT: unit, WOODWORK_BUS_URL: 'redis://redis:6379', WOODWORK_NAMESPACE: 'scaled', REDIS_URL: 'redis://redis:6379' });
    }
    // The redis command's `yes` stays a string for YAML 1.1 readers.
    expect(text).toContain('- "yes"');
  });

  it('writes Kubernetes manifests the Kubernetes models accept: probes, resources, autoscalers, budgets', async () => {
    const dirK8s = path.join(out, 'kubernetes');
    expect(await validateManifestFolder(dirK8s)).toEqual([]);
    const objects = await manifests(dirK8s);
    expect(objects.map(byKindAndName)).toEqual([
      'ConfigMap/scaled-config',
      'Deployment/scaled-gateway',
      'Service/scaled-gateway',
      'HorizontalPodAutoscaler/scaled-gateway',
      'PodDisruptionBudget/scaled-gateway',
      'Deployment/scaled-reply',
      'Service/scaled-reply',
      'HorizontalPodAutoscaler/scaled-reply',
      'PodDisruptionBudget/scaled-reply',
      'Deployment/scaled-workers',
      'Service/scaled-workers',
      'HorizontalPodAutoscaler/scaled-workers',
    ]);
    const gateway = objects.find((object) => byKindAndName(object) === 'Deployment/scaled-gateway')!;
    const container = (gateway.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers[0]!;
    expect(container).toMatchObject({
      image: 'scaled:latest',
      ports: [
        { name: 'host', containerPort: 8080 },
        { name: 'api', containerPort: 8000 },
      ],
      readinessProbe: { httpGet: { path: '/ready', port: 'host' } },
      livenessProbe: { httpGet: { path: '/health', port: 'host' } },
      resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '128Mi' } },
    });
    expect(container.env).toContainEqual({ name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'scaled-env', key: 'API_TOKEN', optional: true } } });
    expect(container.env).toContainEqual({ name: 'REDIS_URL', valueFrom: { configMapKeyRef: { name: 'scaled-config', key: 'WOODWORK_BUS_URL' } } });
    // Each unit scales on what the file says: the gateway on its open connections per pod, the
    // workers on the busier of their two inboxes, the reply on its inbox.
    const metricsOf = (name: string) => (objects.find((object) => byKindAndName(object) === `HorizontalPodAutoscaler/${name}`)!.spec as { metrics: unknown[] }).metrics;
    expect(metricsOf('scaled-gateway')).toEqual([
      { type: 'Pods', pods: { metric: { name: 'woodwork_component_connections', selector: { matchLabels: { woodwork_component_name: 'gateway' } } }, target: { type: 'AverageValue', averageValue: '100' } } },
    ]);
    expect(metricsOf('scaled-workers')).toEqual(
      ['normalize', 'responder'].map((component) => ({
        type: 'External',
        external: { metric: { name: 'woodwork_component_queue_depth', selector: { matchLabels: { woodwork_component_name: component } } }, target: { type: 'AverageValue', averageValue: '20' } },
      })),
    );
    expect(metricsOf('scaled-reply')).toEqual([
      { type: 'External', external: { metric: { name: 'woodwork_component_queue_depth', selector: { matchLabels: { woodwork_component_name: 'reply' } } }, target: { type: 'AverageValue', averageValue: '5' } } },
    ]);
    const replyService = objects.find((object) => byKindAndName(object) === 'Service/scaled-reply')!;
    // session_affinity on a unit without an API port: nothing for a Service to pin.
    expect(replyService.spec).not.toHaveProperty('sessionAffinity');
    const kustomization = parse(await readFile(path.join(dirK8s, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toEqual(['config.yaml', 'gateway.yaml', 'workers.yaml', 'reply.yaml']);
  });

  describe.skipIf(skipWithoutValidators('helm'))('the Helm chart', () => {
    const chart = path.join(out, 'helm', 'scaled');

    it('passes helm lint --strict', async () => {
      const lint = await helmLint(chart);
      expect(lint.output).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(lint.ok).toBe(true);
    });

    it('renders, with its default values, the same objects as the Kubernetes manifests', async () => {
      const rendered = parseAllDocuments(await helmTemplate(chart))
        .map((document) => document.toJS() as K8sObject | null)
        .filter((object): object is K8sObject => object !== null);
      expect(validateKubernetes(await helmTemplate(chart))).toEqual([]);
      const plain = await manifests(path.join(out, 'kubernetes'));
      const sort = (objects: K8sObject[]) => objects.map(withoutHelmLabels).sort((a, b) => byKindAndName(a).localeCompare(byKindAndName(b)));
      expect(sort(rendered)).toEqual(sort(plain));
    });

    it('takes an operator\'s values: replicas, image, bus, and a Secret from secretValues', async () => {
      const text = await helmTemplate(chart, [
        '--set', 'units.gateway.replicas=4',
        '--set', 'image.repository=registry.example.com/scaled', '--set', 'image.tag=1.2.3',
        '--set', 'bus.url=redis://redis.prod:6379',
        '--set', 'secretValues.API_TOKEN=prod-token',
      ]);
      expect(validateKubernetes(text)).toEqual([]);
      const objects = parseAllDocuments(text).map((document) => document.toJS() as K8sObject | null).filter((object): object is K8sObject => object !== null);
      const gateway = objects.find((object) => byKindAndName(object) === 'Deployment/scaled-gateway')!;
      expect(gateway.spec).toMatchObject({ replicas: 4, template: { spec: { containers: [{ image: 'registry.example.com/scaled:1.2.3' }] } } });
      expect(objects.find((object) => object.kind === 'ConfigMap')!.data).toMatchObject({ WOODWORK_BUS_URL: 'redis://redis.prod:6379' });
      expect(objects.find((object) => object.kind === 'Secret')).toMatchObject({ metadata: { name: 'scaled-env' }, stringData: { API_TOKEN: 'prod-token' } });
    });

    it('refuses to render without a bus URL, saying which value to set', async () => {
      await expect(helmTemplate(chart, ['--set', 'bus.url='])).rejects.toThrow(/bus\.url is required/);
    });
  });

  it('builds again into its own earlier output, replacing it', async () => {
    const again = await runCli(['build', dir, '--export', 'kubernetes']);
    expect(again.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['.woodwork-build.json', 'kubernetes']);
  });
});

describe('woodwork build: an LLM behind a gateway on NATS, with secrets', async () => {
  const dir = await project('llm-app', LLM_PROJECT);
  const result = await runCli(['build', dir, '--image', 'registry.example.com/llm-app:2.0.0', '--namespace', 'agents', '--bus', 'nats://nats.messaging:4222'], {
    env: { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-from-the-shell-never-written' },
  });
  const out = path.join(dir, 'build');

  it('names the variables a deployment must supply and how to give them to Kubernetes', () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Variables with no default, which every deployment must supply (each only to the units in brackets): OPENAI_API_KEY (model), API_TOKEN (api)');
    expect(result.stdout).toContain('kubectl create secret generic llm-app-env --from-literal=OPENAI_API_KEY=… --from-literal=API_TOKEN=…');
  });

  it('never writes a secret: not from the shell, not from .env, which stays out of the image', async () => {
    for (const file of await readdir(out, { recursive: true, withFileTypes: true })) {
      if (!file.isFile()) continue;
      const text = await readFile(path.join(file.parentPath, file.name), 'utf8');
      expect(text, file.name).not.toContain('sk-from-the-shell-never-written');
      expect(text, file.name).not.toContain('sk-from-dotenv-never-copied');
      expect(text, file.name).not.toContain('token-from-dotenv');
    }
    expect((await readdir(path.join(out, 'image', 'project'))).sort()).toEqual(['.env.example', 'main.ww', 'package.json']);
  });

  it('installs the project\'s own dependencies in the image, but not workspace links', async () => {
    const pkg = JSON.parse(await readFile(path.join(out, 'image', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies).toEqual({ '@woodwork/host': expect.any(String), 'left-pad': '^1.3.0' });
  });

  it('starts NATS and a Redis for sessions in compose, and makes compose refuse to start without the secrets', async () => {
    const text = await readFile(path.join(out, 'docker-compose.yml'), 'utf8');
    expect(validateCompose(text)).toEqual([]);
    const compose = parse(text) as { services: Record<string, { environment?: Record<string, string>; ports?: string[] }> };
    expect(Object.keys(compose.services)).toEqual(['nats', 'redis', 'model', 'api']);
    expect(compose.services.api!.environment).toMatchObject({
      WOODWORK_BUS_URL: 'nats://nats:4222',
      WOODWORK_SESSIONS_URL: 'redis://redis:6379',
      WOODWORK_API_PORT: '9000',
      API_TOKEN: '${API_TOKEN:?set API_TOKEN: main.ww uses it at main.ww:10:22}',
      NATS_URL: 'nats://nats:4222',
    });
    expect(compose.services.model!.environment).toMatchObject({
      OPENAI_API_KEY: '${OPENAI_API_KEY:?set OPENAI_API_KEY: main.ww uses it at main.ww:5:15}',
      NATS_URL: 'nats://nats:4222',
    });
    expect(compose.services.api!.ports).toEqual(['9000:9000']);
  });

  it('points Kubernetes at the given bus, in the given namespace, with required Secret keys and a CPU autoscaler', async () => {
    const dirK8s = path.join(out, 'kubernetes');
    expect(await validateManifestFolder(dirK8s)).toEqual([]);
    const objects = await manifests(dirK8s);
    expect(objects.find((object) => object.kind === 'ConfigMap')!.data).toEqual({
      WOODWORK_BUS_URL: 'nats://nats.messaging:4222',
      WOODWORK_SESSIONS_URL: 'redis://redis:6379',
      WOODWORK_NAMESPACE: 'llm-app',
    });
    const model = objects.find((object) => byKindAndName(object) === 'Deployment/llm-app-model')!;
    const container = (model.spec as { template: { spec: { containers: { image: string; env: unknown[] }[] } } }).template.spec.containers[0]!;
    expect(container.image).toBe('registry.example.com/llm-app:2.0.0');
    expect(container.env).toContainEqual({ name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'llm-app-env', key: 'OPENAI_API_KEY', optional: false } } });
    expect(objects.find((object) => byKindAndName(object) === 'HorizontalPodAutoscaler/llm-app-api')!.spec).toMatchObject({
      minReplicas: 1,
      maxReplicas: 4,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    });
    expect(parse(await readFile(path.join(dirK8s, 'kustomization.yaml'), 'utf8'))).toMatchObject({ namespace: 'agents' });
  });

  it.skipIf(skipWithoutValidators('helm'))('writes a chart that lints and renders valid objects, the same as the manifests', async () => {
    const chart = path.join(out, 'helm', 'llm-app');
    expect((await helmLint(chart)).ok).toBe(true);
    const text = await helmTemplate(chart);
    expect(validateKubernetes(text)).toEqual([]);
    const rendered = parseAllDocuments(text)
      .map((document) => document.toJS() as K8sObject | null)
      .filter((object): object is K8sObject => object !== null);
    const sort = (objects: K8sObject[]) => objects.map(withoutHelmLabels).sort((a, b) => byKindAndName(a).localeCompare(byKindAndName(b)));
    expect(sort(rendered)).toEqual(sort(await manifests(path.join(out, 'kubernetes'))));
  });

  describe('each container gets only the variables of its own unit (and the bus\'s)', () => {
    // What each format gives a unit's container: variable name → where its value comes from.
    const fromCompose = async (unit: string) => {
      const compose = parse(await readFile(path.join(out, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment: Record<string, string> }> };
      return compose.services[unit]!.environment;
    };
    const containerEnv = (objects: K8sObject[], unit: string) => {
      const deployment = objects.find((object) => byKindAndName(object) === `Deployment/llm-app-${unit}`)!;
      const env = (deployment.spec as { template: { spec: { containers: { env: { name: string }[] }[] } } }).template.spec.containers[0]!.env;
      return env.map((entry) => entry.name);
    };

    it('compose: `api` has API_TOKEN and not OPENAI_API_KEY; `model` the other way round', async () => {
      const api = await fromCompose('api');
      const model = await fromCompose('model');
      expect(api).toHaveProperty('API_TOKEN');
      expect(api).not.toHaveProperty('OPENAI_API_KEY');
      expect(model).toHaveProperty('OPENAI_API_KEY');
      expect(model).not.toHaveProperty('API_TOKEN');
      // The bus's variable is every unit's, set to the bus.
      expect([api.NATS_URL, model.NATS_URL]).toEqual(['nats://nats:4222', 'nats://nats:4222']);
    });

    it('Kubernetes: each Deployment names only its unit\'s Secret keys', async () => {
      const objects = await manifests(path.join(out, 'kubernetes'));
      expect(containerEnv(objects, 'api')).toEqual(['WOODWORK_COMPONENT', 'WOODWORK_API_PORT', 'NATS_URL', 'API_TOKEN']);
      expect(containerEnv(objects, 'model')).toEqual(['WOODWORK_COMPONENT', 'NATS_URL', 'OPENAI_API_KEY']);
    });

    it.skipIf(skipWithoutValidators('helm'))('Helm: a variables list per unit in values.yaml, and the rendered Deployments agree', async () => {
      const chart = path.join(out, 'helm', 'llm-app');
      const values = parse(await readFile(path.join(chart, 'values.yaml'), 'utf8')) as { variables?: unknown; units: Record<string, { variables: unknown }> };
      expect(values.variables).toBeUndefined();
      expect(values.units.api!.variables).toEqual([{ name: 'NATS_URL', fromBus: true }, { name: 'API_TOKEN', optional: false }]);
      expect(values.units.model!.variables).toEqual([{ name: 'NATS_URL', fromBus: true }, { name: 'OPENAI_API_KEY', optional: false }]);
      const rendered = parseAllDocuments(await helmTemplate(chart, ['--set', 'secretValues.OPENAI_API_KEY=sk-test']))
        .map((document) => document.toJS() as K8sObject | null)
        .filter((object): object is K8sObject => object !== null);
      expect(containerEnv(rendered, 'api')).not.toContain('OPENAI_API_KEY');
      expect(containerEnv(rendered, 'model')).toContain('OPENAI_API_KEY');
    });
  });
});

describe('woodwork build: problems are named, with what to do', () => {
  it('a terminal input stays out of the containers, and a topology without input in them is warned about', async () => {
    const dir = await example('echo');
    const result = await runCli(['build', dir]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('warning no container takes input: add an `input api` so clients can reach the topology');
    expect(result.stdout).toContain('(not in a container: input, because `input` reads a terminal, which a container does not have (use `input api` to take input))');
    const compose = parse(await readFile(path.join(dir, 'build', 'docker-compose.yml'), 'utf8')) as { services: Record<string, unknown> };
    expect(Object.keys(compose.services)).toEqual(['redis', 'shout', 'output']);
  });

  it('a topology whose every component runs outside containers has nothing to build', async () => {
    const dir = await project('local-only', { 'main.ww': 'in = input command_line {}\nshout = transform uppercase { deployment = { mode = "local" } }\n' });
    const result = await runCli(['build', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error nothing to put in a container: every component runs outside containers');
    expect(result.stderr).toContain('hint: give a component `deployment = { mode = "container" }`, or add an `input api`');
  });

  it('an in-memory bus is replaced by Redis, with a warning', async () => {
    const dir = await project('memo', { 'main.ww': 'bus = memory {}\napi = input api { auth = { token = "t" } }\nshout = transform uppercase {}\n' });
    const result = await runCli(['build', dir, '--export', 'compose']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("warning the file's bus is in-memory, which cannot connect containers: the build uses Redis");
    expect(validateCompose(await readFile(path.join(dir, 'build', 'docker-compose.yml'), 'utf8'))).toEqual([]);
  });

  it('Python hooks put python3 in the image', async () => {
    const dir = await project('py', {
      'main.ww': 'api = input api { auth = { token = "t" } }\nshout = transform uppercase { hooks = [{ event = "*", function = "hooks.py::log" }] }\n',
      'hooks.py': 'def log(event):\n    pass\n',
    });
    const result = await runCli(['build', dir, '--export', 'docker']);
    expect(result.code).toBe(0);
    const text = await readFile(path.join(dir, 'build', 'image', 'Dockerfile'), 'utf8');
    expect(text).toContain('apt-get install -y --no-install-recommends python3');
    expect(await lintDockerfile(text)).toEqual([]);
  });

  it('an unknown export format, a bad namespace, a wrong bus scheme and an unknown deploy target', async () => {
    const dir = await example('scaled');
    const cases: [string[], string][] = [
      [['--export', 'kubernetes,swarm'], 'error --export kubernetes,swarm: `swarm` is not a format'],
      [['--namespace', 'My_Agents'], 'error --namespace My_Agents is not a Kubernetes namespace name'],
      [['--bus', 'nats://nats:4222'], "error --bus nats://nats:4222 is not a redis:// URL, and the file's bus is redis"],
      [['--deploy', 'aws'], 'error --deploy aws is not a target'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['build', dir, ...args]);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('hint:');
    }
    await expect(readdir(path.join(dir, 'build'))).rejects.toThrow(/ENOENT/);
  });

  it('a file with errors is not built, and its diagnostics are shown', async () => {
    const dir = await project('broken', { 'main.ww': 'api = input api { port = "eighty" }\n' });
    const result = await runCli(['build', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/main\.ww:1:\d+/);
    expect(result.stderr).toContain('cannot be built');
  });

  it('--deploy local writes the artifacts, then says plainly that no Docker engine answers', async () => {
    const dir = await example('scaled');
    const result = await runCli(['build', dir, '--deploy', 'local'], { env: { PATH: process.env.PATH, DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('error --deploy local needs a Docker engine, and none answers here');
    expect(result.stderr).toContain(`docker compose -f ${path.join(dir, 'build', 'docker-compose.yml')} up -d --build`);
    expect(validateCompose(await readFile(path.join(dir, 'build', 'docker-compose.yml'), 'utf8'))).toEqual([]);
  });
});
