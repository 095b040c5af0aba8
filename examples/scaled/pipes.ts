// Stops empty messages before they reach the processing steps.

export interface InputPayload {
  input: string;
  context?: Record<string, unknown>;
}

export function rejectEmpty(payload: InputPayload): InputPayload {
  if (payload.input.trim() === '') throw new Error('empty message');
  return payload;
}
