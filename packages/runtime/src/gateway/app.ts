/**
 * The gateway's routes and the middleware in front of them, as one Hono app:
 *
 *   /health                               open: is the gateway up
 *   CORS (when configured) → authentication → rate limit → body size limit → /v1/…
 *
 * Every error leaves as `{ error: { code, type, message, param } }` with its status (http-error.ts).
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context, type Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { getConnInfo } from '@hono/node-server/conninfo';
import { errorMessage, WoodworkRuntimeError } from '../errors.js';
import { ANONYMOUS, Credentials } from './auth.js';
import { readJsonObject } from './body.js';
import type { GatewayDeps, GatewayEnv } from './context.js';
import { errorBody, fromRuntimeError, GatewayRequestError } from './http-error.js';
import { idempotencyKeyOf, IdempotentRequest, IDEMPOTENCY_HEADER, REPLAYED_HEADER, type IdempotencyRecord } from './idempotency.js';
import { chatCompletions, getModel, listModels, SESSION_HEADER } from './openai.js';
import { checkedSessionId, clientMetadata, notFound, OWNER_KEY, ownedSession, sessionResponse, sessionUrls, turnResponse } from './session-access.js';
import { sessionSocketRoute } from './session-socket.js';
import { sessionEventStream, streamQuery } from './session-stream.js';
import type { GatewayAcceptedResponse } from './types.js';

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function rateLimited(retryAfterMs: number): GatewayRequestError {
  return new GatewayRequestError('rate_limited', `too many requests; retry in ${Math.ceil(retryAfterMs / 1000)} s`, { retryAfterMs });
}

/** Whether the client asked not to wait for the reply (`"wait": false` or `Prefer: respond-async`). */
function wantsToWait(c: Context, body: Record<string, unknown>): boolean {
  if (body.wait !== undefined && typeof body.wait !== 'boolean') throw new GatewayRequestError('invalid_request', '`wait` must be a boolean', { param: 'wait' });
  if (body.wait === false) return false;
  return !/\brespond-async\b/i.test(c.req.header('prefer') ?? '');
}

