/**
 * The provider seam: what one `llm` type is. Every `llm` type — `openai`, `claude`, `ollama`,
 * `openai_compatible`, `local` — is an `LlmProvider`: a function that turns the component's config
 * into an AI SDK `LanguageModel`, plus the few facts the shared component needs to talk about it
 * (its name in metrics and messages, the environment variable its key comes from). Everything else
 * — prompts, memory, streaming, usage, cost, retries, timeouts, errors — is done once, for every
 * provider, by the llm component (`./component.ts`).
 *
 * Adding a provider is one file in `src/providers/` and one line in `src/providers/index.ts`:
 *
 * ```ts
 * export const myProvider: LlmProvider = {
 *   type: 'my_type',                              // the `.ww` type: `llm my_type { … }`
 *   providerName: 'my_vendor',                    // gen_ai.provider.name, and the price table key
 *   label: 'My Vendor',
 *   apiKey: { variable: 'MY_VENDOR_API_KEY', required: true },
 *   createModel: (config, context) => createMyVendor({ apiKey: context.apiKey, baseURL: config.base_url })(config.model),
 * };
 * ```
 */
import type { LanguageModel } from 'ai';
import type { ComponentDeclaration, ComponentInfo, Logger } from '@woodwork/runtime';

/** The keys every `llm` type shares, as the component receives them (catalogue defaults filled). */
export interface LlmConfig {
  readonly model?: string;
  readonly api_key?: string;
  readonly base_url?: string;
  readonly temperature?: number;
  readonly max_tokens?: number;
  readonly max_retries?: number;
  readonly timeout_ms?: number;
  readonly first_token_timeout_ms?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly provider_options?: Readonly<Record<string, unknown>>;
  readonly prompt?: string | { readonly file: string; readonly variables?: Readonly<Record<string, unknown>> };
  /** Anything else the type declares (`organization`, `api`, a local model's `path`, …). */
  readonly [key: string]: unknown;
}

/** What a provider's `createModel` gets besides the config. */
export interface ProviderContext {
  /** The component, as the `.ww` file declares it (name, type, location). */
  readonly component: ComponentInfo;
  /**
   * The API key to use: `api_key` from the file when set and not empty, else the provider's
   * variable from `env`; undefined when neither is set (a provider whose key is optional).
   */
  readonly apiKey: string | undefined;
  /** The process environment (the providers' usual variables: `OPENAI_BASE_URL`, `OLLAMA_HOST`, …). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** A path from the config, made absolute; throws when it leaves the project folder. */
  resolvePath(relativePath: string): string;
  /** The `.ww` file's folder. */
  readonly projectDir: string;
  /** Aborted when the component stops: a provider that loads something slow should give up. */
  readonly signal: AbortSignal;
}

/** A model with something to release when the component stops (a local model's memory). */
export interface ProviderModel {
  readonly model: LanguageModel;
  /** Called once when the component stops. */
  close?(): void | Promise<void>;
}

export interface LlmProvider {
  /** The `.ww` type (`openai`, `claude`, `local`). Aliases come from the catalogue (`anthropic`). */
  readonly type: string;
  /** `gen_ai.provider.name` in metrics and the price table's provider key (`anthropic` for `claude`). */
  readonly providerName: string;
  /** How people call the vendor, for messages: "OpenAI refused the key". */
  readonly label: string;
  /**
   * Where the key comes from when `api_key` is not in the file. `required: true` refuses to start
   * without one (naming the variable); providers without keys (ollama, local) leave this out.
   */
  readonly apiKey?: { readonly variable: string; readonly required: boolean };
  /** The model id when the config has none (the catalogue's default fills `model` normally). */
  readonly defaultModel?: string;
  /**
   * Builds the model for one component, once, when the component starts (`init`). Throw a
   * `WoodworkAiError` for config that cannot work. May return the model or `{ model, close }`.
   */
  createModel(config: LlmConfig, context: ProviderContext): LanguageModel | ProviderModel | Promise<LanguageModel | ProviderModel>;
  /** Only for a type the parser's catalogue does not list yet (see @woodwork/runtime's `declare`). */
  readonly declare?: ComponentDeclaration;
}
