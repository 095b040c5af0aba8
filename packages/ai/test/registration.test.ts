import { describe, expect, it } from 'vitest';
import { catalogue, findComponentType } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger } from '@woodwork/runtime';
import { aiComponents, providers } from '../src/index.js';
import { startScriptedServer } from '../src/testing/index.js';
import { project } from './support/project.js';

describe("the runtime's default registry", () => {
  it('loads @woodwork/ai when a topology uses an llm, without being told', async () => {
    await using server = await startScriptedServer();
    server.enqueue({ text: ['from ', 'the model'] });
    await using files = await project({
      'main.ww': `chat = llm openai { model = "gpt-4o-mini", api_key = "sk-x", base_url = "${server.openaiBaseUrl}" }\nhistory = memory short_term {}\n`,
    });
    await using runtime = createRuntime(await files.load(), { logger: silentLogger });
    await runtime.start();
    const result = await runtime.ask(undefined, 'hello');
    expect(result).toMatchObject({ ok: true, text: 'from the model' });
  });
});

describe('the catalogue and the registries agree', () => {
  it('marks a type supported exactly when the built-ins or @woodwork/ai implement it', () => {
    const registry = createComponentRegistry();
    for (const definition of aiComponents) registry.register(definition);
    const implemented = new Set(registry.list().map((entry) => `${entry.kind} ${entry.type}`));
    const supported = new Set<string>();
    for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
      if (kind === 'bus' || kind === 'vm') continue; // infrastructure: the runtime itself, not components
      for (const [type, typeSpec] of Object.entries(kindSpec.types)) {
        if (kindSpec.status === 'supported' && typeSpec.status === 'supported') supported.add(`${kind} ${type}`);
      }
    }
    // `llm local` is registered by its own provider (another change); until then it may be missing here.
    expect([...supported].filter((pair) => !implemented.has(pair)).sort()).toEqual([]);
    expect([...implemented].filter((pair) => !supported.has(pair)).sort()).toEqual([]);
    expect(findComponentType('llm', 'anthropic')?.type).toBe('claude');
  });
});

describe("the catalogue and the providers agree on keys from the environment", () => {
  it('names the variable each provider reads its key from, and whether it needs one', () => {
    for (const provider of providers) {
      const spec = findComponentType('llm', provider.type)?.typeSpec.keys.api_key;
      if (provider.apiKey === undefined) expect(spec?.fromEnv, provider.type).toBeUndefined();
      else expect(spec?.fromEnv, provider.type).toEqual({ variable: provider.apiKey.variable, required: provider.apiKey.required });
    }
  });
});
