/**
 * The validators the `woodwork build` tests rely on (test/support/validators.ts): each one accepts
 * a small known-good artifact and rejects known-bad ones, so a green artifact test means something.
 * helm and the Compose schema come from `bash tools/validators.sh install` (npm test runs it).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  HELM_RELEASE,
  helmLint,
  helmTemplate,
  kubernetesKinds,
  lintDockerfile,
  skipWithoutValidators,
  validateCompose,
  validateKubernetes,
} from './support/validators.js';

const GOOD_DOCKERFILE = `# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "healthcheck.js"]
ENTRYPOINT ["node", "host.js"]
`;

describe('lintDockerfile', () => {
  it('accepts a multi-stage Node Dockerfile', async () => {
    expect(await lintDockerfile(GOOD_DOCKERFILE)).toEqual([]);
  });

  it('rejects a Dockerfile with no FROM', async () => {
    const problems = await lintDockerfile('WORKDIR /app\nCOPY . .\nCMD ["node", "host.js"]\n');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(/FROM/);
  });

  it('rejects an unknown instruction, naming its line and column', async () => {
    const problems = await lintDockerfile('FROM node:20\nCOPPY . /app\n');
    expect(problems).toEqual([expect.stringMatching(/^2:1 .*Unknown instruction: COPPY/i)]);
  });

  it('counts warnings as problems: lowercase instructions, a relative WORKDIR, two CMDs', async () => {
    const problems = await lintDockerfile('from node:20\nWORKDIR app\nCMD ["a"]\nCMD ["b"]\n');
    expect(problems.some((p) => p.startsWith('1:1 '))).toBe(true);
    expect(problems.some((p) => p.startsWith('2:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('3:') || p.startsWith('4:'))).toBe(true);
  });

  it('rejects a bad port and a bad base image reference', async () => {
    expect(await lintDockerfile('FROM node:20\nEXPOSE eighty\n')).not.toEqual([]);
    expect(await lintDockerfile('FROM node:-bad\n')).toEqual(['1:11 invalid reference format']);
  });
});

const GOOD_COMPOSE = `name: echo
services:
  redis:
    image: redis:7-alpine
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 5s
  host:
    build:
      context: .
      dockerfile: Dockerfile
    image: woodwork/echo:latest
    command: ["--component", "shout"]
    environment:
      WOODWORK_BUS: redis://redis:6379
      OPENAI_API_KEY: \${OPENAI_API_KEY:-}
    ports:
      - "8080:8080"
    depends_on:
      redis:
        condition: service_healthy
    deploy:
      replicas: 2
      resources:
        limits:
          memory: 256M
    restart: unless-stopped
volumes:
  data: {}
`;

describe.skipIf(skipWithoutValidators('compose'))('validateCompose (Compose Specification schema)', () => {
  it('accepts a compose file with build, healthcheck, depends_on and deploy', () => {
    expect(validateCompose(GOOD_COMPOSE)).toEqual([]);
  });

  it('rejects ports given as a number, naming the path', () => {
    const problems = validateCompose('services:\n  web:\n    image: nginx\n    ports: 5\n');
    expect(problems).toEqual(['/services/web/ports must be array']);
  });

  it('rejects an unknown service key and an unknown top-level key', () => {
    const problems = validateCompose('services:\n  web:\n    image: nginx\n    portz: ["80:80"]\nservicez: {}\n');
    expect(problems).toContain('/services/web must NOT have property "portz" (not in the schema)');
    expect(problems.join('\n')).toMatch(/servicez/);
  });

  it('rejects a bad depends_on condition and a replica count that is neither a number nor a string', () => {
    const problems = validateCompose(
      'services:\n  a:\n    image: x\n    depends_on:\n      b:\n        condition: when_ready\n    deploy:\n      replicas: [2]\n  b:\n    image: y\n',
    );
    expect(problems.join('\n')).toMatch(/\/services\/a\/depends_on/);
    expect(problems.join('\n')).toMatch(/\/services\/a\/deploy\/replicas/);
  });

  it('reports YAML that does not parse', () => {
    expect(validateCompose('services:\n  web: [\n')[0]).toMatch(/^yaml: /);
  });
});

const GOOD_MANIFESTS = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: echo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: echo-topology
data:
  main.ww: |
    input = cli {}
---
apiVersion: v1
kind: Secret
metadata:
  name: echo-keys
type: Opaque
stringData:
  OPENAI_API_KEY: replace-me
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo-shout
  labels: { app.kubernetes.io/name: echo, app.kubernetes.io/component: shout }
spec:
  replicas: 2
  selector:
    matchLabels: { app.kubernetes.io/name: echo, app.kubernetes.io/component: shout }
  template:
    metadata:
      labels: { app.kubernetes.io/name: echo, app.kubernetes.io/component: shout }
    spec:
      serviceAccountName: echo
      containers:
        - name: host
          image: woodwork/echo:0.1.0
          args: ["--component", "shout"]
          ports: [{ name: http, containerPort: 8080 }]
          env:
            - name: OPENAI_API_KEY
              valueFrom: { secretKeyRef: { name: echo-keys, key: OPENAI_API_KEY } }
          envFrom: [{ configMapRef: { name: echo-topology } }]
          resources:
            requests: { cpu: 100m, memory: 128Mi }
            limits: { memory: 256Mi }
          readinessProbe: { httpGet: { path: /ready, port: http } }
          livenessProbe: { httpGet: { path: /health, port: 8080 } }
---
apiVersion: v1
kind: Service
metadata:
  name: echo-shout
spec:
  selector: { app.kubernetes.io/name: echo, app.kubernetes.io/component: shout }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: echo-shout
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: echo-shout }
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 70 } }
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: echo-shout
spec:
  minAvailable: 1
  selector:
    matchLabels: { app.kubernetes.io/component: shout }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: echo
spec:
  rules:
    - host: echo.example.test
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: { service: { name: echo-shout, port: { name: http } } }
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: echo-memory
spec:
  serviceName: echo-memory
  selector: { matchLabels: { app: memory } }
  template:
    metadata: { labels: { app: memory } }
    spec:
      containers: [{ name: host, image: woodwork/echo:0.1.0 }]
`;

const deployment = (spec: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n${spec}`;
const DEPLOYMENT_SPEC = `  selector: { matchLabels: { app: a } }
  template:
    metadata: { labels: { app: a } }
    spec:
      containers: [{ name: c, image: i }]
`;

describe('validateKubernetes (kubernetes-models)', () => {
  it('accepts a ServiceAccount, ConfigMap, Secret, Deployment, Service, HPA, PDB, Ingress and StatefulSet', () => {
    expect(validateKubernetes(GOOD_MANIFESTS)).toEqual([]);
    expect(kubernetesKinds.length).toBe(9);
  });

  it('skips empty documents (a leading or trailing ---)', () => {
    expect(validateKubernetes(`---\n${GOOD_MANIFESTS}---\n`)).toEqual([]);
  });

  it('rejects replicas: "two", naming the document and the path', () => {
    const problems = validateKubernetes(deployment(`  replicas: "two"\n${DEPLOYMENT_SPEC}`));
    expect(problems).toEqual(['document 1 (Deployment bad): /spec/replicas must be integer']);
  });

  it('rejects a Deployment without its required selector', () => {
    const problems = validateKubernetes(deployment(DEPLOYMENT_SPEC.split('\n').slice(1).join('\n')));
    expect(problems).toEqual(['document 1 (Deployment bad): /spec must have required property selector']);
  });

  it('rejects unknown fields, at any depth (kubernetes-models alone lets them through)', () => {
    const problems = validateKubernetes(
      deployment(`  replica: 2\n${DEPLOYMENT_SPEC.replace('image: i', 'image: i, imagePullPolicy: Always, imagePulPolicy: Always')}`),
    );
    expect(problems).toEqual([
      'document 1 (Deployment bad): /spec/replica is not a field of this object (unknown field "replica")',
      'document 1 (Deployment bad): /spec/template/spec/containers/0/imagePulPolicy is not a field of this object (unknown field "imagePulPolicy")',
    ]);
  });

  it('leaves the keys of maps alone (labels, ConfigMap data, resource limits)', () => {
    const problems = validateKubernetes(GOOD_MANIFESTS.replace('memory: 256Mi }', 'memory: 256Mi, nvidia.com/gpu: 1 }'));
    expect(problems).toEqual([]);
  });

  it('rejects an unknown apiVersion/kind, and a kind under the wrong apiVersion', () => {
    expect(validateKubernetes('apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n')).toEqual([
      expect.stringMatching(/^document 1 \(Widget w\): unknown apiVersion\/kind "example.com\/v1\/Widget"/),
    ]);
    expect(validateKubernetes('apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: { name: h }\n')[0]).toMatch(
      /unknown apiVersion\/kind "autoscaling\/v1\/HorizontalPodAutoscaler"/,
    );
  });

  it('rejects a bad HPA metric and a Service port out of range', () => {
    const hpa = GOOD_MANIFESTS.split('---\n').find((doc) => doc.includes('HorizontalPodAutoscaler'))!;
    expect(validateKubernetes(hpa.replace('averageUtilization: 70', 'averageUtilization: "70%"'))).toEqual([
      'document 1 (HorizontalPodAutoscaler echo-shout): /spec/metrics/0/resource/target/averageUtilization must be integer',
    ]);
    const service = 'apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec:\n  ports: [{ port: "http" }]\n';
    expect(validateKubernetes(service)).toEqual(['document 1 (Service s): /spec/ports/0/port must be integer']);
  });

  it('requires metadata.name, and reports a document that is not an object or does not parse', () => {
    expect(validateKubernetes('apiVersion: v1\nkind: ConfigMap\ndata: { a: b }\n')).toEqual([
      'document 1 (ConfigMap): /metadata/name is required',
    ]);
    expect(validateKubernetes('- a\n- b\n')[0]).toMatch(/not a Kubernetes object/);
    expect(validateKubernetes('apiVersion: v1\nkind: [\n')[0]).toMatch(/^document 1: yaml: /);
  });
});

describe.skipIf(skipWithoutValidators('helm'))('helmLint and helmTemplate (the real helm CLI)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function chart(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-chart-'));
    dirs.push(dir);
    const root = path.join(dir, 'echo');
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), text);
    }
    return root;
  }

  const CHART_YAML = 'apiVersion: v2\nname: echo\ndescription: A Woodwork project\ntype: application\nversion: 0.1.0\nappVersion: "0.1.0"\nicon: https://example.test/icon.png\n';
  const VALUES = 'image:\n  repository: woodwork/echo\n  tag: "0.1.0"\nreplicas: 2\n';
  const TEMPLATE = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: host
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`;

  it('lints a good chart, and its rendering passes validateKubernetes', async () => {
    const dir = await chart({ 'Chart.yaml': CHART_YAML, 'values.yaml': VALUES, 'templates/deployment.yaml': TEMPLATE });
    const lint = await helmLint(dir);
    expect(lint.output).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(lint.ok).toBe(true);
    const rendered = await helmTemplate(dir, ['--set', 'replicas=3']);
    expect(rendered).toContain(`name: ${HELM_RELEASE}-echo`);
    expect(rendered).toContain('replicas: 3');
    expect(validateKubernetes(rendered)).toEqual([]);
  });

  it('fails a chart directory without Chart.yaml', async () => {
    const dir = await chart({ 'values.yaml': VALUES, 'templates/deployment.yaml': TEMPLATE });
    const lint = await helmLint(dir);
    expect(lint.ok).toBe(false);
    expect(lint.output).toMatch(/Chart\.yaml/);
    await expect(helmTemplate(dir)).rejects.toThrow(/Chart\.yaml/);
  });

  it('fails a template that renders invalid YAML', async () => {
    const broken = TEMPLATE.replace('replicas: {{ .Values.replicas }}', 'replicas: [{{ .Values.replicas }}');
    const dir = await chart({ 'Chart.yaml': CHART_YAML, 'values.yaml': VALUES, 'templates/deployment.yaml': broken });
    expect((await helmLint(dir)).ok).toBe(false);
    await expect(helmTemplate(dir)).rejects.toThrow(/YAML|yaml/);
  });

  it('--strict fails on a lint warning: an API removed from current Kubernetes (policy/v1beta1)', async () => {
    const pdb = 'apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  minAvailable: 1\n';
    const dir = await chart({ 'Chart.yaml': CHART_YAML, 'values.yaml': VALUES, 'templates/deployment.yaml': TEMPLATE, 'templates/pdb.yaml': pdb });
    const lint = await helmLint(dir);
    expect(lint.output).toMatch(/\[WARNING\].*policy\/v1beta1 PodDisruptionBudget is deprecated/);
    expect(lint.ok).toBe(false);
  });

  it('renders for a current Kubernetes (.Capabilities.KubeVersion), not helm\'s built-in 1.20 fallback', async () => {
    const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube\ndata:\n  minor: "{{ .Capabilities.KubeVersion.Minor }}"\n';
    const dir = await chart({ 'Chart.yaml': CHART_YAML, 'values.yaml': VALUES, 'templates/kube.yaml': configMap });
    const rendered = await helmTemplate(dir, ['--show-only', 'templates/kube.yaml']);
    const minor = Number(/minor: "(\d+)/.exec(rendered)?.[1]);
    expect(minor).toBeGreaterThanOrEqual(30);
  });

  it('renders a Deployment that validateKubernetes rejects when a value has the wrong type', async () => {
    const dir = await chart({ 'Chart.yaml': CHART_YAML, 'values.yaml': VALUES, 'templates/deployment.yaml': TEMPLATE });
    const rendered = await helmTemplate(dir, ['--set-string', 'replicas=two']);
    expect(validateKubernetes(rendered)).toEqual([expect.stringMatching(/\/spec\/replicas must be integer/)]);
  });
});
