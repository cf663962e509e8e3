/**
 * Console sessions in PostgreSQL: a session counts until it is signed out, idle too long, past its
 * absolute expiry, or its principal or API key is revoked; the table holds only the hash of the
 * id the cookie carries, and a session never counts under another principal's key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConsoleSession, revokeConsoleSession, sessionIdHash, useConsoleSession } from '../../store/console-sessions';
import type { Pool } from '../../store/pool';
import { addPrincipal, apiKeyHash, revokePrincipal, rotateApiKey } from '../../store/principals';
import { newPool, ownerPool, uniqueId } from '../support/stack';

let service: Pool;
let owner: Pool;

beforeAll(() => {
  service = newPool(2);
  owner = ownerPool(2);
});
afterAll(async () => {
  await service?.end();
  await owner?.end();
});

async function signedIn(roles: Array<'ops' | 'admin'> = ['ops'], lifetimeMs = 3_600_000) {
  const id = uniqueId('emp-console');
  const { apiKey } = await addPrincipal(owner, { id, roles });
  const session = await openConsoleSession(service, { principalId: id, apiKeyHash: apiKeyHash(apiKey), lifetimeMs });
  return { id, apiKey, session };
}

describe('console sessions', () => {
  it('finds a live session with its principal as it is now, and keeps only the hash of its id', async () => {
    const { id, session } = await signedIn(['ops', 'admin']);
    const found = await useConsoleSession(service, session.id, 60_000);
    expect(found).toMatchObject({ session: { principal: { id, roles: ['ops', 'admin'] }, csrfToken: session.csrfToken } });
    const { rows } = await owner.query('SELECT * FROM console_sessions WHERE principal_id = $1', [id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].id_hash).toBe(sessionIdHash(session.id));
    expect(JSON.stringify(rows[0])).not.toContain(session.id);
  });

  it('refuses an unknown or malformed id', async () => {
    expect(await useConsoleSession(service, 'A'.repeat(43), 60_000)).toEqual({ refused: 'unknown' });
    expect(await useConsoleSession(service, "'; DROP TABLE console_sessions; --", 60_000)).toEqual({ refused: 'unknown' });
  });

  it('ends a session when it is signed out, idle, or past its lifetime', async () => {
    const out = await signedIn();
    await revokeConsoleSession(service, sessionIdHash(out.session.id));
    expect(await useConsoleSession(service, out.session.id, 60_000)).toEqual({ refused: 'signed_out' });

    const idle = await signedIn();
    expect(await useConsoleSession(service, idle.session.id, 0)).toEqual({ refused: 'idle' });

    const short = await signedIn(['ops'], 50);
    await expect.poll(async () => useConsoleSession(service, short.session.id, 60_000), { timeout: 5_000 }).toEqual({ refused: 'expired' });
  });

  it('ends a session once its principal is revoked or the key it was opened with is rotated', async () => {
    const revoked = await signedIn();
    await revokePrincipal(owner, revoked.id);
    expect(await useConsoleSession(service, revoked.session.id, 60_000)).toEqual({ refused: 'principal_revoked' });

    const rotated = await signedIn();
    await rotateApiKey(owner, rotated.id);
    expect(await useConsoleSession(service, rotated.session.id, 60_000)).toEqual({ refused: 'principal_revoked' });
  });

  it("never counts a session opened under another principal's key", async () => {
    const mallory = await signedIn();
    const victim = uniqueId('emp-console');
    await addPrincipal(owner, { id: victim, roles: ['admin'] });
    const forged = await openConsoleSession(service, { principalId: victim, apiKeyHash: apiKeyHash(mallory.apiKey), lifetimeMs: 60_000 });
    expect(await useConsoleSession(service, forged.id, 60_000)).toEqual({ refused: 'principal_revoked' });
  });
});
