/** What every route of the gateway shares: the session client, the settings, the shutdown signal. */
import type { Topology } from '@woodwork/parser';
import type { Logger, SessionClient } from '../types.js';
import type { TokenBucketLimiter } from './rate-limit.js';
import type { GatewaySettings } from './settings.js';

export interface GatewayDeps {
  readonly client: SessionClient;
  readonly settings: GatewaySettings;
  readonly logger: Logger;
  readonly topology: (() => Topology | undefined) | undefined;
  /** Undefined when rate limiting is off. */
  readonly limiter: TokenBucketLimiter | undefined;
  /** Aborted when the gateway closes: every event stream and WebSocket ends. */
  readonly closing: AbortSignal;
}

/** Hono's per-request variables. */
export interface GatewayEnv {
  Variables: {
    /** Who is calling: `key:<hash>` or `anonymous`. Sessions belong to it. */
    principal: string;
  };
}
