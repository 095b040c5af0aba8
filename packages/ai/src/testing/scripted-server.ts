/**
 * A model server for tests that speaks each provider's wire protocol, driven by scripted replies,
 * so the real provider code (`@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/openai-compatible`,
 * `ollama-ai-provider-v2`) runs against it with `base_url` pointing here — no paid API, no network.
 *
 *   POST /v1/responses          OpenAI Responses API, SSE (`event:` + `data:` per event)
 *   POST /v1/chat/completions   OpenAI chat completions (openai_compatible, `api = "chat"`), SSE + `[DONE]`
 *   POST /v1/messages           Anthropic Messages, SSE
 *   POST /api/chat              Ollama, NDJSON
 *
 * Event shapes follow the providers' documentation and the AI SDK providers' own test fixtures:
 * lifecycle events, text deltas, tool-call deltas, usage, and the providers' error bodies. Each
 * request takes the next scripted reply (`server.enqueue(...)`), or the default one (`respond`);
 * a reply can stream text with delays, call a tool, fail with a status (401, 429 with
 * `retry-after`, 500) or cut the connection after some chunks.
 *
 * ```ts
 * await using server = await startScriptedServer({ apiKey: 'sk-test' });
 * server.enqueue({ text: ['Hel', 'lo'] }, { status: 429, retryAfter: 0 }, { text: 'again' });
 * // llm openai { base_url = server.openaiBaseUrl, api_key = "sk-test" }
 * ```
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Protocol = 'openai-responses' | 'openai-chat' | 'anthropic' | 'ollama';

export interface ScriptedToolCall {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

export interface ScriptedReply {
  /** The reply's text, as one chunk or as the chunks to stream. Default: none (tool calls only). */
  readonly text?: string | readonly string[];
  /** Tool calls after the text, their arguments streamed in pieces. */
  readonly toolCalls?: readonly ScriptedToolCall[];
  /** Before the response headers (the model "thinking"). Default 0. */
  readonly delayMs?: number;
  /** Between chunks. Default 0. */
  readonly chunkDelayMs?: number;
  /** Tokens to report. Default: input ~ request characters / 4, output = chunk count. */
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number };
  /** Answer with this HTTP status and the provider's error body instead. */
  readonly status?: number;
  /** With `status`: the `retry-after` header, in seconds. */
  readonly retryAfter?: number;
  /** With `status`: the error message in the body. */
  readonly message?: string;
  /** Destroy the connection after this many text chunks (a connection dropped mid-stream). */
  readonly cutAfter?: number;
}

export interface RecordedRequest {
  readonly protocol: Protocol;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: any;
  /** The text of the last user message, however the protocol spells it. */
  readonly userText: string;
  /** performance.now() when the request arrived. */
  readonly at: number;
  /** performance.now() when the first text chunk was written (undefined until then, or for none). */
  readonly firstChunkAt?: number;
  /** True when the client closed the connection before the reply ended (it cancelled the call). */
  readonly clientClosed?: boolean;
}

export interface ScriptedServerOptions {
  /** When set, a request with another key gets the provider's 401. Default: any key passes. */
  readonly apiKey?: string;
  /** The reply when nothing is enqueued. Default: `You said: <text>`, word by word. */
  readonly respond?: (request: RecordedRequest) => ScriptedReply;
  /** Default 0 (a free port). */
  readonly port?: number;
}

export interface ScriptedServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** For `llm openai` and `openai_compatible`: `<url>/v1`. */
  readonly openaiBaseUrl: string;
  /** For `llm claude`: `<url>/v1`. */
  readonly anthropicBaseUrl: string;
  /** For `llm ollama`: `<url>` (the provider adds `/api`). */
  readonly ollamaBaseUrl: string;
  /** Replies for the next requests, in order. */
  enqueue(...replies: ScriptedReply[]): void;
  readonly requests: readonly RecordedRequest[];
  close(): Promise<void>;
}

const sleep = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

function protocolOf(path: string): Protocol | undefined {
  if (path.endsWith('/responses')) return 'openai-responses';
  if (path.endsWith('/chat/completions')) return 'openai-chat';
  if (path.endsWith('/messages')) return 'anthropic';
  if (path.endsWith('/api/chat')) return 'ollama';
  return undefined;
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part?.text === 'string' ? part.text : '')).join('');
  return '';
}

