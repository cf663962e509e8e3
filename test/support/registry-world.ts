/**
 * A registry world for one test file: its own trust roots (three admins with fresh keys), the
 * worker pins them, and approvers registered through store/registry with entries two of those
 * admins endorsed. `approval` signs a decision as a registered approver, `signedScan` a receipt as
 * a registered scanner, and `signedRequest` a refund request as the world's registered refund
 * service, the way the typed client does; the forgery tests build their bad statements from the
 * same pieces.
 */
import { addRegistryEntry, addRevocation } from '../../store/registry';
import type { Pool } from '../../store/pool';
import type { SignedRefundRequest, SignedWarehouseScan } from '../../workflows/messages';
import { refundAmount, type RefundRequest, type Role, type WarehouseReceipt } from '../../workflows/schemas';
import {
  endorseEntry,
  generateKeyPair,
  newNonce,
  signRevocation,
  signStatement,
  TrustRoots,
  type DecisionStatement,
  type RefundRequestStatement,
  type RegistryEntry,
  type Signed,
  type WarehouseReceiptStatement,
} from '../../workflows/statements';
import { uniqueId } from './stack';

export interface Admin {
  adminId: string;
  keyId: string;
  secretKey: Uint8Array;
}

/** A registered principal's signing key. */
export interface SigningKey {
  principalId: string;
  keyId: string;
  secretKey: Uint8Array;
}

/** What a decision is about: a refund request (its amount is computed), or the refund's id, amount and currency. */
export type DecisionSubject = RefundRequest | { refundId: string; amount: number; currency: string };

export interface ApproverOptions {
  roles?: Role[];
  /** Per currency, in minor units. Default: 100,000.00 in USD, EUR and GBP, 10,000,000 JPY. */
  limits?: Record<string, number>;
  /** How many of the world's admins endorse the entry (default 2). */
  endorsements?: number;
}

export interface DecisionOptions {
  decision?: 'approve' | 'reject';
  reason?: string;
  /** Overrides of the statement's fields, signed as given (a forgery's own statement). */
  statement?: Partial<DecisionStatement>;
  /** Sign with this key instead of the approver's own. */
  key?: Pick<SigningKey, 'keyId' | 'secretKey'>;
}

export interface ScanOptions {
  /** Overrides of the statement's fields, signed as given (a forgery's own statement). */
  statement?: Partial<WarehouseReceiptStatement>;
  /** Sign with this key instead of the scanner's own. */
  key?: Pick<SigningKey, 'keyId' | 'secretKey'>;
}

export const DEFAULT_LIMITS = { USD: 10_000_000, EUR: 10_000_000, GBP: 10_000_000, JPY: 10_000_000 };

export interface RegistryWorld {
  trustRoots: TrustRoots;
  admins: Admin[];
  /** Registers (or re-registers, as a new version) `principalId` with an endorsed entry; returns its signing key. */
  registerApprover(principalId: string, options?: ApproverOptions): Promise<SigningKey>;
  /** The key of a principal registered in this world. */
  keyOf(principalId: string): SigningKey;
  /** A decision signed by `approverId` (registered with the defaults first if this world does not know it). */
  approval(refund: DecisionSubject, approverId: string, options?: DecisionOptions): Promise<Signed<DecisionStatement>>;
  /** A decision signed as given, registering nobody. */
  sign(
    refund: DecisionSubject,
    approverId: string,
    key: Pick<SigningKey, 'keyId' | 'secretKey'>,
    options?: DecisionOptions,
  ): Signed<DecisionStatement>;
  /** Registers `principalId` with the warehouse role (and no approval limits); returns its signing key. */
  registerScanner(principalId: string, options?: Omit<ApproverOptions, 'limits'>): Promise<SigningKey>;
  /** A receipt for `refundId` signed by `scannerId` (registered as a scanner first if this world does not know it). */
  signedScan(refundId: string, scannerId: string, receipt: WarehouseReceipt, options?: ScanOptions): Promise<SignedWarehouseScan>;
  /** A receipt signed as given, registering nobody. */
  signScan(
    refundId: string,
    scannerId: string,
    receipt: WarehouseReceipt,
    key: Pick<SigningKey, 'keyId' | 'secretKey'>,
    options?: ScanOptions,
  ): SignedWarehouseScan;
  /** An admin's revocation of a principal's key (or, without keyId, of the whole principal), stored. */
  revoke(principalId: string, keyId?: string): Promise<void>;
  /** Registers `principalId` (default: this world's refund service) with the refund_service role; returns its signing key. */
  registerRefundService(principalId?: string, options?: Omit<ApproverOptions, 'limits'>): Promise<SigningKey>;
  /** The id of this world's refund service (registered on first use by `signedRequest`). */
  refundService: string;
  /** `request` signed by a refund service (default: this world's, registered first if need be), as the typed client signs it. */
  signedRequest(request: RefundRequest, options?: RequestOptions): Promise<SignedRefundRequest>;
}

export interface RequestOptions {
  /** The signer named in the statement (default: this world's refund service, registered first if need be). */
  requestedBy?: string;
  /** Overrides of the statement's fields, signed as given (a forgery's own statement). */
  statement?: Partial<RefundRequestStatement>;
  /** Sign with this key instead of the signer's own (then the signer need not be registered). */
  key?: Pick<SigningKey, 'keyId' | 'secretKey'>;
}

