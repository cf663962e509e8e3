/**
 * The key registry: who a principal is (roles, approval limits per currency, keys), as entries
 * two admins signed, plus revocations one admin signed. The admins' keys are trust roots pinned in
 * the worker's configuration, so nobody with only database or Temporal access can make a principal
 * or raise a limit: a record that does not verify counts for nothing, and `resolvePrincipal` lists
 * it in `ignored` for the audit trail.
 *
 * Rules:
 * - An entry counts with valid endorsements (Ed25519 over the entry's canonical bytes) from at
 *   least two distinct trust-root admins. An endorsement counts when its adminId and keyId name one
 *   root and the signature verifies with that root's key. An admin counts once whatever the number
 *   of their keys, and never for their own entry.
 * - The principal is the highest version that counts. Two different entries counting at that
 *   version are a conflict: nothing is resolved (`conflicting_entries`).
 * - A revocation counts with one trust-root admin's valid signature (revoking only stops money),
 *   whatever its date. It applies to entries issued at or before `revokedAt`: without a keyId it
 *   freezes the principal, with one it retires that key. Re-enabling is a new version, endorsed by
 *   two admins, issued after the revocation.
 * - An entry issued after `now` (beyond a few minutes of clock skew) does not count yet, so a
 *   post-dated entry cannot outrun revocations made before its date.
 * - Principal and admin ids are compared in lowercase. The caller supplies every record it has;
 *   this module cannot tell if one was withheld.
 */
import { z } from 'zod';
import { Currency, Role, text } from '../schemas';
import { canonicalBytes, sha256Hex } from './encoding';
import {
  canonicalId,
  KeyId,
  parseForSigning,
  PrincipalId,
  PublicKey,
  Signature,
  signBytes,
  verifyBytes,
  type TrustRoot,
  type TrustRoots,
} from './keys';
import { verifiedOnce } from './verified-once';
import { PasskeyKey } from './webauthn';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/statements/registry');

/** How far an entry's issuedAt may be ahead of the verifier's clock. */
export const CLOCK_SKEW_MS = 5 * 60_000;

const timestamp = (what: string) =>
  z.iso.datetime({ offset: true, error: `${what} must be an ISO 8601 date-time, e.g. 2026-11-21T09:30:00Z` });
const unique = <T>(values: readonly T[]) => new Set(values).size === values.length;

/**
 * A key an entry gives its principal: an Ed25519 key, or a passkey (WebAuthn ES256, with the
 * credential id, relying party id and origin it was registered for). Both count only under two
 * admins' endorsements; an Ed25519 key's canonical form is what it always was.
 */
export const RegistryKey = built('RegistryKey', () =>
  z.discriminatedUnion('alg', [PublicKey, PasskeyKey], {
    error: 'alg must be "ed25519" or "webauthn-es256"',
  }),
);
export type RegistryKey = z.infer<typeof RegistryKey>;

export const RegistryEntry = built('RegistryEntry', () =>
  z.strictObject({
    kind: z.literal('registry_entry', { error: 'kind must be "registry_entry"' }),
    principalId: PrincipalId('principalId'),
    version: z.number().int('version must be a whole number').min(1, 'version must be at least 1').max(Number.MAX_SAFE_INTEGER),
    roles: z.array(Role).min(1, 'roles must list at least one role').refine(unique, 'roles must not repeat'),
    /** The largest refund the principal may approve, per currency, in that currency's minor units. */
    approvalLimits: z.record(Currency, z.number().int('a limit must be whole minor units').nonnegative().max(Number.MAX_SAFE_INTEGER)),
    keys: z
      .array(RegistryKey)
      .min(1, 'keys must list at least one key')
      .max(16)
      .refine((keys) => unique(keys.map((k) => k.keyId)), 'keys must not repeat a keyId'),
    status: z.enum(['active', 'frozen'], { error: 'status must be "active" or "frozen"' }),
    issuedAt: timestamp('issuedAt'),
  }),
);
export type RegistryEntry = z.infer<typeof RegistryEntry>;