function lastUserText(protocol: Protocol, body: any): string {
  const list: any[] = protocol === 'openai-responses' ? (Array.isArray(body?.input) ? body.input : []) : Array.isArray(body?.messages) ? body.messages : [];
  for (let index = list.length - 1; index >= 0; index--) if (list[index]?.role === 'user') return contentText(list[index].content);
  return typeof body?.input === 'string' ? body.input : '';
}

function keyOf(protocol: Protocol, headers: IncomingMessage['headers']): string | undefined {
  if (protocol === 'anthropic') return headers['x-api-key'] as string | undefined;
  const auth = headers.authorization;
  return typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
}

function chunksOf(reply: ScriptedReply): string[] {
  if (reply.text === undefined) return [];
  return typeof reply.text === 'string' ? [reply.text] : [...reply.text];
}

/** Splits a JSON string into a few pieces, as providers stream tool arguments. */
function pieces(json: string): string[] {
  const size = Math.max(1, Math.ceil(json.length / 3));
  const out: string[] = [];
  for (let index = 0; index < json.length; index += size) out.push(json.slice(index, index + size));
  return out.length > 0 ? out : [''];
}

function wordsOf(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [text];
}

// ---------------------------------------------------------------------------------------------
// Error bodies, as each provider sends them

function errorType(status: number, protocol: Protocol): string {
  if (protocol === 'anthropic') {
    return status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status === 404 ? 'not_found_error' : status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  }
  return status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error';
}

function errorBody(protocol: Protocol, status: number, message: string, code: string | null): unknown {
  if (protocol === 'anthropic') return { type: 'error', error: { type: errorType(status, protocol), message } };
  // Ollama answers `{ "error": "…" }`; the OpenAI family nests an object.
  if (protocol === 'ollama') return { error: message };
  return { error: { message, type: errorType(status, protocol), param: null, code } };
}

function defaultMessage(status: number, protocol: Protocol, key: string | undefined): { message: string; code: string | null } {
  if (status === 401) {
    // OpenAI echoes (part of) the key it refused: the worst case for a log, so echo all of it.
    return protocol === 'anthropic' ? { message: 'invalid x-api-key', code: null } : { message: `Incorrect API key provided: ${key ?? ''}. You can find your API key at https://platform.openai.com/account/api-keys.`, code: 'invalid_api_key' };
  }
  if (status === 429) return { message: 'Rate limit reached for requests. Please try again later.', code: 'rate_limit_exceeded' };
  if (status === 404) return { message: 'The model does not exist or you do not have access to it.', code: 'model_not_found' };
  if (status >= 500) return { message: 'The server had an error while processing your request. Sorry about that!', code: null };
  return { message: 'Invalid request.', code: null };
}

// ---------------------------------------------------------------------------------------------
// Streams

interface StreamPlan {
  readonly model: string;
  readonly chunks: readonly string[];
  readonly toolCalls: readonly ScriptedToolCall[];
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly chunkDelayMs: number;
  readonly cutAfter: number | undefined;
  readonly onFirstChunk: () => void;
  /** Called just before the server cuts the connection on purpose (`cutAfter`). */
  readonly onCut: () => void;
}

/** Writes one protocol's stream; `text(chunk)` returns false when the connection was cut. */
type Writer = (response: ServerResponse, plan: StreamPlan) => Promise<void>;

