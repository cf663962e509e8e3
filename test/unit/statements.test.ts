/**
 * Signed statements and the key registry (workflows/statements): canonical bytes, keys, which
 * registry records count, and every rule verifyStatement applies. Keys come from fixed seeds so
 * every run signs the same bytes. The last tests bundle the module into a workflow and run it in
 * Temporal's sandbox, so a Node built-in or a missing global fails here rather than in a worker.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  CLOCK_SKEW_MS,
  canonicalBytes,
  claimedSigner,
  endorseEntry,
  generateKeyPair,
  newNonce,
  PublicKey,
  type Expectation,
  type PrincipalResolution,
  type RegistryEntry,
  type RegistryRecords,
  resolvePrincipal,
  type Signed,
  SigningInputError,
  sha256Hex,
  signBytes,
  signRevocation,
  signStatement,
  type Statement,
  statementId,
  TrustRoots,
  verifyBytes,
  verifyStatement,
} from '../../workflows/statements';
import { connectClient, connectNative, uniqueId } from '../support/stack';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const seed = (n: number) => new Uint8Array(32).fill(n);

// Admins (trust roots): ada holds two keys; eve is an admin nobody pinned.
const ada1 = generateKeyPair('ada.k1', seed(1));
const ada2 = generateKeyPair('ada.k2', seed(2));
const bob = generateKeyPair('bob.k1', seed(3));
const cy = generateKeyPair('cy.k1', seed(4));
const eve = generateKeyPair('eve.k1', seed(5));
const roots = TrustRoots.parse({
  admins: [
    { adminId: 'ada', ...ada1.publicKey },
    { adminId: 'ada', ...ada2.publicKey },
    { adminId: 'bob', ...bob.publicKey },
    { adminId: 'cy', ...cy.publicKey },
  ],
});
type Admin = { adminId: string; keyId: string; secretKey: Uint8Array };
const ADA: Admin = { adminId: 'ada', keyId: 'ada.k1', secretKey: ada1.secretKey };
const ADA2: Admin = { adminId: 'ada', keyId: 'ada.k2', secretKey: ada2.secretKey };
const BOB: Admin = { adminId: 'bob', keyId: 'bob.k1', secretKey: bob.secretKey };
const CY: Admin = { adminId: 'cy', keyId: 'cy.k1', secretKey: cy.secretKey };
const EVE: Admin = { adminId: 'eve', keyId: 'eve.k1', secretKey: eve.secretKey };

// Principals.
const alice1 = generateKeyPair('alice.k1', seed(10));
const alice2 = generateKeyPair('alice.k2', seed(11));
const wally = generateKeyPair('wally.k1', seed(12));
const service = generateKeyPair('svc.k1', seed(13));

const NOW = new Date('2026-06-01T12:00:00Z');
const DAY = '2026-05-01';

/** Alice, an approver who may approve up to 50.00 USD and 100,000 JPY. */
function aliceEntry(overrides: Partial<RegistryEntry> = {}): RegistryEntry {
  return {
    kind: 'registry_entry',
    principalId: 'alice',
    version: 1,
    roles: ['approver'],
    approvalLimits: { USD: 5_000, JPY: 100_000 },
    keys: [alice1.publicKey, alice2.publicKey],
    status: 'active',
    issuedAt: `${DAY}T00:00:00Z`,
    ...overrides,
  };
}

function endorsed(entry: RegistryEntry, ...admins: Admin[]) {
  return { entry, endorsements: admins.map((admin) => endorseEntry(entry, admin)) };
}

function revoke(admin: Admin, fields: { principalId: string; keyId?: string; revokedAt: string }) {
  return signRevocation(
    { kind: 'revocation', reason: 'laptop stolen', adminId: admin.adminId, adminKeyId: admin.keyId, ...fields },
    admin.secretKey,
  );
}

const wallyEntry = (): RegistryEntry => ({
  kind: 'registry_entry',
  principalId: 'wally',
  version: 1,
  roles: ['warehouse'],
  approvalLimits: {},
  keys: [wally.publicKey],
  status: 'active',
  issuedAt: `${DAY}T00:00:00Z`,
});
const serviceEntry = (): RegistryEntry => ({
  ...wallyEntry(),
  principalId: 'refund-svc',
  roles: ['refund_service'],
  keys: [service.publicKey],
});

const registry: RegistryRecords = {
  entries: [endorsed(aliceEntry(), ADA, BOB), endorsed(wallyEntry(), BOB, CY), endorsed(serviceEntry(), ADA, CY)],
  revocations: [],
};

const resolve = (records: RegistryRecords, id: string, now = NOW) => resolvePrincipal(records, id, roots, now);

function expectResolved(resolution: PrincipalResolution) {
  if (!resolution.ok) throw new Error(`expected a principal, got ${resolution.rule}: ${resolution.message}`);
  return resolution.principal;
}

function decision(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'decision' as const,
    refundId: 'r-100',
    amount: 4_500,
    currency: 'USD',
    decision: 'approve' as const,
    reason: 'parcel checked',
    approverId: 'alice',
    keyId: 'alice.k1',
    alg: 'ed25519' as const,
    signedAt: `${DAY}T10:00:00Z`,
    nonce: 'n0nce-0000000000001',
    ...overrides,
  };
}
const decisionExpect: Expectation & { kind: 'decision' } = {
  kind: 'decision',
  role: 'approver',
  refundId: 'r-100',
  amount: 4_500,
  currency: 'USD',
};

