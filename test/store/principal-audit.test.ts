/**
 * Principal and key administration on the audit trail, in a database of its own: refunds-admin's
 * changes (as the owner) and the API's registry changes (as the service role) land on the
 * principal's own chain, in the transaction of the change, without secrets; the chain is covered
 * by the worker's signed checkpoints and verified like a refund's, so an edit shows up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpointExport } from '../../store/audit-checkpoint-export';
import { auditTrailOf, verifyAuditChain } from '../../store/audit-trail';
import { principalAuditSubject } from '../../store/principal-audit';
import { addPrincipal, revokePrincipal, rotateApiKey } from '../../store/principals';
import { createPool, withTransaction, type Pool } from '../../store/pool';
import { addRegistryEntry, proposeRegistryEntry, RegistryError } from '../../store/registry';
import { startAuditCheckpointer, type AuditCheckpointer } from '../../worker/audit-checkpointer';
import { generateKeyPair, type RegistryEntry } from '../../workflows/statements';
import { scratchDatabase, uniqueId, type ScratchDatabase } from '../support/stack';

let db: ScratchDatabase;
let owner: Pool;
let service: Pool;
let admin: Pool;
let dir: string;
let checkpointer: AuditCheckpointer;
const key = { keyId: 'audit-principals', ...generateKeyPair('audit-principals') };

beforeAll(async () => {
  db = await scratchDatabase('principal_audit');
  owner = createPool(db.ownerUrl, 2);
  service = createPool(db.serviceUrl, 2);
  admin = createPool(db.adminUrl, 1);
  dir = await mkdtemp(path.join(os.tmpdir(), 'principal-audit-'));
  checkpointer = startAuditCheckpointer({
    pool: service,
    key,
    intervalMs: 3_600_000,
    exportFile: path.join(dir, 'checkpoints.jsonl'),
  });
});
afterAll(async () => {
  await checkpointer?.stop().catch(() => undefined);
  await Promise.all([owner?.end(), service?.end(), admin?.end()]);
  await db?.drop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const verify = async () =>
  verifyAuditChain(service, { publicKeys: [key.publicKey], exported: await readCheckpointExport(path.join(dir, 'checkpoints.jsonl')) });

function entryFor(id: string, version: number): RegistryEntry {
  return {
    kind: 'registry_entry',
    principalId: id,
    version,
    roles: ['approver'],
    approvalLimits: { USD: 100_000 },
    keys: [generateKeyPair(`${id}.k${version}`).publicKey],
    status: 'active',
    issuedAt: new Date().toISOString(),
  };
}

describe('principal administration on the audit trail', () => {
  it('writes each change once, with who did it and never a key, on the principal’s own chain', async () => {
    const id = uniqueId('emp-audited');
    const { apiKey } = await addPrincipal(owner, { id, roles: ['approver'], approvalLimit: '1000.00' }, 'refunds-admin:alice');
    const rotated = await rotateApiKey(owner, id, 'refunds-admin:alice');
    await proposeRegistryEntry(service, entryFor(id, 1), `employee:${id}`);
    await revokePrincipal(owner, id, 'refunds-admin:bob');
    await revokePrincipal(owner, id, 'refunds-admin:bob'); // twice changes nothing

    const trail = await auditTrailOf(service, principalAuditSubject(id));
    expect(trail.map((r) => [r.refundSeq, r.kind, r.actor])).toEqual([
      [1, 'principal_added', 'refunds-admin:alice'],
      [2, 'api_key_rotated', 'refunds-admin:alice'],
      [3, 'registry_entry_proposed', `employee:${id}`],
      [4, 'principal_revoked', 'refunds-admin:bob'],
    ]);
    expect(trail[0]!.data).toEqual({ principalId: id, roles: ['approver'], approvalLimit: '1000.00', apiKeys: 1 });
    expect(trail[1]!.data).toEqual({ principalId: id, apiKeysRevoked: 1 });
    expect(trail[3]!.data).toMatchObject({ principalId: id, apiKeysRevoked: 1 });
    const text = JSON.stringify(trail);
    for (const secret of [apiKey, rotated]) expect(text).not.toContain(secret);
  });

  it('writes nothing when the change is refused, and nothing twice for a repeated entry', async () => {
    const id = uniqueId('emp-refused');
    await addRegistryEntry(service, { entry: entryFor(id, 2) }, 'employee:admin-a');
    await addRegistryEntry(service, { entry: entryFor(id, 2) }, 'employee:admin-a');
    await expect(proposeRegistryEntry(service, entryFor(id, 1), `employee:${id}`)).rejects.toBeInstanceOf(RegistryError);
    const trail = await auditTrailOf(service, principalAuditSubject(id));
    expect(trail.map((r) => r.kind)).toEqual(['registry_entry_proposed', 'registry_entry_proposed']);
  });

  it('is anchored by the signed checkpoints, and an edit of a principal’s step is found', async () => {
    const id = uniqueId('emp-anchored');
    await addPrincipal(owner, { id, roles: ['ops'] }, 'refunds-admin:alice');
    const subject = principalAuditSubject(id);
    const checkpoint = (await checkpointer.runOnce())!;
    const [head] = await auditTrailOf(service, subject);
    expect(checkpoint.heads).toContainEqual({ subject, refundSeq: 1, hash: head!.hash });
    expect(await verify()).toMatchObject({ ok: true, findings: [] });

    await withTransaction(admin, async (c) => {
      await c.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
      await c.query(`UPDATE audit_log SET data = jsonb_set(data, '{roles}', '["admin"]') WHERE refund_id = $1`, [subject]);
      await c.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    });
    const found = (await verify()).findings.filter((f) => f.subject === subject);
    expect(found).toEqual([expect.objectContaining({ check: 'row_hash', problem: 'edited', subject, refundSeq: 1 })]);
  });
});
