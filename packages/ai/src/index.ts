/**
 * @woodwork/ai: the components users write `.ww` files for — language models on the Vercel AI SDK
 * (`llm openai`, `claude`, `ollama`, `openai_compatible`) and `memory short_term` — built on
 * @woodwork/runtime's component contract only. `aiComponents` is what the runtime's default
 * registry loads; `defineLlm` and `LlmProvider` are the seam a new model type plugs into.
 */
export { aiComponents } from './components.js';
export { defineLlm } from './llm/component.js';
export type { LlmConfig, LlmProvider, ProviderContext, ProviderModel } from './llm/provider.js';
export { providers } from './providers/index.js';
export { anthropicProvider } from './providers/anthropic.js';
export { ollamaProvider } from './providers/ollama.js';
export { createLocalModel, describeLocalModel, localProvider, resolveLocalModelFile, LOCAL_MODEL_VARIABLE } from './providers/local.js';
export type { LocalLanguageModel, LocalModelInfo, LocalModelSettings } from './providers/local.js';
export { openaiProvider } from './providers/openai.js';
export { openaiCompatibleProvider } from './providers/openai-compatible.js';
export { bound as boundMemory, estimateTokens, memoryClient, shortTermMemory } from './memory/short-term.js';
export type { MemoryClient, MemoryMessage, ShortTermMemoryConfig } from './memory/short-term.js';
export { fill as fillPlaceholders, loadPrompt } from './llm/prompt.js';
export type { PromptSpec, PromptTemplate } from './llm/prompt.js';
export { redact, WoodworkAiError } from './errors.js';
export type { AiErrorCode, AiErrorOptions } from './errors.js';
export { agentLlm, AGENT_DEFAULTS, defineAgent } from './agent/component.js';
export type { AgentConfig } from './agent/component.js';
export { AgentEvents } from './agent/events.js';
export type {
  AgentActionPayload,
  AgentInputPayload,
  AgentStepCompletePayload,
  AgentThoughtPayload,
  ToolApprovalAnsweredPayload,
  ToolApprovalRequestedPayload,
  ToolCallPayload,
  ToolObservationPayload,
} from './agent/events.js';
export { functionsTool } from './tools/functions.js';
export type { FunctionsToolConfig } from './tools/functions.js';
export { mcpServer } from './tools/mcp.js';
export type { McpServerConfig } from './tools/mcp.js';
export { webTool } from './tools/web.js';
export type { WebToolConfig } from './tools/web.js';
export type { JsonSchema, ToolCallRequest, ToolKeys, ToolSpec } from './tools/protocol.js';
export { codingEnvironment, coreCode, coreCommandLine, SETUP_MARKER } from './environment/coding.js';
export type { CodingEnvironmentConfig } from './environment/coding.js';
export { textFileKnowledgeBase } from './knowledge/text-file.js';
export type { TextFileKnowledgeBaseConfig } from './knowledge/text-file.js';
export { chunkText, formatPassages, rankByKeywords, retrievalPrompt, sourceLabel } from './knowledge/passages.js';
export type { Chunk, Passage, RetrieveRequest } from './knowledge/passages.js';
export { listDocuments, readDocument } from './knowledge/documents.js';
export { chromaKnowledgeBase, DEFAULT_CHROMA_URL, openChromaKnowledgeBase } from './knowledge/chroma.js';
export type { ChromaKnowledgeBaseConfig, OpenedKnowledgeBase } from './knowledge/chroma.js';
export { createEmbedder } from './knowledge/embeddings.js';
export type { Embedder, EmbedderOptions } from './knowledge/embeddings.js';
export { describeReport, indexFolder } from './knowledge/indexer.js';
export type { ChromaCollection, IndexOptions, IndexProgress, IndexReport } from './knowledge/indexer.js';