const receipt = {
  eventId: 'scan-1',
  warehouseId: 'wh-1',
  items: [{ sku: 'sku-1', condition: 'new' as const }],
  weightGrams: 1200,
  scannedAt: `${DAY}T09:00:00Z`,
};
function receiptStatement(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'warehouse_receipt' as const,
    refundId: 'r-100',
    receipt,
    scannedBy: 'wally',
    keyId: 'wally.k1',
    alg: 'ed25519' as const,
    signedAt: `${DAY}T09:01:00Z`,
    nonce: 'n0nce-0000000000002',
    ...overrides,
  };
}

const request = {
  refundId: 'r-100',
  orderId: 'o-1',
  customerId: 'c-1',
  currency: 'USD',
  items: [{ sku: 'sku-1', quantity: 1, unitAmount: 4_500, category: 'toys' }],
  initiatedBy: 'emp-requester',
  reason: 'damaged in transit',
  return: { method: 'none' as const },
};
function requestStatement(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'refund_request' as const,
    request,
    requestedBy: 'refund-svc',
    keyId: 'svc.k1',
    alg: 'ed25519' as const,
    signedAt: `${DAY}T08:00:00Z`,
    nonce: 'n0nce-0000000000003',
    ...overrides,
  };
}

/** Verifies `signed` as a statement by whoever it claims, against `records`. */
function check(signed: unknown, expectation: Parameters<typeof verifyStatement>[2], records = registry) {
  return verifyStatement(signed, resolve(records, claimedSigner(signed) ?? 'nobody'), expectation);
}
const ruleOf = (verdict: { ok: boolean; rule?: string }) => (verdict.ok ? 'ok' : verdict.rule);

describe('encoding', () => {
  it('gives the same canonical bytes whatever the key order, and RFC 8785 text', () => {
    const a = canonicalBytes({ b: 2, a: { y: [1, 'x'], x: null }, c: 'é' });
    const b = canonicalBytes({ c: 'é', a: { x: null, y: [1, 'x'] }, b: 2 });
    expect(b).toEqual(a);
    expect(text(a)).toBe('{"a":{"x":null,"y":[1,"x"]},"b":2,"c":"é"}');
    expect(text(canonicalBytes({ n: 1e21, f: 0.1, skip: undefined }))).toBe('{"f":0.1,"n":1e+21}');
    expect(() => canonicalBytes(undefined)).toThrow(TypeError);
    expect(() => canonicalBytes({ n: Number.NaN })).toThrow(/NaN/);
  });

  it('keeps canonical bytes under any reordering of keys (property)', () => {
    const reverseKeys = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reverseKeys);
      if (value === null || typeof value !== 'object') return value;
      return Object.fromEntries(
        Object.entries(value)
          .reverse()
          .map(([k, v]) => [k, reverseKeys(v)]),
      );
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalBytes(reverseKeys(value))).toEqual(canonicalBytes(value));
      }),
    );
  });

  it('round-trips base64url and agrees with Node’s encoder (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const encoded = base64urlEncode(bytes);
        expect(encoded).toBe(Buffer.from(bytes).toString('base64url'));
        expect(base64urlDecode(encoded)).toEqual(bytes);
      }),
    );
  });

  it('refuses base64url that is padded, foreign, of an impossible length or with stray trailing bits', () => {
    expect(base64urlDecode('')).toEqual(new Uint8Array());
    expect(base64urlDecode('AA')).toEqual(new Uint8Array([0]));
    expect(base64urlDecode('AA==')).toBeUndefined();
    expect(base64urlDecode('+/8')).toBeUndefined();
    expect(base64urlDecode('AAAAA')).toBeUndefined();
    expect(base64urlDecode('AB')).toBeUndefined(); // the same byte as "AA", with a non-zero unused bit
    expect(base64urlDecode('_-8')).toEqual(new Uint8Array([0xff, 0xef]));
  });

  it('hashes with SHA-256', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256Hex('abc'));
  });
});

