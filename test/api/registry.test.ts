/**
 * The key registry over HTTP, against the real app, PostgreSQL and workflow: a principal proposes
 * its own entry, which counts for nothing after one admin's endorsement (its signed decisions are
 * refused) and counts after a second's (they are accepted); every early refusal names its rule and
 * stores nothing; one admin's revocation freezes a principal; every change is on the principal's
 * own audit chain, and audit verification still finds nothing wrong.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryView } from '../../client/registry-views';
import { auditTrailOf, verifyAuditChain } from '../../store/audit-trail';
import { principalAuditSubject } from '../../store/principal-audit';
import { addPrincipal } from '../../store/principals';
import { registryRecords, storedRegistryOf } from '../../store/registry';
import type { RefundRequest, Role } from '../../workflows/schemas';
import {
  endorseEntry,
  generateKeyPair,
  resolvePrincipal,
  signRevocation,
  type Endorsement,
  type RegistryEntry,
} from '../../workflows/statements';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import type { Admin, SigningKey } from '../support/registry-world';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
/** The world's three trust-root admins, each with an API key with the admin role. */
let admins: Array<Admin & TestPrincipal>;
let ops: TestPrincipal;
let service: TestPrincipal;
let scanner: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  admins = await Promise.all(
    api.h.registry.admins.map(async (admin) => {
      const { apiKey } = await addPrincipal(api.owner, { id: admin.adminId, roles: ['admin'] });
      return { ...admin, id: admin.adminId, apiKey };
    }),
  );
  [ops, service, scanner] = await Promise.all([
    api.principal('emp-ops', ['ops']),
    api.principal('svc-returns', ['refund_service']),
    api.principal('wh-scanner', ['warehouse']),
  ]);
});
afterAll(async () => api?.close());

const json = <T = Record<string, unknown>>(response: LightMyRequestResponse) => JSON.parse(response.body) as T;

/** A principal with an API key and no registry entry yet, and a key pair it made itself. */
async function newcomer(name: string, roles: Role[] = ['approver']): Promise<TestPrincipal & { signingKey: SigningKey }> {
  const id = uniqueId(name);
  const input = { id, roles, ...(roles.includes('approver') ? { approvalLimit: '5000.00' } : {}) };
  const { apiKey } = await addPrincipal(api.owner, input);
  const { secretKey } = generateKeyPair(`${id}.k1`);
  return { id, apiKey, signingKey: { principalId: id, keyId: `${id}.k1`, secretKey } };
}

function entryFor(who: { id: string; signingKey: SigningKey }, version = 1, roles: Role[] = ['approver']): RegistryEntry {
  const { publicKey } = generateKeyPair(who.signingKey.keyId, who.signingKey.secretKey);
  return {
    kind: 'registry_entry',
    principalId: who.id,
    version,
    roles,
    approvalLimits: roles.includes('approver') ? { USD: 500_000 } : {},
    keys: [publicKey],
    status: 'active',
    issuedAt: new Date(Date.now() - 1_000).toISOString(),
  };
}

const propose = (by: TestPrincipal, entry: RegistryEntry) =>
  api.call('POST', `/v1/principals/${entry.principalId}/registry-entries`, by, entry);
const endorse = (by: TestPrincipal, entry: RegistryEntry, endorsement: Endorsement) =>
  api.call('POST', `/v1/principals/${entry.principalId}/registry-entries/${entry.version}/endorsements`, by, endorsement);
const registryOf = async (id: string, by: TestPrincipal = admins[0]!) => {
  const response = await api.call('GET', `/v1/principals/${id}/registry`, by);
  expect(response.statusCode, response.body).toBe(200);
  return json<RegistryView>(response);
};

function expectRefused(response: LightMyRequestResponse, status: number, type: string, rule?: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(json(response)).toMatchObject({ type: `/problems/${type}`, ...(rule ? { rule } : {}) });
}

/** A 200.00 USD refund with clean evidence, awaiting its one approval. */
async function awaitingApproval(): Promise<RefundRequest> {
  const request = refundOf(20_000);
  const requested = await api.call('POST', '/v1/refunds', service, request);
  expect(requested.statusCode, requested.body).toBe(201);
  expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const receipt = api.scanBody(scanner, request.refundId, matchingReceipt(request));
  const scan = await api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, receipt);
  expect(scan.statusCode, scan.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  return request;
}

