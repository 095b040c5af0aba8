// Hooks print what the agent does while it works. They see copies of events and cannot change them.

export interface WoodworkEvent {
  event_type: string;
  component_source: string;
  payload: Record<string, unknown>;
}

export function printThought(event: WoodworkEvent): void {
  console.error(`  thinking: ${String(event.payload.thought ?? '')}`);
}

export function printToolCall(event: WoodworkEvent): void {
  console.error(`  ${event.event_type}: ${JSON.stringify(event.payload)}`);
}