describe('keys', () => {
  it('signs deterministically and verifies only the key’s own signature of the same bytes', () => {
    const message = canonicalBytes({ hello: 'world' });
    const signature = signBytes(message, alice1.secretKey);
    expect(signBytes(message, alice1.secretKey)).toBe(signature);
    expect(verifyBytes(signature, message, alice1.publicKey.publicKey)).toBe(true);
    expect(verifyBytes(signature, canonicalBytes({ hello: 'World' }), alice1.publicKey.publicKey)).toBe(false);
    expect(verifyBytes(signature, message, alice2.publicKey.publicKey)).toBe(false);
    expect(verifyBytes('not base64url!', message, alice1.publicKey.publicKey)).toBe(false);
    expect(verifyBytes(signature, message, 'AA')).toBe(false);
  });

  it('generates distinct random keys and nonces', () => {
    expect(generateKeyPair('x').publicKey.publicKey).not.toBe(generateKeyPair('x').publicKey.publicKey);
    const nonce = newNonce();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newNonce()).not.toBe(nonce);
    expect(() => generateKeyPair('x', new Uint8Array(31))).toThrow(SigningInputError);
    expect(() => generateKeyPair('Upper', seed(1))).toThrow(/keyId must be .*lowercase/);
  });

  it('takes only canonical key ids and usable 32-byte keys', () => {
    const good = alice1.publicKey;
    expect(PublicKey.safeParse(good).success).toBe(true);
    expect(PublicKey.safeParse({ ...good, keyId: 'Alice.K1' }).error?.issues[0]?.message).toMatch(/keyId must be .*lowercase/);
    expect(PublicKey.safeParse({ ...good, alg: 'rsa' }).success).toBe(false);
    expect(PublicKey.safeParse({ ...good, publicKey: good.publicKey.slice(0, -2) }).success).toBe(false);
    // The neutral point (y = 1) is a valid encoding but a small-order, weak key.
    const identity = base64urlEncode(new Uint8Array([1, ...new Array(31).fill(0)]));
    expect(PublicKey.safeParse({ ...good, publicKey: identity }).error?.issues[0]?.message).toMatch(/not a usable Ed25519 public key/);
    expect(PublicKey.safeParse({ ...good, extra: 1 }).success).toBe(false);
  });

  it('needs two distinct admins among the trust roots, each keyId once', () => {
    const one = TrustRoots.safeParse({
      admins: [
        { adminId: 'ada', ...ada1.publicKey },
        { adminId: 'ADA', ...ada2.publicKey },
      ],
    });
    expect(one.error?.issues[0]?.message).toBe('admins must name at least two distinct admins');
    const twice = TrustRoots.safeParse({
      admins: [
        { adminId: 'ada', ...ada1.publicKey },
        { adminId: 'bob', ...ada1.publicKey },
      ],
    });
    expect(twice.error?.issues[0]?.message).toBe('each keyId may appear only once among the admins');
    expect(roots.admins.map((a) => a.adminId)).toEqual(['ada', 'ada', 'bob', 'cy']);
  });
});