function sse(response: ServerResponse, event: string | undefined, data: unknown): void {
  response.write(`${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

async function eachChunk(response: ServerResponse, plan: StreamPlan, write: (chunk: string, index: number) => void): Promise<boolean> {
  for (const [index, chunk] of plan.chunks.entries()) {
    if (response.destroyed) return false; // the client went away
    if (plan.cutAfter !== undefined && index >= plan.cutAfter) {
      // Let what was written reach the client first: the cut is of the connection, not of data already sent.
      await sleep(Math.max(plan.chunkDelayMs, 20));
      plan.onCut();
      response.socket?.destroy();
      return false;
    }
    if (index > 0) await sleep(plan.chunkDelayMs);
    write(chunk, index);
    if (index === 0) plan.onFirstChunk();
  }
  return true;
}

const openaiResponses: Writer = async (response, plan) => {
  const id = `resp_${randomUUID().replaceAll('-', '')}`;
  const created_at = Math.floor(Date.now() / 1000);
  let sequence_number = 0;
  const event = (type: string, fields: Record<string, unknown>) => sse(response, type, { type, sequence_number: sequence_number++, ...fields });
  const base = { id, object: 'response', created_at, model: plan.model, output: [], parallel_tool_calls: true, tool_choice: 'auto', tools: [], usage: null };
  event('response.created', { response: { ...base, status: 'in_progress' } });
  event('response.in_progress', { response: { ...base, status: 'in_progress' } });
  const output: unknown[] = [];
  let outputIndex = 0;
  if (plan.chunks.length > 0) {
    const itemId = `msg_${randomUUID().replaceAll('-', '')}`;
    event('response.output_item.added', { output_index: outputIndex, item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
    event('response.content_part.added', { item_id: itemId, output_index: outputIndex, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
    const complete = await eachChunk(response, plan, (delta) => event('response.output_text.delta', { item_id: itemId, output_index: outputIndex, content_index: 0, delta, logprobs: [] }));
    if (!complete) return;
    const text = plan.chunks.join('');
    event('response.output_text.done', { item_id: itemId, output_index: outputIndex, content_index: 0, text, logprobs: [] });
    const part = { type: 'output_text', annotations: [], logprobs: [], text };
    event('response.content_part.done', { item_id: itemId, output_index: outputIndex, content_index: 0, part });
    const item = { id: itemId, type: 'message', status: 'completed', content: [part], role: 'assistant' };
    event('response.output_item.done', { output_index: outputIndex, item });
    output.push(item);
    outputIndex++;
  }
  for (const call of plan.toolCalls) {
    const itemId = `fc_${randomUUID().replaceAll('-', '')}`;
    const callId = `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const args = JSON.stringify(call.arguments);
    event('response.output_item.added', { output_index: outputIndex, item: { id: itemId, type: 'function_call', status: 'in_progress', arguments: '', call_id: callId, name: call.name } });
    for (const delta of pieces(args)) event('response.function_call_arguments.delta', { item_id: itemId, output_index: outputIndex, delta });
    event('response.function_call_arguments.done', { item_id: itemId, output_index: outputIndex, arguments: args });
    const item = { id: itemId, type: 'function_call', status: 'completed', arguments: args, call_id: callId, name: call.name };
    event('response.output_item.done', { output_index: outputIndex, item });
    output.push(item);
    outputIndex++;
  }
  const usage = {
    input_tokens: plan.inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: plan.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: plan.inputTokens + plan.outputTokens,
  };
  event('response.completed', { response: { ...base, status: 'completed', output, usage } });
};

