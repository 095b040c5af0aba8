/**
 * `llm openai`: OpenAI's models through `@ai-sdk/openai`. The Responses API by default (what the
 * provider calls for `openai(model)`); `api = "chat"` uses chat completions instead, for proxies
 * that only speak that. The key defaults to `OPENAI_API_KEY`, the base URL to `OPENAI_BASE_URL`
 * (the provider reads it) and then OpenAI's.
 */
import { createOpenAI } from '@ai-sdk/openai';
import type { LlmProvider } from '../llm/provider.js';

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export const openaiProvider: LlmProvider = {
  type: 'openai',
  providerName: 'openai',
  label: 'OpenAI',
  apiKey: { variable: 'OPENAI_API_KEY', required: true },
  createModel: (config, context) => {
    const organization = text(config.organization);
    const project = text(config.project);
    const baseURL = text(config.base_url);
    const openai = createOpenAI({
      ...(context.apiKey === undefined ? {} : { apiKey: context.apiKey }),
      ...(baseURL === undefined ? {} : { baseURL }),
      ...(organization === undefined ? {} : { organization }),
      ...(project === undefined ? {} : { project }),
    });
    return config.api === 'chat' ? openai.chat(config.model!) : openai.responses(config.model!);
  },
};
