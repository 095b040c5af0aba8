/**
 * `docker-compose.yml`: the whole topology on one Docker host — the broker (and Redis for sessions
 * when the bus is NATS or Kafka), then one service per unit with its replicas, limits, health check
 * and published gateway ports. `woodwork build --deploy local` runs it.
 */
import { toYaml } from './yaml.js';
import { fileVariables, hostEnvironment, type Connections, type EnvEntry } from './environment.js';
import { BuildError, SERVICE_URLS, type BuildPlan, type BusType } from './plan.js';

/** Broker images for local runs, pinned to a major line the adapters are tested against. */
export const BROKER_IMAGES: Record<BusType, string> = {
  redis: 'redis:7-alpine',
  nats: 'nats:2.10-alpine',
  kafka: 'apache/kafka:4.1.0',
};

function brokerService(type: BusType): Record<string, unknown> {
  switch (type) {
    case 'redis':
      return {
        image: BROKER_IMAGES.redis,
        command: ['redis-server', '--appendonly', 'yes'],
        volumes: ['redis-data:/data'],
        healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '5s', timeout: '3s', retries: 10 },
        restart: 'unless-stopped',
      };
    case 'nats':
      return {
        image: BROKER_IMAGES.nats,
        command: ['-js', '-sd', '/data', '-m', '8222'],
        volumes: ['nats-data:/data'],
        healthcheck: { test: ['CMD', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8222/healthz?js-enabled-only=true'], interval: '5s', timeout: '3s', retries: 10 },
        restart: 'unless-stopped',
      };
    case 'kafka':
      return {
        image: BROKER_IMAGES.kafka,
        environment: {
          KAFKA_NODE_ID: '1',
          KAFKA_PROCESS_ROLES: 'broker,controller',
          KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
          KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://kafka:9092',
          KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
          KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
          KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
          KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
          KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
          KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
          KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
          KAFKA_LOG_DIRS: '/var/lib/kafka/data',
        },
        volumes: ['kafka-data:/var/lib/kafka/data'],
        healthcheck: {
          test: ['CMD-SHELL', '/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 > /dev/null 2>&1'],
          interval: '10s',
          timeout: '10s',
          retries: 12,
          start_period: '20s',
        },
        restart: 'unless-stopped',
      };
  }
}

/** `500m` → `0.5`: compose counts CPUs, Kubernetes millicores. */
export function composeCpus(cpu: string | number): string {
  if (typeof cpu === 'number') return String(cpu);
  const milli = /^(\d+)m$/.exec(cpu);
  return milli ? String(Number(milli[1]) / 1000) : cpu;
}

/** `256Mi` → `256m`: compose's units are binary already and spelled without the `i`. */
export function composeMemory(memory: string | number): string {
  if (typeof memory === 'number') return `${memory}b`;
  const match = /^(\d+(?:\.\d+)?)([KMGT])i?$/i.exec(memory);
  return match ? `${match[1]}${match[2]!.toLowerCase()}` : memory;
}

/** A compose value: `$` is compose's interpolation sign, so a literal one is written `$$`. */
function literal(value: string): string {
  return value.replaceAll('$', '$$');
}

function composeValue(entry: EnvEntry, wwFile: string): string {
  if ('value' in entry) return literal(entry.value);
  const variable = entry.variable;
  if (variable.default !== undefined) return `\${${variable.name}:-${literal(variable.default)}}`;
  // Compose refuses to start when it is unset, with this message.
  return `\${${variable.name}:?set ${variable.name}: ${wwFile} uses it at ${entry.usedAt}}`;
}

export function composeFile(plan: BuildPlan): string {
  const connections: Connections = {
    bus: SERVICE_URLS[plan.bus.type],
    sessions: plan.separateSessionsRedis ? SERVICE_URLS.redis : null,
  };
  const brokers: BusType[] = plan.separateSessionsRedis ? [plan.bus.type, 'redis'] : ['redis'];
  const services: Record<string, unknown> = {};
  for (const broker of brokers) services[broker] = brokerService(broker);

  for (const unit of plan.units) {
    if (services[unit.name] !== undefined) {
      throw new BuildError(`\`${unit.unit}\` has the name of the ${unit.name} service the compose file starts`, `rename \`${unit.unit}\` in the .ww file`);
    }
    const environment: Record<string, string> = {};
    for (const entry of [...hostEnvironment(plan, unit, connections), ...fileVariables(unit, connections)]) {
      environment[entry.name] = composeValue(entry, plan.wwFile);
    }
    const replicas = unit.deployment.scaling.min_instances;
    const limits: Record<string, string> = {};
    if (unit.deployment.resources.cpu !== undefined) limits.cpus = composeCpus(unit.deployment.resources.cpu);
    if (unit.deployment.resources.memory !== undefined) limits.memory = composeMemory(unit.deployment.resources.memory);
    services[unit.name] = {
      image: plan.image,
      build: { context: './image' },
      environment,
      depends_on: Object.fromEntries(brokers.map((broker) => [broker, { condition: 'service_healthy' }])),
      ...(unit.apiPort === null
        ? {}
        : // One published port per replica: compose does not balance one host port across replicas.
          { ports: [replicas > 1 ? `${unit.apiPort}-${unit.apiPort + replicas - 1}:${unit.apiPort}` : `${unit.apiPort}:${unit.apiPort}`] }),
      deploy: { replicas, ...(Object.keys(limits).length > 0 ? { resources: { limits } } : {}) },
      restart: 'unless-stopped',
      // The host drains in at most twice WOODWORK_DRAIN_TIMEOUT_MS (12 s).
      stop_grace_period: '30s',
    };
  }

  const header = `# Generated by \`woodwork build\` from ${plan.wwFile}: \`docker compose -f build/docker-compose.yml up -d --build\`\n# (or \`woodwork build --deploy local\`). Variables the file uses come from your shell or an .env beside this file.\n`;
  return (
    header +
    toYaml(
      {
        name: plan.project,
        services,
        volumes: Object.fromEntries(brokers.map((broker) => [`${broker}-data`, {}])),
      },
    )
  );
}
