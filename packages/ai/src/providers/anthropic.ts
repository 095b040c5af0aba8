/**
 * `llm claude` (alias `anthropic`): Anthropic's Messages API through `@ai-sdk/anthropic`. The key
 * defaults to `ANTHROPIC_API_KEY`, the base URL to `ANTHROPIC_BASE_URL` (the provider reads it) and
 * then Anthropic's.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import type { LlmProvider } from '../llm/provider.js';

export const anthropicProvider: LlmProvider = {
  type: 'claude',
  providerName: 'anthropic',
  label: 'Anthropic',
  apiKey: { variable: 'ANTHROPIC_API_KEY', required: true },
  createModel: (config, context) => {
    const baseURL = typeof config.base_url === 'string' && config.base_url !== '' ? config.base_url : undefined;
    const anthropic = createAnthropic({
      ...(context.apiKey === undefined ? {} : { apiKey: context.apiKey }),
      ...(baseURL === undefined ? {} : { baseURL }),
    });
    return anthropic(config.model!);
  },
};
