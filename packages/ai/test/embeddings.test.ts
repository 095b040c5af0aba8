/**
 * Embedding models: a provider's through the AI SDK (against a loopback server speaking OpenAI's
 * embeddings API, as the provider would), and the errors that name what to do.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createEmbedder } from '../src/knowledge/embeddings.js';

describe('embeddings', () => {
  it('calls the provider through the AI SDK with the key and the model, one vector per text', async () => {
    const requests: { auth: string | undefined; body: any }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const parsed = JSON.parse(body);
        requests.push({ auth: request.headers.authorization, body: parsed });
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ object: 'list', model: parsed.model, data: parsed.input.map((text: string, index: number) => ({ object: 'embedding', index, embedding: [text.length, index, 1] })), usage: { prompt_tokens: 3, total_tokens: 3 } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const embedder = await createEmbedder({ apiKey: 'sk-embed', baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, component: 'kb' });
      expect(embedder.id).toBe('openai/text-embedding-3-large');
      expect(await embedder.embed(['four', 'sixsix'])).toEqual([
        [4, 0, 1],
        [6, 1, 1],
      ]);
      expect(requests[0]).toMatchObject({ auth: 'Bearer sk-embed', body: { model: 'text-embedding-3-large', input: ['four', 'sixsix'] } });
      expect(await embedder.embed([])).toEqual([]);
      expect(requests).toHaveLength(1);
    } finally {
      server.close();
    }
  });

  it('says what to do without a key, or with a model it does not know', async () => {
    await expect(createEmbedder({ spec: 'openai/text-embedding-3-small', component: 'kb', env: {} })).rejects.toThrow(/OPENAI_API_KEY is not set/);
    await expect(createEmbedder({ spec: 'cohere/embed', component: 'kb' })).rejects.toMatchObject({ hint: expect.stringContaining('embedding = "local"') });
    await expect(createEmbedder({ spec: 'local', component: 'kb', env: {} })).rejects.toThrow(/WOODWORK_LOCAL_MODEL is not set/);
  });
});