export function subjectOf(refund: DecisionSubject): { refundId: string; amount: number; currency: string } {
  return 'items' in refund
    ? { refundId: refund.refundId, amount: refundAmount(refund), currency: refund.currency }
    : { refundId: refund.refundId, amount: refund.amount, currency: refund.currency };
}

export function createRegistryWorld(pool: Pool): RegistryWorld {
  const admins: Admin[] = [1, 2, 3].map(() => {
    const adminId = uniqueId('admin');
    const { secretKey } = generateKeyPair(`${adminId}.k1`);
    return { adminId, keyId: `${adminId}.k1`, secretKey };
  });
  const trustRoots = TrustRoots.parse({
    admins: admins.map((a) => ({ adminId: a.adminId, ...generateKeyPair(a.keyId, a.secretKey).publicKey })),
  });
  const registered = new Map<string, { key: SigningKey; version: number }>();
  // First registrations under way: concurrent first scans by one scanner register it once, not twice at version 1.
  const registering = new Map<string, Promise<SigningKey>>();
  const registeredOnce = (principalId: string, register: () => Promise<SigningKey>): Promise<SigningKey> => {
    const known = registered.get(principalId)?.key;
    if (known) return Promise.resolve(known);
    const pending = registering.get(principalId) ?? register().finally(() => registering.delete(principalId));
    registering.set(principalId, pending);
    return pending;
  };

  const sign: RegistryWorld['sign'] = (refund, approverId, key, options = {}) => {
    const decision = options.decision ?? 'approve';
    return signStatement(
      {
        kind: 'decision',
        ...subjectOf(refund),
        decision,
        ...(options.reason ? { reason: options.reason } : {}),
        approverId,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
        ...options.statement,
      },
      key.secretKey,
    );
  };

  const signScan: RegistryWorld['signScan'] = (refundId, scannerId, receipt, key, options = {}) =>
    signStatement(
      {
        kind: 'warehouse_receipt',
        refundId,
        receipt,
        scannedBy: scannerId,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
        ...options.statement,
      },
      key.secretKey,
    );

  const refundService = uniqueId('svc-refunds');
  let serviceRegistered: Promise<SigningKey> | undefined;
  const world: RegistryWorld = {
    trustRoots,
    admins,
    refundService,
    registerRefundService(principalId = refundService, options = {}) {
      return world.registerApprover(principalId, { roles: ['refund_service'], limits: {}, ...options });
    },
    async signedRequest(request, options = {}) {
      const requestedBy = options.requestedBy ?? refundService;
      // Registered once, even when many requests are signed at the same time.
      if (requestedBy === refundService) serviceRegistered ??= world.registerRefundService();
      const key = options.key ?? (requestedBy === refundService ? await serviceRegistered! : world.keyOf(requestedBy));
      return signStatement(
        {
          kind: 'refund_request',
          request,
          requestedBy,
          keyId: key.keyId,
          alg: 'ed25519',
          signedAt: new Date().toISOString(),
          nonce: newNonce(),
          ...options.statement,
        },
        key.secretKey,
      );
    },
    async registerApprover(principalId, options = {}) {
      const known = registered.get(principalId);
      const key: SigningKey = known?.key ?? { principalId, keyId: `${principalId}.k1`, secretKey: generateKeyPair('k').secretKey };
      const version = (known?.version ?? 0) + 1;
      const entry: RegistryEntry = {
        kind: 'registry_entry',
        principalId,
        version,
        roles: options.roles ?? ['approver'],
        approvalLimits: options.limits ?? DEFAULT_LIMITS,
        keys: [generateKeyPair(key.keyId, key.secretKey).publicKey],
        status: 'active',
        issuedAt: new Date(Date.now() - 1_000).toISOString(),
      };
      const endorsements = admins.slice(0, options.endorsements ?? 2).map((admin) => endorseEntry(entry, admin));
      await addRegistryEntry(pool, { entry, endorsements });
      registered.set(principalId, { key, version });
      return key;
    },
    keyOf(principalId) {
      const known = registered.get(principalId);
      if (!known) throw new Error(`${principalId} is not registered in this world`);
      return known.key;
    },
    async approval(refund, approverId, options = {}) {
      const key = await registeredOnce(approverId, () => world.registerApprover(approverId));
      return sign(refund, approverId, options.key ?? key, options);
    },
    sign,
    registerScanner(principalId, options = {}) {
      return world.registerApprover(principalId, { roles: ['warehouse'], limits: {}, ...options });
    },
    async signedScan(refundId, scannerId, receipt, options = {}) {
      const key = await registeredOnce(scannerId, () => world.registerScanner(scannerId));
      return signScan(refundId, scannerId, receipt, options.key ?? key, options);
    },
    signScan,
    async revoke(principalId, keyId) {
      const admin = admins[2]!;
      await addRevocation(
        pool,
        signRevocation(
          {
            kind: 'revocation',
            principalId,
            ...(keyId ? { keyId } : {}),
            reason: 'key reported lost',
            revokedAt: new Date().toISOString(),
            adminId: admin.adminId,
            adminKeyId: admin.keyId,
          },
          admin.secretKey,
        ),
      );
    },
  };
  return world;
}
