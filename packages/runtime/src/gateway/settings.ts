/**
 * The gateway's settings: options (or the `.ww` keys of `input api`) over `WOODWORK_API_*`
 * environment fallbacks over defaults, checked once at start — including the rule that keeps the
 * gateway secure by default (no credentials: loopback only).
 */
import { WoodworkRuntimeError } from '../errors.js';
import type { GatewayCorsOptions, GatewayOptions, GatewayRateLimitOptions } from './types.js';

export interface GatewaySettings {
  readonly host: string;
  readonly port: number;
  readonly auth: {
    /** The accepted keys; empty when authentication is off. */
    readonly keys: readonly string[];
    /** Lower case. */
    readonly header: string;
    /** Authentication was turned off on purpose (`auth = "none"`, `WOODWORK_API_AUTH=none`). */
    readonly disabled: boolean;
  };
  readonly cors: Required<GatewayCorsOptions> | undefined;
  readonly rateLimit: Required<GatewayRateLimitOptions> | undefined;
  readonly maxBodyBytes: number;
  readonly replyTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly idempotencyKeyTtlMs: number;
  readonly modelName: string;
}

/** The defaults, with the reasons in `GatewayOptions`. */
export const GATEWAY_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8000,
  header: 'authorization',
  corsMaxAgeSeconds: 600,
  requestsPerMinute: 120,
  maxBodyBytes: 1_048_576,
  replyTimeoutMs: 30_000,
  keepAliveMs: 15_000,
  idempotencyKeyTtlMs: 86_400_000,
});

type Env = Readonly<Record<string, string | undefined>>;

function invalid(message: string, hint?: string): WoodworkRuntimeError {
  return new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', message, hint === undefined ? {} : { hint });
}

