/**
 * One model call of the agent loop, made on the AI SDK's `LanguageModel` (`doStream`) directly
 * rather than through `streamText` (decision 0008, amended): the loop is ours, so `streamText`'s own
 * per-call machinery — its step loop, callbacks, telemetry plumbing, the chain of web streams
 * between the provider and `fullStream`, and converting the whole conversation again on every step
 * — was most of the agent's overhead with a fast model. What `streamText` does per call that
 * matters is done here with the SDK's own functions from `ai/internal` (the entry point the SDK's
 * packages share): `resolveLanguageModel` (spec v2/v3 models adapted), `convertToLanguageModelPrompt`
 * (ModelMessages to the provider prompt, files downloaded when the model cannot take URLs),
 * `prepareTools` (schemas), `prepareRetries` (the same backoff and `retry-after` handling, before
 * the stream starts). The provider's wire format, parsing and errors are the provider package's,
 * as before.
 *
 * The converted prompt is kept for the handling, so each step converts only the messages the last
 * step added.
 */
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4FunctionTool,
  LanguageModelV4Prompt,
  LanguageModelV4ProviderTool,
  LanguageModelV4StreamPart,
  LanguageModelV4ToolChoice,
  SharedV4ProviderMetadata,
} from '@ai-sdk/provider';
import type { AssistantModelMessage, LanguageModel, ModelMessage, ToolSet } from 'ai';
import { convertToLanguageModelPrompt, createDefaultDownloadFunction, prepareRetries, prepareTools, resolveLanguageModel } from 'ai/internal';

export type StepTools = Array<LanguageModelV4FunctionTool | LanguageModelV4ProviderTool> | undefined;

/** The model resolved once (an `ai` `LanguageModel` of any spec version, as spec v4). */
export function stepModel(model: LanguageModel): LanguageModelV4 {
  return resolveLanguageModel(model);
}

/** The tools' schemas as the provider takes them; the same tool set gives the same array. */
export function stepTools(tools: ToolSet): Promise<StepTools> {
  return prepareTools({ tools });
}

/** `state.messages` converted to the provider's prompt, converting only what was added since the last call. */
export class PromptCache {
  private converted: LanguageModelV4Prompt = [];
  private count = 0;
  private system: string | undefined;
  private readonly download = createDefaultDownloadFunction();

  async prompt(model: LanguageModelV4, system: string | undefined, messages: readonly ModelMessage[], abortSignal: AbortSignal): Promise<LanguageModelV4Prompt> {
    if (messages.length < this.count || system !== this.system) {
      this.converted = [];
      this.count = 0;
      this.system = system;
    }
    if (messages.length > this.count) {
      const added = await convertToLanguageModelPrompt({
        prompt: { instructions: undefined, messages: messages.slice(this.count) as ModelMessage[] },
        supportedUrls: await model.supportedUrls,
        download: this.download,
        abortSignal,
        provider: model.provider.split('.')[0],
      });
      this.converted.push(...added);
      this.count = messages.length;
    }
    return system === undefined || system === '' ? this.converted : [{ role: 'system', content: system }, ...this.converted];
  }
}

export interface StepCall {
  readonly toolCallId: string;
  readonly toolName: string;
  /** The parsed input; the raw text when it did not parse (`invalid` says why). */
  readonly input: unknown;
  readonly invalid?: string;
}

export interface StepHandlers {
  /** The first text, reasoning or tool call arrived. */
  onFirst(): void;
  onText(delta: string): Promise<void> | void;
}

export interface StepResult {
  readonly text: string;
  readonly reasoning: string;
  readonly calls: StepCall[];
  readonly finishReason: string;
  readonly usage: { inputTokens: number; outputTokens: number } | undefined;
  /** The model's answer as the conversation records it (undefined when it said nothing). */
  readonly message: AssistantModelMessage | undefined;
}

export interface StepOptions {
  readonly model: LanguageModelV4;
  readonly prompt: LanguageModelV4Prompt;
  readonly tools: StepTools;
  readonly toolChoice: LanguageModelV4ToolChoice | undefined;
  readonly settings: Pick<LanguageModelV4CallOptions, 'temperature' | 'maxOutputTokens' | 'headers' | 'providerOptions'>;
  readonly maxRetries: number;
  readonly abortSignal: AbortSignal;
}

