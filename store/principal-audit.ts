/**
 * Principal and key administration on the audit trail: every change to a principal (added,
 * revoked, API key rotated) and to its key registry records (entry proposed, endorsed, revoked)
 * is appended to a chain of the principal's own, `principal <id>`, in the same transaction as the
 * change, so it is verified and checkpointed like a refund's or an employee's breaker record.
 * Facts name who did it and what changed (versions, hashes, key ids), never a secret or an API key.
 */
import { userInfo } from 'node:os';
import { canonicalPrincipalId } from '../workflows/schemas';
import { appendSubjectFacts } from './audit-trail';
import type { PoolClient } from './pool';

export type PrincipalAuditKind =
  | 'principal_added'
  | 'principal_revoked'
  | 'api_key_rotated'
  | 'registry_entry_proposed'
  | 'registry_entry_endorsed'
  | 'registry_revocation';

/** Who the audit trail says made a change when the caller names nobody: the database administrator's tool. */
export const DATABASE_ADMIN_ACTOR = 'refunds-admin';

/** `refunds-admin` as the operating system user running it: the database only knows the owner role. */
export function databaseAdminActor(): string {
  try {
    return `${DATABASE_ADMIN_ACTOR}:${userInfo().username}`;
  } catch {
    return DATABASE_ADMIN_ACTOR;
  }
}

/** The audit subject of a principal's administration. */
export function principalAuditSubject(principalId: string): string {
  return `principal ${canonicalPrincipalId(principalId)}`;
}

/** Appends one fact about `principalId` inside the caller's transaction. */
export async function auditPrincipalChange(
  client: PoolClient,
  principalId: string,
  change: { kind: PrincipalAuditKind; actor: string; data: Record<string, unknown>; at?: string },
): Promise<void> {
  const id = canonicalPrincipalId(principalId);
  await appendSubjectFacts(client, principalAuditSubject(id), [
    { kind: change.kind, actor: change.actor, at: change.at ?? new Date().toISOString(), data: { principalId: id, ...change.data } },
  ]);
}
