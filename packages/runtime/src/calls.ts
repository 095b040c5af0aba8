/**
 * Calls between components over the bus: what a `ComponentReference` does. A request goes to the
 * callee's inbox like any message, with `routing.next_component` set to `reply:<topic>` — the
 * caller's replies topic — so the callee's host answers there (`component.reply`) instead of
 * routing the result on. Requests carry the caller's session and trace (read from the message being
 * handled, through AsyncLocalStorage), so a call is part of the turn that made it.
 *
 * Reply payload: `{ request_id, ok, result?, error?, stream_id? }`. With `stream_id`, the callee
 * streams its result and the caller reads the chunks through the stream transport.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Bus, Envelope, EnvelopeTrace, Subscription } from '@woodwork/bus';
import type { Topology, TopologyComponent } from '@woodwork/parser';
import { WoodworkRuntimeError, type SerializedRuntimeError } from './errors.js';
import { EventTypes } from './events.js';
import { StreamAggregate, toChunk, type StreamTransport } from './streams.js';
import { componentTopic, repliesTopic } from './topics.js';
import type { CallOptions, ComponentReference, JsonValue, StreamChunk } from './types.js';

/** What the host puts in AsyncLocalStorage while a component handles a message. */
export interface MessageScope {
  readonly sessionId: string;
  readonly trace: EnvelopeTrace | null;
  readonly component: string;
}

export const messageScope = new AsyncLocalStorage<MessageScope>();

/** `event_type` of a method invocation; its payload is `{ method, args }`. */
export const INVOKE_EVENT = 'component.invoke';
/** `event_type` of a reply to a call. */
export const REPLY_EVENT = 'component.reply';

const REPLY_PREFIX = 'reply:';

/** The reply topic of a call envelope, or undefined for an ordinary message. */
export function replyTopicOf(envelope: Envelope): string | undefined {
  const next = envelope.routing.next_component;
  return next !== null && next.startsWith(REPLY_PREFIX) ? next.slice(REPLY_PREFIX.length) : undefined;
}

export interface CallReplyPayload {
  readonly request_id: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: SerializedRuntimeError;
  readonly stream_id?: string;
}

interface PendingCall {
  resolve(reply: CallReplyPayload): void;
  reject(error: unknown): void;
}

export interface CallServiceOptions {
  readonly bus: Bus;
  readonly namespace: string;
  readonly instanceId: string;
  readonly streams: StreamTransport | undefined;
  readonly timeoutMs: number;
}

export class CallService {
  private readonly pending = new Map<string, PendingCall>();
  private subscription: Promise<Subscription> | undefined;
  private closed = false;
  readonly topic: string;

  constructor(private readonly options: CallServiceOptions) {
    this.topic = repliesTopic(options.namespace, options.instanceId);
  }

  private listen(): Promise<Subscription> {
    this.subscription ??= this.options.bus.subscribe<CallReplyPayload>(
      this.topic,
      { group: this.options.instanceId, fromBeginning: false, maxInFlight: 256, maxAttempts: 1 },
      (envelope) => {
        const reply = envelope.payload;
        const pending = reply && this.pending.get(reply.request_id);
        if (!pending) return;
        // A streamed call answers twice (the stream head, then the whole result); the first settles it.
        this.pending.delete(reply.request_id);
        pending.resolve(reply);
      },
    );
    return this.subscription;
  }