const openaiChat: Writer = async (response, plan) => {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    sse(response, undefined, { id, object: 'chat.completion.chunk', created, model: plan.model, system_fingerprint: 'fp_scripted', choices, ...extra });
  chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]);
  const complete = await eachChunk(response, plan, (content) => chunk([{ index: 0, delta: { content }, logprobs: null, finish_reason: null }]));
  if (!complete) return;
  for (const [index, call] of plan.toolCalls.entries()) {
    const args = JSON.stringify(call.arguments);
    chunk([{ index: 0, delta: { tool_calls: [{ index, id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`, type: 'function', function: { name: call.name, arguments: '' } }] }, logprobs: null, finish_reason: null }]);
    for (const piece of pieces(args)) chunk([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: piece } }] }, logprobs: null, finish_reason: null }]);
  }
  chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: plan.toolCalls.length > 0 ? 'tool_calls' : 'stop' }]);
  // With stream_options.include_usage, a last chunk with no choices carries the usage.
  chunk([], { usage: { prompt_tokens: plan.inputTokens, completion_tokens: plan.outputTokens, total_tokens: plan.inputTokens + plan.outputTokens } });
  sse(response, undefined, '[DONE]');
};

const anthropic: Writer = async (response, plan) => {
  const event = (type: string, fields: Record<string, unknown>) => sse(response, type, { type, ...fields });
  event('message_start', {
    message: {
      id: `msg_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      type: 'message',
      role: 'assistant',
      model: plan.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: plan.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  });
  let index = 0;
  if (plan.chunks.length > 0) {
    event('content_block_start', { index, content_block: { type: 'text', text: '' } });
    event('ping', {});
    const complete = await eachChunk(response, plan, (text) => event('content_block_delta', { index, delta: { type: 'text_delta', text } }));
    if (!complete) return;
    event('content_block_stop', { index });
    index++;
  }
  for (const call of plan.toolCalls) {
    event('content_block_start', { index, content_block: { type: 'tool_use', id: `toolu_${randomUUID().replaceAll('-', '').slice(0, 24)}`, name: call.name, input: {} } });
    for (const partial_json of pieces(JSON.stringify(call.arguments))) event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } });
    event('content_block_stop', { index });
    index++;
  }
  event('message_delta', { delta: { stop_reason: plan.toolCalls.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: plan.outputTokens } });
  event('message_stop', {});
};

const ollama: Writer = async (response, plan) => {
  const line = (value: unknown) => response.write(`${JSON.stringify(value)}\n`);
  const created_at = () => new Date().toISOString();
  const complete = await eachChunk(response, plan, (content) => line({ model: plan.model, created_at: created_at(), message: { role: 'assistant', content }, done: false }));
  if (!complete) return;
  if (plan.toolCalls.length > 0) {
    // Ollama sends tool calls whole, in one message, not as deltas.
    line({ model: plan.model, created_at: created_at(), message: { role: 'assistant', content: '', tool_calls: plan.toolCalls.map((call) => ({ function: { name: call.name, arguments: call.arguments } })) }, done: false });
  }
  line({
    model: plan.model,
    created_at: created_at(),
    message: { role: 'assistant', content: '' },
    done: true,
    done_reason: 'stop',
    total_duration: 1_000_000,
    load_duration: 100_000,
    prompt_eval_count: plan.inputTokens,
    prompt_eval_duration: 100_000,
    eval_count: plan.outputTokens,
    eval_duration: 800_000,
  });
};

const writers: Record<Protocol, Writer> = { 'openai-responses': openaiResponses, 'openai-chat': openaiChat, anthropic, ollama };

// ---------------------------------------------------------------------------------------------

async function readBody(request: IncomingMessage): Promise<any> {
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
}

export async function startScriptedServer(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const respond = options.respond ?? ((request: RecordedRequest): ScriptedReply => ({ text: wordsOf(`You said: ${request.userText}`) }));

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0]!;
    const protocol = request.method === 'POST' ? protocolOf(path) : undefined;
    if (!protocol) {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no scripted endpoint ${request.method} ${path}` } }));
      return;
    }
    const body = await readBody(request);
    const recorded: RecordedRequest = { protocol, path, headers: { ...request.headers }, body, userText: lastUserText(protocol, body), at: performance.now() };
    requests.push(recorded);
    let cut = false;
    response.on('close', () => {
      if (!response.writableFinished && !cut) (recorded as { clientClosed?: boolean }).clientClosed = true;
    });
    const key = keyOf(protocol, request.headers);
    let reply: ScriptedReply = queue.shift() ?? respond(recorded);
    if (options.apiKey !== undefined && key !== options.apiKey && protocol !== 'ollama') reply = { status: 401 };
    await sleep(reply.delayMs ?? 0);
    if (reply.status !== undefined && reply.status >= 400) {
      const fallback = defaultMessage(reply.status, protocol, key);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter);
      if (protocol === 'anthropic') headers['request-id'] = `req_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
      else headers['x-request-id'] = `req_${randomUUID().replaceAll('-', '')}`;
      response.writeHead(reply.status, headers).end(JSON.stringify(errorBody(protocol, reply.status, reply.message ?? fallback.message, fallback.code)));
      return;
    }
    const chunks = chunksOf(reply);
    const requestChars = JSON.stringify(protocol === 'openai-responses' ? (body?.input ?? '') : (body?.messages ?? '')).length + String(body?.system ?? body?.instructions ?? '').length;
    const plan: StreamPlan = {
      model: String(body?.model ?? 'scripted'),
      chunks,
      toolCalls: reply.toolCalls ?? [],
      inputTokens: reply.usage?.inputTokens ?? Math.max(1, Math.ceil(requestChars / 4)),
      outputTokens: reply.usage?.outputTokens ?? chunks.length + (reply.toolCalls?.length ?? 0),
      chunkDelayMs: reply.chunkDelayMs ?? 0,
      cutAfter: reply.cutAfter,
      onFirstChunk: () => void ((recorded as { firstChunkAt?: number }).firstChunkAt = performance.now()),
      onCut: () => void (cut = true),
    };
    if (body?.stream === false) {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody(protocol, 400, 'the scripted server only streams', null)));
      return;
    }
    response.writeHead(200, protocol === 'ollama' ? { 'content-type': 'application/x-ndjson' } : { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.flushHeaders();
    await writers[protocol](response, plan);
    if (!response.destroyed) response.end();
  };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: `${url}/v1`,
    ollamaBaseUrl: url,
    enqueue: (...replies) => void queue.push(...replies),
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}
