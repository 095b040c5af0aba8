// Faults on demand, chosen by the input's text (the harness's clients write these words):
//   "slow:<ms>"  sleeps that long — a slow model call, longer than the bus lease;
//   "poison"     SIGKILLs the host that runs it — a message that crashes its consumer;
//   anything else waits FAULT_PACE_MS (default 20 ms), so a fault always lands mid-stream.
// Every start is logged (`fault-pipe: start <text>`), so the harness counts how often a message ran.
export async function fault(payload: unknown): Promise<unknown> {
  const text = typeof payload === 'object' && payload !== null ? String((payload as { input?: unknown }).input ?? '') : String(payload);
  console.error(`fault-pipe: start ${text}`);
  if (text.includes('poison')) process.kill(process.pid, 'SIGKILL');
  const slow = /slow:(\d+)/.exec(text);
  const ms = slow ? Number(slow[1]) : Number(process.env.FAULT_PACE_MS ?? 20);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return payload;
}

/** On `shout` (in the `tail` host): logs each message, so the harness sees which `tail` is busy. */
export function mark(payload: unknown): unknown {
  const text = typeof payload === 'object' && payload !== null ? String((payload as { text?: unknown; input?: unknown }).text ?? (payload as { input?: unknown }).input ?? '') : String(payload);
  console.error(`tail-pipe: ${text.split(/\s+/)[0]}`);
  return payload;
}