describe('a principal’s own entry through the API, end to end', () => {
  it('counts for nothing after one admin’s endorsement and pays after a second’s', async () => {
    const newbie = await newcomer('emp-newbie');
    const entry = entryFor(newbie);
    const proposed = await propose(newbie, entry);
    expect(proposed.statusCode, proposed.body).toBe(201);
    expect(json(proposed)).toMatchObject({ created: true, version: 1, entryHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await propose(newbie, entry)).statusCode).toBe(200);

    const [a, b] = admins;
    const first = await endorse(a!, entry, endorseEntry(entry, a!));
    expect(first.statusCode, first.body).toBe(201);
    expect(json<RegistryView>(first)).toMatchObject({
      resolution: { ok: false, rule: 'entry_not_endorsed' },
      entries: [
        { version: 1, counts: false, reason: 'too_few_endorsements', current: false, endorsements: [{ adminId: a!.id, counts: true }] },
      ],
    });
    const records = await registryRecords(api.h.pool, newbie.id);
    expect(resolvePrincipal(records, newbie.id, api.h.registry.trustRoots, new Date())).toMatchObject({
      ok: false,
      rule: 'entry_not_endorsed',
    });

    const request = await awaitingApproval();
    const early = await api.call('POST', `/v1/refunds/${request.refundId}/approvals`, newbie, api.decisionBody(newbie, request));
    expectRefused(early, 403, 'approval-refused', 'entry_not_endorsed');

    const second = await endorse(b!, entry, endorseEntry(entry, b!));
    expect(second.statusCode, second.body).toBe(201);
    expect(json<RegistryView>(second)).toMatchObject({
      resolution: { ok: true, version: 1, roles: ['approver'], approvalLimits: { USD: 500_000 }, keyIds: [newbie.signingKey.keyId] },
      entries: [{ version: 1, counts: true, current: true }],
    });
    const approved = await api.call('POST', `/v1/refunds/${request.refundId}/approvals`, newbie, api.decisionBody(newbie, request));
    expect(approved.statusCode, approved.body).toBe(200);
    expect(['paying', 'refunded']).toContain(json(approved).state);

    const trail = await auditTrailOf(api.h.pool, principalAuditSubject(newbie.id));
    expect(trail.map((row) => [row.kind, row.actor])).toEqual([
      ['principal_added', 'refunds-admin'],
      ['registry_entry_proposed', `employee:${newbie.id}`],
      ['registry_entry_endorsed', `employee:${a!.id}`],
      ['registry_entry_endorsed', `employee:${b!.id}`],
    ]);
    expect(trail[1]!.data).toMatchObject({ version: 1, entryHash: json(proposed).entryHash, keyIds: [newbie.signingKey.keyId] });
    expect(JSON.stringify(trail)).not.toContain(newbie.apiKey);
  });
});

describe('refusals, each naming its rule and storing nothing', () => {
  let target: TestPrincipal & { signingKey: SigningKey };
  let entry: RegistryEntry;
  beforeAll(async () => {
    target = await newcomer('emp-target');
    entry = entryFor(target);
    expect((await propose(admins[2]!, entry)).statusCode).toBe(201);
  });

  const endorsementsStored = async () => (await storedRegistryOf(api.h.pool, target.id)).entries[0]!.endorsements.length;

  it('an admin endorsing their own entry', async () => {
    const admin = admins[1]!;
    const own = entryFor({
      id: admin.id,
      signingKey: { principalId: admin.id, keyId: `${admin.id}.approver`, secretKey: admin.secretKey },
    });
    expect((await propose(admin, own)).statusCode).toBe(201);
    expectRefused(await endorse(admin, own, endorseEntry(own, admin)), 403, 'registry-refused', 'own_entry');
    expect((await storedRegistryOf(api.h.pool, admin.id)).entries[0]!.endorsements).toEqual([]);
  });

  it('the same admin twice', async () => {
    const admin = admins[0]!;
    expect((await endorse(admin, entry, endorseEntry(entry, admin))).statusCode).toBe(201);
    expectRefused(await endorse(admin, entry, endorseEntry(entry, admin)), 409, 'registry-conflict', 'duplicate_admin');
    expect(await endorsementsStored()).toBe(1);
  });

  it('a key that is not a trust root, a bad signature, someone else’s endorsement', async () => {
    const admin = admins[1]!;
    const rogue = { ...admin, keyId: `${admin.id}.rogue`, secretKey: generateKeyPair('x').secretKey };
    expectRefused(await endorse(admin, entry, endorseEntry(entry, rogue)), 403, 'registry-refused', 'not_a_trust_root');
    const otherEntry = { ...entry, approvalLimits: { USD: 99_999_999 } };
    expectRefused(await endorse(admin, entry, endorseEntry(otherEntry, admin)), 403, 'registry-refused', 'bad_signature');
    expectRefused(await endorse(admins[2]!, entry, endorseEntry(entry, admin)), 403, 'registry-refused', 'not_the_caller');
    expect(await endorsementsStored()).toBe(1);
  });

  it('callers without the admin role', async () => {
    expectRefused(await endorse(ops, entry, endorseEntry(entry, admins[1]!)), 403, 'role-required');
    expectRefused(await endorse(target, entry, endorseEntry(entry, admins[1]!)), 403, 'role-required');
    expectRefused(await propose(ops, entryFor(target, 2)), 403, 'registry-refused', 'not_admin_or_self');
    expectRefused(await api.call('GET', `/v1/principals/${target.id}/registry`, ops), 403, 'registry-refused', 'not_admin_or_self');
    expectRefused(await api.call('GET', `/v1/principals/${target.id}/registry`), 401, 'unauthenticated');
    expect(await endorsementsStored()).toBe(1);
  });

  it('leaves on the audit trail only what was stored', async () => {
    const trail = await auditTrailOf(api.h.pool, principalAuditSubject(target.id));
    expect(trail.map((row) => [row.kind, row.actor])).toEqual([
      ['principal_added', 'refunds-admin'],
      ['registry_entry_proposed', `employee:${admins[2]!.id}`],
      ['registry_entry_endorsed', `employee:${admins[0]!.id}`],
    ]);
  });

  it('an entry with a secret key, another principal, or a version already taken', async () => {
    const withSecret = { ...entry, version: 2, keys: [{ ...entry.keys[0]!, secretKey: 'AAAA' }] };
    expectRefused(await propose(target, withSecret as unknown as RegistryEntry), 422, 'invalid-input');
    const response = await api.call('POST', `/v1/principals/${target.id}/registry-entries`, target, entryFor({ ...target, id: ops.id }));
    expectRefused(response, 422, 'invalid-input');
    expectRefused(await propose(target, { ...entry, roles: ['approver', 'admin'] }), 409, 'registry-conflict', 'version_taken');
    expect((await storedRegistryOf(api.h.pool, target.id)).entries).toHaveLength(1);
  });
});

