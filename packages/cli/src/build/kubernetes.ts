/**
 * Kubernetes manifests: a ConfigMap with where the bus is, then per unit a Deployment (probes on
 * the host's `/health` and `/ready`, its resources, non-root), a Service, and where the file asks
 * for scaling a HorizontalPodAutoscaler and a PodDisruptionBudget. The file's variables come from
 * one Secret the operator creates; each Deployment names only the keys its unit uses. A kustomization ties them
 * together (`kubectl apply -k build/kubernetes`).
 */
import { toYaml } from './yaml.js';
import { fileVariables, hostEnvironment, type Connections } from './environment.js';
import { HOST_PORT, type BuildPlan, type BuildUnit } from './plan.js';

export type KubernetesObject = Record<string, unknown> & {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
};


/** What hosts export on `/metrics` (Prometheus names of `woodwork.component.queue.depth` and `.connections`). */
export const QUEUE_DEPTH_METRIC = 'woodwork_component_queue_depth';
export const CONNECTIONS_METRIC = 'woodwork_component_connections';

/**
 * The autoscaler's metrics for a unit's `scale_metric`:
 * - `cpu`: CPU utilisation in percent of the request (the metrics server suffices);
 * - `connections` (a unit with an `input api`): open client connections per pod, a Pods metric;
 * - `queue_depth` (and `connections` without an API): each component's inbox depth as an External
 *   metric with an average target, so the replicas become depth ÷ threshold. Every pod of a
 *   component reports the same, broker-wide depth, so the metrics adapter must take the max, not
 *   the sum (BUILD.md shows a prometheus-adapter rule). The autoscaler follows the busiest component.
 */
export function scalingMetrics(unit: BuildUnit): Record<string, unknown>[] {
  const { scale_metric: metric, scale_threshold: threshold } = unit.deployment.scaling;
  const average = { type: 'AverageValue', averageValue: String(threshold) };
  if (metric === 'cpu') return [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: Math.round(threshold) } } }];
  if (metric === 'connections' && unit.apiComponent !== null) {
    return [{ type: 'Pods', pods: { metric: { name: CONNECTIONS_METRIC, selector: { matchLabels: { woodwork_component_name: unit.apiComponent } } }, target: average }}];
  }
  return unit.components.map((component) => ({
    type: 'External',
    external: { metric: { name: QUEUE_DEPTH_METRIC, selector: { matchLabels: { woodwork_component_name: component } } }, target: average },
  }));
}

export function configMapName(plan: BuildPlan): string {
  return `${plan.project}-config`;
}

export function secretName(plan: BuildPlan): string {
  return `${plan.project}-env`;
}

export function objectName(plan: BuildPlan, unit: BuildUnit): string {
  return `${plan.project}-${unit.name}`.slice(0, 63).replace(/-+$/, '');
}

export function labels(plan: BuildPlan, unit?: BuildUnit): Record<string, string> {
  return {
    'app.kubernetes.io/name': plan.project,
    ...(unit ? { 'app.kubernetes.io/component': unit.name } : {}),
    'app.kubernetes.io/part-of': plan.project,
    'app.kubernetes.io/managed-by': 'woodwork',
  };
}

function selector(plan: BuildPlan, unit: BuildUnit): Record<string, string> {
  return { 'app.kubernetes.io/name': plan.project, 'app.kubernetes.io/component': unit.name };
}

function configMap(plan: BuildPlan, connections: Connections): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: configMapName(plan), labels: labels(plan) },
    data: {
      WOODWORK_BUS_URL: connections.bus,
      ...(connections.sessions === null ? {} : { WOODWORK_SESSIONS_URL: connections.sessions }),
      WOODWORK_NAMESPACE: plan.project,
    },
  };
}

/** The container's env: the host's own settings, then the unit's variables from the Secret. */
function containerEnv(plan: BuildPlan, unit: BuildUnit, connections: Connections): Record<string, unknown>[] {
  const fromConfig = new Set(['WOODWORK_BUS_URL', 'WOODWORK_SESSIONS_URL', 'WOODWORK_NAMESPACE']);
  const env: Record<string, unknown>[] = [];
  for (const entry of hostEnvironment(plan, unit, connections)) {
    if (!fromConfig.has(entry.name) && 'value' in entry) env.push({ name: entry.name, value: entry.value });
  }
  for (const entry of fileVariables(unit, connections)) {
    if ('value' in entry) {
      // Only the bus URL uses it: the same as WOODWORK_BUS_URL.
      env.push({ name: entry.name, valueFrom: { configMapKeyRef: { name: configMapName(plan), key: 'WOODWORK_BUS_URL' } } });
    } else {
      // Optional when the file has a default: left out of the Secret, the default applies.
      env.push({ name: entry.name, valueFrom: { secretKeyRef: { name: secretName(plan), key: entry.name, optional: entry.variable.default !== undefined } } });
    }
  }
  return env;
}

