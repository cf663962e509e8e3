/**
 * The idempotency-key store on the real PostgreSQL, as the service role: a key is claimed once,
 * remembers its request and first answer, refuses another request, and is free again once expired.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { claimIdempotencyKey, IDEMPOTENCY_KEY_TTL_MS, recordIdempotentAnswer } from '../../store/idempotency-keys';
import { newPool, uniqueId } from '../support/stack';

const pool = newPool();
afterAll(() => pool.end());

describe('idempotency keys', () => {
  it('claims a key once, keeps the first answer, and refuses another request under it', async () => {
    const use = { principalId: uniqueId('emp'), key: uniqueId('k'), fingerprint: 'a'.repeat(64) };
    expect(await claimIdempotencyKey(pool, use)).toEqual({ outcome: 'claimed' });
    expect(await claimIdempotencyKey(pool, use)).toEqual({ outcome: 'unanswered' });
    await recordIdempotentAnswer(pool, use, 200, { state: 'paying' });
    await recordIdempotentAnswer(pool, use, 409, { state: 'refunded' });
    expect(await claimIdempotencyKey(pool, use)).toEqual({ outcome: 'answered', status: 200, answer: { state: 'paying' } });
    expect(await claimIdempotencyKey(pool, { ...use, fingerprint: 'b'.repeat(64) })).toEqual({ outcome: 'mismatch' });
    expect(await claimIdempotencyKey(pool, { ...use, principalId: uniqueId('other') })).toEqual({ outcome: 'claimed' });
  });

  it('frees a key once it has expired, for whatever request comes next', async () => {
    const use = { principalId: uniqueId('emp'), key: uniqueId('k'), fingerprint: 'a'.repeat(64) };
    const then = new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS - 60_000);
    expect(await claimIdempotencyKey(pool, use, then)).toEqual({ outcome: 'claimed' });
    await recordIdempotentAnswer(pool, use, 200, { ok: true });
    const next = { ...use, fingerprint: 'c'.repeat(64) };
    expect(await claimIdempotencyKey(pool, next)).toEqual({ outcome: 'claimed' });
    expect(await claimIdempotencyKey(pool, next)).toEqual({ outcome: 'unanswered' });
  });
});
