/**
 * The benchmark's key registry: two admins' keys, the trust roots file the refund worker pins,
 * every approver and scanner of the staff pools registered (endorsed by both admins) before the
 * clock starts, and a carrier key the worker verifies carrier events with, so each approval, scan
 * and carrier event is signed and verified exactly as in production.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { signCarrierPayload, type CarrierKey } from '../config/carrier-signature';
import type { Pool } from '../store/pool';
import { addRegistryEntry } from '../store/registry';
import type { SignedCarrierEvent, SignedDecision, SignedWarehouseScan } from '../workflows/messages';
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
}

type Keys = Map<string, { keyId: string; secretKey: Uint8Array }>;

async function register(pool: Pool, trust: BenchTrust, keys: Keys, principalId: string, role: Role): Promise<void> {
  const keyId = `${principalId}.k1`;
  const { secretKey, publicKey } = generateKeyPair(keyId);
  const entry: RegistryEntry = {
    kind: 'registry_entry',
    principalId,
    version: 1,
    roles: [role],
    approvalLimits: role === 'approver' ? { USD: 10_000_000 } : {},
    keys: [publicKey],
    status: 'active',
    issuedAt: new Date(Date.now() - 60_000).toISOString(),
  };
  await addRegistryEntry(pool, { entry, endorsements: trust.admins.map((admin) => endorseEntry(entry, admin)) });
  keys.set(principalId, { keyId, secretKey });
}

/** Registers `approverIds` and `scannerIds` and returns a signer for their statements and the carrier's events. */
export async function benchSigner(
  pool: Pool,
  trust: BenchTrust,
  approverIds: readonly string[],
  scannerIds: readonly string[],
): Promise<Signer> {
  const keys: Keys = new Map();
  for (const principalId of approverIds) await register(pool, trust, keys, principalId, 'approver');
  for (const principalId of scannerIds) await register(pool, trust, keys, principalId, 'warehouse');
  const keyOf = (principalId: string) => {
    const key = keys.get(principalId);
    if (!key) throw new Error(`${principalId} is not registered for the benchmark`);
    return key;
  };
  const signing = (keyId: string) => ({ keyId, alg: 'ed25519' as const, signedAt: new Date().toISOString(), nonce: newNonce() });
  return {
    scan: (request, scannedBy, receipt) => {
      const key = keyOf(scannedBy);
      const statement = { kind: 'warehouse_receipt' as const, refundId: request.refundId, receipt, scannedBy, ...signing(key.keyId) };
      return signStatement(statement, key.secretKey);
    },
    carrierEvent: (event) => {
      const rawBody = JSON.stringify(event);
      return { rawBody, signature: signCarrierPayload(trust.carrierKey, rawBody) };
    },
    decision: (request, approverId) => signDecision(request, approverId, keyOf(approverId)),
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
