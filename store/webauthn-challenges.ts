/**
 * Passkey registration challenges (table webauthn_challenges): issued to one principal for one
 * purpose with a short life, and consumed at most once. A challenge that is unknown, another
 * principal's, expired or already used consumes nothing and answers false.
 */
import type { Db } from './pool';

export type ChallengePurpose = 'registration';

/** Stores `challenge` (base64url) as issued to `principalId`, valid for `ttlMs`. */
export async function issueChallenge(
  db: Db,
  input: { challenge: string; principalId: string; purpose: ChallengePurpose; ttlMs: number },
): Promise<void> {
  await db.query(
    `INSERT INTO webauthn_challenges (challenge, principal_id, purpose, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4::double precision / 1000))`,
    [input.challenge, input.principalId, input.purpose, input.ttlMs],
  );
}

/** Marks `challenge` used, if it was issued to `principalId` for `purpose`, has not expired and was not used; answers whether it did. */
export async function consumeChallenge(
  db: Db,
  input: { challenge: string; principalId: string; purpose: ChallengePurpose },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE webauthn_challenges SET consumed_at = now()
     WHERE challenge = $1 AND principal_id = $2 AND purpose = $3 AND consumed_at IS NULL AND expires_at > now()`,
    [input.challenge, input.principalId, input.purpose],
  );
  return result.rowCount === 1;
}