describe('resolvePrincipal', () => {
  const only = (...entries: unknown[]): RegistryRecords => ({ entries, revocations: [] });

  it('counts an entry with two distinct trust-root admins, not with zero or one', () => {
    expect(resolve(only(endorsed(aliceEntry())), 'alice')).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    const one = resolve(only(endorsed(aliceEntry(), ADA)), 'alice');
    expect(one).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(one.ignored).toEqual([expect.objectContaining({ record: 'entry', index: 0, version: 1, reason: 'too_few_endorsements' })]);
    const principal = expectResolved(resolve(only(endorsed(aliceEntry(), ADA, BOB)), 'alice'));
    expect(principal).toEqual({
      id: 'alice',
      roles: ['approver'],
      approvalLimits: { USD: 5_000, JPY: 100_000 },
      keys: [alice1.publicKey, alice2.publicKey],
      revokedKeyIds: [],
      version: 1,
      issuedAt: `${DAY}T00:00:00Z`,
    });
  });

  it('counts an admin once, however many keys they endorse with', () => {
    const resolution = resolve(only(endorsed(aliceEntry(), ADA, ADA2)), 'alice');
    expect(resolution).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(resolution.ignored).toContainEqual(
      expect.objectContaining({ record: 'endorsement', endorsement: 1, reason: 'duplicate_admin' }),
    );
    expect(resolve(only(endorsed(aliceEntry(), ADA, ADA2, CY)), 'alice').ok).toBe(true);
  });

  it('ignores endorsements by keys that are not trust roots, or that claim another admin’s key', () => {
    const outsider = resolve(only(endorsed(aliceEntry(), ADA, EVE)), 'alice');
    expect(outsider).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(outsider.ignored).toContainEqual(expect.objectContaining({ endorsement: 1, reason: 'not_a_trust_root' }));
    // Bob's id with Ada's key: the pair is no root, so Ada cannot count twice by posing as Bob.
    const posing = endorsed(aliceEntry(), ADA);
    posing.endorsements.push({ ...endorseEntry(aliceEntry(), ADA2), adminId: 'bob' });
    expect(resolve(only(posing), 'alice').ignored).toContainEqual(expect.objectContaining({ endorsement: 1, reason: 'not_a_trust_root' }));
    // Eve's signature under Bob's name and key does not verify.
    const forged = endorsed(aliceEntry(), ADA);
    forged.endorsements.push({ ...endorseEntry(aliceEntry(), EVE), adminId: 'bob', keyId: 'bob.k1' });
    expect(resolve(only(forged), 'alice').ignored).toContainEqual(expect.objectContaining({ endorsement: 1, reason: 'bad_signature' }));
  });

  it('does not count an endorsement of another entry, nor of the entry after a change', () => {
    const record = endorsed(aliceEntry(), ADA, BOB);
    const raised = { ...record, entry: aliceEntry({ approvalLimits: { USD: 5_000_000 } }) };
    const resolution = resolve(only(raised), 'alice');
    expect(resolution).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(resolution.ignored.filter((i) => i.reason === 'bad_signature')).toHaveLength(2);
  });

  it('does not count an admin’s endorsement of their own entry', () => {
    const adaEntry = aliceEntry({ principalId: 'ada', roles: ['admin', 'approver'] });
    const self = resolve(only(endorsed(adaEntry, ADA, BOB)), 'ada');
    expect(self).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(self.ignored).toContainEqual(expect.objectContaining({ endorsement: 0, reason: 'own_entry' }));
    expect(expectResolved(resolve(only(endorsed(adaEntry, BOB, CY)), 'ada')).roles).toEqual(['admin', 'approver']);
  });

  it('uses the highest version that counts; a forged higher version is ignored and listed', () => {
    const v1 = endorsed(aliceEntry(), ADA, BOB);
    const v9 = aliceEntry({ version: 9, approvalLimits: { USD: 99_999_999 } });
    const forged = { entry: v9, endorsements: [endorseEntry(v9, EVE), { ...endorseEntry(aliceEntry(), BOB) }] };
    const resolution = resolve(only(forged, v1), 'alice');
    expect(expectResolved(resolution)).toMatchObject({ version: 1, approvalLimits: { USD: 5_000, JPY: 100_000 } });
    expect(resolution.ignored).toEqual([
      expect.objectContaining({ record: 'endorsement', index: 0, endorsement: 0, version: 9, reason: 'not_a_trust_root' }),
      expect.objectContaining({ record: 'endorsement', index: 0, endorsement: 1, version: 9, reason: 'bad_signature' }),
      expect.objectContaining({ record: 'entry', index: 0, version: 9, reason: 'too_few_endorsements' }),
    ]);
    const v2 = endorsed(aliceEntry({ version: 2, approvalLimits: { USD: 1_000 }, issuedAt: `${DAY}T01:00:00Z` }), BOB, CY);
    expect(expectResolved(resolve(only(v1, forged, v2), 'alice'))).toMatchObject({ version: 2, approvalLimits: { USD: 1_000 } });
  });

  it('refuses two different endorsed entries at the top version, but not the same entry twice', () => {
    const a = endorsed(aliceEntry({ version: 2 }), ADA, BOB);
    const b = endorsed(aliceEntry({ version: 2, roles: ['approver', 'ops'] }), BOB, CY);
    expect(resolve(only(a, b), 'alice')).toMatchObject({ ok: false, rule: 'conflicting_entries' });
    expect(resolve(only(a, endorsed(aliceEntry({ version: 2 }), CY, ADA2)), 'alice').ok).toBe(true);
  });

  it('treats ids in any case as the same principal and admin', () => {
    const shouty = aliceEntry({ principalId: 'ALICE' });
    const record = { entry: shouty, endorsements: [endorseEntry(shouty, { ...ADA, adminId: 'Ada' }), endorseEntry(shouty, BOB)] };
    for (const asked of ['alice', 'Alice', ' ALICE ']) {
      expect(expectResolved(resolve(only(record), asked)).id).toBe('alice');
    }
    expect(expectResolved(resolve(registry, 'ALICE')).id).toBe('alice');
  });

  it('knows nobody without an entry, and ignores malformed records', () => {
    expect(resolve(registry, 'mallory')).toEqual({
      ok: false,
      rule: 'unknown_principal',
      message: 'the registry has no entry for mallory',
      ignored: [],
    });
    const malformed = { entry: { ...aliceEntry(), roles: ['root'] }, endorsements: [] };
    const resolution = resolve(only(malformed, 'junk', null), 'alice');
    expect(resolution).toMatchObject({ ok: false, rule: 'entry_not_endorsed' });
    expect(resolution.ignored).toEqual([expect.objectContaining({ record: 'entry', index: 0, reason: 'malformed' })]);
    const badEndorsement = endorsed(aliceEntry(), ADA, BOB, CY);
    (badEndorsement.endorsements as unknown[]).push({ adminId: 'cy' });
    const stillCounts = resolve(only(badEndorsement), 'alice');
    expect(stillCounts.ok).toBe(true);
    expect(stillCounts.ignored).toEqual([expect.objectContaining({ record: 'endorsement', endorsement: 3, reason: 'malformed' })]);
  });

  it('does not count an entry issued after now, beyond the clock skew', () => {
    const v1 = endorsed(aliceEntry(), ADA, BOB);
    const late = (ms: number) => endorsed(aliceEntry({ version: 2, issuedAt: new Date(NOW.getTime() + ms).toISOString() }), BOB, CY);
    const ahead = resolve(only(v1, late(CLOCK_SKEW_MS + 1000)), 'alice');
    expect(expectResolved(ahead).version).toBe(1);
    expect(ahead.ignored).toEqual([expect.objectContaining({ version: 2, reason: 'issued_in_future' })]);
    expect(expectResolved(resolve(only(v1, late(CLOCK_SKEW_MS - 1000)), 'alice')).version).toBe(2);
  });

  it('retires a revoked key, and freezes a principal revoked as a whole', () => {
    const keyGone = {
      entries: registry.entries,
      revocations: [revoke(CY, { principalId: 'alice', keyId: 'alice.k1', revokedAt: `${DAY}T05:00:00Z` })],
    };
    const principal = expectResolved(resolve(keyGone, 'alice'));
    expect(principal.keys).toEqual([alice2.publicKey]);
    expect(principal.revokedKeyIds).toEqual(['alice.k1']);
    const frozen = { entries: registry.entries, revocations: [revoke(ADA, { principalId: 'Alice', revokedAt: `${DAY}T05:00:00Z` })] };
    expect(resolve(frozen, 'alice')).toMatchObject({
      ok: false,
      rule: 'principal_frozen',
      message: expect.stringContaining('laptop stolen'),
    });
    expect(resolve(frozen, 'wally').ok).toBe(true);
  });

  it('freezes a principal whose entry says frozen', () => {
    const records = only(endorsed(aliceEntry({ status: 'frozen' }), ADA, BOB));
    expect(resolve(records, 'alice')).toMatchObject({
      ok: false,
      rule: 'principal_frozen',
      message: 'alice is frozen by registry version 1',
    });
  });

  it('ignores revocations not signed by a trust root, or whose signature does not verify', () => {
    const byEve = revoke(EVE, { principalId: 'alice', revokedAt: `${DAY}T05:00:00Z` });
    const tampered = { ...revoke(ADA, { principalId: 'alice', keyId: 'alice.k2', revokedAt: `${DAY}T05:00:00Z` }) };
    tampered.revocation = { ...tampered.revocation, keyId: 'alice.k1' };
    const resolution = resolve({ entries: registry.entries, revocations: [byEve, tampered, { revocation: 'no' }] }, 'alice');
    expect(expectResolved(resolution).revokedKeyIds).toEqual([]);
    expect(resolution.ignored).toEqual([
      expect.objectContaining({ record: 'revocation', index: 0, reason: 'not_a_trust_root' }),
      expect.objectContaining({ record: 'revocation', index: 1, reason: 'bad_signature' }),
    ]);
  });

  it('re-enables a principal with a two-admin entry issued after the revocation, not before it', () => {
    const freeze = revoke(BOB, { principalId: 'alice', revokedAt: `${DAY}T05:00:00Z` });
    const v1 = endorsed(aliceEntry(), ADA, BOB);
    const after = endorsed(aliceEntry({ version: 2, issuedAt: `${DAY}T06:00:00Z` }), ADA, CY);
    expect(expectResolved(resolve({ entries: [v1, after], revocations: [freeze] }, 'alice')).version).toBe(2);
    const before = endorsed(aliceEntry({ version: 2, issuedAt: `${DAY}T04:00:00Z` }), ADA, CY);
    expect(resolve({ entries: [v1, before], revocations: [freeze] }, 'alice')).toMatchObject({ ok: false, rule: 'principal_frozen' });
    // A key revoked at 05:00 stays revoked in a version issued at 05:00, and is back in one issued later.
    const keyGone = revoke(BOB, { principalId: 'alice', keyId: 'alice.k1', revokedAt: `${DAY}T05:00:00Z` });
    const same = endorsed(aliceEntry({ version: 2, issuedAt: `${DAY}T05:00:00Z` }), ADA, CY);
    expect(expectResolved(resolve({ entries: [v1, same], revocations: [keyGone] }, 'alice')).revokedKeyIds).toEqual(['alice.k1']);
    expect(expectResolved(resolve({ entries: [v1, after], revocations: [keyGone] }, 'alice')).revokedKeyIds).toEqual([]);
  });

  it('refuses to endorse or revoke an invalid record, naming the field', () => {
    expect(() => endorseEntry(aliceEntry({ version: 0 }), ADA)).toThrow(SigningInputError);
    expect(() => endorseEntry(aliceEntry({ version: 0 }), ADA)).toThrow('registry entry is invalid: version: version must be at least 1');
    expect(() => endorseEntry(aliceEntry({ approvalLimits: { XYZ: 1 } }), ADA)).toThrow(/approvalLimits/);
    expect(() => endorseEntry(aliceEntry({ keys: [alice1.publicKey, alice1.publicKey] }), ADA)).toThrow(/keys must not repeat a keyId/);
    expect(() => revoke(ADA, { principalId: 'alice', revokedAt: 'yesterday' })).toThrow(/revokedAt must be an ISO 8601 date-time/);
  });
});

