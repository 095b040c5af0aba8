// A pipe receives the payload of a message on its way into a component and returns the payload
// to pass on. Typed text arrives as { input: "..." }.

export interface InputPayload {
  input: string;
  context?: Record<string, unknown>;
}

/** Drops surrounding whitespace and collapses runs of spaces: a model reads every character. */
export function trim(payload: InputPayload): InputPayload {
  return { ...payload, input: payload.input.trim().replace(/\s+/g, ' ') };
}
