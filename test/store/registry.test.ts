/**
 * The key registry's storage (store/registry.ts) against a real PostgreSQL: entries with
 * endorsements added one admin at a time, revocations, every record of a principal found whatever
 * the case of its id, and the tables append-only. What the rows say is verified where they are
 * used (the workflow), so here the rows are only stored and found, never believed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../client/errors';
import type { Pool } from '../../store/pool';
import { addEndorsement, addRegistryEntry, addRevocation, findEntry, RegistryError, registryRecords } from '../../store/registry';
import {
  endorseEntry,
  generateKeyPair,
  resolvePrincipal,
  signRevocation,
  TrustRoots,
  type RegistryEntry,
} from '../../workflows/statements';
import { newPool, ownerPool, uniqueId } from '../support/stack';

// The registry is written by the schema owner (refunds-admin); the service role only reads it.
let pool: Pool;
let service: Pool;
beforeAll(() => {
  pool = ownerPool();
  service = newPool(1);
});
afterAll(async () => {
  await pool?.end();
  await service?.end();
});

const admins = ['admin-x', 'admin-y'].map((adminId) => ({ adminId, keyId: `${adminId}.k1`, secretKey: generateKeyPair('k').secretKey }));
const roots = TrustRoots.parse({ admins: admins.map((a) => ({ adminId: a.adminId, ...generateKeyPair(a.keyId, a.secretKey).publicKey })) });

function entryFor(principalId: string, version = 1): RegistryEntry {
  return {
    kind: 'registry_entry',
    principalId,
    version,
    roles: ['approver'],
    approvalLimits: { USD: 100_000 },
    keys: [generateKeyPair(`${principalId}.k1`).publicKey],
    status: 'active',
    issuedAt: new Date(Date.now() - 1_000).toISOString(),
  };
}

describe('store/registry', () => {
  it('stores an entry, takes endorsements one admin at a time, and finds every record whatever the case of the id', async () => {
    const id = uniqueId('emp-reg');
    const entry = entryFor(id);
    const stored = await addRegistryEntry(pool, { entry });
    expect(stored.endorsements).toEqual([]);
    expect(resolvePrincipal(await registryRecords(pool, id), id, roots, new Date())).toMatchObject({
      ok: false,
      rule: 'entry_not_endorsed',
    });

    await addEndorsement(pool, { principalId: id.toUpperCase() }, endorseEntry(entry, admins[0]!));
    // The same endorsement twice is stored once.
    await addEndorsement(pool, { principalId: id }, endorseEntry(entry, admins[0]!));
    expect((await findEntry(pool, { principalId: id })).endorsements).toHaveLength(1);
    await addEndorsement(pool, { principalId: id, version: 1 }, endorseEntry(entry, admins[1]!));

    const records = await registryRecords(pool, id.toUpperCase());
    expect(records.entries).toHaveLength(1);
    expect(resolvePrincipal(records, id, roots, new Date())).toMatchObject({
      ok: true,
      principal: { id, approvalLimits: { USD: 100_000 } },
    });

    await addRevocation(
      pool,
      signRevocation(
        {
          kind: 'revocation',
          principalId: id,
          reason: 'left',
          revokedAt: new Date().toISOString(),
          adminId: 'admin-x',
          adminKeyId: 'admin-x.k1',
        },
        admins[0]!.secretKey,
      ),
    );
    expect(resolvePrincipal(await registryRecords(pool, id), id, roots, new Date())).toMatchObject({ ok: false, rule: 'principal_frozen' });
  });

  it('names the entry an endorsement needs: missing, or several at one version', async () => {
    const id = uniqueId('emp-reg');
    const endorsement = endorseEntry(entryFor(id), admins[0]!);
    await expect(addEndorsement(pool, { principalId: id }, endorsement)).rejects.toBeInstanceOf(RegistryError);
    await addRegistryEntry(pool, { entry: entryFor(id) });
    await addRegistryEntry(pool, { entry: entryFor(id) });
    await expect(addEndorsement(pool, { principalId: id }, endorsement)).rejects.toMatchObject({ code: 'entry_ambiguous' });
  });

  it('refuses malformed records before storing them', async () => {
    await expect(addRegistryEntry(pool, { entry: { ...entryFor(uniqueId('emp-reg')), version: 0 } })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(addRevocation(pool, { revocation: {}, signature: 'x' })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('keeps every record: no update, delete or truncate', async () => {
    const id = uniqueId('emp-reg');
    const entry = entryFor(id);
    await addRegistryEntry(pool, { entry, endorsements: [endorseEntry(entry, admins[0]!)] });
    const revocation = {
      kind: 'revocation',
      principalId: id,
      reason: 'lost',
      revokedAt: new Date().toISOString(),
      adminId: 'admin-x',
      adminKeyId: 'admin-x.k1',
    } as const;
    await addRevocation(pool, signRevocation(revocation, admins[0]!.secretKey));
    for (const table of ['registry_entries', 'registry_endorsements', 'registry_revocations']) {
      await expect(pool.query(`UPDATE ${table} SET added_at = now()`)).rejects.toThrow(/append-only/);
      await expect(pool.query(`DELETE FROM ${table}`)).rejects.toThrow(/append-only/);
      await expect(pool.query(`TRUNCATE ${table} CASCADE`)).rejects.toThrow(/append-only/);
    }
    expect((await registryRecords(pool, id)).entries).toHaveLength(1);
  });

  it('lets the service role read and append to the registry (as the API does), never change or remove a record', async () => {
    const id = uniqueId('emp-reg');
    await addRegistryEntry(pool, { entry: entryFor(id) });
    expect((await registryRecords(service, id)).entries).toHaveLength(1);
    const appended = uniqueId('emp-reg');
    await addRegistryEntry(service, { entry: entryFor(appended) }, 'employee:admin-x');
    expect((await registryRecords(service, appended)).entries).toHaveLength(1);
    for (const table of ['registry_entries', 'registry_endorsements', 'registry_revocations']) {
      await expect(service.query(`DELETE FROM ${table}`)).rejects.toThrow(/permission denied/);
      await expect(service.query(`UPDATE ${table} SET added_at = now()`)).rejects.toThrow(/permission denied/);
      await expect(service.query(`TRUNCATE ${table}`)).rejects.toThrow(/permission denied/);
    }
  });
});
