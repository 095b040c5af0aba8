/**
 * `llm openai_compatible`: any server that speaks OpenAI's chat completions (vLLM, LM Studio,
 * llama.cpp's server, LiteLLM, …) through `@ai-sdk/openai-compatible`. `base_url` is required (the
 * part before `/chat/completions`, usually ending in `/v1`); the key is optional (`api_key`, or
 * `OPENAI_COMPATIBLE_API_KEY`). Usage is asked for in the stream (`stream_options.include_usage`),
 * so tokens and cost are recorded as for OpenAI.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LlmProvider } from '../llm/provider.js';

export const openaiCompatibleProvider: LlmProvider = {
  type: 'openai_compatible',
  providerName: 'openai_compatible',
  label: 'the OpenAI-compatible server',
  apiKey: { variable: 'OPENAI_COMPATIBLE_API_KEY', required: false },
  createModel: (config, context) => {
    const provider = createOpenAICompatible({
      name: 'openaiCompatible',
      baseURL: String(config.base_url),
      includeUsage: true,
      ...(context.apiKey === undefined ? {} : { apiKey: context.apiKey }),
    });
    return provider.chatModel(config.model!);
  },
};
