/**
 * `startGateway(sessions, options)`: serves the API gateway over HTTP and WebSocket for any
 * `SessionClient` — a `Runtime` you embed, or the `input api` component's own session client.
 *
 * ```ts
 * await using runtime = createRuntime(topology);
 * await runtime.start();
 * await using gateway = await startGateway(runtime, { port: 8000, auth: { keys: [process.env.API_KEY!] } });
 * console.log(`serving ${gateway.url}`);
 * ```
 */
import type { SessionClient } from '../types.js';
import type { Gateway, GatewayOptions } from './types.js';

/**
 * Starts the gateway and resolves once it listens. Throws WW_RUNTIME_INVALID_TOPOLOGY when it would
 * listen beyond loopback without credentials, WW_RUNTIME_INVALID_ARGUMENT for a bad option, and
 * WW_RUNTIME_COMPONENT_INIT when the port cannot be had (EADDRINUSE, …).
 */
export async function startGateway(sessions: SessionClient, options: GatewayOptions = {}): Promise<Gateway> {
  // The HTTP stack loads on first use: a runtime without a gateway starts without it.
  const { serveGateway } = await import('./server.js');
  return serveGateway(sessions, options);
}