function positiveInteger(value: unknown, what: string, allowZero = false): number {
  if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw invalid(`${what} must be a ${allowZero ? 'non-negative' : 'positive'} whole number; got ${JSON.stringify(value)}`);
  }
  return value;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function envValue(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Whether only this machine can reach an address. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** Options plus environment fallbacks plus defaults. Throws WW_RUNTIME_INVALID_ARGUMENT on a bad value. */
export function resolveGatewaySettings(options: GatewayOptions, fallback: { readonly modelName: string }): GatewaySettings {
  const env: Env = options.env ?? process.env;

  const port = options.port === undefined ? GATEWAY_DEFAULTS.port : positiveInteger(options.port, 'port', true);
  if (port > 65_535) throw invalid(`port must be at most 65535; got ${port}`);

  const auth = options.auth;
  const configured = auth === undefined || auth === 'none' ? [] : [...(auth.keys ?? [])];
  for (const key of configured) {
    if (typeof key !== 'string') throw invalid('auth keys must be strings');
  }
  const keys = [...new Set([...configured, ...list(env.WOODWORK_API_KEYS)].filter((key) => key !== ''))];
  const header = (auth !== undefined && auth !== 'none' ? auth.header : undefined) ?? GATEWAY_DEFAULTS.header;
  if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header)) throw invalid(`auth header must be a header name; got ${JSON.stringify(header)}`);
  const envAuth = envValue(env, 'WOODWORK_API_AUTH');
  if (envAuth !== undefined && envAuth.toLowerCase() !== 'none') {
    throw invalid(`WOODWORK_API_AUTH may only be "none"; got ${JSON.stringify(envAuth)}`, 'set keys with WOODWORK_API_KEYS');
  }
  // Keys win over "none" wherever either comes from: a key set somewhere is never silently ignored.
  const disabled = keys.length === 0 && (auth === 'none' || envAuth !== undefined);

  let cors: GatewaySettings['cors'];
  const corsOption = options.cors ?? (envValue(env, 'WOODWORK_API_CORS_ORIGINS') ? { origins: list(env.WOODWORK_API_CORS_ORIGINS) } : false);
  if (corsOption !== false) {
    if (!Array.isArray(corsOption.origins) || corsOption.origins.some((origin) => typeof origin !== 'string' || origin === '')) {
      throw invalid('cors origins must be a list of origins like "https://app.example.com" (or ["*"])');
    }
    cors = {
      origins: [...corsOption.origins],
      maxAgeSeconds: corsOption.maxAgeSeconds === undefined ? GATEWAY_DEFAULTS.corsMaxAgeSeconds : positiveInteger(corsOption.maxAgeSeconds, 'cors max age', true),
    };
  }

  let rateLimit: GatewaySettings['rateLimit'];
  let rateOption = options.rateLimit;
  if (rateOption === undefined) {
    const perMinute = envValue(env, 'WOODWORK_API_RATE_LIMIT_PER_MINUTE');
    const burst = envValue(env, 'WOODWORK_API_RATE_LIMIT_BURST');
    const requestsPerMinute = perMinute === undefined ? GATEWAY_DEFAULTS.requestsPerMinute : positiveInteger(perMinute, 'WOODWORK_API_RATE_LIMIT_PER_MINUTE', true);
    rateOption = requestsPerMinute === 0 ? false : { requestsPerMinute, ...(burst === undefined ? {} : { burst: positiveInteger(burst, 'WOODWORK_API_RATE_LIMIT_BURST') }) };
  }
  if (rateOption !== false) {
    const requestsPerMinute = positiveInteger(rateOption.requestsPerMinute, 'rate limit requests per minute');
    const burst = rateOption.burst === undefined ? Math.max(1, Math.ceil(requestsPerMinute / 2)) : positiveInteger(rateOption.burst, 'rate limit burst');
    rateLimit = { requestsPerMinute, burst };
  }

  const maxBodyBytes =
    options.maxBodyBytes ?? (envValue(env, 'WOODWORK_API_MAX_BODY_BYTES') === undefined ? GATEWAY_DEFAULTS.maxBodyBytes : env.WOODWORK_API_MAX_BODY_BYTES);

  return {
    host: options.host ?? GATEWAY_DEFAULTS.host,
    port,
    auth: { keys, header: header.toLowerCase(), disabled },
    cors,
    rateLimit,
    maxBodyBytes: positiveInteger(maxBodyBytes, 'max body bytes'),
    replyTimeoutMs: options.replyTimeoutMs === undefined ? GATEWAY_DEFAULTS.replyTimeoutMs : positiveInteger(options.replyTimeoutMs, 'reply timeout', true),
    keepAliveMs: options.keepAliveMs === undefined ? GATEWAY_DEFAULTS.keepAliveMs : positiveInteger(options.keepAliveMs, 'keep-alive interval'),
    idempotencyKeyTtlMs:
      options.idempotencyKeyTtlMs === undefined ? GATEWAY_DEFAULTS.idempotencyKeyTtlMs : positiveInteger(options.idempotencyKeyTtlMs, 'idempotency key TTL'),
    modelName: options.modelName ?? fallback.modelName,
  };
}

/**
 * Secure by default: without credentials the gateway serves loopback only. Throws
 * WW_RUNTIME_INVALID_TOPOLOGY (the `.ww` file must change) otherwise.
 */
export function assertSafeExposure(settings: GatewaySettings): void {
  if (settings.auth.keys.length > 0 || settings.auth.disabled || isLoopback(settings.host)) return;
  throw new WoodworkRuntimeError(
    'WW_RUNTIME_INVALID_TOPOLOGY',
    `the API gateway would listen on ${settings.host} without credentials: anyone who can reach it could use the topology`,
    {
      hint: 'set auth = { token = "${WOODWORK_API_KEY}" } (or WOODWORK_API_KEYS=key1,key2), listen on host = "127.0.0.1", or turn authentication off on purpose with WOODWORK_API_AUTH=none',
    },
  );
}

// ---------------------------------------------------------------------------------------------
// The `.ww` keys of `input api`

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function configProblem(message: string, hint?: string): WoodworkRuntimeError {
  return new WoodworkRuntimeError('WW_RUNTIME_INVALID_TOPOLOGY', message, hint === undefined ? {} : { hint });
}

