/**
 * Sessions as the gateway hands them out: each belongs to the principal that created it (kept in
 * the session's metadata, so every gateway instance of a distributed topology agrees), and a
 * session of another principal is answered exactly like a session that does not exist.
 */
import { createHash } from 'node:crypto';
import { findComponentType, type Topology } from '@woodwork/parser';
import type { AgentErrorPayload } from '../events.js';
import type { JsonValue, SessionClient, SessionInfo, TurnResult } from '../types.js';
import { GatewayRequestError } from './http-error.js';
import type { GatewaySessionResponse, GatewayTurnResponse } from './types.js';

/** The metadata key that names a session's owner. */
export const OWNER_KEY = 'owner';

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export function notFound(): GatewayRequestError {
  return new GatewayRequestError('not_found', 'no such session');
}

/** `sessionId`, when it can be a session's id; otherwise `not_found`, as for a session that does not exist. */
export function checkedSessionId(sessionId: string): string {
  if (!SESSION_ID.test(sessionId)) throw notFound();
  return sessionId;
}

/** The session, when it exists and belongs to `principal`; otherwise `not_found` (never "forbidden": that would confirm it exists). */
export async function ownedSession(client: SessionClient, sessionId: string, principal: string): Promise<SessionInfo> {
  const info = await client.get(checkedSessionId(sessionId));
  if (!info || info.metadata[OWNER_KEY] !== principal) throw notFound();
  return info;
}

/** A stable session id per principal and OpenAI `user`: two keys with the same `user` never share a session. */
export function userSessionId(principal: string, user: string): string {
  return `chat-${createHash('sha256').update(`${principal}\u0000${user}`, 'utf8').digest('hex').slice(0, 32)}`;
}

/** What a client attached, minus the keys the gateway owns. */
export function clientMetadata(value: unknown): Record<string, JsonValue> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayRequestError('invalid_request', '`metadata` must be an object', { param: 'metadata' });
  }
  const { [OWNER_KEY]: _owner, ...rest } = value as Record<string, JsonValue>;
  return rest;
}

export function sessionUrls(sessionId: string, turnId?: string): { events_url: string; ws_url: string } {
  const base = `/v1/sessions/${encodeURIComponent(sessionId)}`;
  return { events_url: turnId === undefined ? `${base}/events` : `${base}/events?turn_id=${turnId}`, ws_url: `${base}/ws` };
}

export function sessionResponse(info: SessionInfo): GatewaySessionResponse {
  const { [OWNER_KEY]: _owner, ...metadata } = info.metadata;
  const { events_url, ws_url } = sessionUrls(info.id);
  return {
    session_id: info.id,
    created_at: new Date(info.createdAt).toISOString(),
    expires_at: new Date(info.expiresAt).toISOString(),
    metadata,
    events_url,
    ws_url,
  };
}

export function turnResponse(result: TurnResult): GatewayTurnResponse {
  return {
    session_id: result.sessionId,
    turn_id: result.turnId,
    status: 'completed',
    ok: result.ok,
    reply: result.text,
    replies: result.replies.map((reply) => reply.payload),
    errors: result.errors.map((error) => error.payload),
    events_url: sessionUrls(result.sessionId, result.turnId).events_url,
  };
}

/** The message of the first failure of a turn, for a client that only wants one line. */
export function firstErrorMessage(result: TurnResult): string {
  const payload = result.errors[0]?.payload as Partial<AgentErrorPayload> | undefined;
  return payload?.error?.message ?? 'a component failed';
}

/**
 * The components whose result is the reply: on the route from an input, with their result going
 * back to the session (no `to`) or straight to outputs. Their streams are what a chat completion
 * streams; the streams of the components before them, and of components only called by others
 * (an agent's model), are work in progress.
 */
export function replyProducers(topology: Topology): Set<string> {
  const byName = new Map(topology.components.map((component) => [component.name, component]));
  const roleOf = (name: string) => {
    const component = byName.get(name);
    return component ? (findComponentType(component.kind, component.type)?.kindSpec.role ?? 'processor') : undefined;
  };
  const routedTo = new Set(topology.components.flatMap((component) => component.to));
  let starts = topology.components.filter((component) => roleOf(component.name) === 'input');
  if (starts.length === 0) starts = topology.components.filter((component) => roleOf(component.name) === 'processor' && !routedTo.has(component.name));
  const reached = new Set<string>();
  const queue = starts.map((component) => component.name);
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (reached.has(name)) continue;
    reached.add(name);
    queue.push(...(byName.get(name)?.to ?? []));
  }
  const producers = new Set<string>();
  for (const name of reached) {
    const role = roleOf(name);
    if (role !== 'processor') continue;
    const to = byName.get(name)?.to ?? [];
    if (to.length === 0 || to.every((target) => roleOf(target) === 'output')) producers.add(name);
  }
  return producers;
}
