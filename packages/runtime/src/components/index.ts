/** The built-in components and a registry that has them. */
import { createEmptyRegistry, type ComponentRegistry } from '../registry.js';
import type { ComponentDefinition } from '../types.js';
import { commandLineInput, consoleOutput } from './terminal-io.js';
import { echoTransform, lowercaseTransform, templateTransform, uppercaseTransform } from './transform.js';
import { apiInput, apiOutput } from '../gateway/component.js';

/** Every component this package implements. */
export const builtinComponents: readonly ComponentDefinition<any>[] = Object.freeze([
  echoTransform,
  uppercaseTransform,
  lowercaseTransform,
  templateTransform,
  commandLineInput,
  consoleOutput,
  apiInput,
  apiOutput,
]);

/** A registry with the built-in components, ready for more: `createComponentRegistry().register(myLlm)`. */
export function createBuiltinRegistry(): ComponentRegistry {
  const registry = createEmptyRegistry();
  for (const definition of builtinComponents) registry.register(definition);
  return registry;
}
