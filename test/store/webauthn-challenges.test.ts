/**
 * Passkey registration challenges on the real PostgreSQL, as the service role: a challenge is
 * taken once, only by the principal it was issued to and for its purpose, and not once expired;
 * the service role can mark one used but cannot delete one or revive it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { consumeChallenge, issueChallenge } from '../../store/webauthn-challenges';
import { newPool, ownerPool, uniqueId } from '../support/stack';

const pool = newPool();
const owner = ownerPool();
afterAll(async () => {
  await pool.end();
  await owner.end();
});

describe('webauthn challenges', () => {
  it('are taken once, by the principal they were issued to', async () => {
    const principalId = uniqueId('emp');
    const challenge = uniqueId('challenge');
    await issueChallenge(pool, { challenge, principalId, purpose: 'registration', ttlMs: 60_000 });
    expect(await consumeChallenge(pool, { challenge, principalId: uniqueId('other'), purpose: 'registration' })).toBe(false);
    expect(await consumeChallenge(pool, { challenge, principalId, purpose: 'registration' })).toBe(true);
    expect(await consumeChallenge(pool, { challenge, principalId, purpose: 'registration' })).toBe(false);
    expect(await consumeChallenge(pool, { challenge: uniqueId('never-issued'), principalId, purpose: 'registration' })).toBe(false);
  });

  it('are refused once expired', async () => {
    const principalId = uniqueId('emp');
    const challenge = uniqueId('challenge');
    await owner.query(
      `INSERT INTO webauthn_challenges (challenge, principal_id, purpose, created_at, expires_at)
       VALUES ($1, $2, 'registration', now() - interval '10 minutes', now() - interval '5 minutes')`,
      [challenge, principalId],
    );
    expect(await consumeChallenge(pool, { challenge, principalId, purpose: 'registration' })).toBe(false);
  });

  it('cannot be deleted, reissued or revived by the service role', async () => {
    const principalId = uniqueId('emp');
    const challenge = uniqueId('challenge');
    await issueChallenge(pool, { challenge, principalId, purpose: 'registration', ttlMs: 60_000 });
    await expect(issueChallenge(pool, { challenge, principalId, purpose: 'registration', ttlMs: 60_000 })).rejects.toThrow(/duplicate key/);
    await expect(pool.query('DELETE FROM webauthn_challenges WHERE challenge = $1', [challenge])).rejects.toThrow(/permission denied/);
    await expect(pool.query(`UPDATE webauthn_challenges SET expires_at = now() + interval '1 day'`)).rejects.toThrow(/permission denied/);
    await expect(pool.query('UPDATE webauthn_challenges SET principal_id = $1', [principalId])).rejects.toThrow(/permission denied/);
  });
});
