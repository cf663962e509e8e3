/**
 * Idempotency keys for the API's mutations: the first use of a key by a principal claims it for
 * one request (its fingerprint); the answer is kept with it, so a retry gets that answer again.
 */
import type { Db } from './pool';

/** How long a key is remembered: a retry after that is a new request. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;

export interface KeyUse {
  principalId: string;
  key: string;
  fingerprint: string;
}

export type Claim =
  /** First use (or an earlier use expired): carry on, then record the answer. */
  | { outcome: 'claimed' }
  /** Used before for this very request, and answered: answer the same. */
  | { outcome: 'answered'; status: number; answer: unknown }
  /** Used before for this request, not answered yet (in flight, or its process died): carry on. */
  | { outcome: 'unanswered' }
  /** Used before for another request. */
  | { outcome: 'mismatch' };

/** Claims `use.key` for `use.fingerprint`, or says how it was used before. */
export async function claimIdempotencyKey(db: Db, use: KeyUse, now = new Date()): Promise<Claim> {
  const expiredBefore = new Date(now.getTime() - IDEMPOTENCY_KEY_TTL_MS);
  // A new key, or one whose last use has expired: either way the key is now this request's.
  const claimed = await db.query(
    `INSERT INTO idempotency_keys AS k (principal_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (principal_id, key) DO UPDATE
       SET fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at, status = NULL, answer = NULL, answered_at = NULL
       WHERE k.created_at < $5
     RETURNING 1`,
    [use.principalId, use.key, use.fingerprint, now, expiredBefore],
  );
  if (claimed.rowCount === 1) return { outcome: 'claimed' };
  const { rows } = await db.query('SELECT fingerprint, status, answer FROM idempotency_keys WHERE principal_id = $1 AND key = $2', [
    use.principalId,
    use.key,
  ]);
  const row = rows[0] as { fingerprint: string; status: number | null; answer: unknown };
  if (row.fingerprint !== use.fingerprint) return { outcome: 'mismatch' };
  return row.status === null ? { outcome: 'unanswered' } : { outcome: 'answered', status: row.status, answer: row.answer };
}

/** Keeps the answer given to the request that claimed the key; the first answer recorded stays. */
export async function recordIdempotentAnswer(db: Db, use: KeyUse, status: number, answer: unknown): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET status = $4, answer = $5, answered_at = now()
      WHERE principal_id = $1 AND key = $2 AND fingerprint = $3 AND status IS NULL`,
    [use.principalId, use.key, use.fingerprint, status, JSON.stringify(answer)],
  );
}
