/**
 * `api web { url, documentation }`: an HTTP API the model calls by composing requests. It is one
 * tool, named after the component, whose input is the request — `method`, `path`, `query`, `body`
 * — and whose output is the response: status line, content type and body (cut at
 * `max_response_bytes`, saying so). The tool's description is the API's documentation (a file in
 * the project, or the text itself), so the model knows the endpoints.
 *
 * Every request goes to `url`'s origin, under `url`'s path: a path that names another host
 * (`https://elsewhere/…`, `//elsewhere/…`) or climbs out of the base path is refused before
 * anything is sent, so the model cannot be talked into calling another server with the API's
 * headers. `headers` (auth from `$ENV`) go with every request and are never shown to the model.
 * The classic engine's `url: "http://…"` is taken as written (it doubled the scheme; this does
 * not), and a URL without a scheme gets `https://`.
 */
import { readFile } from 'node:fs/promises';
import { defineComponent, errorMessage, type ComponentInfo, type JsonValue } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type JsonSchema, type ToolKeys, type ToolSpec } from './protocol.js';

export interface WebToolConfig extends ToolKeys {
  readonly url: string;
  readonly documentation?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly max_response_bytes?: number;
  readonly [key: string]: unknown;
}

/** ~25 000 tokens at most; a page of JSON fits, a whole site does not. */
const DEFAULT_MAX_RESPONSE_BYTES = 100_000;
/** The agent's `tool_timeout` bounds a call; this bounds a request when the tool runs on its own. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

const REQUEST_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    method: { type: 'string', enum: [...METHODS], description: 'The HTTP method (default GET).' },
    path: { type: 'string', description: 'The path under the API\'s base URL, e.g. "/items/42".' },
    query: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, description: 'Query parameters.' },
    body: { description: 'A JSON body (POST, PUT, PATCH).' },
  },
  required: ['path'],
  additionalProperties: false,
};

/** `api.example.com/v1`, `http://…`, the classic doubled `http://http://…` → one base URL. */
export function baseUrl(written: string): URL {
  let text = written.trim().replace(/^(https?:\/\/)+(https?:\/\/)/i, '$2');
  if (!/^https?:\/\//i.test(text)) text = `https://${text}`;
  const url = new URL(text);
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  url.search = '';
  url.hash = '';
  return url;
}

/** The URL of `path` under `base`, or the reason it is refused. */
export function requestUrl(base: URL, path: string, query: unknown): URL | string {
  const trimmed = path.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed) || trimmed.startsWith('//')) return `the path "${trimmed}" names a host; give a path under ${base.href}`;
  const url = new URL(trimmed.replace(/^\/+/, ''), base);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return `the path "${trimmed}" leaves ${base.href}`;
  if (query !== undefined && query !== null) {
    if (typeof query !== 'object' || Array.isArray(query)) return '`query` must be an object of names and values';
    for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, typeof value === 'string' ? value : JSON.stringify(value));
    }
  }
  return url;
}

async function documentationOf(spec: string | undefined, component: ComponentInfo, resolvePath: (path: string) => string): Promise<string | undefined> {
  if (spec === undefined || spec.trim() === '') return undefined;
  // A short value without newlines that names a file is a file; anything else is the text itself.
  if (!spec.includes('\n') && /\.(md|txt|json|ya?ml|html?)$/i.test(spec.trim())) {
    try {
      return await readFile(resolvePath(spec.trim()), 'utf8');
    } catch (error) {
      throw new WoodworkAiError('WW_AI_CONFIG', `api web \`${component.name}\`: cannot read its documentation ${spec} (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`, {
        component: component.name,
        location: component.location,
        hint: 'the path in `documentation` is relative to the .ww file; or write the documentation itself as the value',
      });
    }
  }
  return spec;
}

