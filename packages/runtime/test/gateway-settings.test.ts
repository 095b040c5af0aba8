/**
 * The gateway's settings, credentials, rate limiter and reply detection, without a server.
 */
import type { Topology } from '@woodwork/parser';
import { describe, expect, it } from 'vitest';
import { ANONYMOUS, Credentials } from '../src/gateway/auth.js';
import { TokenBucketLimiter } from '../src/gateway/rate-limit.js';
import { replyProducers } from '../src/gateway/session-access.js';
import { assertSafeExposure, GATEWAY_DEFAULTS, gatewayOptionsFromConfig, isLoopback, resolveGatewaySettings } from '../src/gateway/settings.js';

const resolve = (options: Parameters<typeof resolveGatewaySettings>[0]) => resolveGatewaySettings(options, { modelName: 'project' });

describe('gateway settings', () => {
  it('has documented defaults', () => {
    const settings = resolve({ env: {} });
    expect(settings).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      auth: { keys: [], header: 'authorization', disabled: false },
      cors: undefined,
      rateLimit: { requestsPerMinute: 120, burst: 60 },
      maxBodyBytes: GATEWAY_DEFAULTS.maxBodyBytes,
      replyTimeoutMs: 30_000,
      keepAliveMs: 15_000,
      modelName: 'project',
    });
  });

  it('adds WOODWORK_API_KEYS to the configured keys and lets keys win over "none"', () => {
    expect(resolve({ auth: { keys: ['a', ''] }, env: { WOODWORK_API_KEYS: ' b, c ,' } }).auth.keys).toEqual(['a', 'b', 'c']);
    expect(resolve({ auth: 'none', env: {} }).auth.disabled).toBe(true);
    expect(resolve({ env: { WOODWORK_API_AUTH: 'none' } }).auth.disabled).toBe(true);
    expect(resolve({ auth: 'none', env: { WOODWORK_API_KEYS: 'k' } }).auth).toMatchObject({ keys: ['k'], disabled: false });
    expect(() => resolve({ env: { WOODWORK_API_AUTH: 'off' } })).toThrow(/may only be "none"/);
  });

  it('reads CORS, rate limit and body size from the environment when not configured', () => {
    const settings = resolve({
      env: { WOODWORK_API_CORS_ORIGINS: 'https://a.example, https://b.example', WOODWORK_API_RATE_LIMIT_PER_MINUTE: '30', WOODWORK_API_MAX_BODY_BYTES: '2048' },
    });
    expect(settings.cors).toEqual({ origins: ['https://a.example', 'https://b.example'], maxAgeSeconds: 600 });
    expect(settings.rateLimit).toEqual({ requestsPerMinute: 30, burst: 15 });
    expect(settings.maxBodyBytes).toBe(2048);
    expect(resolve({ env: { WOODWORK_API_RATE_LIMIT_PER_MINUTE: '0' } }).rateLimit).toBeUndefined();
    expect(resolve({ rateLimit: false, env: { WOODWORK_API_RATE_LIMIT_PER_MINUTE: '30' } }).rateLimit).toBeUndefined();
    expect(() => resolve({ maxBodyBytes: -1, env: {} })).toThrow(/max body bytes/);
  });

  it('refuses to expose the API beyond loopback without credentials', () => {
    expect(() => assertSafeExposure(resolve({ host: '0.0.0.0', env: {} }))).toThrow(/without credentials/);
    expect(() => assertSafeExposure(resolve({ host: '0.0.0.0', env: { WOODWORK_API_KEYS: 'k' } }))).not.toThrow();
    expect(() => assertSafeExposure(resolve({ host: '0.0.0.0', auth: 'none', env: {} }))).not.toThrow();
    expect(() => assertSafeExposure(resolve({ host: 'localhost', env: {} }))).not.toThrow();
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopback(host)).toBe(false);
  });

  it('reads the `.ww` keys of `input api`, including the ones beyond the catalogue', () => {
    expect(
      gatewayOptionsFromConfig({
        host: '0.0.0.0',
        port: 9000,
        auth: { token: 't1', tokens: ['t2'], api_keys: 't3', header: 'x-api-key' },
        cors: { origins: ['https://app.example'], max_age: 60 },
        rate_limit: { requests_per_minute: 10, burst: 5 },
        max_body_bytes: 4096,
        reply_timeout_ms: 1000,
        keepalive_ms: 5000,
        model_name: 'helper',
      }),
    ).toEqual({
      host: '0.0.0.0',
      port: 9000,
      auth: { keys: ['t1', 't2', 't3'], header: 'x-api-key' },
      cors: { origins: ['https://app.example'], maxAgeSeconds: 60 },
      rateLimit: { requestsPerMinute: 10, burst: 5 },
      maxBodyBytes: 4096,
      replyTimeoutMs: 1000,
      keepAliveMs: 5000,
      modelName: 'helper',
    });
    expect(gatewayOptionsFromConfig({ auth: 'None', cors: false, rate_limit: false })).toEqual({ auth: 'none', cors: false, rateLimit: false });
    expect(() => gatewayOptionsFromConfig({ auth: 'secret' })).toThrow(/"none"/);
    expect(() => gatewayOptionsFromConfig({ auth: { token: 3 } })).toThrow(/auth.token/);
  });

  it('lets WOODWORK_API_HOST and WOODWORK_API_PORT override where the file says to listen (containers)', () => {
    const file = { host: '127.0.0.1', port: 8000 };
    expect(gatewayOptionsFromConfig(file, {})).toEqual({ host: '127.0.0.1', port: 8000 });
    expect(gatewayOptionsFromConfig(file, { WOODWORK_API_HOST: '0.0.0.0', WOODWORK_API_PORT: '9100' })).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(gatewayOptionsFromConfig(file, { WOODWORK_API_HOST: ' ', WOODWORK_API_PORT: '' })).toEqual({ host: '127.0.0.1', port: 8000 });
    expect(() => gatewayOptionsFromConfig(file, { WOODWORK_API_PORT: 'eighty' })).toThrow(/WOODWORK_API_PORT is "eighty", which is not a port/);
    expect(() => gatewayOptionsFromConfig(file, { WOODWORK_API_PORT: '70000' })).toThrow(/not a port/);
  });
});

