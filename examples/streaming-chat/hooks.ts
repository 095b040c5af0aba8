// Counts the stream chunks of each reply, to show hooks on streaming events.

export interface StreamEvent {
  event_type: string;
  stream_id?: string;
  is_final?: boolean;
}

const chunks = new Map<string, number>();

export function countChunks(event: StreamEvent): void {
  if (!event.stream_id) return;
  const count = (chunks.get(event.stream_id) ?? 0) + 1;
  chunks.set(event.stream_id, count);
  if (event.is_final) {
    console.error(`stream ${event.stream_id}: ${count} chunks`);
    chunks.delete(event.stream_id);
  }
}
