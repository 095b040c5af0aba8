import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { WoodworkMetricsError, defaultPrices, estimateCost, normalizeProviderName } from '../src/index.js';

/** The exact decimal cost, computed in integers and read back as a number literal. */
function decimalCost(input: number, output: number, inputPerMillion: number, outputPerMillion: number): number {
  const picodollars =
    BigInt(input) * BigInt(Math.round(inputPerMillion * 1e6)) + BigInt(output) * BigInt(Math.round(outputPerMillion * 1e6));
  return Number(`${picodollars}e-12`);
}

describe('cost estimates', () => {
  it('are the double nearest to the exact decimal cost', () => {
    const usage = { inputTokens: 1, outputTokens: 105 };
    // Naive float arithmetic is off in the last digit; the estimate is not.
    expect(1 * 2.5 / 1e6 + 105 * 10 / 1e6).not.toBe(0.0010525);
    expect(estimateCost(usage, { provider: 'openai', model: 'gpt-4o' })).toBe(0.0010525);
    expect(estimateCost({ inputTokens: 1234, outputTokens: 567 }, { provider: 'openai', model: 'gpt-4o-mini' })).toBe(0.0005253);
  });

  it('match the exact decimal for every model of the table and any token counts', () => {
    const models = Object.entries(defaultPrices).flatMap(([provider, table]) =>
      Object.entries(table).map(([model, price]) => ({ provider, model, price })),
    );
    fc.assert(
      fc.property(fc.constantFrom(...models), fc.nat(2_000_000), fc.nat(200_000), ({ provider, model, price }, input, output) => {
        const cost = estimateCost({ inputTokens: input, outputTokens: output }, { provider, model: model === '*' ? 'llama3.2' : model });
        expect(cost).toBe(decimalCost(input, output, price.inputPerMillion, price.outputPerMillion));
      }),
    );
  });

  it('price dated snapshots and -latest aliases like their model', () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 1_000_000 };
    expect(estimateCost(usage, { provider: 'openai', model: 'gpt-4o-mini-2024-07-18' })).toBe(0.75);
    expect(estimateCost(usage, { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' })).toBe(18);
    expect(estimateCost(usage, { provider: 'anthropic', model: 'claude-3-5-haiku-latest' })).toBe(4.8);
  });

  it('know the .ww provider names', () => {
    expect(normalizeProviderName('claude')).toBe('anthropic');
    expect(normalizeProviderName('OpenAI')).toBe('openai');
    expect(estimateCost({ inputTokens: 10, outputTokens: 10 }, { provider: 'claude', model: 'claude-sonnet-4-5' })).toBe(0.00018);
    expect(estimateCost({ inputTokens: 5000, outputTokens: 5000 }, { provider: 'ollama', model: 'llama3.2' })).toBe(0);
  });

  it('are null for a model without a price', () => {
    expect(estimateCost({ inputTokens: 1, outputTokens: 1 }, { provider: 'openai', model: 'gpt-9' })).toBeNull();
    expect(estimateCost({ inputTokens: 1, outputTokens: 1 }, { provider: 'acme', model: 'x' })).toBeNull();
  });

  it('use overrides laid over the defaults', () => {
    const prices = { openai: { 'gpt-4o': { inputPerMillion: 1.25, outputPerMillion: 5 } }, acme: { '*': { inputPerMillion: 0.000001, outputPerMillion: 0 } } };
    expect(estimateCost({ inputTokens: 1000, outputTokens: 1000 }, { provider: 'openai', model: 'gpt-4o' }, prices)).toBe(0.00625);
    expect(estimateCost({ inputTokens: 1000, outputTokens: 1000 }, { provider: 'openai', model: 'gpt-4o-mini' }, prices)).toBe(0.00075);
    expect(estimateCost({ inputTokens: 1_000_000, outputTokens: 0 }, { provider: 'acme', model: 'y' }, prices)).toBe(0.000001);
  });

  it('reject prices that cannot be exact', () => {
    const bad = (price: number) => () =>
      estimateCost({ inputTokens: 1, outputTokens: 1 }, { provider: 'x', model: 'y' }, { x: { y: { inputPerMillion: price, outputPerMillion: 1 } } });
    for (const price of [0.0000001, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(bad(price)).toThrow(WoodworkMetricsError);
    }
    try {
      bad(-1)();
    } catch (error) {
      expect(WoodworkMetricsError.isInstance(error) && error.code).toBe('WW_METRICS_INVALID_OPTION');
    }
  });
});