describe('gateway credentials', () => {
  const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] });

  it('maps each key to its own principal and refuses others', () => {
    const credentials = new Credentials({ keys: ['alpha', 'beta'], header: 'authorization', disabled: false });
    const alpha = credentials.principal(credentials.presented(headers({ authorization: 'Bearer alpha' })));
    const beta = credentials.principal(credentials.presented(headers({ authorization: 'bearer   beta ' })));
    expect(alpha).toMatch(/^key:[0-9a-f]{24}$/);
    expect(beta).toMatch(/^key:/);
    expect(alpha).not.toBe(beta);
    expect(alpha).not.toContain('alpha');
    expect(credentials.principal(credentials.presented(headers({ authorization: 'Bearer gamma' })))).toBeUndefined();
    expect(credentials.principal(credentials.presented(headers({ authorization: 'alpha' })))).toBeUndefined();
    expect(credentials.principal(credentials.presented(headers({})))).toBeUndefined();
    expect(credentials.principal(credentials.presented(headers({}), 'woodwork, bearer.alpha'))).toBe(alpha);
  });

  it('reads a custom header, and Authorization: Bearer too', () => {
    const credentials = new Credentials({ keys: ['alpha'], header: 'x-api-key', disabled: false });
    expect(credentials.principal(credentials.presented(headers({ 'x-api-key': 'alpha' })))).toMatch(/^key:/);
    expect(credentials.principal(credentials.presented(headers({ authorization: 'Bearer alpha' })))).toMatch(/^key:/);
  });

  it('lets everyone in as one anonymous client when no key is configured', () => {
    const credentials = new Credentials({ keys: [], header: 'authorization', disabled: true });
    expect(credentials.principal(undefined)).toBe(ANONYMOUS);
  });
});

describe('token bucket', () => {
  it('allows a burst, then the sustained rate, per client', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ requestsPerMinute: 60, burst: 3 }, () => now);
    expect([1, 2, 3].map(() => limiter.take('a').allowed)).toEqual([true, true, true]);
    const denied = limiter.take('a');
    expect(denied).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(limiter.take('b').allowed).toBe(true);
    now += 500;
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterMs: 500 });
    now += 500;
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('forgets clients whose bucket has refilled', () => {
    let now = 0;
    const limiter = new TokenBucketLimiter({ requestsPerMinute: 60, burst: 2 }, () => now);
    for (let index = 0; index < 100; index++) limiter.take(`client-${index}`);
    expect(limiter.size).toBe(100);
    now += 10_000;
    limiter.take('late');
    expect(limiter.size).toBe(1);
  });
});

describe('reply producers', () => {
  const topology = (components: { name: string; kind: string; type: string; to?: string[] }[]) =>
    ({ components: components.map((component) => ({ ...component, to: component.to ?? [] })) }) as unknown as Topology;

  it('are the components on the route whose result goes back to the session or to outputs', () => {
    expect(
      replyProducers(
        topology([
          { name: 'in', kind: 'input', type: 'api', to: ['first'] },
          { name: 'first', kind: 'transform', type: 'echo', to: ['second'] },
          { name: 'second', kind: 'transform', type: 'uppercase', to: ['out'] },
          { name: 'out', kind: 'output', type: 'api' },
          // Only called by others (an agent's model): its streams are not the reply.
          { name: 'model', kind: 'llm', type: 'openai' },
        ]),
      ),
    ).toEqual(new Set(['second']));
    expect(replyProducers(topology([{ name: 'in', kind: 'input', type: 'api', to: ['t'] }, { name: 't', kind: 'transform', type: 'echo' }]))).toEqual(new Set(['t']));
  });
});
