/**
 * Answers to a paused turn's approval request. A client answers with the next input of the
 * session, through whatever input it uses:
 *
 *   { "approval": { "id": "<approval_id>", "approved": true, "reason"?: "…" } }   API / WebSocket / code
 *   yes | y | approve | allow | ok        no | n | deny | reject                   typed, e.g. in the terminal
 *
 * Anything else while a turn is paused counts as a denial whose reason is what the user wrote, so
 * the model hears it ("the user answered instead: …") and the conversation goes on.
 */

export type ApprovalAnswer =
  | { readonly kind: 'answer'; readonly approved: boolean; readonly id?: string; readonly reason?: string }
  | { readonly kind: 'none' };

const YES = /^\s*(y|yes|approve|approved|allow|ok|okay|sure)\b[\s.!]*$/i;
const NO = /^\s*(n|no|deny|denied|reject|refuse|don'?t|stop)\b[\s.!]*$/i;

export function parseAnswer(payload: unknown, text: string): ApprovalAnswer {
  const record = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : undefined;
  const nested = record?.input !== undefined && typeof record.input === 'object' && record.input !== null ? (record.input as Record<string, unknown>) : undefined;
  const approval = (record?.approval ?? nested?.approval) as Record<string, unknown> | undefined;
  if (typeof approval === 'object' && approval !== null && typeof approval.approved === 'boolean') {
    return {
      kind: 'answer',
      approved: approval.approved,
      ...(typeof approval.id === 'string' ? { id: approval.id } : {}),
      ...(typeof approval.reason === 'string' && approval.reason !== '' ? { reason: approval.reason } : {}),
    };
  }
  if (YES.test(text)) return { kind: 'answer', approved: true };
  if (NO.test(text)) return { kind: 'answer', approved: false };
  return { kind: 'none' };
}
