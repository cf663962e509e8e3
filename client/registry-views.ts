/**
 * The key registry as the API shows and takes it: a principal's entries (each with whether it
 * counts and which admins' endorsements do), its revocations, and what the principal resolves to
 * under the API's trust roots. Bodies are the registry's own schemas (workflows/statements), so
 * an entry carries public keys only: any other field, a secret key included, is refused.
 */
import { z } from 'zod';
import { Endorsement, RegistryEntry, Revocation, Signature } from '../workflows/statements';

const instant = z.string().meta({ format: 'date-time' });

/** An endorsement posted by an admin; `entryHash` picks the entry when several share the version. */
export const EndorsementBody = Endorsement.extend({
  entryHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'entryHash must be the entry’s SHA-256 in lowercase hex')
    .optional()
    .describe('the hash of the entry endorsed, as `refunds principal show` prints it; checked when given'),
}).meta({ id: 'EndorsementBody' });
export type EndorsementBody = z.infer<typeof EndorsementBody>;

export const RevocationBody = z.strictObject({ revocation: Revocation, signature: Signature }).meta({ id: 'RevocationBody' });
export type RevocationBody = z.infer<typeof RevocationBody>;

export const EndorsementView = z.object({
  adminId: z.string().nullable().describe('null for a malformed endorsement'),
  keyId: z.string().nullable(),
  counts: z.boolean().describe('a trust-root admin’s valid signature, once per admin, never the principal’s own'),
  reason: z.string().optional().describe('why it does not count: not_a_trust_root, bad_signature, own_entry, duplicate_admin, malformed'),
});

export const RegistryEntryView = z
  .object({
    version: z.number().int(),
    entryHash: z.string().describe('SHA-256 of the entry’s RFC 8785 canonical JSON: what the admins sign; compare it out of band'),
    entry: RegistryEntry.nullable().describe('null when the stored row is not a valid entry (`reason: malformed`; see `stored`)'),
    stored: z.unknown().optional().describe('a malformed row as stored'),
    endorsements: z.array(EndorsementView),
    counts: z.boolean().describe('two distinct trust-root admins validly endorsed it (revocations aside)'),
    reason: z.string().optional().describe('why it does not count: too_few_endorsements, issued_in_future, malformed'),
    current: z.boolean().describe('it is the entry the principal resolves to now'),
    addedAt: instant,
  })
  .meta({ id: 'RegistryEntryView' });
export type RegistryEntryView = z.infer<typeof RegistryEntryView>;

export const RevocationView = z.object({
  signed: z.unknown().describe('the revocation and its signature as stored ({ revocation, signature }); unverified when counts is false'),
  counts: z.boolean(),
  reason: z.string().optional(),
  addedAt: instant,
});

export const RegistryView = z
  .object({
    principalId: z.string(),
    resolution: z.object({
      ok: z.boolean().describe('the principal’s signed decisions can count'),
      rule: z.string().optional().describe('why not: unknown_principal, entry_not_endorsed, conflicting_entries, principal_frozen'),
      message: z.string().optional(),
      version: z.number().int().optional(),
      roles: z.array(z.string()).optional(),
      approvalLimits: z.record(z.string(), z.number()).optional(),
      keyIds: z.array(z.string()).optional().describe('the keys that may sign now'),
      revokedKeyIds: z.array(z.string()).optional(),
    }),
    entries: z.array(RegistryEntryView).describe('oldest first; pending ones have counts: false'),
    revocations: z.array(RevocationView),
  })
  .meta({ id: 'RegistryView' });
export type RegistryView = z.infer<typeof RegistryView>;

export const StoredEntryView = z
  .object({ created: z.boolean(), principalId: z.string(), version: z.number().int(), entryHash: z.string(), entry: RegistryEntry })
  .meta({ id: 'StoredEntryView' });
export type StoredEntryView = z.infer<typeof StoredEntryView>;

export const RevocationStored = z
  .object({ principalId: z.string(), revocationHash: z.string(), revocation: Revocation })
  .meta({ id: 'RevocationStored' });
export type RevocationStored = z.infer<typeof RevocationStored>;
