/**
 * The benchmark's key registry: two admins' keys, the trust roots file the refund worker pins,
 * and every approver of the staff pools and one refund service registered (endorsed by both
 * admins) before the clock starts, so each request and approval is signed and verified exactly as
 * in production.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../store/pool';
import { addRegistryEntry } from '../store/registry';
import type { SignedDecision, SignedRefundRequest } from '../workflows/messages';
import { refundAmount, type RefundRequest, type Role } from '../workflows/schemas';
import { endorseEntry, generateKeyPair, newNonce, signStatement, TrustRoots, type RegistryEntry } from '../workflows/statements';

interface Admin {
  adminId: string;
  keyId: string;
  secretKey: Uint8Array;
}

export interface BenchTrust {
  /** The trust roots file (REFUNDS_TRUST_ROOTS of the refund worker). */
  file: string;
  admins: Admin[];
}

export async function writeBenchTrustRoots(dir: string): Promise<BenchTrust> {
  const admins = ['bench-admin-1', 'bench-admin-2'].map((adminId) => ({
    adminId,
    keyId: `${adminId}.k1`,
    secretKey: generateKeyPair('k').secretKey,
  }));
  const roots = TrustRoots.parse({
    admins: admins.map((a) => ({ adminId: a.adminId, ...generateKeyPair(a.keyId, a.secretKey).publicKey })),
  });
  const file = path.join(dir, 'trust-roots.json');
  await writeFile(file, JSON.stringify(roots), { mode: 0o600 });
  return { file, admins };
}

/** Signs the benchmark's approvals as registered approvers, and its refund requests as its registered refund service. */
export interface Signer {
  (request: RefundRequest, approverId: string): SignedDecision;
  /** `request` signed by the refund service (`refundService`). */
  request(request: RefundRequest): SignedRefundRequest;
  /** The refund service's principal id: the API principal that sends the requests over HTTP must have it. */
  refundService: string;
}

type Key = { keyId: string; secretKey: Uint8Array };

/** Registers `principalId` with `roles`, endorsed by both admins, and returns its key. */
async function register(pool: Pool, trust: BenchTrust, principalId: string, roles: Role[]): Promise<Key> {
  const keyId = `${principalId}.k1`;
  const { secretKey, publicKey } = generateKeyPair(keyId);
  const entry: RegistryEntry = {
    kind: 'registry_entry',
    principalId,
    version: 1,
    roles,
    approvalLimits: roles.includes('approver') ? { USD: 10_000_000 } : {},
    keys: [publicKey],
    status: 'active',
    issuedAt: new Date(Date.now() - 60_000).toISOString(),
  };
  await addRegistryEntry(pool, { entry, endorsements: trust.admins.map((admin) => endorseEntry(entry, admin)) });
  return { keyId, secretKey };
}

/** Registers `approverIds` and a refund service of its own, and returns a signer for their statements. */
export async function benchSigner(pool: Pool, trust: BenchTrust, approverIds: readonly string[]): Promise<Signer> {
  const keys = new Map<string, Key>();
  for (const principalId of approverIds) keys.set(principalId, await register(pool, trust, principalId, ['approver']));
  const refundService = `bench-refund-service-${Date.now().toString(36)}`;
  const serviceKey = await register(pool, trust, refundService, ['refund_service']);
  const signing = (key: Key) => ({ keyId: key.keyId, alg: 'ed25519' as const, signedAt: new Date().toISOString(), nonce: newNonce() });
  const sign = (request: RefundRequest, approverId: string): SignedDecision => {
    const key = keys.get(approverId);
    if (!key) throw new Error(`${approverId} is not registered for the benchmark`);
    const { refundId, currency } = request;
    const decision = {
      kind: 'decision' as const,
      refundId,
      amount: refundAmount(request),
      currency,
      decision: 'approve' as const,
      approverId,
    };
    return signStatement({ ...decision, ...signing(key) }, key.secretKey);
  };
  const request = (refund: RefundRequest): SignedRefundRequest =>
    signStatement({ kind: 'refund_request', request: refund, requestedBy: refundService, ...signing(serviceKey) }, serviceKey.secretKey);
  return Object.assign(sign, { request, refundService });
}
