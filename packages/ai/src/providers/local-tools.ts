/**
 * Tool calling for `llm local`, on node-llama-cpp's own mechanisms:
 *
 * - `toolChoice: auto` — the tools are node-llama-cpp *functions* (`LlamaChat.generateResponse({
 *   functions })`): the chat wrapper of the model (ChatML for SmolLM2, the model's own Jinja
 *   template for most others) documents them in the prompt, and when the model starts a call the
 *   rest is constrained by a grammar built from the function's parameter schema. The model decides
 *   whether to call; a very small model (SmolLM2-135M) rarely does.
 * - `toolChoice: required` or a named tool — the reply is forced to be a call: the whole generation
 *   is constrained by a grammar made with `llama.createGrammarForJsonSchema` from the tool's input
 *   schema (one tool) or from `{ name, arguments }` alternatives (several), and the tools are named
 *   in a system message before the model's turn. This is how a 135M model calls a tool reliably;
 *   its arguments are grammatical JSON of the right shape, not necessarily the right values.
 *
 * JSON Schema is wider than node-llama-cpp's grammar subset (`GbnfJsonSchema`), so schemas are
 * narrowed: `anyOf` becomes `oneOf`, `$ref`s are inlined, unsupported keywords are dropped, and an
 * object's properties are all generated (the grammar has no optional properties) — in the forced
 * mode only the `required` ones, so a small model is not made to invent values for optional ones.
 *
 * In the prompt, an assistant message's tool calls and the tool results that answer them become
 * node-llama-cpp function-call items (`{ type: 'functionCall', name, params, result }`), which the
 * chat wrapper renders in the model's own function-calling format.
 */
import type {
  LanguageModelV4CallOptions,
  LanguageModelV4FunctionTool,
  LanguageModelV4Prompt,
  LanguageModelV4ToolResultOutput,
  SharedV4Warning,
} from '@ai-sdk/provider';
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, GbnfJsonSchema } from 'node-llama-cpp';

type Json = Record<string, unknown>;