describe('verifyStatement', () => {
  const good = signStatement(decision(), alice1.secretKey);

  it('verifies a genuine statement of each kind and returns it parsed, with its signer and id', () => {
    const verdict = check(good, decisionExpect);
    expect(verdict).toEqual({
      ok: true,
      statement: good.statement,
      signer: expectResolved(resolve(registry, 'alice')),
      keyId: 'alice.k1',
      statementId: statementId(good),
    });
    const scan = signStatement(receiptStatement(), wally.secretKey);
    expect(check(scan, { kind: 'warehouse_receipt', role: 'warehouse', refundId: 'r-100' })).toMatchObject({ ok: true, keyId: 'wally.k1' });
    const asked = signStatement(requestStatement(), service.secretKey);
    expect(check(asked, { kind: 'refund_request', role: 'refund_service', refundId: 'r-100' })).toMatchObject({
      ok: true,
      signer: { id: 'refund-svc' },
    });
    expect(check(asked, { kind: 'refund_request', role: 'refund_service' }).ok).toBe(true);
  });

  it('refuses a decision after any change to any field, even one the expectation agrees with', () => {
    const changes: Array<[string, Record<string, unknown>, Partial<typeof decisionExpect>]> = [
      ['refundId', { refundId: 'r-101' }, { refundId: 'r-101' }],
      ['amount', { amount: 4_000 }, { amount: 4_000 }],
      ['currency', { currency: 'JPY' }, { currency: 'JPY' }],
      ['decision', { decision: 'reject' }, {}],
      ['reason', { reason: 'looks fine' }, {}],
      ['reason removed', { reason: undefined }, {}],
      ['signedAt', { signedAt: `${DAY}T10:00:01Z` }, {}],
      ['nonce', { nonce: 'n0nce-0000000000009' }, {}],
      ['keyId', { keyId: 'alice.k2' }, {}],
    ];
    for (const [what, change, expectChange] of changes) {
      const altered = { ...good, statement: { ...good.statement, ...change } };
      expect([what, ruleOf(check(altered, { ...decisionExpect, ...expectChange }))]).toEqual([what, 'bad_signature']);
    }
    const flipped = base64urlDecode(good.signature)!;
    flipped[10] = flipped[10]! ^ 1;
    expect(ruleOf(check({ ...good, signature: base64urlEncode(flipped) }, decisionExpect))).toBe('bad_signature');
  });

  it('refuses a receipt or a request after any change inside it', () => {
    const scan = signStatement(receiptStatement(), wally.secretKey);
    const scanExpect = { kind: 'warehouse_receipt', role: 'warehouse', refundId: 'r-100' } as const;
    const receipts = [
      { ...receipt, weightGrams: 1201 },
      { ...receipt, items: [{ sku: 'sku-1', condition: 'empty_box' }] },
      { ...receipt, warehouseId: 'wh-2' },
    ];
    for (const changed of receipts)
      expect(ruleOf(check({ ...scan, statement: { ...scan.statement, receipt: changed } }, scanExpect))).toBe('bad_signature');
    const asked = signStatement(requestStatement(), service.secretKey);
    const requests = [
      { ...request, items: [{ ...request.items[0]!, unitAmount: 9_999 }] },
      { ...request, customerId: 'c-2' },
      { ...request, return: { carrier: 'ups', trackingNumber: '1Z' } },
    ];
    for (const changed of requests) {
      expect(
        ruleOf(
          check({ ...asked, statement: { ...asked.statement, request: changed } }, { kind: 'refund_request', role: 'refund_service' }),
        ),
      ).toBe('bad_signature');
    }
  });

  it('reads the same statement whatever its key order, surrounding whitespace or case of ids', () => {
    const reordered = { signature: good.signature, statement: Object.fromEntries(Object.entries(good.statement).reverse()) };
    const respelled = { ...good, statement: { ...good.statement, approverId: ' Alice ', refundId: ' r-100' } };
    for (const variant of [reordered, respelled]) {
      const verdict = check(variant, decisionExpect);
      expect(verdict).toMatchObject({ ok: true, statementId: statementId(good) });
      expect(verdict.ok && verdict.statement).toEqual(good.statement);
    }
  });

  it('refuses malformed statements', () => {
    const broken: unknown[] = [
      undefined,
      { statement: good.statement },
      { ...good, extra: true },
      { ...good, signature: good.signature.slice(1) },
      { ...good, statement: { ...good.statement, nonce: 'short' } },
      { ...good, statement: { ...good.statement, amount: 45.5 } },
      { ...good, statement: { ...good.statement, alg: 'rsa' } },
      { ...good, statement: { ...good.statement, kind: 'payout' } },
      { ...good, statement: { ...good.statement, approvedBy: 'alice' } },
    ];
    for (const value of broken)
      expect(ruleOf(verifyStatement(value, resolve(registry, 'alice'), decisionExpect))).toBe('malformed_statement');
    const verdict = verifyStatement(
      { ...good, statement: { ...good.statement, nonce: 'short' } },
      resolve(registry, 'alice'),
      decisionExpect,
    );
    expect(verdict).toMatchObject({ message: 'statement is malformed: statement.nonce: nonce must be 16 to 128 base64url characters' });
  });

  it('refuses a statement of another kind than expected', () => {
    const scan = signStatement(receiptStatement(), wally.secretKey);
    expect(check(scan, decisionExpect)).toMatchObject({
      ok: false,
      rule: 'wrong_kind',
      message: 'expected a decision statement, got warehouse_receipt',
    });
  });

  it('passes on why the principal could not be resolved', () => {
    const frozen = { entries: registry.entries, revocations: [revoke(ADA, { principalId: 'alice', revokedAt: `${DAY}T05:00:00Z` })] };
    expect(ruleOf(check(good, decisionExpect, frozen))).toBe('principal_frozen');
    expect(ruleOf(check(good, decisionExpect, { entries: [], revocations: [] }))).toBe('unknown_principal');
    expect(ruleOf(check(good, decisionExpect, { entries: [endorsed(aliceEntry(), ADA)], revocations: [] }))).toBe('entry_not_endorsed');
  });

  it('refuses a statement naming someone other than the principal resolved (signer_mismatch)', () => {
    // Alice's key, but the statement claims Bob approved: checked against Alice, it names the wrong person.
    const asBob = signStatement(decision({ approverId: 'bob' }), alice1.secretKey);
    expect(verifyStatement(asBob, resolve(registry, 'alice'), decisionExpect)).toMatchObject({ ok: false, rule: 'signer_mismatch' });
    const scan = signStatement(receiptStatement({ scannedBy: 'alice', keyId: 'alice.k1' }), alice1.secretKey);
    expect(
      ruleOf(verifyStatement(scan, resolve(registry, 'wally'), { kind: 'warehouse_receipt', role: 'warehouse', refundId: 'r-100' })),
    ).toBe('signer_mismatch');
    const asked = signStatement(requestStatement({ requestedBy: 'wally' }), service.secretKey);
    expect(ruleOf(verifyStatement(asked, resolve(registry, 'refund-svc'), { kind: 'refund_request', role: 'refund_service' }))).toBe(
      'signer_mismatch',
    );
  });

  it('refuses a key the principal does not hold (unknown_key), or holds no longer (revoked_key)', () => {
    const withWallysKey = signStatement(decision({ keyId: 'wally.k1' }), wally.secretKey);
    expect(check(withWallysKey, decisionExpect)).toMatchObject({
      ok: false,
      rule: 'unknown_key',
      message: 'alice has no key wally.k1 in registry version 1',
    });
    const keyGone = {
      entries: registry.entries,
      revocations: [revoke(CY, { principalId: 'alice', keyId: 'alice.k1', revokedAt: `${DAY}T05:00:00Z` })],
    };
    expect(check(good, decisionExpect, keyGone)).toMatchObject({
      ok: false,
      rule: 'revoked_key',
      message: 'key alice.k1 of alice is revoked',
    });
    expect(check(signStatement(decision({ keyId: 'alice.k2' }), alice2.secretKey), decisionExpect, keyGone).ok).toBe(true);
  });

  it('refuses a statement signed with another key than the one it names (bad_signature)', () => {
    expect(check(signStatement(decision({ keyId: 'alice.k2' }), alice1.secretKey), decisionExpect)).toMatchObject({
      ok: false,
      rule: 'bad_signature',
      message: "the signature does not verify with alice's key alice.k2",
    });
  });

  it('refuses a statement signed too long before it is verified, or after (statement_expired, signed_in_future)', () => {
    const signedAt = Date.parse(good.statement.signedAt);
    const at = (ms: number) => ({ ...decisionExpect, at: new Date(signedAt + ms) });
    expect(check(good, at(0)).ok).toBe(true);
    expect(check(good, at(3_600_000)).ok).toBe(true);
    expect(check(good, at(3_600_001))).toMatchObject({
      ok: false,
      rule: 'statement_expired',
      message: `the statement is signed at ${good.statement.signedAt}; a decision counts for 1 hour after signing`,
    });
    expect(check(good, at(-5 * 60_000)).ok).toBe(true);
    expect(ruleOf(check(good, at(-5 * 60_000 - 1)))).toBe('signed_in_future');
    // A receipt and a request count for a day.
    const scan = signStatement(receiptStatement(), wally.secretKey);
    const scanAt = (ms: number) => ({
      kind: 'warehouse_receipt' as const,
      role: 'warehouse' as const,
      refundId: 'r-100',
      at: new Date(Date.parse(scan.statement.signedAt) + ms),
    });
    expect(check(scan, scanAt(86_400_000)).ok).toBe(true);
    expect(ruleOf(check(scan, scanAt(86_400_001)))).toBe('statement_expired');
    // A forged date is a bad signature first.
    const redated = { ...good, statement: { ...good.statement, signedAt: new Date(signedAt + 60_000).toISOString() } };
    expect(ruleOf(check(redated, at(0)))).toBe('bad_signature');
  });

  it('refuses a signer without the expected role (role_missing)', () => {
    expect(check(good, { ...decisionExpect, role: 'ops' })).toMatchObject({
      ok: false,
      rule: 'role_missing',
      message: 'alice does not have the ops role',
    });
    const fromWally = signStatement(decision({ approverId: 'wally', keyId: 'wally.k1' }), wally.secretKey);
    expect(ruleOf(check(fromWally, decisionExpect))).toBe('role_missing');
  });

  it('refuses a statement about another refund (wrong_refund)', () => {
    expect(check(good, { ...decisionExpect, refundId: 'r-999' })).toMatchObject({
      ok: false,
      rule: 'wrong_refund',
      message: 'the statement is about refund r-100, not r-999',
    });
    expect(ruleOf(check(good, { ...decisionExpect, refundId: 'R-100' }))).toBe('wrong_refund');
    const scan = signStatement(receiptStatement(), wally.secretKey);
    expect(ruleOf(check(scan, { kind: 'warehouse_receipt', role: 'warehouse', refundId: 'r-999' }))).toBe('wrong_refund');
    const asked = signStatement(requestStatement(), service.secretKey);
    expect(ruleOf(check(asked, { kind: 'refund_request', role: 'refund_service', refundId: 'r-999' }))).toBe('wrong_refund');
  });

  it('refuses a decision for another amount or currency than the refund’s (amount_mismatch), approve or reject', () => {
    expect(check(good, { ...decisionExpect, amount: 4_501 })).toMatchObject({
      ok: false,
      rule: 'amount_mismatch',
      message: 'the decision is for 45.00 USD; the refund is 45.01 USD',
    });
    expect(ruleOf(check(good, { ...decisionExpect, currency: 'EUR' }))).toBe('amount_mismatch');
    const reject = signStatement(decision({ decision: 'reject' }), alice1.secretKey);
    expect(ruleOf(check(reject, { ...decisionExpect, amount: 9_000 }))).toBe('amount_mismatch');
  });

  it('holds an approval to the approver’s limit in the refund’s own currency (limit_exceeded)', () => {
    const approve = (amount: number, currency: string) =>
      check(signStatement(decision({ amount, currency }), alice1.secretKey), { ...decisionExpect, amount, currency });
    expect(approve(5_000, 'USD').ok).toBe(true);
    expect(approve(45_000, 'USD')).toMatchObject({
      ok: false,
      rule: 'limit_exceeded',
      message: 'alice may approve up to 50.00 USD; the refund is 450.00 USD',
    });
    expect(approve(5_001, 'USD')).toMatchObject({ ok: false, rule: 'limit_exceeded' });
    // 50.00 is a USD limit: it says nothing about 1.000 KWD.
    expect(approve(1_000, 'KWD')).toMatchObject({ ok: false, rule: 'limit_exceeded', message: 'alice has no approval limit in KWD' });
    expect(approve(100_000, 'JPY').ok).toBe(true);
    expect(approve(100_001, 'JPY')).toMatchObject({ ok: false, rule: 'limit_exceeded' });
    const reject = signStatement(decision({ decision: 'reject', amount: 1_000, currency: 'KWD' }), alice1.secretKey);
    expect(check(reject, { ...decisionExpect, amount: 1_000, currency: 'KWD' }).ok).toBe(true);
  });

  it('gives each statement its own id, the same for the same statement however it is spelled', () => {
    const again = signStatement(decision(), alice1.secretKey);
    expect(statementId(again)).toBe(statementId(good));
    expect(statementId(good)).toMatch(/^[0-9a-f]{64}$/);
    expect(statementId(signStatement(decision({ nonce: 'n0nce-0000000000002' }), alice1.secretKey))).not.toBe(statementId(good));
    expect(statementId(signStatement(decision({ approverId: 'ALICE' }), alice1.secretKey))).toBe(statementId(good));
  });

  it('tells which principal a raw statement claims, before anything is verified', () => {
    expect(claimedSigner(good)).toBe('alice');
    expect(claimedSigner({ statement: { kind: 'warehouse_receipt', scannedBy: 'Wally' } })).toBe('wally');
    expect(claimedSigner({ statement: { kind: 'refund_request', requestedBy: 'refund-svc' } })).toBe('refund-svc');
    for (const junk of [
      undefined,
      null,
      'x',
      {},
      { statement: { kind: 'toString' } },
      { statement: { kind: 'decision', approverId: 7 } },
    ]) {
      expect(claimedSigner(junk)).toBeUndefined();
    }
  });

  it('refuses to sign an invalid statement, naming the field', () => {
    expect(() => signStatement(decision({ amount: -1 }), alice1.secretKey)).toThrow(
      'statement is invalid: amount: must be greater than zero',
    );
    expect(() => signStatement(decision(), new Uint8Array(16))).toThrow('secretKey must be 32 bytes');
  });
});

