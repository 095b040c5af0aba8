/**
 * THE llm component: one implementation for every `llm` type.
 *
 * The provider seam
 * -----------------
 * An `llm` type is an `LlmProvider` (`./provider.ts`): a function that turns the component's config
 * into an AI SDK `LanguageModel`, plus its name and where its key comes from. `defineLlm(provider)`
 * makes the component; `src/providers/index.ts` lists the providers and `src/components.ts`
 * registers one component per provider. To add a type (`llm local` does exactly this):
 *
 *   1. `src/providers/<name>.ts` exports `export const <name>Provider: LlmProvider = { type, providerName,
 *      label, apiKey?, createModel(config, context) }` — only the model, nothing else;
 *   2. add it to the list in `src/providers/index.ts`;
 *   3. give the type its keys in @woodwork/parser's catalogue (or `declare` them on the provider).
 *
 * Everything else is done here, the same for every provider:
 *   - prompts: the system prompt (inline or `{ file, variables }`, `{name}` placeholders) and the
 *     message's `context` (what pipes added);
 *   - memory: with `memory = …`, the session's kept messages go before the new one, and the new
 *     exchange is appended after the reply (through the memory component's methods, so it lives in
 *     the session store);
 *   - retrieval: with `knowledge_base = …`, the knowledge base's best passages for the message
 *     (`invoke('retrieve')`, see `../knowledge/passages.ts`) go into the system prompt with their
 *     sources named, and a `knowledge.retrieved` event says which;
 *   - streaming: with `streaming` (the default for models) every text delta leaves as a
 *     `context.stream()` chunk the moment it arrives; the whole text is the result either way;
 *   - usage and cost: tokens, duration, time to first chunk and time per chunk through
 *     @woodwork/metrics (`step.recordUsage` prices them from its table);
 *   - retries: the AI SDK's (`max_retries`, exponential backoff from 2 s, `retry-after` honoured),
 *     only before the first token: a reply already streaming is never replayed; the host never
 *     retries on top (the errors are not `isRetryable`);
 *   - the circuit: each call goes through `context.downstream(<provider>)`, so rate limits, 5xx,
 *     lost connections and timeouts open the provider's circuit and `fallback` answers;
 *   - timeouts: `first_token_timeout_ms` and `timeout_ms`, each named when it fires;
 *   - errors: `./errors-from-provider.ts` turns what the provider said into a `WoodworkAiError` that
 *     names the component, the provider, the key's variable (never the key) and what to do.
 */
import { streamText, type LanguageModel, type ModelMessage } from 'ai';
import { defineComponent, type ComponentDefinition, type ComponentReference, type HandlerContext, type Message } from '@woodwork/runtime';
import { redact, WoodworkAiError } from '../errors.js';
import { retrievalPrompt, isPassage, sourceLabel, type Passage } from '../knowledge/passages.js';
import { memoryClient, type MemoryClient, type MemoryMessage } from '../memory/short-term.js';
import { describeProviderError, interruptedError, isProviderFailure, timeoutError, type ErrorScene } from './errors-from-provider.js';
import { loadPrompt, type PromptTemplate } from './prompt.js';
import type { LlmConfig, LlmProvider, ProviderContext, ProviderModel } from './provider.js';

/** Defaults when the catalogue gives none (a `declare`d type, a test registry). */
const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_FIRST_TOKEN_TIMEOUT_MS = 60_000;

function isModelObject(value: LanguageModel | ProviderModel): value is ProviderModel {
  return typeof value === 'object' && value !== null && 'model' in value && !('specificationVersion' in value);
}

function isReference(value: unknown): value is ComponentReference {
  return typeof value === 'object' && value !== null && typeof (value as ComponentReference).invoke === 'function';
}

/** The `context` object a pipe put on the payload (`{ input, context: { … } }`), if any. */
function messageContext(payload: unknown): Readonly<Record<string, unknown>> | undefined {
  const context = (payload as { context?: unknown } | null)?.context;
  return typeof context === 'object' && context !== null && !Array.isArray(context) && Object.keys(context).length > 0
    ? (context as Record<string, unknown>)
    : undefined;
}

