// With WOODWORK_DEBUG set, prints how each reply streamed: chunks and chunks per second. Hooks see
// a copy of every stream chunk and never hold up the reply.

export interface StreamEvent {
  event_type: string;
  stream_id?: string;
  is_final?: boolean;
}

const started = new Map<string, { first: number; chunks: number }>();

export function replyStats(event: StreamEvent): void {
  if (!process.env.WOODWORK_DEBUG || !event.stream_id) return;
  const stats = started.get(event.stream_id) ?? { first: performance.now(), chunks: 0 };
  stats.chunks++;
  started.set(event.stream_id, stats);
  if (event.is_final) {
    const seconds = (performance.now() - stats.first) / 1000;
    console.error(`[reply] ${stats.chunks} chunks in ${seconds.toFixed(2)} s (${(stats.chunks / Math.max(seconds, 1e-3)).toFixed(0)}/s)`);
    started.delete(event.stream_id);
  }
}
