/** A logger and terminal streams that keep every line, for tests that search what a run printed. */
import { PassThrough } from 'node:stream';
import type { Logger } from '@woodwork/runtime';

export function capturingLogger(lines: string[] = [], fields: Readonly<Record<string, unknown>> = {}): Logger & { readonly lines: string[] } {
  const log = (level: string) => (message: string, more?: Readonly<Record<string, unknown>>) => void lines.push(JSON.stringify({ level, message, ...fields, ...more }));
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (more) => capturingLogger(lines, { ...fields, ...more }) };
}

export function capturingStream(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}
