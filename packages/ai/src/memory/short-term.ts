/**
 * `memory short_term`: the last messages of a session, bounded by count (`max_messages`) and by an
 * estimated token budget (`max_tokens`), kept in the session store through `context.session`. So
 * the memory is the same whichever instance or process handles the session's next turn (Redis when
 * distributed), and it ends with the session.
 *
 * It is a resource: nothing is routed to it. Models use it through a reference (`memory = history`)
 * and its methods, over the bus like any call between components:
 *
 *   history.invoke('messages')                          → the kept messages, oldest first
 *   history.invoke('add', { messages: [{ role, content }] })
 *   history.invoke('clear')
 *
 * Tokens are estimated as one per four characters (plus four per message for the role and
 * framing): exact counts need the model's tokenizer, and a budget only has to be roughly right.
 */
import { defineComponent, type ComponentReference, type JsonValue } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';

/** One remembered message. */
export interface MemoryMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export interface ShortTermMemoryConfig {
  readonly max_messages?: number;
  readonly max_tokens?: number;
}

const STATE_KEY = 'messages';

/** The estimate the budget uses: ~4 characters a token, 4 more per message. */
export function estimateTokens(message: MemoryMessage): number {
  return Math.ceil(message.content.length / 4) + 4;
}

/** The newest messages that fit both bounds, oldest first; never starts with an assistant reply. */
export function bound(messages: readonly MemoryMessage[], maxMessages: number, maxTokens: number): MemoryMessage[] {
  const kept: MemoryMessage[] = [];
  let tokens = 0;
  for (let index = messages.length - 1; index >= 0 && kept.length < maxMessages; index--) {
    const message = messages[index]!;
    tokens += estimateTokens(message);
    if (tokens > maxTokens && kept.length > 0) break;
    kept.push(message);
  }
  kept.reverse();
  // A conversation that opens with a reply confuses models (Anthropic refuses it): drop it.
  while (kept.length > 1 && kept[0]!.role === 'assistant') kept.shift();
  return kept;
}

function isMessage(value: unknown): value is MemoryMessage {
  const candidate = value as MemoryMessage | null;
  return typeof candidate === 'object' && candidate !== null && (candidate.role === 'user' || candidate.role === 'assistant') && typeof candidate.content === 'string';
}

export const shortTermMemory = defineComponent<ShortTermMemoryConfig>({
  kind: 'memory',
  type: 'short_term',
  create: ({ config, component }) => {
    const maxMessages = config.max_messages ?? 20;
    const maxTokens = config.max_tokens ?? 8000;
    const read = async (session: { get<T>(key: string): Promise<T | undefined> }) => {
      const stored = await session.get<MemoryMessage[]>(STATE_KEY);
      return Array.isArray(stored) ? stored.filter(isMessage) : [];
    };
    return {
      methods: {
        messages: async (_args, context) => bound(await read(context.session), maxMessages, maxTokens),
        add: async (args, context) => {
          const incoming = (args as { messages?: unknown } | null)?.messages;
          if (!Array.isArray(incoming) || !incoming.every(isMessage)) {
            throw new WoodworkAiError('WW_AI_MEMORY', `memory \`${component.name}\`: add needs { messages: [{ role: 'user' | 'assistant', content: string }] }`, {
              component: component.name,
              location: component.location,
              userError: false,
            });
          }
          const kept = bound([...(await read(context.session)), ...incoming], maxMessages, maxTokens);
          await context.session.set(STATE_KEY, kept as unknown as JsonValue);
          return { count: kept.length };
        },
        clear: async (_args, context) => {
          await context.session.delete(STATE_KEY);
          return { count: 0 };
        },
      },
    };
  },
});

/** What a model does with its `memory = …` reference: read before the call, append after it. */
export interface MemoryClient {
  load(): Promise<MemoryMessage[]>;
  append(messages: readonly MemoryMessage[]): Promise<void>;
}

/** A client for a memory reference in a component's config (`context.config.memory`). */
export function memoryClient(reference: ComponentReference): MemoryClient {
  return {
    load: async () => {
      const messages = await reference.invoke('messages');
      return Array.isArray(messages) ? messages.filter(isMessage) : [];
    },
    append: async (messages) => {
      await reference.invoke('add', { messages });
    },
  };
}
