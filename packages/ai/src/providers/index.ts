/**
 * Every `llm` type, one `LlmProvider` each (see `../llm/provider.ts` and the header of
 * `../llm/component.ts`). Adding a type is adding it here.
 */
import type { LlmProvider } from '../llm/provider.js';
import { anthropicProvider } from './anthropic.js';
import { localProvider } from './local.js';
import { ollamaProvider } from './ollama.js';
import { openaiCompatibleProvider } from './openai-compatible.js';
import { openaiProvider } from './openai.js';

export const providers: readonly LlmProvider[] = [openaiProvider, anthropicProvider, ollamaProvider, openaiCompatibleProvider, localProvider];
