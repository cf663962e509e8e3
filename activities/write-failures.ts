/**
 * Which database errors a retry can cure. A data exception (SQLSTATE class 22: invalid byte
 * sequence, NUL in text, value out of range) or an integrity violation (class 23) is a property of
 * the data written, so writing the same data again fails the same way forever. Connection losses,
 * timeouts, serialization failures and deadlocks pass.
 */
import { ApplicationFailure } from '@temporalio/common';

export const PERMANENT_WRITE_FAILURE = 'PermanentWriteFailure';

/**
 * A unique violation (23505) is left retryable: two attempts of the same idempotent write racing
 * each other end in one, and the retry finds the rows written and skips them.
 */
const RETRYABLE_INTEGRITY = new Set(['23505']);

export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isPermanentWriteError(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (!state) return false;
  if (state.startsWith('22')) return true;
  return state.startsWith('23') && !RETRYABLE_INTEGRITY.has(state);
}

/**
 * Turns a write error that can never succeed into a non-retryable failure naming the refund and
 * the SQLSTATE; anything else is returned unchanged, to be retried.
 */
export function classifyWriteError(error: unknown, refundId: string): unknown {
  if (!isPermanentWriteError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return ApplicationFailure.create({
    message: `writing refund ${refundId} can never succeed: SQLSTATE ${sqlStateOf(error)}: ${message}`,
    type: PERMANENT_WRITE_FAILURE,
    nonRetryable: true,
    details: [{ refundId, sqlState: sqlStateOf(error) }],
    cause: error instanceof Error ? error : undefined,
  });
}
