/**
 * The NATS driver packages are optional peer dependencies: loaded on first connect, never at
 * import time, so `@woodwork/bus` works without them until someone asks for `nats://`.
 */
import { WoodworkBusError } from '../../errors.js';

export type NatsTransportModule = typeof import('@nats-io/transport-node');
export type NatsJetStreamModule = typeof import('@nats-io/jetstream');

export interface NatsDriver {
  readonly transport: NatsTransportModule;
  readonly jetstream: NatsJetStreamModule;
}

export const MISSING_DRIVER_MESSAGE = 'install @nats-io/transport-node and @nats-io/jetstream to use the nats bus';

let loading: Promise<NatsDriver> | undefined;

/** Module loaders and test runners may wrap the resolution error: look through the causes. */
function isModuleNotFound(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export function loadNatsDriver(): Promise<NatsDriver> {
  loading ??= Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]).then(
    ([transport, jetstream]) => ({ transport, jetstream }),
    (error: unknown) => {
      loading = undefined;
      if (isModuleNotFound(error)) throw new WoodworkBusError('WW_BUS_DRIVER_MISSING', MISSING_DRIVER_MESSAGE, { cause: error });
      throw error;
    },
  );
  return loading;
}
