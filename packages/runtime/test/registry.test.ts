import { describe, expect, it } from 'vitest';
import { builtinComponents, createComponentRegistry, createEmptyRegistry, defineComponent, WoodworkRuntimeError } from '../src/index.js';

const noop = () => ({});

describe('ComponentRegistry', () => {
  it('starts with the built-in components, aliases resolved', () => {
    const registry = createComponentRegistry();
    expect(registry.list().map((entry) => `${entry.kind} ${entry.type}`)).toEqual(builtinComponents.map((definition) => `${definition.kind} ${definition.type}`));
    expect(registry.get('input', 'cli')?.type).toBe('command_line');
    expect(registry.get('output', 'cli')?.type).toBe('console');
    expect(registry.get('transform', 'echo')?.role).toBe('processor');
    expect(registry.get('llm', 'openai')).toBeUndefined();
  });

  it('registers catalogue types by their alias too, and refuses a second registration unless replacing', () => {
    const registry = createEmptyRegistry().register('llm', 'anthropic', noop);
    expect(registry.get('llm', 'claude')).toMatchObject({ kind: 'llm', type: 'claude', role: 'processor', declared: false });
    expect(() => registry.register('llm', 'claude', noop)).toThrow(/already has an implementation/);
    expect(() => registry.register('llm', 'claude', noop, { replace: true })).not.toThrow();
  });

  it('refuses a pair the catalogue does not know, unless it is declared', () => {
    const registry = createEmptyRegistry();
    const error = (() => {
      try {
        registry.register('transform', 'shout', noop);
      } catch (caught) {
        return caught;
      }
    })() as WoodworkRuntimeError;
    expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
    expect(error.message).toMatch(/`transform shout` is not in the catalogue \(the transform types are echo, uppercase, lowercase, template\)/);
    expect(error.hint).toMatch(/declare/);
    expect(() => registry.register('widget', 'x', noop)).toThrow(/`widget` is not a kind in the catalogue/);
    registry.register(
      defineComponent({ kind: 'widget', type: 'x', declare: { description: 'A custom widget.', role: 'tool' }, create: noop }),
    );
    expect(registry.get('widget', 'x')).toMatchObject({ role: 'tool', declared: true });
  });

  it('checks definitions where they are written', () => {
    expect(() => defineComponent({ kind: 'transform', type: 'echo' } as never)).toThrow(/needs a `create` function/);
    expect(() => createEmptyRegistry().register('bad kind', 'x', noop)).toThrow(/must be names/);
  });
});
