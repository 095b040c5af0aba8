/**
 * The agent's model: its `model = my_llm` reference, turned into an AI SDK `LanguageModel` through
 * that llm type's provider (the same seam as the `llm` component, `../llm/provider.ts`), so every
 * llm type — openai, claude, ollama, openai_compatible, and llm types added later — drives an
 * agent without code of its own. The llm's keys (model, base_url, api_key, temperature, max_tokens,
 * max_retries, timeouts, headers, provider_options, prompt) apply to the agent's calls.
 *
 * The model is built in the agent's own host: a model is an HTTP client, and the loop needs it in
 * process to stream and to hand tool schemas over. When the llm runs in another process, its config
 * arrives with environment references unresolved (`{ $env }`); they are resolved here from this
 * host's environment.
 */
import type { LanguageModel } from 'ai';
import type { ComponentContext, ComponentInfo, ComponentReference } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import type { ErrorScene } from '../llm/errors-from-provider.js';
import type { LlmConfig, LlmProvider, ProviderModel } from '../llm/provider.js';

export interface AgentModel {
  readonly model: LanguageModel;
  readonly provider: LlmProvider;
  readonly config: LlmConfig;
  readonly modelId: string;
  readonly scene: (sessionId: string | undefined) => ErrorScene;
  close(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `{ $env }` and `{ $template }` values left in a config another process resolved for itself. */
export function resolveEnvValues(value: unknown, env: Env): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveEnvValues(item, env));
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  if (typeof record.$env === 'string') {
    const found = env[record.$env];
    return found !== undefined && found !== '' ? found : record.default;
  }
  if (Array.isArray(record.$template)) {
    return record.$template.map((part) => (typeof part === 'string' ? part : (resolveEnvValues(part, env) ?? ''))).join('');
  }
  if (typeof record.$ref === 'string') return value;
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, resolveEnvValues(item, env)]));
}

function isModelObject(value: LanguageModel | ProviderModel): value is ProviderModel {
  return typeof value === 'object' && value !== null && 'model' in value && !('specificationVersion' in value);
}

export async function createAgentModel(
  reference: ComponentReference,
  providers: readonly LlmProvider[],
  agent: ComponentInfo,
  context: ComponentContext,
): Promise<AgentModel> {
  const provider = providers.find((candidate) => candidate.type === reference.type);
  if (!provider) {
    throw new WoodworkAiError('WW_AI_CONFIG', `\`${agent.name}\`: its model \`${reference.name}\` is an llm ${reference.type}, which @woodwork/ai cannot drive an agent with`, {
      component: agent.name,
      location: agent.location,
      hint: `use an llm of type ${providers.map((candidate) => candidate.type).join(', ')}`,
    });
  }
  const env = context.env ?? process.env;
  const config = resolveEnvValues(reference.config, env) as LlmConfig;
  const modelId = typeof config.model === 'string' && config.model !== '' ? config.model : provider.defaultModel;
  if (modelId === undefined) {
    throw new WoodworkAiError('WW_AI_CONFIG', `\`${agent.name}\`: its model \`${reference.name}\` has no \`model\` to call`, {
      component: agent.name,
      location: agent.location,
      hint: `add model = "…" to \`${reference.name}\``,
    });
  }
  const fileKey = typeof config.api_key === 'string' && config.api_key !== '' ? config.api_key : undefined;
  const apiKey = fileKey ?? (provider.apiKey ? env[provider.apiKey.variable] || undefined : undefined);
  if (provider.apiKey?.required && apiKey === undefined) {
    throw new WoodworkAiError('WW_AI_KEY_MISSING', `\`${agent.name}\`: no API key for its model \`${reference.name}\`: ${provider.apiKey.variable} is not set and \`${reference.name}\` has no \`api_key\``, {
      component: agent.name,
      location: agent.location,
      hint: `set ${provider.apiKey.variable} in the environment of the agent's host, or in a .env file beside the .ww file`,
    });
  }
  // Errors name the llm the user declared (its model, its key's variable), seen from the agent.
  const llmInfo: ComponentInfo = { ...agent, name: reference.name, kind: reference.kind, type: reference.type };
  const made = await provider.createModel(
    { ...config, model: modelId },
    {
      component: llmInfo,
      apiKey,
      env,
      logger: context.logger,
      resolvePath: (relative) => context.resolvePath(relative),
      projectDir: context.projectDir,
      signal: context.signal,
    },
  );
  const model = isModelObject(made) ? made.model : made;
  const close = isModelObject(made) ? made.close?.bind(made) : undefined;
  return {
    model,
    provider,
    config,
    modelId,
    scene: (sessionId) => ({
      component: llmInfo,
      provider,
      model: modelId,
      keySource: fileKey ? undefined : provider.apiKey?.variable,
      fileKey: fileKey !== undefined,
      secrets: [apiKey],
      ...(sessionId === undefined ? {} : { sessionId }),
      baseUrl: typeof config.base_url === 'string' ? config.base_url : undefined,
    }),
    close: async () => {
      await close?.();
    },
  };
}