describe('revocation', () => {
  it('by one admin freezes the principal; a revocation by a non-trust-root key is refused', async () => {
    const approver = await api.principal('emp-frozen', ['approver'], '5000.00');
    const admin = admins[2]!;
    const revocation = {
      kind: 'revocation' as const,
      principalId: approver.id,
      reason: 'phished',
      revokedAt: new Date().toISOString(),
      adminId: admin.id,
      adminKeyId: admin.keyId,
    };
    const url = `/v1/principals/${approver.id}/revocations`;
    const forged = signRevocation({ ...revocation, adminKeyId: `${admin.id}.other` }, generateKeyPair('x').secretKey);
    expectRefused(await api.call('POST', url, admin, forged), 403, 'registry-refused', 'not_a_trust_root');
    expectRefused(await api.call('POST', url, ops, signRevocation(revocation, admin.secretKey)), 403, 'role-required');
    expect((await registryOf(approver.id)).resolution).toMatchObject({ ok: true });

    const revoked = await api.call('POST', url, admin, signRevocation(revocation, admin.secretKey));
    expect(revoked.statusCode, revoked.body).toBe(201);
    const records = await registryRecords(api.h.pool, approver.id);
    expect(resolvePrincipal(records, approver.id, api.h.registry.trustRoots, new Date())).toMatchObject({
      ok: false,
      rule: 'principal_frozen',
    });
    expect(await registryOf(approver.id)).toMatchObject({
      resolution: { ok: false, rule: 'principal_frozen' },
      revocations: [{ counts: true }],
    });
    const trail = await auditTrailOf(api.h.pool, principalAuditSubject(approver.id));
    expect(trail.at(-1)).toMatchObject({
      kind: 'registry_revocation',
      actor: `employee:${admin.id}`,
      data: { principalId: approver.id, scope: 'principal', reason: 'phished', adminId: admin.id, adminKeyId: admin.keyId },
    });
  });
});

describe('reviewing a registry with rows written straight into the tables', () => {
  it('shows a malformed entry and endorsement as stored, counting for nothing, beside the real ones', async () => {
    const approver = await api.principal('emp-sql-rows', ['approver'], '5000.00');
    const inserted = await api.owner.query(
      `INSERT INTO registry_entries (principal_id, version, entry, entry_hash) VALUES ($1, 7, '{"kind":"registry_entry","version":7}', 'x') RETURNING id`,
      [approver.id],
    );
    await api.owner.query(
      `INSERT INTO registry_endorsements (entry_id, endorsement)
       SELECT id, '"garbage"' FROM registry_entries WHERE principal_id = $1`,
      [approver.id],
    );
    expect(inserted.rowCount).toBe(1);
    const view = await registryOf(approver.id);
    expect(view.resolution).toMatchObject({ ok: true, version: 1 });
    expect(view.entries).toEqual([
      expect.objectContaining({
        version: 1,
        counts: true,
        current: true,
        endorsements: [
          expect.objectContaining({ counts: true }),
          expect.objectContaining({ counts: true }),
          { adminId: null, keyId: null, counts: false, reason: 'malformed' },
        ],
      }),
      expect.objectContaining({
        version: 7,
        entry: null,
        stored: { kind: 'registry_entry', version: 7 },
        counts: false,
        reason: 'malformed',
        endorsements: [{ adminId: null, keyId: null, counts: false, reason: 'malformed' }],
      }),
    ]);
  });
});

describe('the audit trail', () => {
  it('still verifies with the principals’ chains on it', async () => {
    const verification = await verifyAuditChain(api.h.pool);
    expect(verification.findings).toEqual([]);
    expect(verification.ok).toBe(true);
  });
});
