/**
 * `input command_line` and `output console`: the terminal ends of a topology.
 *
 * - `input command_line` (alias `cli`) is where typed lines enter. It passes each line on as
 *   `input.received` (`{ input: "…" }`); the terminal itself (line editing, the prompt, Ctrl-C) is
 *   driven by `runTerminal()` (terminal.ts), which `woodwork run` and `woodwork dev` call.
 * - `output console` (alias `cli`) prints each reply on the runtime's stdout, and a streamed reply
 *   chunk by chunk as it arrives.
 */
import { defineComponent } from '../define-component.js';
import { textOf } from '../events.js';

export const commandLineInput = defineComponent({
  kind: 'input',
  type: 'command_line',
  // No handle: each line passes on as it is, as `input.received`.
  create: () => ({}),
});

export const consoleOutput = defineComponent({
  kind: 'output',
  type: 'console',
  acceptsStreams: true,
  create: ({ io }) => ({
    async handle(message) {
      if (message.stream) {
        let wrote = false;
        let endsWithNewline = false;
        for await (const chunk of message.stream) {
          const text = chunk.data_type === 'text' ? chunk.data : chunk.data_type === 'json' ? JSON.stringify(chunk.data) : '';
          if (text === '') continue;
          io.stdout.write(text);
          wrote = true;
          endsWithNewline = text.endsWith('\n');
        }
        if (wrote && !endsWithNewline) io.stdout.write('\n');
        return undefined;
      }
      const text = textOf(message.payload);
      io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      return undefined;
    },
  }),
});
