/**
 * `llm ollama`: a local Ollama server through `ollama-ai-provider-v2` (its `/api/chat`, NDJSON
 * streaming). `base_url` is the server (`http://127.0.0.1:11434`, the catalogue's default), with or
 * without the `/api` the provider wants; `OLLAMA_HOST`, Ollama's own variable, is used when the
 * file leaves `base_url` out. No key: an Ollama behind a proxy that wants one gets it as a bearer
 * token from `api_key` or `OLLAMA_API_KEY`.
 */
import { createOllama } from 'ollama-ai-provider-v2';
import type { LlmProvider } from '../llm/provider.js';

/** `127.0.0.1:11434`, `http://host:11434`, `http://host:11434/api` → the provider's base URL. */
export function ollamaBaseUrl(value: string): string {
  let url = value.trim().replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) url = `http://${url}`;
  return url.endsWith('/api') ? url : `${url}/api`;
}

export const ollamaProvider: LlmProvider = {
  type: 'ollama',
  providerName: 'ollama',
  label: 'Ollama',
  apiKey: { variable: 'OLLAMA_API_KEY', required: false },
  createModel: (config, context) => {
    const configured = typeof config.base_url === 'string' && config.base_url !== '' ? config.base_url : undefined;
    const baseURL = ollamaBaseUrl(configured ?? context.env.OLLAMA_HOST ?? 'http://127.0.0.1:11434');
    const ollama = createOllama({
      baseURL,
      ...(context.apiKey === undefined ? {} : { headers: { authorization: `Bearer ${context.apiKey}` } }),
    });
    return ollama(config.model!);
  },
};