function strings(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  throw configProblem(`\`${what}\` must be a string or a list of strings`);
}

/**
 * Gateway options from the config of an `input api` declaration (env references already resolved):
 * `port`, `host`, `auth` (`"none"`, or `token`, `tokens`, `api_keys`, `header`), `cors`,
 * `rate_limit`, `max_body_bytes`, `reply_timeout_ms`, `keepalive_ms`, `idempotency_key_ttl_ms`, `model_name`.
 *
 * `WOODWORK_API_HOST` and `WOODWORK_API_PORT` override the file's `host` and `port`: where the
 * gateway listens belongs to where it is deployed (a container must listen on 0.0.0.0 and on the
 * port its manifests expose, whatever the file says for development).
 */
export function gatewayOptionsFromConfig(config: Readonly<Record<string, unknown>>, env: Env = process.env): GatewayOptions {
  const options: { -readonly [K in keyof GatewayOptions]: GatewayOptions[K] } = {};
  const host = envValue(env, 'WOODWORK_API_HOST') ?? config.host;
  if (host !== undefined && host !== null) {
    if (typeof host !== 'string' || host === '') throw configProblem('`host` must be an address like "127.0.0.1"');
    options.host = host;
  }
  const envPort = envValue(env, 'WOODWORK_API_PORT');
  if (envPort !== undefined) {
    const port = Number(envPort);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `WOODWORK_API_PORT is ${JSON.stringify(envPort)}, which is not a port`, {
        hint: 'set it to a port number from 1 to 65535 (0 picks a free one), or unset it to use the file\'s `port`',
      });
    }
    options.port = port;
  } else if (config.port !== undefined && config.port !== null) options.port = config.port as number;

  const auth = config.auth;
  if (typeof auth === 'string') {
    if (auth.trim().toLowerCase() !== 'none') throw configProblem('`auth` must be a map like { token = "${WOODWORK_API_KEY}" } or "none"');
    options.auth = 'none';
  } else if (isRecord(auth)) {
    const keys = [...strings(auth.token, 'auth.token'), ...strings(auth.tokens, 'auth.tokens'), ...strings(auth.api_keys, 'auth.api_keys')];
    options.auth = { keys, ...(typeof auth.header === 'string' ? { header: auth.header } : {}) };
  } else if (auth !== undefined && auth !== null) {
    throw configProblem('`auth` must be a map like { token = "${WOODWORK_API_KEY}" } or "none"');
  }

  const cors = config.cors;
  if (cors === false) options.cors = false;
  else if (isRecord(cors)) {
    options.cors = {
      origins: strings(cors.origins, 'cors.origins'),
      ...(cors.max_age === undefined ? {} : { maxAgeSeconds: cors.max_age as number }),
    };
  } else if (cors !== undefined && cors !== null) throw configProblem('`cors` must be a map like { origins = ["https://app.example.com"] } or false');

  const rate = config.rate_limit;
  if (rate === false) options.rateLimit = false;
  else if (isRecord(rate)) {
    options.rateLimit = {
      requestsPerMinute: rate.requests_per_minute as number,
      ...(rate.burst === undefined ? {} : { burst: rate.burst as number }),
    };
  } else if (rate !== undefined && rate !== null) throw configProblem('`rate_limit` must be a map like { requests_per_minute = 120, burst = 60 } or false');

  if (config.max_body_bytes !== undefined && config.max_body_bytes !== null) options.maxBodyBytes = config.max_body_bytes as number;
  if (config.reply_timeout_ms !== undefined && config.reply_timeout_ms !== null) options.replyTimeoutMs = config.reply_timeout_ms as number;
  if (config.keepalive_ms !== undefined && config.keepalive_ms !== null) options.keepAliveMs = config.keepalive_ms as number;
  if (config.idempotency_key_ttl_ms !== undefined && config.idempotency_key_ttl_ms !== null) options.idempotencyKeyTtlMs = config.idempotency_key_ttl_ms as number;
  if (typeof config.model_name === 'string' && config.model_name !== '') options.modelName = config.model_name;
  return options;
}
