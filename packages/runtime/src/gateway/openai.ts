/**
 * The OpenAI-compatible face of the gateway, so any OpenAI client can talk to a topology:
 *
 * - `GET /v1/models` lists the topology as one model;
 * - `POST /v1/chat/completions` sends the last user message as the turn's input and answers with a
 *   `chat.completion`, or with `stream: true` a stream of `chat.completion.chunk` SSE messages
 *   ending in `data: [DONE]` (the reply components' text chunks as they come; the reply in one
 *   chunk when nothing streams).
 *
 * Sessions: an `X-Woodwork-Session-Id` header continues one of the caller's sessions; a `user` field
 * continues the caller's session for that user (created on first use); neither makes a session for
 * this request alone, ended when it is answered. The topology keeps the conversation (its memory),
 * so only the last user message is sent, not the whole `messages` history. Sampling parameters
 * (`temperature`, `max_tokens`, `tools`, …) are accepted and ignored: the topology decides.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { errorMessage } from '../errors.js';
import { EventTypes, textOf } from '../events.js';
import { traceIdOf } from '../trace.js';
import type { Turn } from '../types.js';
import { readJsonObject } from './body.js';
import type { GatewayDeps, GatewayEnv } from './context.js';
import { errorBody, fromRuntimeError, GatewayRequestError } from './http-error.js';
import { firstErrorMessage, notFound, OWNER_KEY, ownedSession, replyProducers, userSessionId } from './session-access.js';
import { inBatches, keepAlive, streamController } from './session-stream.js';

/** The header that names the session a chat completion continues (and, in answers, the session used). */
export const SESSION_HEADER = 'x-woodwork-session-id';

const started = Math.floor(Date.now() / 1000);

function model(id: string) {
  return { id, object: 'model', created: started, owned_by: 'woodwork' } as const;
}

export function listModels(deps: GatewayDeps) {
  return (c: Context<GatewayEnv>) => c.json({ object: 'list', data: [model(deps.settings.modelName)] });
}

export function getModel(deps: GatewayDeps) {
  return (c: Context<GatewayEnv>) => {
    if (c.req.param('model') !== deps.settings.modelName) throw new GatewayRequestError('not_found', `no model ${JSON.stringify(c.req.param('model'))}`, { param: 'model' });
    return c.json(model(deps.settings.modelName));
  };
}

/** The text of a message's `content`: a string, or the text parts of an array of parts. */
function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts = content.filter((part): part is { type: 'text'; text: string } => typeof part === 'object' && part !== null && part.type === 'text' && typeof part.text === 'string');
  return parts.length > 0 ? parts.map((part) => part.text).join('\n') : undefined;
}

interface ChatRequest {
  readonly input: string;
  readonly stream: boolean;
  readonly user: string | undefined;
}

function parseChatRequest(body: Record<string, unknown>): ChatRequest {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new GatewayRequestError('invalid_request', '`messages` must be a non-empty array', { param: 'messages' });
  }
  if (messages.some((message) => typeof message !== 'object' || message === null || typeof (message as { role?: unknown }).role !== 'string')) {
    throw new GatewayRequestError('invalid_request', 'each message needs a `role`', { param: 'messages' });
  }
  const last = [...(messages as { role: string; content?: unknown }[])].reverse().find((message) => message.role === 'user');
  if (!last) throw new GatewayRequestError('invalid_request', '`messages` has no user message', { param: 'messages' });
  const input = contentText(last.content);
  if (input === undefined) throw new GatewayRequestError('invalid_request', 'the last user message has no text content', { param: 'messages' });
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw new GatewayRequestError('invalid_request', '`stream` must be a boolean', { param: 'stream' });
  }
  if (body.model !== undefined && typeof body.model !== 'string') throw new GatewayRequestError('invalid_request', '`model` must be a string', { param: 'model' });
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw new GatewayRequestError('invalid_request', '`user` must be a string', { param: 'user' });
  return { input, stream: body.stream === true, user: typeof body.user === 'string' && body.user !== '' ? body.user : undefined };
}

/** The session a request talks to, and whether it exists for this request only. */
async function chatSession(c: Context<GatewayEnv>, deps: GatewayDeps, user: string | undefined): Promise<{ id: string; ephemeral: boolean }> {
  const principal = c.get('principal');
  const named = c.req.header(SESSION_HEADER);
  if (named !== undefined && named !== '') {
    await ownedSession(deps.client, named, principal);
    return { id: named, ephemeral: false };
  }
  if (user !== undefined) {
    const id = userSessionId(principal, user);
    const info = await deps.client.get(id);
    if (info && info.metadata[OWNER_KEY] !== principal) throw notFound();
    if (!info) await deps.client.create({ id, metadata: { [OWNER_KEY]: principal, openai_user: user } });
    return { id, ephemeral: false };
  }
  return { id: await deps.client.create({ metadata: { [OWNER_KEY]: principal } }), ephemeral: true };
}

