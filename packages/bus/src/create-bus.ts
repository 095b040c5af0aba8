/**
 * `createBus(url)`: picks the adapter from the URL's scheme, loads it (and through it, its broker
 * driver) only when asked for, connects, and wraps it in the Bus. Drivers are optional peer
 * dependencies, so a missing one is an actionable error, not a stack trace.
 */
import type { BusAdapterFactory } from './adapter.js';
import { createBusFromAdapter } from './bus.js';
import { WoodworkBusError } from './errors.js';
import type { Bus, CreateBusOptions } from './types.js';

interface AdapterEntry {
  /** How the bus is named in messages: "install ioredis to use the redis bus". */
  readonly busName: string;
  /** The driver packages the adapter needs, in the order a user should install them. */
  readonly drivers: readonly string[];
  readonly load: () => Promise<BusAdapterFactory>;
}

// Static specifiers so bundlers split each adapter into its own lazily loaded chunk.
const ADAPTERS: Readonly<Record<string, AdapterEntry>> = {
  'memory:': {
    busName: 'memory',
    drivers: [],
    load: async () => (await import('./adapters/memory/index.js')).createMemoryAdapter,
  },
  'redis:': {
    busName: 'redis',
    drivers: ['ioredis'],
    load: async () => (await import('./adapters/redis/index.js')).createRedisAdapter,
  },
  'rediss:': {
    busName: 'redis',
    drivers: ['ioredis'],
    load: async () => (await import('./adapters/redis/index.js')).createRedisAdapter,
  },
  'nats:': {
    busName: 'nats',
    drivers: ['@nats-io/transport-node', '@nats-io/jetstream'],
    load: async () => (await import('./adapters/nats/index.js')).createNatsAdapter,
  },
  'kafka:': {
    busName: 'kafka',
    drivers: ['kafkajs'],
    load: async () => (await import('./adapters/kafka/index.js')).createKafkaAdapter,
  },
};

/** The URL schemes `createBus` understands, for messages and docs. */
export const SUPPORTED_BUS_SCHEMES: readonly string[] = Object.keys(ADAPTERS).map((scheme) => `${scheme}//`);

/** The default when no URL is given: the process-wide embedded bus. */
export const DEFAULT_BUS_URL = 'memory://default';

/**
 * Turns "cannot find package 'ioredis'" (however it surfaced: loading the adapter, creating it,
 * connecting) into the install instruction; undefined when the error is about something else.
 */
export function driverMissingError(
  busName: string,
  drivers: readonly string[],
  error: unknown,
): WoodworkBusError | undefined {
  if (WoodworkBusError.isInstance(error)) return error.code === 'WW_BUS_DRIVER_MISSING' ? error : undefined;
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const message = String((error as Error).message);
  const driver = drivers.find((name) => message.includes(`'${name}'`) || message.includes(`"${name}"`));
  if (driver === undefined) return undefined;
  return new WoodworkBusError(
    'WW_BUS_DRIVER_MISSING',
    `install ${drivers.join(' and ')} to use the ${busName} bus (npm install ${drivers.join(' ')})`,
    { cause: error },
  );
}

function parse(url: string | URL): URL {
  if (url instanceof URL) return url;
  try {
    return new URL(url);
  } catch (error) {
    throw new WoodworkBusError(
      'WW_BUS_UNSUPPORTED_URL',
      `bus URL ${JSON.stringify(url)} is not a URL; use one of ${SUPPORTED_BUS_SCHEMES.join(', ')}`,
      { cause: error },
    );
  }
}

/**
 * Connects to the bus at `url` (default `memory://default`) and returns it ready to use.
 * `await using bus = await createBus(process.env.WOODWORK_BUS_URL)` closes it at scope end.
 */
export async function createBus(url: string | URL = DEFAULT_BUS_URL, options: CreateBusOptions = {}): Promise<Bus> {
  const parsed = parse(url === '' ? DEFAULT_BUS_URL : url);
  const entry = ADAPTERS[parsed.protocol];
  if (entry === undefined) {
    // Scheme and host only: a bus URL may carry a password.
    throw new WoodworkBusError(
      'WW_BUS_UNSUPPORTED_URL',
      `bus URL ${parsed.protocol}//${parsed.host} is not supported; use one of ${SUPPORTED_BUS_SCHEMES.join(', ')}`,
    );
  }
  try {
    const factory = await entry.load();
    return await createBusFromAdapter(factory(parsed, options.adapterOptions ?? {}));
  } catch (error) {
    throw driverMissingError(entry.busName, entry.drivers, error) ?? error;
  }
}
