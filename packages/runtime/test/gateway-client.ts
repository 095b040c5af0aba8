/**
 * Clients for the gateway tests: Server-Sent Events read from a `fetch` response in steps (messages
 * and comments, as a resuming client would), and a WebSocket that keeps every frame.
 */
import WebSocket from 'ws';
import type { GatewayServerFrame, SessionEvent } from '../src/index.js';

export interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
  readonly comment?: string;
}

/** Reads SSE messages (and comments) from a response, in steps: `until` reads on until `stop` says so or the stream ends. */
export function sseReader(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: SseMessage[] = [];
  let buffer = '';
  return {
    messages,
    async until(stop: (message: SseMessage, all: SseMessage[]) => boolean = () => false): Promise<SseMessage[]> {
      for (;;) {
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          const data: string[] = [];
          let comment: string | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comment = line.slice(1).trim();
            else {
              const colon = line.indexOf(':');
              const text = line.slice(colon + 1).replace(/^ /, '');
              if (line.slice(0, colon) === 'data') data.push(text);
              else fields[line.slice(0, colon)] = text;
            }
          }
          const message: SseMessage = { ...fields, data: data.join('\n'), ...(comment === undefined ? {} : { comment }) };
          messages.push(message);
          if (stop(message, messages)) return messages;
        }
        const { done, value } = await reader.read();
        if (done) return messages;
        buffer += value;
      }
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

export async function readSse(response: Response, stop?: (message: SseMessage, all: SseMessage[]) => boolean): Promise<SseMessage[]> {
  const reader = sseReader(response);
  try {
    return await reader.until(stop);
  } finally {
    await reader.close();
  }
}

/**
 * An event stream that is subscribed: its `: connected` comment has arrived. Aborting `signal`
 * drops the connection (a cancelled body alone leaves it to the client's keep-alive timeout).
 */
export async function subscribe(url: string, headers: Record<string, string>, signal?: AbortSignal) {
  const reader = sseReader(await fetch(url, { headers, ...(signal === undefined ? {} : { signal }) }));
  await reader.until((message) => message.comment === 'connected');
  return reader;
}

export function events(messages: readonly SseMessage[]): SessionEvent[] {
  return messages.filter((message) => message.event !== undefined).map((message) => JSON.parse(message.data) as SessionEvent);
}

/** A WebSocket client that keeps every frame it receives. */
export async function connect(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<{ socket: WebSocket; frames: GatewayServerFrame[] }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), protocols, options);
  const frames: GatewayServerFrame[] = [];
  socket.on('message', (data) => frames.push(JSON.parse(String(data)) as GatewayServerFrame));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, frames };
}