type ContentPart =
  | { type: 'text'; text: string; providerOptions?: SharedV4ProviderMetadata }
  | { type: 'reasoning'; text: string; providerOptions?: SharedV4ProviderMetadata }
  | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown; providerExecuted?: boolean; providerOptions?: SharedV4ProviderMetadata };

function parseInput(text: string): { value: unknown; error?: string } {
  if (text.trim() === '') return { value: {} };
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { value: text, error: `the input is not JSON: ${(error as Error).message}` };
  }
}

/** Makes one call and reads its stream to the end. Throws what the provider threw or streamed as an error. */
export async function runStep(options: StepOptions, handlers: StepHandlers): Promise<StepResult> {
  const { retry } = prepareRetries({ maxRetries: options.maxRetries, abortSignal: options.abortSignal });
  const { stream } = await retry(() =>
    options.model.doStream({
      prompt: options.prompt,
      ...(options.tools?.length ? { tools: options.tools, ...(options.toolChoice ? { toolChoice: options.toolChoice } : {}) } : {}),
      ...options.settings,
      abortSignal: options.abortSignal,
    }),
  );
  const content: ContentPart[] = [];
  // Open text and reasoning blocks by id: their parts, to append deltas and metadata to.
  const open = new Map<string, ContentPart & { type: 'text' | 'reasoning' }>();
  const calls: StepCall[] = [];
  let text = '';
  let reasoning = '';
  let first = true;
  let finishReason = 'other';
  let usage: StepResult['usage'];
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      const part: LanguageModelV4StreamPart = next.value;
      switch (part.type) {
        case 'text-start':
        case 'reasoning-start': {
          const block = { type: part.type === 'text-start' ? 'text' : 'reasoning', text: '', ...(part.providerMetadata ? { providerOptions: part.providerMetadata } : {}) } as ContentPart & { type: 'text' | 'reasoning' };
          open.set(`${block.type}:${part.id}`, block);
          content.push(block);
          break;
        }
        case 'text-delta':
        case 'reasoning-delta': {
          const kind = part.type === 'text-delta' ? 'text' : 'reasoning';
          const block = open.get(`${kind}:${part.id}`) ?? ({ type: kind, text: '' } as ContentPart & { type: 'text' | 'reasoning' });
          if (!open.has(`${kind}:${part.id}`)) {
            open.set(`${kind}:${part.id}`, block);
            content.push(block);
          }
          if (part.providerMetadata) block.providerOptions = part.providerMetadata;
          if (part.delta === '') break;
          block.text += part.delta;
          if (first) {
            first = false;
            handlers.onFirst();
          }
          if (kind === 'text') {
            text += part.delta;
            await handlers.onText(part.delta);
          } else {
            reasoning += part.delta;
          }
          break;
        }
        case 'text-end':
        case 'reasoning-end': {
          const key = `${part.type === 'text-end' ? 'text' : 'reasoning'}:${part.id}`;
          const block = open.get(key);
          if (block && part.providerMetadata) block.providerOptions = part.providerMetadata;
          open.delete(key);
          break;
        }
        case 'tool-call': {
          if (first) {
            first = false;
            handlers.onFirst();
          }
          const parsed = parseInput(part.input);
          content.push({
            type: 'tool-call',
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: parsed.error === undefined ? parsed.value : {},
            ...(part.providerExecuted ? { providerExecuted: true } : {}),
            ...(part.providerMetadata ? { providerOptions: part.providerMetadata } : {}),
          });
          if (!part.providerExecuted) {
            calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input: parsed.value, ...(parsed.error === undefined ? {} : { invalid: parsed.error }) });
          }
          break;
        }
        case 'finish':
          finishReason = part.finishReason.unified;
          usage = { inputTokens: part.usage.inputTokens.total ?? 0, outputTokens: part.usage.outputTokens.total ?? 0 };
          break;
        case 'error':
          throw part.error;
        default:
          break;
      }
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
  const kept = content.filter((part) => part.type !== 'text' || part.text !== '' || part.providerOptions !== undefined);
  return {
    text,
    reasoning,
    calls,
    finishReason,
    usage,
    message: kept.length === 0 ? undefined : ({ role: 'assistant', content: kept } as AssistantModelMessage),
  };
}
