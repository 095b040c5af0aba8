/**
 * `defineComponent`: writes a component implementation with its types inferred, and checks its
 * shape at once (a missing `create` is reported where it is written, not when a topology runs).
 *
 * ```ts
 * export const shout = defineComponent({
 *   kind: 'transform', type: 'shout',
 *   declare: { description: 'Shouts the message.', role: 'processor' },
 *   create: () => ({ handle: (message) => message.text.toUpperCase() + '!' }),
 * });
 * registry.register(shout);
 * ```
 */
import { WoodworkRuntimeError } from './errors.js';
import type { ComponentDefinition } from './types.js';

export function defineComponent<Config = Readonly<Record<string, unknown>>>(
  definition: ComponentDefinition<Config>,
): ComponentDefinition<Config> {
  if (typeof definition !== 'object' || definition === null) {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'defineComponent needs an object { kind, type, create }', {
      userError: false,
    });
  }
  if (typeof definition.kind !== 'string' || typeof definition.type !== 'string') {
    throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', 'defineComponent needs `kind` and `type` strings', {
      userError: false,
    });
  }
  if (typeof definition.create !== 'function') {
    throw new WoodworkRuntimeError(
      'WW_RUNTIME_INVALID_ARGUMENT',
      `defineComponent(${definition.kind} ${definition.type}) needs a \`create\` function that returns the component`,
      { userError: false },
    );
  }
  return Object.freeze({ ...definition });
}
