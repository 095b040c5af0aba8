// Adds what the model should know about the request to every message before it reaches the chat.

export interface ChatPayload {
  input: string;
  context?: Record<string, unknown>;
}

export function addContext(payload: ChatPayload): ChatPayload {
  return { ...payload, context: { ...payload.context, received_at: new Date().toISOString() } };
}
