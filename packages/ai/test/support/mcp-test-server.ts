/**
 * An MCP server for tests, built with the official SDK: `node --import tsx mcp-test-server.ts`
 * serves stdio; with `--http <port>` it serves streamable HTTP on 127.0.0.1 and prints `listening
 * <port>`. Tools: `add` (two numbers), `slow_count` (sends progress notifications), `fail` (an
 * isError result), `whoami` (the env variable MCP_TEST_USER, to show `env` reaches the process).
 */
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function build(): McpServer {
  const server = new McpServer({ name: 'woodwork-test', version: '1.0.0' });
  server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('slow_count', { description: 'Counts to n, reporting progress.', inputSchema: { n: z.number().int() } }, async ({ n }, extra) => {
    const token = extra._meta?.progressToken;
    for (let index = 1; index <= n; index++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: index, total: n, message: `at ${index}` } });
    }
    // The SDK's client drops progress that arrives after the result; a real server reports as it works.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { content: [{ type: 'text', text: `counted to ${n}` }] };
  });
  server.registerTool('fail', { description: 'Always fails.', inputSchema: {} }, async () => ({ isError: true, content: [{ type: 'text', text: 'the tool is broken' }] }));
  server.registerTool('whoami', { description: 'Who runs the server.', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: process.env.MCP_TEST_USER ?? 'nobody' }] }));
  return server;
}

const httpIndex = process.argv.indexOf('--http');
if (httpIndex === -1) {
  await build().connect(new StdioServerTransport());
} else {
  const port = Number(process.argv[httpIndex + 1] ?? 0);
  const http = createServer(async (request, response) => {
    // Stateless: a server and transport per request, as the SDK's examples do.
    const server = build();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on('close', () => {
      void transport.close();
      void server.close();
    });
    if (request.headers['x-test-key'] !== 'secret') {
      response.writeHead(401).end('missing x-test-key');
      return;
    }
    await server.connect(transport);
    await transport.handleRequest(request, response);
  });
  http.listen(port, '127.0.0.1', () => {
    const address = http.address() as { port: number };
    process.stdout.write(`listening ${address.port}\n`);
  });
}
