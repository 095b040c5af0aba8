/**
 * A session over a WebSocket: `GET /v1/sessions/:id/ws`. The server sends the session's events as
 * `{ type: "event", event }` frames (the same events, in the same order, as the SSE stream); the
 * client sends `{ type: "input", input, ref? }` frames, each answered by `{ type: "accepted",
 * turn_id, ref }` or `{ type: "error", error, ref }` — the turn's events may come before its
 * `accepted` frame. The socket closes with 1000 when the session ends and 1001 when the gateway
 * closes; a client that stops answering pings is dropped after one keep-alive interval.
 */
import type { Context } from 'hono';
import { upgradeWebSocket } from '@hono/node-server';
import type { WebSocket } from 'ws';
import { errorMessage, WoodworkRuntimeError } from '../errors.js';
import type { GatewayDeps, GatewayEnv } from './context.js';
import { fromRuntimeError, GatewayRequestError, errorBody } from './http-error.js';
import { OWNER_KEY, ownedSession } from './session-access.js';
import { sessionEvents, streamQuery, type StreamQuery } from './session-stream.js';
import type { GatewayServerFrame } from './types.js';

/** The subprotocol a browser names next to `bearer.<key>` (browsers cannot set headers on a WebSocket). */
export const WEBSOCKET_PROTOCOL = 'woodwork';

class SessionSocket {
  private readonly controller = new AbortController();
  private alive = true;
  private pinger: NodeJS.Timeout | undefined;
  /** Inputs are handled one after another, so a session gets them in the order they were sent. */
  private receiving: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: WebSocket,
    private readonly deps: GatewayDeps,
    private readonly sessionId: string,
    private readonly principal: string,
    private readonly query: StreamQuery,
  ) {}

  start(): void {
    const { closing, settings } = this.deps;
    const onClosing = () => this.close(1001, 'the gateway is closing');
    if (closing.aborted) return onClosing();
    closing.addEventListener('abort', onClosing, { once: true });
    this.controller.signal.addEventListener('abort', () => closing.removeEventListener('abort', onClosing), { once: true });
    this.socket.on('pong', () => {
      this.alive = true;
    });
    this.pinger = setInterval(() => {
      if (this.socket.readyState !== this.socket.OPEN) return;
      if (!this.alive) {
        this.socket.terminate();
        return;
      }
      this.alive = false;
      this.socket.ping();
    }, settings.keepAliveMs);
    this.pinger.unref();
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for await (const event of sessionEvents(this.deps, this.sessionId, { ...this.query, turnId: undefined }, this.controller.signal)) {
        await this.send({ type: 'event', event });
      }
      if (!this.controller.signal.aborted) this.close(1000, 'the session ended');
    } catch (error) {
      if (this.controller.signal.aborted) return;
      if (WoodworkRuntimeError.isInstance(error) && error.code === 'WW_RUNTIME_READER_BEHIND') {
        // Every event up to the last one sent went out: the client reconnects with last_event_id.
        this.close(1013, 'fell behind; reconnect with last_event_id');
        return;
      }
      this.deps.logger.warn('a session WebSocket failed', { session: this.sessionId, error: errorMessage(error) });
      this.close(1011, 'internal error');
    }
  }

  /** Resolves once the frame is handed to the socket (backpressure for the event pump). */
  private send(frame: GatewayServerFrame): Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.send(JSON.stringify(frame), (error) => {
        if (error) this.controller.abort();
        resolve();
      });
    });
  }

  private sendError(error: GatewayRequestError, ref: string | undefined): Promise<void> {
    return this.send({ type: 'error', error: error.body().error, ...(ref === undefined ? {} : { ref }) });
  }

  receive(data: unknown): void {
    this.receiving = this.receiving.then(() => this.handle(data));
  }

  private async handle(data: unknown): Promise<void> {
    let ref: string | undefined;
    try {
      if (typeof data !== 'string') throw new GatewayRequestError('unsupported_media_type', 'send text frames with JSON, not binary frames');
      let frame: unknown;
      try {
        frame = JSON.parse(data);
      } catch (error) {
        throw new GatewayRequestError('invalid_json', `the frame is not valid JSON: ${(error as Error).message}`);
      }
      if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) throw new GatewayRequestError('invalid_request', 'a frame must be a JSON object');
      const record = frame as Record<string, unknown>;
      if (typeof record.ref === 'string') ref = record.ref;
      if (record.type !== 'input') throw new GatewayRequestError('invalid_request', 'a frame must be { "type": "input", "input": … }', { param: 'type' });
      if (record.input === undefined) throw new GatewayRequestError('invalid_request', 'an input frame needs `input`', { param: 'input' });
      const decision = this.deps.limiter?.take(this.principal);
      if (decision && !decision.allowed) {
        throw new GatewayRequestError('rate_limited', 'too many requests; slow down', { retryAfterMs: decision.retryAfterMs });
      }
      const turn = await this.deps.client.submit(this.sessionId, record.input, { metadata: { [OWNER_KEY]: this.principal } });
      await this.send({ type: 'accepted', turn_id: turn.turnId, ...(ref === undefined ? {} : { ref }) });
    } catch (error) {
      const requestError = error instanceof GatewayRequestError ? error : fromRuntimeError(error);
      if (requestError) return this.sendError(requestError, ref);
      this.deps.logger.error('a WebSocket input failed', { session: this.sessionId, error: errorMessage(error) });
      return this.sendError(new GatewayRequestError('internal_error', 'the input could not be sent'), ref);
    }
  }

  close(code: number, reason: string): void {
    this.stop();
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.socket.close(code, reason);
  }

  stop(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.controller.abort();
  }
}

/** The route: checks the session is the caller's, then upgrades. */
export function sessionSocketRoute(deps: GatewayDeps) {
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const sessionId = c.req.param('id') ?? '';
    const principal = c.get('principal');
    await ownedSession(deps.client, sessionId, principal);
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new GatewayRequestError('invalid_request', 'this endpoint speaks WebSocket; connect with a WebSocket client (or read /events as Server-Sent Events)');
    }
    const query = streamQuery(c);
    let connection: SessionSocket | undefined;
    const response = await upgradeWebSocket(c, {
      onOpen: (_event, ws) => {
        connection = new SessionSocket(ws.raw as unknown as WebSocket, deps, sessionId, principal, query);
        connection.start();
      },
      onMessage: (event) => {
        connection?.receive(event.data);
      },
      onClose: () => connection?.stop(),
    });
    return response ?? c.json(errorBody('internal_error', 'the WebSocket could not be opened'), 500);
  };
}
