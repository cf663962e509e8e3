/**
 * The API's early checks on registry changes and its view of a principal's registry. The checks
 * are the registry's own rules (workflows/statements/registry.ts) applied before anything is
 * stored, so an admin learns at once that an endorsement would count for nothing; the workflow
 * still verifies every record itself against the roots it pinned.
 */
import type { RegistryView } from '../client/registry-views';
import type { StoredEntry, StoredRegistry } from '../store/registry';
import {
  canonicalBytes,
  canonicalId,
  RegistryEntry,
  resolvePrincipal,
  verifyBytes,
  type Endorsement,
  type IgnoredRecord,
  type SignedRevocation,
  type TrustRoots,
} from '../workflows/statements';
import { problem } from './plugins/problems';

/** Why the API refuses a registry change before storing it. */
export type RegistryRule = 'not_the_caller' | 'not_a_trust_root' | 'bad_signature' | 'own_entry' | 'duplicate_admin' | 'not_admin_or_self';

export function refuse(rule: RegistryRule, detail: string) {
  return problem(rule === 'duplicate_admin' ? 'registry_conflict' : 'registry_refused', detail, { rule });
}

function rootOf(roots: TrustRoots, adminId: string, keyId: string) {
  return roots.admins.find((root) => root.keyId === keyId && canonicalId(root.adminId) === canonicalId(adminId));
}

/** Throws the problem for the first rule `endorsement` of `stored` by `callerId` breaks. */
export function checkEndorsement(stored: StoredEntry, endorsement: Endorsement, callerId: string, roots: TrustRoots): void {
  const adminId = canonicalId(endorsement.adminId);
  if (adminId !== callerId) throw refuse('not_the_caller', `you are ${callerId}; an endorsement by ${adminId} must be posted by them`);
  const root = rootOf(roots, adminId, endorsement.keyId);
  if (!root) throw refuse('not_a_trust_root', `${adminId} with key ${endorsement.keyId} is not one of this service's trust roots`);
  const bytes = canonicalBytes(stored.entry);
  if (!verifyBytes(endorsement.signature, bytes, root.publicKey)) {
    throw refuse(
      'bad_signature',
      `the signature does not verify with ${endorsement.keyId} over version ${stored.entry.version} (${stored.entryHash})`,
    );
  }
  if (adminId === canonicalId(stored.entry.principalId)) throw refuse('own_entry', `${adminId} cannot endorse their own entry`);
  const already = stored.endorsements.some((e) => {
    const other = canonicalId(e.adminId) === adminId ? rootOf(roots, e.adminId, e.keyId) : undefined;
    return other !== undefined && verifyBytes(e.signature, bytes, other.publicKey);
  });
  if (already) throw refuse('duplicate_admin', `${adminId} has already endorsed version ${stored.entry.version}; a second admin must`);
}

/** Throws the problem for the first rule a revocation posted by `callerId` breaks. */
export function checkRevocation(signed: SignedRevocation, callerId: string, roots: TrustRoots): void {
  const { revocation, signature } = signed;
  const adminId = canonicalId(revocation.adminId);
  if (adminId !== callerId) throw refuse('not_the_caller', `you are ${callerId}; a revocation by ${adminId} must be posted by them`);
  const root = rootOf(roots, adminId, revocation.adminKeyId);
  if (!root) throw refuse('not_a_trust_root', `${adminId} with key ${revocation.adminKeyId} is not one of this service's trust roots`);
  if (!verifyBytes(signature, canonicalBytes(revocation), root.publicKey)) {
    throw refuse('bad_signature', `the revocation's signature does not verify with ${revocation.adminKeyId}`);
  }
}

/** What a principal's registry says under `roots` at `now`: every record with whether it counts, and the resolution. */
export function registryView(principalId: string, stored: StoredRegistry, roots: TrustRoots, now: Date): RegistryView {
  const id = canonicalId(principalId);
  const records = {
    entries: stored.entries.map((e) => ({ entry: e.entry, endorsements: e.endorsements }) as unknown),
    revocations: stored.revocations.map((r) => r.signed),
  };
  const resolution = resolvePrincipal(records, id, roots, now);
  const current = resolution.ok ? resolution.principal : undefined;
  return {
    principalId: id,
    resolution: current
      ? {
          ok: true,
          version: current.version,
          roles: current.roles,
          approvalLimits: current.approvalLimits,
          keyIds: current.keys.map((k) => k.keyId),
          revokedKeyIds: current.revokedKeyIds,
        }
      : { ok: false, ...(resolution.ok ? {} : { rule: resolution.rule, message: resolution.message }) },
    entries: stored.entries.map((e, index) => entryView(e, records.entries[index], id, roots, now, current?.version)),
    revocations: stored.revocations.map((r, index) => {
      const reason = resolution.ignored.find((i) => i.record === 'revocation' && i.index === index)?.reason;
      return { signed: r.signed, counts: reason === undefined, ...(reason ? { reason } : {}), addedAt: r.addedAt };
    }),
  };
}

type StoredRegistryEntry = StoredRegistry['entries'][number];

/** One stored entry as an admin reviews it: whether it counts alone (revocations aside), and each endorsement. */
function entryView(e: StoredRegistryEntry, record: unknown, id: string, roots: TrustRoots, now: Date, currentVersion?: number) {
  const parsed = RegistryEntry.safeParse(e.entry);
  const alone = resolvePrincipal({ entries: [record], revocations: [] }, id, roots, now);
  const ignored = alone.ignored;
  const entryReason = parsed.success ? ignored.find((i) => i.record === 'entry')?.reason : 'malformed';
  // A frozen-status entry counts too: it is what freezes the principal.
  const counts = alone.ok || (alone.rule === 'principal_frozen' && entryReason === undefined);
  return {
    version: e.version,
    entryHash: e.entryHash,
    // A row written straight into the table may not be an entry at all: shown as stored, never as one.
    entry: parsed.success ? parsed.data : null,
    ...(parsed.success ? {} : { stored: e.entry }),
    endorsements: e.endorsements.map((d, position) => endorsementView(d, ignored, position, parsed.success)),
    counts,
    ...(entryReason ? { reason: entryReason } : {}),
    current: counts && currentVersion === e.version,
    addedAt: e.addedAt,
  };
}

/** An endorsement of a malformed entry endorses nothing. */
function endorsementView(raw: unknown, ignored: IgnoredRecord[], position: number, entryValid: boolean) {
  const endorsement = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<Record<'adminId' | 'keyId', unknown>>;
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  const reason = entryValid ? ignored.find((i) => i.record === 'endorsement' && i.endorsement === position)?.reason : 'malformed';
  return {
    adminId: text(endorsement.adminId),
    keyId: text(endorsement.keyId),
    counts: reason === undefined,
    ...(reason ? { reason } : {}),
  };
}