export const Endorsement = built('Endorsement', () =>
  z.strictObject({ adminId: PrincipalId('adminId'), keyId: KeyId(), signature: Signature }),
);
export type Endorsement = z.infer<typeof Endorsement>;

/** An entry with its endorsements; all of an entry's endorsements travel in one record. */
export const SignedRegistryEntry = built('SignedRegistryEntry', () =>
  z.strictObject({ entry: RegistryEntry, endorsements: z.array(Endorsement).max(64) }),
);
export type SignedRegistryEntry = z.infer<typeof SignedRegistryEntry>;

export const Revocation = built('Revocation', () =>
  z.strictObject({
    kind: z.literal('revocation', { error: 'kind must be "revocation"' }),
    principalId: PrincipalId('principalId'),
    /** Absent: the whole principal is frozen. */
    keyId: KeyId().optional(),
    reason: text('reason', 500),
    revokedAt: timestamp('revokedAt'),
    adminId: PrincipalId('adminId'),
    adminKeyId: KeyId('adminKeyId'),
  }),
);
export type Revocation = z.infer<typeof Revocation>;

export const SignedRevocation = built('SignedRevocation', () => z.strictObject({ revocation: Revocation, signature: Signature }));
export type SignedRevocation = z.infer<typeof SignedRevocation>;

/** Everything the caller knows of the registry. Records are parsed here, so they may come straight from storage. */
export interface RegistryRecords {
  entries: readonly unknown[];
  revocations: readonly unknown[];
}

/** A principal as the registry says it is now. */
export interface ResolvedPrincipal {
  /** Canonical (lowercase). */
  id: string;
  roles: Role[];
  approvalLimits: Record<string, number>;
  /** The keys that may sign: the entry's keys less the revoked ones. */
  keys: RegistryKey[];
  /** Keys of the entry that a revocation retired. */
  revokedKeyIds: string[];
  version: number;
  issuedAt: string;
}

export type IgnoreReason =
  | 'malformed'
  | 'not_a_trust_root'
  | 'bad_signature'
  | 'own_entry'
  | 'duplicate_admin'
  | 'too_few_endorsements'
  | 'issued_in_future';

/** A record (or one endorsement of an entry) that counted for nothing, and why. */
export interface IgnoredRecord {
  record: 'entry' | 'endorsement' | 'revocation';
  /** Position in `records.entries` or `records.revocations`. */
  index: number;
  /** Position in the entry's endorsements, for an endorsement. */
  endorsement?: number;
  version?: number;
  reason: IgnoreReason;
  message: string;
}

export type ResolutionRule = 'unknown_principal' | 'entry_not_endorsed' | 'conflicting_entries' | 'principal_frozen';

export type PrincipalResolution =
  | { ok: true; principal: ResolvedPrincipal; ignored: IgnoredRecord[] }
  | { ok: false; rule: ResolutionRule; message: string; ignored: IgnoredRecord[] };

interface Counted {
  entry: RegistryEntry;
  hash: string;
}

/**
 * Who `principalId` is, from the records that count under `roots` at `now` (the workflow's time).
 * Records that name the principal but count for nothing are listed in `ignored`; records about
 * other principals are not looked at.
 */
