/**
 * The gateway's server: the Hono app on a Node HTTP server, with WebSockets upgraded through the
 * same routes (so authentication and ownership checks apply to them too). Loaded only when a
 * gateway starts (start-gateway.ts), so runtimes without `input api` never load Hono or ws.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { WebSocketServer } from 'ws';
import { WoodworkRuntimeError } from '../errors.js';
import { silentLogger } from '../logger.js';
import type { SessionClient } from '../types.js';
import { createGatewayApp } from './app.js';
import type { GatewayDeps } from './context.js';
import { TokenBucketLimiter } from './rate-limit.js';
import { WEBSOCKET_PROTOCOL } from './session-socket.js';
import { assertSafeExposure, isLoopback, resolveGatewaySettings } from './settings.js';
import type { Gateway, GatewayOptions } from './types.js';

/** How long `close()` lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 5_000;

/** The project's folder name: the topology is the model. */
function defaultModelName(options: GatewayOptions): string {
  const file = options.topology?.()?.file;
  return (file !== undefined && path.basename(path.dirname(path.resolve(file)))) || 'woodwork';
}

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/** See `startGateway`. */
export async function serveGateway(sessions: SessionClient, options: GatewayOptions = {}): Promise<Gateway> {
  const settings = resolveGatewaySettings(options, { modelName: defaultModelName(options) });
  assertSafeExposure(settings);
  const logger = options.logger ?? silentLogger;
  if (settings.auth.keys.length === 0) {
    const why = settings.auth.disabled ? 'authentication is turned off' : 'no API key is configured';
    if (!isLoopback(settings.host)) logger.warn(`the API gateway on ${settings.host} accepts every client: ${why}`);
    else logger.info(`the API gateway accepts every client of this machine: ${why}`);
  }

  const closing = new AbortController();
  const deps: GatewayDeps = {
    client: sessions,
    settings,
    logger,
    topology: options.topology,
    limiter: settings.rateLimit ? new TokenBucketLimiter(settings.rateLimit) : undefined,
    closing: closing.signal,
  };
  const app = createGatewayApp(deps);
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: settings.maxBodyBytes,
    handleProtocols: (protocols) => (protocols.has(WEBSOCKET_PROTOCOL) ? WEBSOCKET_PROTOCOL : false),
  });
  const server = createAdaptorServer({ fetch: app.fetch, websocket: { server: webSockets } }) as Server;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(
        new WoodworkRuntimeError('WW_RUNTIME_COMPONENT_INIT', `the API gateway cannot listen on ${settings.host}:${settings.port}: ${error.message}`, {
          cause: error,
          hint: (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'another process uses the port: pick another `port`' : 'check `host` and `port`',
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(settings.port, settings.host);
  });
  server.on('error', (error) => logger.error('the API gateway server failed', { error: error.message }));
  const metrics = options.metrics;
  if (metrics) {
    // Open connections (keep-alive HTTP, event streams, WebSockets): what `scale_metric = "connections"` scales on.
    server.on('connection', (socket) => {
      metrics.recordConnections(1);
      socket.once('close', () => metrics.recordConnections(-1));
    });
  }

  const address = server.address() as AddressInfo;
  const url = urlOf(settings.host, address.port);
  logger.info(`API gateway listening on ${url}`);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing.abort();
      for (const socket of webSockets.clients) socket.close(1001, 'the gateway is closing');
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
          for (const socket of webSockets.clients) socket.terminate();
        }, CLOSE_GRACE_MS);
        force.unref();
        // A connection whose event stream the abort above just ended turns idle only once its
        // last bytes are out: sweep until the server is closed, or keep-alive would hold it open
        // until the client's own idle timeout (seconds, on every stop and rolling deploy).
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        sweep.unref();
        server.close(() => {
          clearTimeout(force);
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
      webSockets.close();
    })();
    return closed;
  };

  return {
    url,
    host: settings.host,
    port: address.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}
