/** What a failed action means to the person who tried it: the API's own problem for the error, as a status and a sentence. */
import { problemFor } from '../../plugins/problems';

export interface Failure {
  status: number;
  message: string;
  rule?: string;
}

export function failureOf(error: unknown): { failure: Failure; internal: boolean } {
  const { problem, internal } = problemFor(error);
  const { status, title, detail, rule } = problem.problem;
  return {
    failure: {
      status,
      message: internal ? `${title}: the action failed unexpectedly; try again.` : `${title}: ${detail}${rule ? ` (rule ${rule})` : ''}`,
      ...(rule ? { rule } : {}),
    },
    internal,
  };
}

/** Notices shown after an action succeeded (only these fixed texts, never text from the request). */
export const notices = {
  cancelled: 'The refund was cancelled; the cancellation is on its audit trail.',
  verified: 'Audit verification finished; its result is below.',
  lifted: 'The breaker was lifted; the lift is on the employee’s audit trail.',
  escalated: 'The refund was handed to the approver group; the escalation is on its audit trail.',
  extended: 'The deadline was extended; the extension is on the refund’s audit trail.',
  nudged: 'The request for evidence was recorded on the refund’s audit trail.',
  approved: 'Your approval, signed with your passkey, was counted.',
  rejected: 'Your rejection, signed with your passkey, was counted.',
} as const;
export type NoticeName = keyof typeof notices;

export function noticeOf(query: unknown): string | undefined {
  const done = (query as { done?: unknown } | undefined)?.done;
  return typeof done === 'string' && Object.hasOwn(notices, done) ? notices[done as NoticeName] : undefined;
}

/** A reason from a form: trimmed, required. */
export function reasonOf(body: unknown): string | undefined {
  const reason = (body as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' && reason.trim() ? reason.trim() : undefined;
}

/** The string fields of a form. */
export function formOf(body: unknown): Record<string, string> {
  const form: Record<string, string> = {};
  if (typeof body !== 'object' || body === null) return form;
  for (const [key, value] of Object.entries(body)) if (typeof value === 'string') form[key] = value.trim();
  return form;
}