describe('in the workflow sandbox', () => {
  const repo = fileURLToPath(new URL('../../', import.meta.url));

  it('bundles into a workflow and verifies there exactly as here', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'statements-bundle-'));
    try {
      const workflowsPath = path.join(dir, 'probe.ts');
      await writeFile(
        workflowsPath,
        [
          `import { resolvePrincipal, verifyStatement } from ${JSON.stringify(path.join(repo, 'workflows/statements/index.ts'))};`,
          'export async function statementsProbe(input: any): Promise<unknown> {',
          '  const resolution = resolvePrincipal(input.records, input.principalId, input.roots, new Date(input.now));',
          '  return { resolution, verdict: verifyStatement(input.signed, resolution, input.expect) };',
          '}',
        ].join('\n'),
      );
      const { code } = await bundleWorkflowCode({
        workflowsPath,
        logger: new DefaultLogger('WARN'),
        // The probe lives outside the repository; its imports resolve from the repository's node_modules.
        webpackConfigHook: (config) => ({
          ...config,
          resolve: { ...config.resolve, modules: [...(config.resolve?.modules ?? []), path.join(repo, 'node_modules')] },
        }),
      });
      expect(code).toContain('statementsProbe');

      const keyGone = {
        entries: registry.entries,
        revocations: [revoke(CY, { principalId: 'alice', keyId: 'alice.k2', revokedAt: `${DAY}T05:00:00Z` })],
      };
      const cases = [
        { signed: good(), expect: decisionExpect },
        { signed: signStatement(decision({ amount: 45_000 }), alice1.secretKey), expect: { ...decisionExpect, amount: 45_000 } },
        { signed: { ...good(), signature: signBytes(canonicalBytes({ other: 1 }), alice1.secretKey) }, expect: decisionExpect },
        { signed: signStatement(decision({ keyId: 'alice.k2' }), alice2.secretKey), expect: decisionExpect },
      ];
      const inputs = cases.map((c) => ({ records: keyGone, principalId: 'alice', roots, now: NOW.toISOString(), ...c }));
      const outside = inputs.map((input) => {
        const resolution = resolvePrincipal(input.records, input.principalId, input.roots, new Date(input.now));
        return { resolution, verdict: verifyStatement(input.signed, resolution, input.expect) };
      });
      expect(outside.map((o) => ruleOf(o.verdict))).toEqual(['ok', 'limit_exceeded', 'bad_signature', 'revoked_key']);

      const native = await connectNative();
      const client = await connectClient();
      const taskQueue = uniqueId('statements');
      try {
        const worker = await Worker.create({ connection: native, taskQueue, workflowBundle: { code } });
        const inside = await worker.runUntil(
          Promise.all(
            inputs.map((input) =>
              client.workflow.execute('statementsProbe', { taskQueue, workflowId: uniqueId('statements-probe'), args: [input] }),
            ),
          ),
        );
        expect(inside).toEqual(JSON.parse(JSON.stringify(outside)));
      } finally {
        await client.connection.close();
        await native.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  function good(): Signed<Statement> {
    return signStatement(decision(), alice1.secretKey);
  }
});
