/**
 * The benchmark's key registry: two admins' keys, the trust roots file the refund worker pins,
 * every approver and scanner of the staff pools and one refund service registered (endorsed by
 * both admins) before the clock starts, and a carrier key the worker verifies carrier events
 * with, so each request, approval, scan and carrier event is signed and verified exactly as in
 * production.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { signCarrierPayload, type CarrierKey } from '../config/carrier-signature';
import type { Pool } from '../store/pool';
import { addRegistryEntry } from '../store/registry';
import type { SignedCarrierEvent, SignedDecision, SignedRefundRequest, SignedWarehouseScan } from '../workflows/messages';
import { refundAmount, type CarrierEvent, type RefundRequest, type Role, type WarehouseReceipt } from '../workflows/schemas';
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
  /** The carrier keys file (REFUNDS_CARRIER_SECRETS of the refund worker) and its one key, for ups. */
  carrierSecretsFile: string;
  carrierKey: CarrierKey;
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
  const carrierKey = { keyId: 'bench-ups-1', secret: randomBytes(32).toString('hex') };
  const carrierSecretsFile = path.join(dir, 'carrier-secrets.json');
  await writeFile(carrierSecretsFile, JSON.stringify({ ups: [carrierKey] }), { mode: 0o600 });
  return { file, admins, carrierSecretsFile, carrierKey };
}

/** Signs the pipeline's messages as their registered sources do. */
export interface Signer {
  decision(request: RefundRequest, approverId: string): SignedDecision;
  scan(request: RefundRequest, scannerId: string, receipt: WarehouseReceipt): SignedWarehouseScan;
  carrierEvent(event: CarrierEvent): SignedCarrierEvent;
  /** `request` signed by the refund service (`refundService`). */
  request(request: RefundRequest): SignedRefundRequest;
  /** The refund service's principal id: the API principal that sends the requests over HTTP must have it. */
  refundService: string;
}

type Key = { keyId: string; secretKey: Uint8Array };

/** Registers `principalId` with `roles`, endorsed by both admins, and returns its key (the chaos run registers its principals with it too). */
export async function register(pool: Pool, trust: BenchTrust, principalId: string, roles: Role[]): Promise<Key> {
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

/** Registers `approverIds`, `scannerIds` and a refund service of its own, and returns a signer for their statements and the carrier's events. */
export async function benchSigner(
  pool: Pool,
  trust: BenchTrust,
  approverIds: readonly string[],
  scannerIds: readonly string[],
): Promise<Signer> {
  const keys = new Map<string, Key>();
  for (const principalId of approverIds) keys.set(principalId, await register(pool, trust, principalId, ['approver']));
  for (const principalId of scannerIds) keys.set(principalId, await register(pool, trust, principalId, ['warehouse']));
  const refundService = `bench-refund-service-${Date.now().toString(36)}`;
  const serviceKey = await register(pool, trust, refundService, ['refund_service']);
  const keyOf = (principalId: string) => {
    const key = keys.get(principalId);
    if (!key) throw new Error(`${principalId} is not registered for the benchmark`);
    return key;
  };
  const signing = (key: Key) => ({ keyId: key.keyId, alg: 'ed25519' as const, signedAt: new Date().toISOString(), nonce: newNonce() });
  return {
    scan: (request, scannedBy, receipt) => {
      const key = keyOf(scannedBy);
      const statement = { kind: 'warehouse_receipt' as const, refundId: request.refundId, receipt, scannedBy, ...signing(key) };
      return signStatement(statement, key.secretKey);
    },
    carrierEvent: (event) => {
      const rawBody = JSON.stringify(event);
      return { rawBody, signature: signCarrierPayload(trust.carrierKey, rawBody) };
    },
    decision: (request, approverId) => signDecision(request, approverId, keyOf(approverId)),
    request: (refund) =>
      signStatement({ kind: 'refund_request', request: refund, requestedBy: refundService, ...signing(serviceKey) }, serviceKey.secretKey),
    refundService,
  };
}

function signDecision(request: RefundRequest, approverId: string, key: { keyId: string; secretKey: Uint8Array }): SignedDecision {
  return signStatement(
    {
      kind: 'decision',
      refundId: request.refundId,
      amount: refundAmount(request),
      currency: request.currency,
      decision: 'approve',
      approverId,
      keyId: key.keyId,
      alg: 'ed25519',
      signedAt: new Date().toISOString(),
      nonce: newNonce(),
    },
    key.secretKey,
  );
}
