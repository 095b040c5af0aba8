import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { baseUrl, requestUrl } from '../src/tools/web.js';
import { eventsUntil, project, started } from './support/project.js';

/** A small API: GET /v1/items?q=, POST /v1/items, GET /v1/big, GET /v1/secret-check, and /admin outside the base path. */
async function api(): Promise<{ url: string; seen: string[]; headers: Record<string, unknown>[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const headers: Record<string, unknown>[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    headers.push({ ...request.headers });
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url?.startsWith('/v1/items') && request.method === 'GET') {
        const q = new URL(request.url, 'http://x').searchParams.get('q');
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ id: 1, name: `${q} one` }]));
      } else if (request.url === '/v1/items' && request.method === 'POST') {
        response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ created: JSON.parse(body) }));
      } else if (request.url === '/v1/big') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end('y'.repeat(5000));
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, headers, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function toolOutputs(server: ScriptedServer, request: number): string[] {
  const input = server.requests[request]!.body.input as any[];
  return input.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

describe('api web', () => {
  it('keeps the classic url as written and every request under it', () => {
    expect(baseUrl('http://api.example.com/v1').href).toBe('http://api.example.com/v1/');
    expect(baseUrl('http://http://api.example.com').href).toBe('http://api.example.com/');
    expect(baseUrl('api.example.com').href).toBe('https://api.example.com/');
    const base = baseUrl('https://api.example.com/v1');
    expect(String(requestUrl(base, '/items', { q: 'a b' }))).toBe('https://api.example.com/v1/items?q=a+b');
    expect(requestUrl(base, 'https://evil.example/x', undefined)).toContain('names a host');
    expect(requestUrl(base, '//evil.example/x', undefined)).toContain('names a host');
    expect(requestUrl(base, '../admin', undefined)).toContain('leaves https://api.example.com/v1/');
  });

  it('lets the model compose requests from the documentation, with headers it never sees, and refuses other hosts', async () => {
    const target = await api();
    try {
      await using server = await startScriptedServer();
      server.enqueue(
        {
          toolCalls: [
            { name: 'shop', arguments: { path: '/items', query: { q: 'lamp' } } },
            { name: 'shop', arguments: { method: 'POST', path: 'items', body: { name: 'chair' } } },
            { name: 'shop', arguments: { path: '../admin' } },
            { name: 'shop', arguments: { path: 'http://169.254.169.254/latest' } },
            { name: 'shop', arguments: { path: '/big' } },
          ],
        },
        { text: 'done' },
      );
      await using files = await project({
        'main.ww': `
          model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
          shop = api web {
            url: "${target.url}/v1"
            documentation: "shop.md"
            headers: { x-api-key: $SHOP_KEY }
            max_response_bytes: 1000
          }
          assistant = agent llm { model = model, tools = [shop] }
        `,
        'shop.md': '# Shop API\nGET /items?q= searches items. POST /items creates one.',
      });
      await using runtime = await started(await files.load({ SHOP_KEY: 'k-123' }));
      const sessionId = await runtime.create();
      const events = runtime.events(sessionId);
      const turn = await runtime.submit(sessionId, 'find a lamp', { to: 'assistant' });
      await eventsUntil(events, 'turn.completed');
      expect((await turn.result).ok).toBe(true);

      const tool = (server.requests[0]!.body.tools as any[])[0];
      expect(tool.name).toBe('shop');
      expect(tool.description).toContain('GET /items?q= searches items.');
      expect(JSON.stringify(server.requests)).not.toContain('k-123');

      const [search, create, climb, other, big] = toolOutputs(server, 1);
      expect(search).toContain('HTTP 200');
      expect(search).toContain('[{"id":1,"name":"lamp one"}]');
      expect(create).toContain('HTTP 201');
      expect(create).toContain('{"created":{"name":"chair"}}');
      expect(climb).toContain('leaves');
      expect(other).toContain('names a host');
      expect(big).toContain('[response cut at 1000 bytes (max_response_bytes of `shop`)]');
      // Only the allowed requests reached the API, each with the key.
      expect(target.seen.sort()).toEqual(['GET /v1/big', 'GET /v1/items?q=lamp', 'POST /v1/items']);
      expect(target.headers.every((headers) => headers['x-api-key'] === 'k-123')).toBe(true);
    } finally {
      await target.close();
    }
  });
});