export function resolvePrincipal(records: RegistryRecords, principalId: string, roots: TrustRoots, now: Date): PrincipalResolution {
  const wanted = canonicalId(principalId);
  const ignored: IgnoredRecord[] = [];
  const counted: Counted[] = [];
  records.entries.forEach((raw, index) => {
    if (names(raw, 'entry', wanted)) counted.push(...countEntry(raw, index, roots, now, ignored));
  });
  const revocations: Revocation[] = [];
  records.revocations.forEach((raw, index) => {
    if (names(raw, 'revocation', wanted)) revocations.push(...countRevocation(raw, index, roots, ignored));
  });
  const fail = (rule: ResolutionRule, message: string): PrincipalResolution => ({ ok: false, rule, message, ignored });
  if (counted.length === 0) {
    return ignored.some((i) => i.record !== 'revocation')
      ? fail('entry_not_endorsed', `no registry entry for ${wanted} counts: each needs valid endorsements from two trust-root admins`)
      : fail('unknown_principal', `the registry has no entry for ${wanted}`);
  }
  const top = Math.max(...counted.map((c) => c.entry.version));
  const latest = counted.filter((c) => c.entry.version === top);
  if (new Set(latest.map((c) => c.hash)).size > 1) {
    return fail('conflicting_entries', `the registry has different endorsed entries for ${wanted} at version ${top}`);
  }
  return applyRevocations(latest[0]!.entry, revocations, ignored);
}

/** Whether a raw record claims to be about `wanted`; unreadable records name nobody. */
function names(raw: unknown, field: 'entry' | 'revocation', wanted: string): boolean {
  const inner = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[field] : undefined;
  const principalId = typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>).principalId : undefined;
  return typeof principalId === 'string' && canonicalId(principalId) === wanted;
}

const RawSignedEntry = built('RawSignedEntry', () => z.strictObject({ entry: RegistryEntry, endorsements: z.array(z.unknown()).max(64) }));

/** The entry in `raw` if it counts (as a one-element list), recording in `ignored` what does not. */
function countEntry(raw: unknown, index: number, roots: TrustRoots, now: Date, ignored: IgnoredRecord[]): Counted[] {
  const parsed = RawSignedEntry.safeParse(raw);
  if (!parsed.success) {
    ignored.push({ record: 'entry', index, reason: 'malformed', message: `entry is malformed: ${parsed.error.issues[0]?.message}` });
    return [];
  }
  const { entry, endorsements } = parsed.data;
  const version = entry.version;
  if (Date.parse(entry.issuedAt) > now.getTime() + CLOCK_SKEW_MS) {
    ignored.push({
      record: 'entry',
      index,
      version,
      reason: 'issued_in_future',
      message: `version ${version} is issued at ${entry.issuedAt}`,
    });
    return [];
  }
  const bytes = canonicalBytes(entry);
  const hash = sha256Hex(bytes);
  const admins = new Set<string>();
  endorsements.forEach((endorsement, position) => {
    const verdict = checkEndorsement(endorsement, entry, { bytes, hash }, roots, admins);
    if (typeof verdict === 'string') admins.add(verdict);
    else ignored.push({ record: 'endorsement', index, endorsement: position, version, ...verdict });
  });
  if (admins.size < 2) {
    const message = `version ${version} has ${admins.size} valid trust-root endorsement(s); it needs two distinct admins other than the principal`;
    ignored.push({ record: 'entry', index, version, reason: 'too_few_endorsements', message });
    return [];
  }
  return [{ entry, hash }];
}

type Refusal = { reason: IgnoreReason; message: string };

/**
 * The canonical id of the admin whose endorsement this is, if it counts; otherwise why not. The
 * entry comes as its canonical bytes and their SHA-256 (hex), by which a signature that verified
 * before in this worker thread is not verified again.
 */
function checkEndorsement(
  raw: unknown,
  entry: RegistryEntry,
  { bytes, hash }: { bytes: Uint8Array; hash: string },
  roots: TrustRoots,
  counted: Set<string>,
): string | Refusal {
  const parsed = Endorsement.safeParse(raw);
  if (!parsed.success) return { reason: 'malformed', message: `endorsement is malformed: ${parsed.error.issues[0]?.message}` };
  const { adminId, keyId, signature } = parsed.data;
  const root = rootFor(roots, adminId, keyId);
  if (!root) return { reason: 'not_a_trust_root', message: `${adminId} with key ${keyId} is not a trust root` };
  const verified = verifiedOnce(`${root.publicKey}.${signature}.${hash}`, () => verifyBytes(signature, bytes, root.publicKey));
  if (!verified) return { reason: 'bad_signature', message: `${adminId}'s signature does not verify` };
  const admin = canonicalId(adminId);
  if (admin === canonicalId(entry.principalId)) return { reason: 'own_entry', message: `${adminId} cannot endorse their own entry` };
  if (counted.has(admin)) return { reason: 'duplicate_admin', message: `${adminId} has already endorsed this entry` };
  return admin;
}

