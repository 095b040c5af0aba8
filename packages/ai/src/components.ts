/**
 * Every component @woodwork/ai implements, as the runtime's registry takes them. The runtime's
 * default registry loads this list when the package is installed (see @woodwork/runtime's
 * `loadDefaultRegistry`); an app with its own registry registers it: `aiComponents.forEach((c) =>
 * registry.register(c))`.
 */
import type { ComponentDefinition } from '@woodwork/runtime';
import { agentLlm } from './agent/component.js';
import { codingEnvironment, coreCode, coreCommandLine } from './environment/coding.js';
import { chromaKnowledgeBase } from './knowledge/chroma.js';
import { textFileKnowledgeBase } from './knowledge/text-file.js';
import { defineLlm } from './llm/component.js';
import { shortTermMemory } from './memory/short-term.js';
import { providers } from './providers/index.js';
import { functionsTool } from './tools/functions.js';
import { mcpServer } from './tools/mcp.js';
import { webTool } from './tools/web.js';

export const aiComponents: readonly ComponentDefinition<any>[] = Object.freeze([...providers.map(defineLlm), shortTermMemory, agentLlm, functionsTool, mcpServer, webTool, codingEnvironment, coreCommandLine, coreCode, textFileKnowledgeBase, chromaKnowledgeBase]);
