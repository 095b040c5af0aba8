// An audit trail: one JSON line per event the responder emits.

export interface WoodworkEvent {
  message_id: string;
  session_id: string;
  event_type: string;
  component_source: string;
  timestamp: string;
}

export function audit(event: WoodworkEvent): void {
  const { message_id, session_id, event_type, component_source, timestamp } = event;
  console.log(JSON.stringify({ audit: true, message_id, session_id, event_type, component_source, timestamp }));
}
