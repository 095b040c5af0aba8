// Tools for the agent: each exported function is a tool. Its name and the doc comment are what the
// model sees; parameters are plain JSON values.

/** The current date and time in ISO 8601, in the given IANA time zone (default UTC). */
export function now(timeZone = 'UTC'): string {
  return new Date().toLocaleString('sv-SE', { timeZone }).replace(' ', 'T');
}

/** Whole days from today until an ISO date (negative when it has passed). */
export function daysUntil(date: string): number {
  const day = 24 * 60 * 60 * 1000;
  return Math.round((Date.parse(date) - Date.now()) / day);
}