function systemPrompt(prompt: PromptTemplate, sessionId: string, context: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const rendered = prompt.render({ sessionId, context });
  if (context === undefined) return rendered;
  const lines = Object.entries(context).map(([key, value]) => `- ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${rendered === undefined ? '' : `${rendered}\n\n`}Context of this message:\n${lines.join('\n')}`;
}

/** Makes the `llm <type>` component for one provider. */
export function defineLlm(provider: LlmProvider): ComponentDefinition<LlmConfig> {
  return defineComponent<LlmConfig>({
    kind: 'llm',
    type: provider.type,
    ...(provider.declare ? { declare: provider.declare } : {}),
    create: (created) => {
      const { config, component, logger } = created;
      // Older runtimes give no `env`: the process environment is what they resolved from.
      const env = created.env ?? process.env;
      const modelId = typeof config.model === 'string' && config.model !== '' ? config.model : provider.defaultModel;
      const fileKey = typeof config.api_key === 'string' && config.api_key !== '' ? config.api_key : undefined;
      const apiKey = fileKey ?? (provider.apiKey ? env[provider.apiKey.variable] || undefined : undefined);
      /** Where the key came from, by name only: what a 401 message points at. */
      const keySource = fileKey
        ? (Object.keys(env).find((name) => env[name] === fileKey && name !== provider.apiKey?.variable) ??
          (provider.apiKey && env[provider.apiKey.variable] === fileKey ? provider.apiKey.variable : undefined))
        : provider.apiKey?.variable;
      const memory = isReference(config.memory) ? memoryClient(config.memory) : undefined;
      const knowledgeBase = isReference(config.knowledge_base) ? config.knowledge_base : undefined;
      const maxRetries = config.max_retries ?? DEFAULT_MAX_RETRIES;
      const timeoutMs = config.timeout_ms ?? DEFAULT_TIMEOUT_MS;
      const firstTokenTimeoutMs = config.first_token_timeout_ms ?? DEFAULT_FIRST_TOKEN_TIMEOUT_MS;
      let model: LanguageModel | undefined;
      let close: (() => void | Promise<void>) | undefined;
      let prompt: PromptTemplate = { render: () => undefined };

      const scene = (sessionId: string | undefined): ErrorScene => ({
        component,
        provider,
        model: modelId ?? '(none)',
        keySource,
        fileKey: fileKey !== undefined,
        secrets: [apiKey],
        ...(sessionId === undefined ? {} : { sessionId }),
        baseUrl: typeof config.base_url === 'string' ? config.base_url : undefined,
      });

      return {
        async init(context) {
          if (modelId === undefined) {
            throw new WoodworkAiError('WW_AI_CONFIG', 'no `model` to call', {
              component: component.name,
              location: component.location,
              hint: `add model = "…" to \`${component.name}\``,
            });
          }
          if (provider.apiKey?.required && apiKey === undefined) {
            throw new WoodworkAiError(
              'WW_AI_KEY_MISSING',
              // The runtime prefixes init failures with the component: "component `chat` (llm openai) could not start: …".
              `no API key: ${provider.apiKey.variable} is not set and the component has no \`api_key\``,
              {
                component: component.name,
                location: component.location,
                // Without `api_key`, the variable is read from the process environment; a .env file
                // beside the .ww file only fills `$NAME` references written in it.
                hint: `set ${provider.apiKey.variable} in the environment, or write api_key = $${provider.apiKey.variable} and put it in a .env file beside the .ww file`,
              },
            );
          }
          const providerContext: ProviderContext = {
            component,
            apiKey,
            env,
            logger,
            resolvePath: (relative) => context.resolvePath(relative),
            projectDir: context.projectDir,
            signal: context.signal,
          };
          const made = await provider.createModel({ ...config, model: modelId }, providerContext);
          if (isModelObject(made)) {
            model = made.model;
            close = made.close?.bind(made);
          } else {
            model = made;
          }
          prompt = await loadPrompt(config.prompt, { component: component.name, resolvePath: (relative) => context.resolvePath(relative) });
        },

        async handle(message: Message, context: HandlerContext<LlmConfig>) {
          const history: MemoryMessage[] = memory ? await loadMemory(memory, component.name, message.sessionId) : [];
          const userText = message.text;
          const messages: ModelMessage[] = [...history, { role: 'user', content: userText }];
          const retrieved = knowledgeBase ? await retrieve(knowledgeBase, userText, component.name, message.sessionId) : [];
          if (knowledgeBase && retrieved.length > 0) {
            await context.emit('knowledge.retrieved', { knowledge_base: knowledgeBase.name, query: userText, sources: retrieved.map((passage) => sourceLabel(passage)) });
          }
          const rendered = systemPrompt(prompt, message.sessionId, messageContext(message.payload));
          const passages = knowledgeBase ? retrievalPrompt(knowledgeBase.name, retrieved) : undefined;
          const system = passages === undefined ? rendered : rendered === undefined ? passages : `${rendered}\n\n${passages}`;
          const metrics = context.metrics.model({ provider: provider.providerName, model: modelId! });

          // Our own timers, so the error can say which limit was hit.
          const timers = new AbortController();
          const fired = (which: 'first_token' | 'total', ms: number) => () => timers.abort(timeoutError(scene(message.sessionId), which, ms));
          const total = setTimeout(fired('total', timeoutMs), timeoutMs);
          let firstToken: ReturnType<typeof setTimeout> | undefined = setTimeout(fired('first_token', firstTokenTimeoutMs), firstTokenTimeoutMs);
          // Readers that all stopped reading cancel the call too; their signal exists only once the
          // stream is opened, after the call started, so it is forwarded into this one.
          const readers = new AbortController();
          const cancelledByReaders = () => readers.signal.aborted && !timers.signal.aborted;

          const started = performance.now();
          let last = started;
          let text = '';
          let chunks = 0;
          let writer: ReturnType<HandlerContext['stream']> | undefined;
          let usage: { inputTokens: number; outputTokens: number } | undefined;
          const writes = new WriteWindow();
          let failed: WoodworkAiError | undefined;
          const fail = (error: unknown): never => {
            // Thrown in the loop, caught again below: described and counted once.
            if (failed !== undefined && error === failed) throw failed;
            const seconds = (performance.now() - started) / 1000;
            const reason = timers.signal.aborted ? timers.signal.reason : undefined;
            const described = WoodworkAiError.isAiError(reason)
              ? reason
              : chunks > 0 && !WoodworkAiError.isAiError(error)
                ? interruptedError(scene(message.sessionId), error, chunks)
                : describeProviderError(scene(message.sessionId), error);
            metrics.recordDuration(seconds, described.code);
            failed = described;
            throw described;
          };
          try {
            // The provider is a downstream of its own: after its own retries (`max_retries`) a rate
            // limit, 5xx, lost connection or timeout counts towards opening its circuit, and the host
            // answers with the component's `fallback`. Those errors are not `isRetryable`, so the
            // host does not try the handling again: one provider failure costs max_retries + 1
            // requests, not that times the host's `retry`.
            await context.downstream(provider.providerName).call(
              async () => {
                try {
                  const result = streamText({
                    model: model!,
                    ...(system === undefined ? {} : { system }),
                    messages,
                    ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
                    ...(config.max_tokens === undefined ? {} : { maxOutputTokens: config.max_tokens }),
                    ...(config.headers === undefined ? {} : { headers: { ...config.headers } }),
                    ...(config.provider_options === undefined ? {} : { providerOptions: { [providerOptionsKey(provider)]: config.provider_options as never } }),
                    maxRetries,
                    abortSignal: AbortSignal.any([timers.signal, readers.signal, context.signal]),
                    // The SDK's defaults print to the console: every error whole (its request body, and the
                    // provider's response, which may echo the key) and every warning. Errors are read from
                    // the stream below and reported redacted; warnings go to the component's log.
                    onError: () => undefined,
                    onWarning: ({ warnings }) => {
                      for (const warning of warnings) logger.warn(`${provider.label} warning: ${redact(JSON.stringify(warning), [apiKey])}`, { model: modelId });
                    },
                  });
                  for await (const part of result.fullStream) {
                    if (part.type === 'text-delta') {
                      if (part.text === '') continue;
                      const now = performance.now();
                      if (chunks === 0) {
                        clearTimeout(firstToken);
                        firstToken = undefined;
                        metrics.recordTimeToFirstChunk((now - started) / 1000);
                        if (component.streaming) {
                          const opened = context.stream();
                          opened.signal.addEventListener('abort', () => readers.abort(opened.signal.reason), { once: true });
                          writer = opened;
                        }
                      } else {
                        metrics.recordTimePerOutputChunk((now - last) / 1000);
                      }
                      last = now;
                      chunks++;
                      text += part.text;
                      if (writer) await writes.push(writer.write(part.text));
                    } else if (part.type === 'finish') {
                      usage = { inputTokens: part.totalUsage.inputTokens ?? 0, outputTokens: part.totalUsage.outputTokens ?? 0 };
                    } else if (part.type === 'error') {
                      fail(part.error);
                    } else if (part.type === 'abort') {
                      if (cancelledByReaders()) break;
                      fail(timers.signal.aborted ? timers.signal.reason : (context.signal.reason ?? new Error('aborted')));
                    }
                  }
                  await writes.drain();
                } catch (error) {
                  await writes.settle();
                  if (!cancelledByReaders()) fail(error);
                }
              },
              { isFailure: isProviderFailure },
            );
          } finally {
            clearTimeout(total);
            if (firstToken !== undefined) clearTimeout(firstToken);
          }
          if (cancelledByReaders()) {
            // Nobody reads the rest: not a failure, the branch just ends (nothing is remembered).
            metrics.recordDuration((performance.now() - started) / 1000, 'cancelled');
            return undefined;
          }
          metrics.recordDuration((performance.now() - started) / 1000);
          if (usage) context.step.recordUsage(metrics, usage);
          if (memory) {
            await memory.append([
              { role: 'user', content: userText },
              { role: 'assistant', content: text },
            ]);
          }
          // Streamed: the chunks are the result (the runtime routes their joined text).
          return writer ? undefined : text;
        },

        async stop() {
          await close?.();
        },
      };
    },
  });
}

/**
 * Chunk writes in flight, at most `size` at once. Awaiting each write would make every token wait
 * for the previous one's publish (a broker round trip when the stream crosses processes), so tokens
 * that arrive together could never travel together; a bounded window lets them queue behind the
 * publish in flight (which @woodwork/stream sends as one message) and still stops reading the model
 * when readers fall behind. Writes keep their order: the writer numbers chunks as they are called.
 */
class WriteWindow {
  private readonly pending: Promise<void>[] = [];
  private failure: { error: unknown } | undefined;

  constructor(private readonly size = 32) {}

  async push(write: Promise<void>): Promise<void> {
    this.pending.push(
      write.catch((error: unknown) => {
        this.failure ??= { error };
      }),
    );
    if (this.pending.length >= this.size) await this.pending.shift();
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every write; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.pending.splice(0));
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every write, ignoring failures (the call already failed). */
  async settle(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }
}

async function retrieve(knowledgeBase: ComponentReference, query: string, component: string, sessionId: string): Promise<Passage[]> {
  try {
    const passages = await knowledgeBase.invoke('retrieve', { query });
    return Array.isArray(passages) ? passages.filter(isPassage) : [];
  } catch (error) {
    throw new WoodworkAiError('WW_AI_KNOWLEDGE_BASE', `component \`${component}\` could not retrieve from its knowledge base \`${knowledgeBase.name}\`: ${(error as Error).message}`, {
      component,
      sessionId,
      hint: `check the knowledge base named in \`knowledge_base = ${knowledgeBase.name}\` (for chroma: that its server answers)`,
      isRetryable: WoodworkAiError.isInstance(error) ? (error as WoodworkAiError).isRetryable : true,
    });
  }
}

async function loadMemory(memory: MemoryClient, component: string, sessionId: string): Promise<MemoryMessage[]> {
  try {
    return await memory.load();
  } catch (error) {
    throw new WoodworkAiError('WW_AI_MEMORY', `component \`${component}\` could not read its memory: ${(error as Error).message}`, {
      component,
      sessionId,
      hint: 'check the memory component named in `memory = …` and the session store',
    });
  }
}

/** The key the AI SDK's `providerOptions` uses for each provider. */
function providerOptionsKey(provider: LlmProvider): string {
  return provider.type === 'openai_compatible' ? 'openaiCompatible' : provider.providerName;
}
