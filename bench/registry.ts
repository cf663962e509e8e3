/**
 * The benchmark's key registry: two admins' keys, the trust roots file the refund worker pins,
 * and every approver of the staff pools registered (endorsed by both admins) before the clock
 * starts, so each approval is signed and verified exactly as in production.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../store/pool';
import { addRegistryEntry } from '../store/registry';
import type { SignedDecision } from '../workflows/messages';
import { refundAmount, type RefundRequest } from '../workflows/schemas';
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

export type Signer = (request: RefundRequest, approverId: string) => SignedDecision;

/** Registers `approverIds` and returns a signer for their decisions. */
export async function benchSigner(pool: Pool, trust: BenchTrust, approverIds: readonly string[]): Promise<Signer> {
  const keys = new Map<string, { keyId: string; secretKey: Uint8Array }>();
  for (const principalId of approverIds) {
    const keyId = `${principalId}.k1`;
    const { secretKey, publicKey } = generateKeyPair(keyId);
    const entry: RegistryEntry = {
      kind: 'registry_entry',
      principalId,
      version: 1,
      roles: ['approver'],
      approvalLimits: { USD: 10_000_000 },
      keys: [publicKey],
      status: 'active',
      issuedAt: new Date(Date.now() - 60_000).toISOString(),
    };
    await addRegistryEntry(pool, { entry, endorsements: trust.admins.map((admin) => endorseEntry(entry, admin)) });
    keys.set(principalId, { keyId, secretKey });
  }
  return (request, approverId) => {
    const key = keys.get(approverId);
    if (!key) throw new Error(`${approverId} is not registered for the benchmark`);
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
  };
}
