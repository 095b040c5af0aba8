/**
 * `@woodwork/ai/testing`: a scripted model server that speaks OpenAI (Responses and chat
 * completions), Anthropic and Ollama, for testing topologies with models without a paid API.
 */
export { startScriptedServer } from './scripted-server.js';
export type { Protocol, RecordedRequest, ScriptedReply, ScriptedServer, ScriptedServerOptions, ScriptedToolCall } from './scripted-server.js';
