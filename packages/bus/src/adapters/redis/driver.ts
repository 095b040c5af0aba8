/**
 * Loads ioredis on first use. It is an optional peer dependency: `@woodwork/bus` must import and
 * run (memory bus, other brokers) without it, so it is never imported statically.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { WoodworkBusError } from '../../errors.js';

export type RedisClient = Redis;
export type RedisConstructor = new (url: string, options: RedisOptions) => Redis;

type Importer = () => Promise<unknown>;

const importIoredis: Importer = () => import('ioredis');

let loaded: Promise<RedisConstructor> | undefined;

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return /['"]ioredis['"]/.test(String((error as Error).message));
}

/** `importer` exists for the test that proves the missing-driver message; callers omit it. */
export function loadRedisDriver(importer: Importer = importIoredis): Promise<RedisConstructor> {
  const load = async (): Promise<RedisConstructor> => {
    let module: { default?: unknown; Redis?: unknown };
    try {
      module = (await importer()) as { default?: unknown; Redis?: unknown };
    } catch (error) {
      if (isMissing(error)) {
        throw new WoodworkBusError('WW_BUS_DRIVER_MISSING', 'install ioredis to use the redis bus (npm install ioredis)', {
          cause: error,
        });
      }
      throw error;
    }
    // ioredis is CommonJS: under ESM its class is the default export (and also `.Redis`).
    const constructor = (module.Redis ?? module.default) as RedisConstructor | undefined;
    if (typeof constructor !== 'function') {
      throw new WoodworkBusError('WW_BUS_DRIVER_MISSING', 'the installed ioredis does not export a Redis class; install ioredis@5');
    }
    return constructor;
  };
  if (importer !== importIoredis) return load();
  loaded ??= load().catch((error: unknown) => {
    loaded = undefined;
    throw error;
  });
  return loaded;
}
