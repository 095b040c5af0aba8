/**
 * `mcp server`: a Model Context Protocol server's tools, offered to agents like any tool component
 * (see `./protocol.ts`), on the official MCP TypeScript SDK's client.
 *
 *   gh    = mcp server { command = "npx", args = ["-y", "some-mcp-server"], env = { TOKEN = "$TOKEN" } }   stdio
 *   docs  = mcp server { url = "https://example.com/mcp", headers = { authorization = "Bearer $KEY" } }     streamable HTTP
 *   repo  = mcp server { server = "github/mcp-server", toolsets = "repos,issues", readonly = true }        classic spelling
 *
 * The server process (stdio) is started when the component starts and stopped with it; the
 * connection is made once per host. Each tool call is one MCP `tools/call`; the result's text
 * content is the observation, `isError` results fail the call (the agent shows the model why), and
 * the server's progress notifications become `tool.progress` events of the session.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { defineComponent, errorMessage, type ComponentInfo, type JsonValue } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type JsonSchema, type ToolKeys, type ToolSpec } from './protocol.js';

export interface McpServerConfig extends ToolKeys {
  readonly server?: string;
  readonly version?: string;
  readonly command?: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly url?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A list, or the classic engine's comma-separated string. */
  readonly toolsets?: string | readonly string[];
  readonly readonly?: boolean;
  readonly [key: string]: unknown;
}

/** Where a classic `server = "…"` name is reached: its published remote endpoint. */
interface KnownServer {
  readonly url: string;
  /** The variable whose value is the bearer token. */
  readonly token: string;
  readonly headers: (config: McpServerConfig) => Record<string, string>;
}

const GITHUB: KnownServer = {
  url: 'https://api.githubcopilot.com/mcp/',
  token: 'GITHUB_PERSONAL_ACCESS_TOKEN',
  headers: (config) => {
    const toolsets = toolsetsOf(config);
    return {
      ...(toolsets.length > 0 ? { 'X-MCP-Toolsets': toolsets.join(',') } : {}),
      ...(config.readonly === true ? { 'X-MCP-Readonly': 'true' } : {}),
    };
  },
};

export const knownServers: Readonly<Record<string, KnownServer>> = {
  'github/mcp-server': GITHUB,
  'github/github-mcp-server': GITHUB,
  github: GITHUB,
};

export function toolsetsOf(config: McpServerConfig): string[] {
  const value = config.toolsets;
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : [];
  return list.map((item) => item.trim()).filter((item) => item !== '');
}

type Transport = StdioClientTransport | StreamableHTTPClientTransport;

/** The transport the keys describe; throws a `WW_AI_CONFIG` naming what to write instead. */
export function transportFor(config: McpServerConfig, component: ComponentInfo, env: Readonly<Record<string, string | undefined>>, cwd: string): Transport {
  const fail = (message: string, hint: string) => new WoodworkAiError('WW_AI_CONFIG', `mcp server \`${component.name}\`: ${message}`, { component: component.name, location: component.location, hint });
  if (typeof config.command === 'string' && config.command !== '') {
    const childEnv: Record<string, string> = {};
    for (const [key, value] of Object.entries(env)) if (value !== undefined) childEnv[key] = value;
    return new StdioClientTransport({ command: config.command, args: [...(config.args ?? [])], env: { ...childEnv, ...config.env }, cwd, stderr: 'pipe' });
  }
  let url = typeof config.url === 'string' && config.url !== '' ? config.url : undefined;
  let headers: Record<string, string> = { ...config.headers };
  if (url === undefined && typeof config.server === 'string') {
    const known = knownServers[config.server];
    if (!known) {
      throw fail(`server = "${config.server}" is not a server Woodwork knows how to reach`, `run it over stdio — command = "npx", args = ["-y", "${config.server}"] — or give its endpoint: url = "https://…/mcp"; known names: ${Object.keys(knownServers).join(', ')}`);
    }
    const token = env[known.token];
    if (!token) throw fail(`server = "${config.server}" needs ${known.token}`, `set ${known.token} in the environment or in a .env file beside the .ww file`);
    url = known.url;
    headers = { authorization: `Bearer ${token}`, ...known.headers(config), ...headers };
  }
  if (url === undefined) throw fail('it has neither `command`, `url` nor `server`', 'add command = "…" (stdio) or url = "https://…" (streamable HTTP)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fail(`url = "${url}" is not a URL`, 'write the whole URL, e.g. url = "http://127.0.0.1:3000/mcp"');
  }
  return new StreamableHTTPClientTransport(parsed, { requestInit: { headers } });
}

