// A hook sees a copy of each event a component emits. Whatever it does (here: log a line), it
// cannot change the message or stop the chain, and its failures are only reported.

export interface WoodworkEvent {
  event_type: string;
  component_source: string;
  session_id: string;
  payload: unknown;
}

export function logEvent(event: WoodworkEvent): void {
  console.error(`[${event.component_source}] ${event.event_type}`);
}
