/**
 * The `transform` kind: text transforms without an LLM (echo, uppercase, lowercase, template), for
 * trying pipelines and proving the machinery. They keep the payload's shape (`withText`), accept
 * streams (mapping each chunk as it arrives where they can), and with `streaming = true` they
 * stream their result word by word, so a streaming topology can be tried without a model.
 */
import { defineComponent } from '../define-component.js';
import { withText } from '../events.js';
import type { ComponentDefinition, HandlerContext, Message } from '../types.js';

type TextFunction = (text: string) => string;

/** Splits text into word-sized chunks that join back to the same text. */
export function wordChunks(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

async function respond(message: Message, context: HandlerContext, whole: TextFunction, perChunk: TextFunction | undefined) {
  if (!message.stream) return finish(context, message.payload, whole(message.text));
  if (!perChunk) {
    let text = '';
    for await (const chunk of message.stream) if (chunk.data_type === 'text') text += chunk.data;
    return finish(context, null, whole(text));
  }
  // Map each chunk as it arrives: the next component reads the result while it is still coming.
  const writer = context.stream();
  let first = true;
  for await (const chunk of message.stream) {
    if (chunk.data_type !== 'text' && chunk.data_type !== 'json') continue;
    const text = chunk.data_type === 'text' ? chunk.data : JSON.stringify(chunk.data);
    await writer.write(first ? whole(text) : perChunk(text));
    first = false;
  }
  if (first) await writer.write(whole(''));
  return undefined;
}

/** The result whole, or word by word as a stream when the component has `streaming = true`. */
async function finish(context: HandlerContext, payload: unknown, text: string): Promise<unknown> {
  if (!context.component.streaming) return withText(payload, text);
  const writer = context.stream();
  for (const word of wordChunks(text)) await writer.write(word);
  return undefined;
}

function transform(type: string, make: (config: Readonly<Record<string, unknown>>) => { whole: TextFunction; chunk?: TextFunction }): ComponentDefinition {
  return defineComponent({
    kind: 'transform',
    type,
    acceptsStreams: true,
    create: ({ config }) => {
      const { whole, chunk } = make(config);
      return { handle: (message, context) => respond(message, context, whole, chunk) };
    },
  });
}

export const echoTransform = transform('echo', (config) => {
  const prefix = typeof config.prefix === 'string' ? config.prefix : '';
  return { whole: (text) => prefix + text, chunk: (text) => text };
});

export const uppercaseTransform = transform('uppercase', () => {
  const upper = (text: string) => text.toUpperCase();
  return { whole: upper, chunk: upper };
});

export const lowercaseTransform = transform('lowercase', () => {
  const lower = (text: string) => text.toLowerCase();
  return { whole: lower, chunk: lower };
});

export const templateTransform = transform('template', (config) => {
  const template = typeof config.template === 'string' ? config.template : '{{input}}';
  return { whole: (text) => template.replace(/\{\{\s*input\s*\}\}/g, () => text) };
});