  private scope(target: string, options: CallOptions & { sessionId?: string }): MessageScope {
    const scope = messageScope.getStore();
    const sessionId = options.sessionId ?? scope?.sessionId;
    if (sessionId === undefined) {
      throw new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `a call to \`${target}\` needs a session: make it while handling a message`, {
        hint: 'call references from handle() or a method, not from init() or start()',
        userError: false,
      });
    }
    return { sessionId, trace: scope?.trace ?? null, component: scope?.component ?? 'runtime' };
  }

  /** Sends a request and resolves with the reply payload (and the scope it was made in). */
  async request(
    target: string,
    eventType: string,
    payload: unknown,
    options: CallOptions & { sessionId?: string },
  ): Promise<{ reply: CallReplyPayload; scope: MessageScope }> {
    if (this.closed) throw new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime is stopped');
    const scope = this.scope(target, options);
    await this.listen();
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    let requestId = '';
    const reply = new Promise<CallReplyPayload>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          new WoodworkRuntimeError('WW_RUNTIME_TIMEOUT', `call from \`${scope.component}\` to \`${target}\` got no reply within ${timeoutMs} ms`, {
            component: scope.component,
            sessionId: scope.sessionId,
            hint: `check that \`${target}\` is running; raise the timeout with { timeoutMs }`,
            isRetryable: true,
          }),
        );
      }, timeoutMs);
      const abort = () => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(options.signal?.reason ?? new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `call to \`${target}\` was aborted`));
      };
      options.signal?.addEventListener('abort', abort, { once: true });
      this.pending.set((requestId = cryptoId()), {
        resolve: (value) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', abort);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', abort);
          reject(error);
        },
      });
    });
    try {
      await this.options.bus.publish(componentTopic(this.options.namespace, target), {
        message_id: requestId,
        session_id: scope.sessionId,
        event_type: eventType,
        component_source: scope.component,
        component_target: target,
        payload,
        trace: scope.trace,
        routing: { next_component: `${REPLY_PREFIX}${this.topic}` },
      });
    } catch (error) {
      this.pending.get(requestId)?.reject(error);
    }
    return { reply: await reply, scope };
  }

  private failure(target: string, reply: CallReplyPayload): WoodworkRuntimeError {
    const error = reply.error;
    return new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `\`${target}\` failed: ${error?.message ?? 'unknown error'}`, {
      component: target,
      ...(error?.hint === undefined ? {} : { hint: error.hint }),
      ...(error?.location === undefined ? {} : { location: error.location }),
    });
  }

  /** The chunks of a reply: live from the transport when the callee streams, else the result as one chunk. */
  async *chunks(target: string, reply: CallReplyPayload, scope: MessageScope): AsyncGenerator<StreamChunk> {
    if (!reply.ok) throw this.failure(target, reply);
    if (reply.stream_id !== undefined && this.options.streams) {
      yield* await this.options.streams.read({ sessionId: scope.sessionId, streamId: reply.stream_id, source: target, target: scope.component });
      return;
    }
    const result = reply.result ?? null;
    yield typeof result === 'string'
      ? toChunk(result, reply.request_id, 0, true)
      : toChunk({ data_type: 'json', data: result as JsonValue }, reply.request_id, 0, true);
  }

  /** A reference to `component`, as a config sees it. */
  reference(component: TopologyComponent, config: Readonly<Record<string, unknown>>): ComponentReference {
    const target = component.name;
    const service = this;
    return Object.freeze({
      $ref: target,
      name: target,
      kind: component.kind,
      type: component.type,
      config,
      async call(payload: unknown, options: CallOptions = {}): Promise<unknown> {
        const { reply, scope } = await service.request(target, options.event ?? EventTypes.componentCall, payload, options);
        if (!reply.ok) throw service.failure(target, reply);
        if (reply.stream_id === undefined) return reply.result ?? null;
        const aggregate = new StreamAggregate();
        for await (const chunk of service.chunks(target, reply, scope)) aggregate.add(chunk);
        return aggregate.result();
      },
      callStream(payload: unknown, options: CallOptions = {}): AsyncIterable<StreamChunk> {
        return {
          async *[Symbol.asyncIterator]() {
            const { reply, scope } = await service.request(target, options.event ?? EventTypes.componentCall, payload, options);
            yield* service.chunks(target, reply, scope);
          },
        };
      },
      async invoke(method: string, args?: unknown, options: CallOptions = {}): Promise<unknown> {
        const { reply } = await service.request(target, INVOKE_EVENT, { method, args: args ?? null }, options);
        if (!reply.ok) throw service.failure(target, reply);
        return reply.result ?? null;
      },
      toJSON() {
        return { $ref: target };
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const reason = new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the runtime stopped before the call was answered');
    for (const pending of this.pending.values()) pending.reject(reason);
    this.pending.clear();
    const subscription = await this.subscription?.catch(() => undefined);
    await subscription?.close();
  }
}

let counter = 0;
const prefix = Math.random().toString(36).slice(2, 10);
function cryptoId(): string {
  return `call-${prefix}-${(++counter).toString(36)}-${Date.now().toString(36)}`;
}

/** The topology's component by name. */
export function componentNamed(topology: Topology, name: string): TopologyComponent | undefined {
  return topology.components.find((component) => component.name === name);
}