interface McpContent {
  readonly type: string;
  readonly text?: string;
  readonly [key: string]: unknown;
}

/** The observation of a `tools/call` result: its text parts, else its structured content. */
function contentText(result: { content?: unknown; structuredContent?: unknown }): JsonValue {
  const content = Array.isArray(result.content) ? (result.content as McpContent[]) : [];
  const texts = content.filter((part) => part.type === 'text' && typeof part.text === 'string').map((part) => part.text!);
  if (texts.length > 0) return texts.join('\n');
  if (result.structuredContent !== undefined) return result.structuredContent as JsonValue;
  return content as unknown as JsonValue;
}

export const mcpServer = defineComponent<McpServerConfig>({
  kind: 'mcp',
  type: 'server',
  resultEvent: 'tool.result',
  create: ({ config, component }) => {
    let client: Client | undefined;
    let specs: ToolSpec[] = [];
    const flags = toolFlags(config);

    return {
      async init(context) {
        const transport = transportFor(config, component, context.env ?? process.env, context.projectDir);
        client = new Client({ name: 'woodwork', version: '0.1.0' });
        try {
          await client.connect(transport);
          const listed = await client.listTools();
          specs = listed.tools.map((tool) => ({
            name: tool.name,
            description: tool.description ?? `The tool \`${tool.name}\` of the MCP server \`${component.name}\`.`,
            parameters: (tool.inputSchema ?? { type: 'object' }) as unknown as JsonSchema,
            ...flags,
          }));
        } catch (error) {
          await client.close().catch(() => undefined);
          throw new WoodworkAiError('WW_AI_CONFIG', `mcp server \`${component.name}\` could not be reached: ${errorMessage(error)}`, {
            component: component.name,
            location: component.location,
            hint: config.command ? `check that \`${config.command}\` runs and speaks MCP over stdio` : 'check `url` and that the server is running',
          });
        }
      },

      methods: {
        tools: () => specs as unknown as JsonValue,
      },

      async handle(message, context) {
        const request = message.payload;
        if (!isToolCallRequest(request)) {
          throw new WoodworkAiError('WW_AI_TOOL_FAILED', `mcp server \`${component.name}\` was sent something that is not a tool call`, {
            component: component.name,
            hint: "an agent calls it with { tool, input }; list it in an agent's `tools`",
          });
        }
        // Progress goes out in order, and all of it before the result.
        let progressed = Promise.resolve();
        const result = await client!.callTool({ name: request.tool, arguments: (request.input ?? {}) as Record<string, unknown> }, undefined, {
          signal: context.signal,
          onprogress: (progress) => {
            progressed = progressed.then(() => context.emit('tool.progress', { tool: request.tool, component: component.name, ...progress })).catch(() => undefined);
          },
        });
        await progressed;
        const output = contentText(result as { content?: unknown; structuredContent?: unknown });
        if (result.isError === true) {
          throw new WoodworkAiError('WW_AI_TOOL_FAILED', `\`${request.tool}\` of mcp server \`${component.name}\` failed: ${typeof output === 'string' ? output : JSON.stringify(output)}`, {
            component: component.name,
          });
        }
        return output;
      },

      async stop() {
        await client?.close();
      },
    };
  },
});
