/**
 * Cost estimates: a small price table per provider and model, and the exact arithmetic that turns
 * token counts into dollars.
 *
 * Prices are list prices in US dollars per million tokens, standard tier, without batch or cache
 * discounts, as the providers published them in 2025. They are estimates for dashboards, not
 * invoices: pass `prices` to override or extend them (a negotiated rate, a new model, a local
 * model with a cost of your own).
 *
 * Exactness: every price is turned into an integer number of picodollars per token (1e-12 USD)
 * when the table is built, so a price may have at most six decimals in dollars per million
 * tokens. A cost is then an integer sum (exact below 2^53 picodollars, about $9,000 per call)
 * divided once by 1e12, which gives the double nearest to the true decimal value: 1234 input and
 * 567 output tokens of gpt-4o-mini cost exactly 0.0005253, where `1234 * 0.15 / 1e6 + …` does not.
 */
import { WoodworkMetricsError } from './errors.js';

/** The price of one model, in US dollars per million tokens. */
export interface ModelPrice {
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
}

/**
 * Prices by `gen_ai.provider.name`, then by model id. The model key `*` prices every model of the
 * provider that has no entry of its own (used for local runtimes such as ollama).
 */
export type PriceTable = Readonly<Record<string, Readonly<Record<string, ModelPrice>>>>;

/** The built-in table. Kept small on purpose: the models the `.ww` catalogue's examples use. */
export const defaultPrices: PriceTable = {
  openai: {
    'gpt-4o': { inputPerMillion: 2.5, outputPerMillion: 10 },
    'gpt-4o-mini': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
    'gpt-4.1': { inputPerMillion: 2, outputPerMillion: 8 },
    'gpt-4.1-mini': { inputPerMillion: 0.4, outputPerMillion: 1.6 },
    'gpt-4.1-nano': { inputPerMillion: 0.1, outputPerMillion: 0.4 },
    'o3-mini': { inputPerMillion: 1.1, outputPerMillion: 4.4 },
  },
  anthropic: {
    'claude-opus-4-1': { inputPerMillion: 15, outputPerMillion: 75 },
    'claude-sonnet-4-5': { inputPerMillion: 3, outputPerMillion: 15 },
    'claude-sonnet-4': { inputPerMillion: 3, outputPerMillion: 15 },
    'claude-haiku-4-5': { inputPerMillion: 1, outputPerMillion: 5 },
    'claude-3-5-haiku': { inputPerMillion: 0.8, outputPerMillion: 4 },
  },
  /** Local models: no per-token bill. */
  ollama: {
    '*': { inputPerMillion: 0, outputPerMillion: 0 },
  },
};

/** Token counts of one model call; the field names are the Vercel AI SDK's. */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** A price made ready for exact arithmetic: picodollars (1e-12 USD) per token. */
export interface ResolvedPrice extends ModelPrice {
  readonly inputPicodollarsPerToken: number;
  readonly outputPicodollarsPerToken: number;
}

/** `.ww` llm types and common spellings → the `gen_ai.provider.name` value they report as. */
const providerAliases: Readonly<Record<string, string>> = { claude: 'anthropic' };

/** The `gen_ai.provider.name` for a provider as written in `.ww` (`claude` → `anthropic`). */
export function normalizeProviderName(provider: string): string {
  const lower = provider.toLowerCase();
  return providerAliases[lower] ?? lower;
}

function toPicodollarsPerToken(dollarsPerMillion: number, where: string): number {
  const scaled = dollarsPerMillion * 1e6;
  const rounded = Math.round(scaled);
  if (!Number.isFinite(dollarsPerMillion) || dollarsPerMillion < 0 || Math.abs(scaled - rounded) > 1e-6 * Math.max(1, scaled)) {
    throw new WoodworkMetricsError(
      'WW_METRICS_INVALID_OPTION',
      `price ${where} must be a non-negative number of dollars per million tokens with at most 6 decimals, got ${dollarsPerMillion}`,
    );
  }
  return rounded;
}

function resolve(price: ModelPrice, where: string): ResolvedPrice {
  return {
    inputPerMillion: price.inputPerMillion,
    outputPerMillion: price.outputPerMillion,
    inputPicodollarsPerToken: toPicodollarsPerToken(price.inputPerMillion, `${where}.inputPerMillion`),
    outputPicodollarsPerToken: toPicodollarsPerToken(price.outputPerMillion, `${where}.outputPerMillion`),
  };
}

/** A dated snapshot (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) or alias (`…-latest`). */
const snapshotSuffix = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

/**
 * A lookup over the default table with `overrides` laid on top (per model; a provider in
 * `overrides` keeps the defaults' other models). Validates every price up front.
 */
export function createPriceLookup(overrides?: PriceTable): (provider: string, model: string) => ResolvedPrice | null {
  const table = new Map<string, Map<string, ResolvedPrice>>();
  for (const source of [defaultPrices, overrides ?? {}]) {
    for (const [provider, models] of Object.entries(source)) {
      const key = normalizeProviderName(provider);
      let entry = table.get(key);
      if (!entry) table.set(key, (entry = new Map()));
      for (const [model, price] of Object.entries(models)) entry.set(model, resolve(price, `${provider}.${model}`));
    }
  }
  return (provider, model) => {
    const models = table.get(normalizeProviderName(provider));
    if (!models) return null;
    return models.get(model) ?? models.get(model.replace(snapshotSuffix, '')) ?? models.get('*') ?? null;
  };
}

/** Exact cost in US dollars of `usage` at `price` (see the module header for what exact means). */
export function costOf(usage: TokenUsage, price: ResolvedPrice): number {
  return (
    (usage.inputTokens * price.inputPicodollarsPerToken + usage.outputTokens * price.outputPicodollarsPerToken) / 1e12
  );
}

/**
 * The estimated cost of one call, or null when the table has no price for the model.
 * `prices` overrides the default table as in `createMetricsEmitter({ prices })`.
 */
export function estimateCost(
  usage: TokenUsage,
  model: { readonly provider: string; readonly model: string },
  prices?: PriceTable,
): number | null {
  const price = createPriceLookup(prices)(model.provider, model.model);
  return price ? costOf(usage, price) : null;
}