/** What the model may generate as a value of no known shape. */
const ANY_VALUE: GbnfJsonSchema = { type: ['string', 'number', 'boolean', 'null'] };
const PRIMITIVE_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const MAX_DEPTH = 12;

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** A JSON Schema narrowed to what node-llama-cpp's grammar generator takes. */
export function toGbnfSchema(schema: unknown, options: { readonly requiredOnly?: boolean } = {}): GbnfJsonSchema {
  const root = typeof schema === 'object' && schema !== null ? (schema as Json) : {};
  const defs = { ...((root.definitions as Json | undefined) ?? {}), ...((root.$defs as Json | undefined) ?? {}) };
  const convert = (value: unknown, depth: number): GbnfJsonSchema => {
    if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return ANY_VALUE;
    let node = value as Json;
    if (typeof node.$ref === 'string') {
      const target = defs[node.$ref.replace(/^#\/(\$defs|definitions)\//, '')];
      node = { ...(typeof target === 'object' && target !== null ? (target as Json) : {}), ...node, $ref: undefined };
    }
    const described = typeof node.description === 'string' ? { description: node.description } : {};
    if ('const' in node && isPrimitive(node.const)) return { const: node.const, ...described };
    if (Array.isArray(node.enum) && node.enum.length > 0 && node.enum.every(isPrimitive)) return { enum: node.enum, ...described };
    const alternatives = (node.oneOf ?? node.anyOf) as unknown;
    if (Array.isArray(alternatives) && alternatives.length > 0) {
      return { oneOf: alternatives.map((alternative) => convert(alternative, depth + 1)), ...described };
    }
    if (Array.isArray(node.allOf) && node.allOf.length === 1) return convert({ ...node, ...(node.allOf[0] as Json), allOf: undefined }, depth);
    const type = node.type;
    if (Array.isArray(type)) {
      const types = type.filter((item): item is string => typeof item === 'string');
      if (types.length > 0 && types.every((item) => PRIMITIVE_TYPES.has(item))) return { type: types as never, ...described };
      return { oneOf: types.map((item) => convert({ ...node, type: item }, depth + 1)), ...described };
    }
    switch (type) {
      case 'object': {
        const properties = typeof node.properties === 'object' && node.properties !== null ? (node.properties as Json) : {};
        const required = Array.isArray(node.required) ? node.required.filter((key): key is string => typeof key === 'string' && key in properties) : undefined;
        const names = options.requiredOnly && required !== undefined ? required : Object.keys(properties);
        const additional = node.additionalProperties;
        return {
          type: 'object',
          properties: Object.fromEntries(names.map((name) => [name, convert(properties[name], depth + 1)])),
          // A free-form object (no properties) may hold anything; one with properties holds those.
          ...(names.length === 0 && additional !== false
            ? { additionalProperties: typeof additional === 'object' && additional !== null ? convert(additional, depth + 1) : true }
            : {}),
          ...described,
        } as GbnfJsonSchema;
      }
      case 'array':
        return {
          type: 'array',
          ...(node.items !== undefined && !Array.isArray(node.items) ? { items: convert(node.items, depth + 1) } : {}),
          ...(Array.isArray(node.prefixItems) ? { prefixItems: node.prefixItems.map((item) => convert(item, depth + 1)) } : {}),
          ...(typeof node.minItems === 'number' ? { minItems: node.minItems } : {}),
          ...(typeof node.maxItems === 'number' ? { maxItems: node.maxItems } : {}),
          ...described,
        } as GbnfJsonSchema;
      case 'string':
        if (node.format === 'date-time' || node.format === 'date' || node.format === 'time') return { type: 'string', format: node.format, ...described };
        return {
          type: 'string',
          ...(typeof node.minLength === 'number' ? { minLength: node.minLength } : {}),
          ...(typeof node.maxLength === 'number' ? { maxLength: node.maxLength } : {}),
          ...described,
        };
      case 'number':
      case 'integer':
      case 'boolean':
      case 'null':
        return { type, ...described };
      default:
        return ANY_VALUE;
    }
  };
  return convert(root, 0);
}

/** The call's function tools (provider-defined tools have no meaning here: warned about). */
export function functionTools(options: LanguageModelV4CallOptions, warnings: SharedV4Warning[]): LanguageModelV4FunctionTool[] {
  const tools: LanguageModelV4FunctionTool[] = [];
  for (const tool of options.tools ?? []) {
    if (tool.type === 'function') tools.push(tool);
    else warnings.push({ type: 'unsupported', feature: `provider tool ${tool.name}`, details: 'llm local calls function tools only' });
  }
  return tools;
}

/** How this call uses its tools: not at all, the model's choice (functions), or a forced call (grammar). */
export type LocalToolPlan =
  | { readonly mode: 'none' }
  | { readonly mode: 'auto'; readonly functions: ChatModelFunctions }
  | { readonly mode: 'forced'; readonly tools: readonly LanguageModelV4FunctionTool[]; readonly schema: GbnfJsonSchema; readonly instruction: string };

export function planTools(options: LanguageModelV4CallOptions, warnings: SharedV4Warning[]): LocalToolPlan {
  const tools = functionTools(options, warnings);
  const choice = options.toolChoice ?? { type: 'auto' };
  if (tools.length === 0 || choice.type === 'none') return { mode: 'none' };
  if (choice.type === 'auto') {
    return {
      mode: 'auto',
      functions: Object.fromEntries(
        tools.map((tool) => [tool.name, { ...(tool.description ? { description: tool.description } : {}), params: toGbnfSchema(tool.inputSchema) }]),
      ) as ChatModelFunctions,
    };
  }
  const chosen = choice.type === 'tool' ? tools.filter((tool) => tool.name === choice.toolName) : tools;
  if (chosen.length === 0) {
    warnings.push({ type: 'other', message: `toolChoice names \`${choice.type === 'tool' ? choice.toolName : ''}\`, which is not among the tools: the model answers in text` });
    return { mode: 'none' };
  }
  const describe = (tool: LanguageModelV4FunctionTool) => `- ${tool.name}${tool.description ? `: ${tool.description}` : ''} (arguments: ${JSON.stringify(tool.inputSchema)})`;
  if (chosen.length === 1) {
    const tool = chosen[0]!;
    return {
      mode: 'forced',
      tools: chosen,
      schema: toGbnfSchema(tool.inputSchema, { requiredOnly: true }),
      instruction: `Call the tool \`${tool.name}\` now.\n${describe(tool)}\nReply with its arguments as a JSON object, nothing else.`,
    };
  }
  return {
    mode: 'forced',
    tools: chosen,
    schema: {
      oneOf: chosen.map((tool) => ({
        type: 'object',
        properties: { name: { const: tool.name }, arguments: toGbnfSchema(tool.inputSchema, { requiredOnly: true }) },
      })),
    } as GbnfJsonSchema,
    instruction: `Call one of these tools now:\n${chosen.map(describe).join('\n')}\nReply with a JSON object { "name": <the tool>, "arguments": <its arguments> }, nothing else.`,
  };
}

/** The tool call a forced generation wrote: `[name, input]`, input as JSON text. */
export function forcedCall(plan: Extract<LocalToolPlan, { mode: 'forced' }>, parsed: unknown): { toolName: string; input: string } {
  if (plan.tools.length === 1) return { toolName: plan.tools[0]!.name, input: JSON.stringify(parsed ?? {}) };
  const value = (parsed ?? {}) as { name?: unknown; arguments?: unknown };
  return { toolName: String(value.name), input: JSON.stringify(value.arguments ?? {}) };
}

function resultValue(output: LanguageModelV4ToolResultOutput): unknown {
  switch (output.type) {
    case 'text':
    case 'error-text':
      return output.value;
    case 'json':
    case 'error-json':
      return output.value;
    case 'execution-denied':
      return `not run: ${output.reason ?? 'denied'}`;
    case 'content':
      return output.value.map((part) => (part.type === 'text' ? part.text : `[${part.type}]`)).join('\n');
    default:
      return '';
  }
}

/**
 * The AI SDK prompt as node-llama-cpp's chat history, ending with the model's turn to speak. Tool
 * calls and their results become function-call items of the model's response; files and other
 * non-text parts are left out with a warning.
 */
export function toHistory(prompt: LanguageModelV4Prompt, warnings: SharedV4Warning[], instruction?: string): ChatHistoryItem[] {
  const results = new Map<string, unknown>();
  for (const message of prompt) {
    if (message.role !== 'tool') continue;
    for (const part of message.content) if (part.type === 'tool-result') results.set(part.toolCallId, resultValue(part.output));
  }
  const history: ChatHistoryItem[] = [];
  let dropped = false;
  for (const message of prompt) {
    if (message.role === 'system') {
      history.push({ type: 'system', text: message.content });
    } else if (message.role === 'user') {
      const text = message.content
        .map((part) => {
          if (part.type === 'text') return part.text;
          dropped = true;
          return '';
        })
        .join('');
      history.push({ type: 'user', text });
    } else if (message.role === 'assistant') {
      const response: Array<string | ChatModelFunctionCall> = [];
      for (const part of message.content) {
        if (part.type === 'text') {
          if (typeof response.at(-1) === 'string') response[response.length - 1] += part.text;
          else if (part.text !== '') response.push(part.text);
        } else if (part.type === 'tool-call') {
          const params = typeof part.input === 'string' ? safeParse(part.input) : part.input;
          response.push({ type: 'functionCall', name: part.toolName, params, result: results.get(part.toolCallId) ?? '(no result)' });
        } else if (part.type !== 'reasoning') {
          dropped = true;
        }
      }
      history.push({ type: 'model', response });
    } else if (message.role !== 'tool') {
      dropped = true;
    }
  }
  if (dropped) warnings.push({ type: 'other', message: 'llm local takes text and tool calls only: files and other parts of the prompt were left out' });
  if (instruction !== undefined) history.push({ type: 'system', text: instruction });
  history.push({ type: 'model', response: [] });
  return history;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