export function chatCompletions(deps: GatewayDeps) {
  return async (c: Context<GatewayEnv>): Promise<Response> => {
    const request = parseChatRequest(await readJsonObject(c));
    const principal = c.get('principal');
    const session = await chatSession(c, deps, request.user);
    const endIfEphemeral = () => {
      if (session.ephemeral) deps.client.end(session.id, 'completed').catch(() => undefined);
    };
    if (!session.ephemeral) c.header(SESSION_HEADER, session.id);
    const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    const modelName = deps.settings.modelName;

    if (!request.stream) {
      try {
        const turn = await deps.client.submit(session.id, request.input, { metadata: { [OWNER_KEY]: principal } });
        const result = await turn.result;
        if (!result.ok) throw new GatewayRequestError('turn_failed', firstErrorMessage(result));
        return c.json({
          id,
          object: 'chat.completion',
          created,
          model: modelName,
          system_fingerprint: null,
          choices: [{ index: 0, message: { role: 'assistant', content: result.text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        });
      } catch (error) {
        throw fromRuntimeError(error) ?? error;
      } finally {
        endIfEphemeral();
      }
    }

    // Streaming: read the session's live events before sending, so no chunk is missed.
    const reading = new AbortController();
    const events = deps.client.events(session.id, { from: 'live', signal: reading.signal })[Symbol.asyncIterator]();
    let turn: Turn;
    try {
      turn = await deps.client.submit(session.id, request.input, { metadata: { [OWNER_KEY]: principal } });
    } catch (error) {
      reading.abort();
      await events.return?.();
      endIfEphemeral();
      throw fromRuntimeError(error) ?? error;
    }
    // The runtime's turn timeout (or the session ending) stops the stream with an error chunk.
    let failure: GatewayRequestError | undefined;
    turn.result.then(
      () => undefined,
      (error: unknown) => {
        failure = fromRuntimeError(error) ?? new GatewayRequestError('internal_error', 'the turn failed');
        reading.abort();
      },
    );
    const producers = deps.topology?.() ? replyProducers(deps.topology()!) : undefined;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
      JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: modelName,
        system_fingerprint: null,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      });

    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const controller = streamController(c, stream, deps);
      controller.signal.addEventListener('abort', () => reading.abort(), { once: true });
      const stopKeepAlive = keepAlive(stream, deps.settings.keepAliveMs, controller);
      let streamed = false;
      let replies = 0;
      try {
        await stream.writeSSE({ data: chunk({ role: 'assistant', content: '' }, null) });
        // The events the session's reader already holds (a `stream.chunks` envelope's tokens) leave
        // in one write; each is still its own `data:` message. JSON has no line breaks, so each
        // message is one `data:` line, as writeSSE would write it.
        const data = (json: string) => `data: ${json}\n\n`;
        let end: 'break' | 'return' | undefined;
        for await (const batch of inBatches({ [Symbol.asyncIterator]: () => events })) {
          let out = '';
          for (const event of batch) {
            if (event.event_type === EventTypes.sessionEnded) {
              failure ??= new GatewayRequestError('session_ended', 'the session ended before the turn completed');
              end = 'break';
              break;
            }
            if (traceIdOf(event.trace) !== turn.turnId) continue;
            if (event.event_type === EventTypes.streamChunk && (producers === undefined || producers.has(event.component_source))) {
              const payload = event.payload as { data_type?: unknown; data?: unknown };
              if (payload.data_type === 'text' && typeof payload.data === 'string' && payload.data !== '') {
                streamed = true;
                out += data(chunk({ content: payload.data }, null));
              }
            } else if (event.event_type === EventTypes.sessionReplied && !streamed) {
              const text = textOf(event.payload);
              out += data(chunk({ content: replies > 0 ? `\n${text}` : text }, null));
              replies++;
            } else if (event.event_type === EventTypes.agentError) {
              const message = (event.payload as { error?: { message?: string } }).error?.message ?? 'a component failed';
              out += data(JSON.stringify(errorBody('turn_failed', message)));
              end = 'return';
              break;
            } else if (event.event_type === EventTypes.turnCompleted) {
              out += data(chunk({}, 'stop')) + data('[DONE]');
              end = 'return';
              break;
            }
          }
          if (out !== '') await stream.write(out);
          if (end !== undefined) break;
        }
        if (end === 'return') return;
        if (failure && !controller.signal.aborted) await stream.writeSSE({ data: JSON.stringify(failure.body()) });
      } catch (error) {
        if (!controller.signal.aborted) deps.logger.warn('a chat completion stream failed', { session: session.id, error: errorMessage(error) });
      } finally {
        stopKeepAlive();
        controller.abort();
        await events.return?.();
        endIfEphemeral();
      }
    });
  };
}