function rootFor(roots: TrustRoots, adminId: string, keyId: string): TrustRoot | undefined {
  return roots.admins.find((root) => root.keyId === keyId && canonicalId(root.adminId) === canonicalId(adminId));
}

/** The revocation in `raw` if one trust-root admin validly signed it (as a one-element list). */
function countRevocation(raw: unknown, index: number, roots: TrustRoots, ignored: IgnoredRecord[]): Revocation[] {
  const parsed = SignedRevocation.safeParse(raw);
  if (!parsed.success) {
    ignored.push({
      record: 'revocation',
      index,
      reason: 'malformed',
      message: `revocation is malformed: ${parsed.error.issues[0]?.message}`,
    });
    return [];
  }
  const { revocation, signature } = parsed.data;
  const root = rootFor(roots, revocation.adminId, revocation.adminKeyId);
  if (!root) {
    const message = `${revocation.adminId} with key ${revocation.adminKeyId} is not a trust root`;
    ignored.push({ record: 'revocation', index, reason: 'not_a_trust_root', message });
    return [];
  }
  if (!verifyBytes(signature, canonicalBytes(revocation), root.publicKey)) {
    ignored.push({ record: 'revocation', index, reason: 'bad_signature', message: `${revocation.adminId}'s signature does not verify` });
    return [];
  }
  return [revocation];
}

function applyRevocations(entry: RegistryEntry, revocations: readonly Revocation[], ignored: IgnoredRecord[]): PrincipalResolution {
  const id = canonicalId(entry.principalId);
  const frozen = (message: string): PrincipalResolution => ({ ok: false, rule: 'principal_frozen', message, ignored });
  if (entry.status === 'frozen') return frozen(`${id} is frozen by registry version ${entry.version}`);
  const issued = Date.parse(entry.issuedAt);
  const applicable = revocations.filter((r) => Date.parse(r.revokedAt) >= issued);
  const freeze = applicable.find((r) => r.keyId === undefined);
  if (freeze) return frozen(`${id} was frozen by ${freeze.adminId} at ${freeze.revokedAt}: ${freeze.reason}`);
  const retired = new Set(applicable.map((r) => r.keyId));
  const principal: ResolvedPrincipal = {
    id,
    roles: entry.roles,
    approvalLimits: entry.approvalLimits,
    keys: entry.keys.filter((k) => !retired.has(k.keyId)),
    revokedKeyIds: entry.keys.filter((k) => retired.has(k.keyId)).map((k) => k.keyId),
    version: entry.version,
    issuedAt: entry.issuedAt,
  };
  return { ok: true, principal, ignored };
}

/** An admin's endorsement of `entry` (validated first; a SigningInputError names what is wrong). */
export function endorseEntry(
  entry: z.input<typeof RegistryEntry>,
  admin: { adminId: string; keyId: string; secretKey: Uint8Array },
): Endorsement {
  const parsed = parseForSigning(RegistryEntry, entry, 'registry entry');
  return { adminId: admin.adminId, keyId: admin.keyId, signature: signBytes(canonicalBytes(parsed), admin.secretKey) };
}

/** `revocation` signed by the admin key it names (validated first; a SigningInputError names what is wrong). */
export function signRevocation(revocation: z.input<typeof Revocation>, secretKey: Uint8Array): SignedRevocation {
  const parsed = parseForSigning(Revocation, revocation, 'revocation');
  return { revocation: parsed, signature: signBytes(canonicalBytes(parsed), secretKey) };
}