function resources(unit: BuildUnit): Record<string, unknown> | undefined {
  const { cpu, memory } = unit.deployment.resources;
  if (cpu === undefined && memory === undefined) return undefined;
  const requests: Record<string, string> = {};
  if (cpu !== undefined) requests.cpu = String(cpu);
  if (memory !== undefined) requests.memory = String(memory);
  // Memory is limited (a leak is stopped); CPU is not (throttling slows every turn for nothing).
  return { requests, ...(memory !== undefined ? { limits: { memory: String(memory) } } : {}) };
}

function deployment(plan: BuildPlan, unit: BuildUnit, connections: Connections): KubernetesObject {
  const ports: Record<string, unknown>[] = [{ name: 'host', containerPort: HOST_PORT, protocol: 'TCP' }];
  if (unit.apiPort !== null) ports.push({ name: 'api', containerPort: unit.apiPort, protocol: 'TCP' });
  const containerResources = resources(unit);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: objectName(plan, unit), labels: labels(plan, unit) },
    spec: {
      replicas: unit.deployment.scaling.min_instances,
      selector: { matchLabels: selector(plan, unit) },
      template: {
        metadata: {
          labels: labels(plan, unit),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(HOST_PORT), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          // The host never calls the Kubernetes API.
          automountServiceAccountToken: false,
          // The host drains in at most twice WOODWORK_DRAIN_TIMEOUT_MS (12 s).
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'host',
              image: plan.image,
              imagePullPolicy: 'IfNotPresent',
              ports,
              envFrom: [{ configMapRef: { name: configMapName(plan) } }],
              env: containerEnv(plan, unit, connections),
              ...(containerResources ? { resources: containerResources } : {}),
              startupProbe: { httpGet: { path: '/health', port: 'host' }, periodSeconds: 2, failureThreshold: 30 },
              livenessProbe: { httpGet: { path: '/health', port: 'host' }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/ready', port: 'host' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}

function service(plan: BuildPlan, unit: BuildUnit): KubernetesObject {
  const ports: Record<string, unknown>[] = [{ name: 'host', port: HOST_PORT, targetPort: 'host', protocol: 'TCP' }];
  if (unit.apiPort !== null) ports.push({ name: 'api', port: unit.apiPort, targetPort: 'api', protocol: 'TCP' });
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: objectName(plan, unit), labels: labels(plan, unit) },
    spec: {
      type: 'ClusterIP',
      selector: selector(plan, unit),
      ports,
      // A client keeps its gateway instance: its event streams resume from that instance's memory.
      ...(unit.deployment.session_affinity && unit.apiPort !== null ? { sessionAffinity: 'ClientIP' } : {}),
    },
  };
}

function autoscaler(plan: BuildPlan, unit: BuildUnit): KubernetesObject | undefined {
  const { min_instances: min, max_instances: max } = unit.deployment.scaling;
  if (max <= min) return undefined;
  const metrics = scalingMetrics(unit);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: objectName(plan, unit), labels: labels(plan, unit) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(plan, unit) },
      minReplicas: min,
      maxReplicas: max,
      metrics,
    },
  };
}

function disruptionBudget(plan: BuildPlan, unit: BuildUnit): KubernetesObject | undefined {
  if (unit.deployment.scaling.min_instances < 2) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: objectName(plan, unit), labels: labels(plan, unit) },
    spec: { maxUnavailable: 1, selector: { matchLabels: selector(plan, unit) } },
  };
}

export interface ManifestFile {
  readonly file: string;
  readonly objects: readonly KubernetesObject[];
}

/** The manifests, a file per unit plus the shared config, in apply order. */
export function kubernetesManifests(plan: BuildPlan, connections: Connections): ManifestFile[] {
  const files: ManifestFile[] = [{ file: 'config.yaml', objects: [configMap(plan, connections)] }];
  for (const unit of plan.units) {
    const objects = [deployment(plan, unit, connections), service(plan, unit), autoscaler(plan, unit), disruptionBudget(plan, unit)].filter(
      (object): object is KubernetesObject => object !== undefined,
    );
    files.push({ file: `${unit.name}.yaml`, objects });
  }
  return files;
}

export function yamlDocuments(objects: readonly unknown[]): string {
  return objects.map((object) => toYaml(object)).join('---\n');
}

export function kustomization(plan: BuildPlan, files: readonly ManifestFile[], namespace: string | undefined): string {
  return toYaml(
    {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      ...(namespace === undefined ? {} : { namespace }),
      labels: [{ pairs: { 'app.kubernetes.io/part-of': plan.project }, includeSelectors: false }],
      resources: files.map((file) => file.file),
    },
  );
}

export function manifestHeader(plan: BuildPlan): string {
  return `# Generated by \`woodwork build\` from ${plan.wwFile}. Apply with \`kubectl apply -k\` on this folder.\n`;
}
