import { describe, expect, it } from 'vitest';
import type { TopologyComponent } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, WoodworkRuntimeError } from '../src/index.js';
import { isInstalled, registerOptionalComponents } from '../src/components/optional.js';
import { project } from './helpers.js';

const llm = { name: 'chat', kind: 'llm', type: 'openai' } as TopologyComponent;

describe('optional component packages', () => {
  it('treats a package that is not installed as missing, not as a failure, and remembers it', async () => {
    const registry = createComponentRegistry();
    const absent = { name: '@woodwork/not-installed-anywhere', kinds: ['llm'], exportName: 'components' };
    await registerOptionalComponents(registry, [llm], [absent]);
    expect(registry.has('llm', 'openai')).toBe(false);
    expect(isInstalled(absent.name)).toBe(false);
  });

  it('loads nothing for a topology of built-in components', async () => {
    const registry = createComponentRegistry();
    const never = { name: '@woodwork/never-looked-for', kinds: ['llm'], exportName: 'components' };
    await registerOptionalComponents(registry, [{ name: 't', kind: 'transform', type: 'echo' } as TopologyComponent], [never]);
    expect(isInstalled(never.name)).toBeUndefined();
  });

  it('with a registry of your own, loads nothing and says to register the package’s components', async () => {
    const files = await project({ 'main.ww': 'chat = llm openai { model = "gpt-4o-mini", api_key = "k" }\n' });
    try {
      const runtime = createRuntime(await files.load(), { logger: silentLogger, registry: createComponentRegistry() });
      const error = await runtime.start().then(() => undefined, (thrown: unknown) => thrown);
      expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
      expect((error as WoodworkRuntimeError).code).toBe('WW_RUNTIME_UNKNOWN_COMPONENT_TYPE');
      expect((error as WoodworkRuntimeError).hint).toContain("register @woodwork/ai's components in your registry");
    } finally {
      await files.remove();
    }
  });
});