export const webTool = defineComponent<WebToolConfig>({
  kind: 'api',
  type: 'web',
  resultEvent: 'tool.result',
  create: ({ config, component }) => {
    let base: URL;
    let spec: ToolSpec;
    const maxBytes = config.max_response_bytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const fail = (message: string, hint?: string) =>
      new WoodworkAiError('WW_AI_TOOL_FAILED', `api web \`${component.name}\`: ${message}`, { component: component.name, ...(hint ? { hint } : {}) });

    return {
      async init(context) {
        try {
          base = baseUrl(config.url);
        } catch {
          throw new WoodworkAiError('WW_AI_CONFIG', `api web \`${component.name}\`: url = "${config.url}" is not a URL`, {
            component: component.name,
            location: component.location,
            hint: 'write the API\'s base URL, e.g. url = "https://api.example.com/v1"',
          });
        }
        const documentation = await documentationOf(config.documentation, component, (relative) => context.resolvePath(relative));
        spec = {
          name: component.name,
          description: `Calls the HTTP API at ${base.href}: give the method, the path under it, query parameters and a JSON body; you get the status and the response body.${documentation ? `\n\nThe API's documentation:\n${documentation}` : ''}`,
          parameters: REQUEST_SCHEMA,
          ...toolFlags(config),
        };
      },

      methods: {
        tools: () => [spec] as unknown as JsonValue,
      },

      async handle(message, context) {
        if (!isToolCallRequest(message.payload)) throw fail('was sent something that is not a tool call', "an agent calls it with { tool, input }; list it in an agent's `tools`");
        const input = (message.payload.input ?? {}) as { method?: unknown; path?: unknown; query?: unknown; body?: unknown };
        const method = typeof input.method === 'string' ? input.method.toUpperCase() : 'GET';
        if (!(METHODS as readonly string[]).includes(method)) throw fail(`method ${String(input.method)} is not one of ${METHODS.join(', ')}`);
        if (typeof input.path !== 'string') throw fail('the request has no `path`');
        const url = requestUrl(base, input.path, input.query);
        if (typeof url === 'string') throw fail(`refused: ${url}`);
        const timeout = AbortSignal.timeout(typeof config.timeout === 'number' && config.timeout > 0 ? config.timeout : DEFAULT_REQUEST_TIMEOUT_MS);
        const hasBody = input.body !== undefined && method !== 'GET' && method !== 'HEAD';
        let response: Response;
        try {
          response = await fetch(url, {
            method,
            headers: { accept: 'application/json, text/*;q=0.9, */*;q=0.1', ...(hasBody ? { 'content-type': 'application/json' } : {}), ...config.headers },
            ...(hasBody ? { body: JSON.stringify(input.body) } : {}),
            redirect: 'manual', // a redirect could leave the host
            signal: AbortSignal.any([timeout, context.signal]),
          });
        } catch (error) {
          throw fail(`${method} ${url.pathname}${url.search} failed: ${timeout.aborted ? 'no answer in time' : errorMessage(error)}`);
        }
        // Read at most `maxBytes`, so a huge response costs nothing past the limit.
        const chunks: Uint8Array[] = [];
        let size = 0;
        let cut = false;
        const reader = response.body?.getReader();
        while (reader) {
          const { done, value } = await reader.read();
          if (done) break;
          if (size + value.length > maxBytes) {
            chunks.push(value.subarray(0, maxBytes - size));
            size = maxBytes;
            cut = true;
            await reader.cancel();
            break;
          }
          chunks.push(value);
          size += value.length;
        }
        const body = new TextDecoder().decode(Buffer.concat(chunks));
        const type = response.headers.get('content-type') ?? 'unknown';
        const location = response.status >= 300 && response.status < 400 ? ` (redirect to ${response.headers.get('location') ?? '?'}, not followed)` : '';
        return `HTTP ${response.status} ${response.statusText}${location}\ncontent-type: ${type}\n\n${body}${cut ? `\n[response cut at ${maxBytes} bytes (max_response_bytes of \`${component.name}\`)]` : ''}`;
      },
    };
  },
});