export function createGatewayApp(deps: GatewayDeps): Hono<GatewayEnv> {
  const { settings, client, logger, limiter } = deps;
  const credentials = new Credentials(settings.auth);
  const app = new Hono<GatewayEnv>();

  app.onError((error, c) => {
    const known = fromRuntimeError(error);
    if (known) {
      if (known.extra.retryAfterMs !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(known.extra.retryAfterMs / 1000))));
      return c.json(known.body(), known.status);
    }
    logger.error('a request failed', { method: c.req.method, path: c.req.path, error: errorMessage(error) });
    return c.json(errorBody('internal_error', 'something went wrong on our side'), 500);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.get('/health', (c) => c.json({ status: deps.closing.aborted ? 'closing' : 'ok' }, deps.closing.aborted ? 503 : 200));

  if (settings.cors) {
    const origins = settings.cors.origins;
    app.use(
      '/v1/*',
      cors({
        origin: origins.includes('*') ? '*' : [...origins],
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'Prefer', IDEMPOTENCY_HEADER, SESSION_HEADER, ...(settings.auth.header === 'authorization' ? [] : [settings.auth.header])],
        exposeHeaders: ['Location', 'Retry-After', REPLAYED_HEADER, SESSION_HEADER],
        maxAge: settings.cors.maxAgeSeconds,
        credentials: false,
      }),
    );
  }

  app.use('/v1/*', async (c: Context<GatewayEnv>, next: Next) => {
    const isUpgrade = c.req.header('upgrade')?.toLowerCase() === 'websocket';
    const presented = credentials.presented({ get: (name) => c.req.header(name) }, isUpgrade ? c.req.header('sec-websocket-protocol') : undefined);
    const principal = credentials.principal(presented);
    if (principal === undefined) {
      // Guessing keys costs from the address's bucket: a guesser is slowed down like any client.
      const decision = limiter?.take(`unauthenticated:${clientAddress(c)}`);
      if (decision && !decision.allowed) throw rateLimited(decision.retryAfterMs);
      c.header('WWW-Authenticate', 'Bearer realm="woodwork"');
      throw new GatewayRequestError('unauthorized', `send an API key: Authorization: Bearer <key>${credentials.header === 'authorization' ? '' : ` or ${credentials.header}: <key>`}`);
    }
    c.set('principal', principal);
    return next();
  });

  if (limiter) {
    app.use('/v1/*', async (c: Context<GatewayEnv>, next: Next) => {
      const principal = c.get('principal');
      const decision = limiter.take(principal === ANONYMOUS ? `address:${clientAddress(c)}` : principal);
      if (!decision.allowed) throw rateLimited(decision.retryAfterMs);
      return next();
    });
  }

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: settings.maxBodyBytes,
      onError: (c) => c.json(errorBody('payload_too_large', `the body is larger than ${settings.maxBodyBytes} bytes`), 413),
    }),
  );

  /** The request's `Idempotency-Key`, ready to claim; undefined without the header. */
  const idempotentRequest = (c: Context<GatewayEnv>, scope: string, body: Record<string, unknown>, status: 200 | 201): IdempotentRequest | undefined => {
    const key = idempotencyKeyOf(c);
    if (key === undefined) return undefined;
    const records = client.records;
    if (!records) {
      throw new GatewayRequestError('invalid_request', `this gateway's session store keeps no records, so it cannot honour ${IDEMPOTENCY_HEADER}; send the request without it`, {
        param: IDEMPOTENCY_HEADER,
      });
    }
    return new IdempotentRequest(records, settings.idempotencyKeyTtlMs, c.get('principal'), scope, key, `${c.req.method} ${c.req.routePath}`, body, status);
  };

  const acceptedResponse = (c: Context<GatewayEnv>, sessionId: string, turnId: string): Response => {
    const urls = sessionUrls(sessionId, turnId);
    const body: GatewayAcceptedResponse = { session_id: sessionId, turn_id: turnId, status: 'accepted', ...urls };
    c.header('Location', urls.events_url);
    return c.json(body, 202);
  };

  /** A retry of a request already sent: the first one's answer once its turn completed (waiting for it, as the first would), else 202. */
  const replay = async (c: Context<GatewayEnv>, request: IdempotentRequest, held: IdempotencyRecord, wait: boolean): Promise<Response> => {
    c.header(REPLAYED_HEADER, 'true');
    const response = held.state === 'completed' ? held.response : wait ? await request.completion(held, client, settings.replyTimeoutMs, deps.closing) : undefined;
    if (response) return c.json(response, held.status as ContentfulStatusCode);
    return acceptedResponse(c, held.session_id, held.turn_id);
  };

  /** Sends input and answers with the reply, or with 202 and the turn's stream when it takes longer or the client would rather not wait. */
  const runTurn = async (
    c: Context<GatewayEnv>,
    sessionId: string,
    input: unknown,
    wait: boolean,
    created: boolean,
    idempotent?: IdempotentRequest,
  ): Promise<Response> => {
    const principal = c.get('principal');
    // The owner is checked as the session is touched, in one store round trip: a session of another
    // principal (or none) is neither touched nor sent to, and answers `not_found`.
    const turn = await client
      .submit(sessionId, input, {
        metadata: { [OWNER_KEY]: principal },
        requireMetadata: { key: OWNER_KEY, value: principal },
        ...(idempotent ? { messageId: idempotent.messageId, turnId: idempotent.turnId } : {}),
      })
      .catch(async (error: unknown) => {
        await idempotent?.abandon().catch(() => undefined);
        throw WoodworkRuntimeError.isInstance(error) && error.code === 'WW_RUNTIME_SESSION' ? notFound() : error;
      });
    const status = created ? 201 : 200;
    // Nobody may be left waiting on the result: a late failure would be an unhandled rejection.
    const result = turn.result;
    result.catch(() => undefined);
    // With a key, the answer is recorded for retries whether or not this request is still waiting.
    const recorded = idempotent
      ? idempotent
          .started()
          .then(() => result)
          .then((outcome) => idempotent.completed(turnResponse(outcome)))
          .catch((error: unknown) => logger.warn('could not record the answer of an idempotent request', { session: sessionId, error: errorMessage(error) }))
      : undefined;
    if (!wait) return acceptedResponse(c, sessionId, turn.turnId);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), settings.replyTimeoutMs);
    });
    try {
      const outcome = await Promise.race([result, late]);
      if (outcome === 'late') return acceptedResponse(c, sessionId, turn.turnId);
      // A retry that comes right after this answer must find it.
      if (recorded) await recorded;
      return c.json(turnResponse(outcome), status);
    } finally {
      clearTimeout(timer);
    }
  };

  app.post('/v1/sessions', async (c) => {
    const body = await readJsonObject(c);
    const metadata = clientMetadata(body.metadata);
    const wait = wantsToWait(c, body);
    // A key counts only with input: without it the request starts no turn, and creating again is harmless.
    const idempotent = body.input === undefined ? undefined : idempotentRequest(c, 'sessions', body, 201);
    if (idempotent) {
      // The session's id is chosen before the claim, so a gateway taking an abandoned claim over creates the same session.
      const held = await idempotent.claim(randomUUID());
      if (held) {
        c.header('Location', `/v1/sessions/${encodeURIComponent(held.session_id)}`);
        return replay(c, idempotent, held, wait);
      }
    }
    const sessionId = await client.create({ ...(idempotent ? { id: idempotent.sessionId } : {}), metadata: { ...metadata, [OWNER_KEY]: c.get('principal') } });
    c.header('Location', `/v1/sessions/${encodeURIComponent(sessionId)}`);
    if (body.input === undefined) {
      const info = await client.get(sessionId);
      if (!info) throw new GatewayRequestError('session_ended', 'the session ended at once');
      return c.json(sessionResponse(info), 201);
    }
    return runTurn(c, sessionId, body.input, wait, true, idempotent);
  });

  app.get('/v1/sessions/:id', async (c) => c.json(sessionResponse(await ownedSession(client, c.req.param('id'), c.get('principal')))));

  app.delete('/v1/sessions/:id', async (c) => {
    const info = await ownedSession(client, c.req.param('id'), c.get('principal'));
    await client.end(info.id, 'ended by the client');
    return c.body(null, 204);
  });

  app.post('/v1/sessions/:id/messages', async (c) => {
    const sessionId = client.checksRequiredMetadata ? checkedSessionId(c.req.param('id')) : (await ownedSession(client, c.req.param('id'), c.get('principal'))).id;
    const body = await readJsonObject(c);
    if (body.input === undefined) throw new GatewayRequestError('invalid_request', 'the body needs `input`: a string or any JSON value', { param: 'input' });
    const wait = wantsToWait(c, body);
    const idempotent = idempotentRequest(c, sessionId, body, 200);
    if (idempotent) {
      const held = await idempotent.claim(sessionId);
      if (held) return replay(c, idempotent, held, wait);
    }
    return runTurn(c, sessionId, body.input, wait, false, idempotent);
  });

  app.get('/v1/sessions/:id/events', async (c) => {
    const info = await ownedSession(client, c.req.param('id'), c.get('principal'));
    return sessionEventStream(c, deps, info.id, streamQuery(c));
  });

  app.get('/v1/sessions/:id/ws', sessionSocketRoute(deps));

  app.get('/v1/models', listModels(deps));
  app.get('/v1/models/:model', getModel(deps));
  app.post('/v1/chat/completions', chatCompletions(deps));

  return app;
}
