/**
 * Principals: who may call the API (an employee's or a service's id), with which roles and, for
 * approvers, up to which amount. Each holds API keys that are random, shown once when issued and
 * stored only as SHA-256 hashes, so a copy of the database does not let anyone act as anyone.
 * Every change is written to the principal's audit chain in the same transaction (never the key).
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { auditPrincipalChange, DATABASE_ADMIN_ACTOR } from './principal-audit';
import { withTransaction, type Pool } from './pool';
import { majorToMinor, minorUnitExponent } from '../workflows/currencies';
import { canonicalPrincipalId, principalId, Role } from '../workflows/schemas';
import { InvalidInputError } from '../client/errors';

/** In major units of the refund's own currency: "1000.00" is 1,000 USD for a USD refund, 1,000 JPY for a JPY one. */
export const ApprovalLimit = z
  .string({ error: 'approvalLimit must be a decimal amount' })
  .regex(/^\d{1,11}(\.\d{1,4})?$/, 'approvalLimit must be a decimal amount in major units, e.g. 1000.00');

export const NewPrincipal = z
  .strictObject({
    id: principalId('id'),
    roles: z
      .array(Role, { error: 'roles must list refund_service, warehouse, approver, ops or admin' })
      .min(1, 'a principal needs at least one role')
      .transform((roles) => [...new Set(roles)]),
    approvalLimit: ApprovalLimit.nullable().default(null),
  })
  .superRefine((principal, ctx) => {
    const approver = principal.roles.includes('approver');
    if (approver && principal.approvalLimit === null) {
      ctx.addIssue({ code: 'custom', path: ['approvalLimit'], message: 'an approver needs an approval limit, e.g. 1000.00' });
    }
    if (!approver && principal.approvalLimit !== null) {
      ctx.addIssue({ code: 'custom', path: ['approvalLimit'], message: 'an approval limit only applies to the approver role' });
    }
  });
export type NewPrincipal = z.input<typeof NewPrincipal>;

export interface Principal {
  id: string;
  roles: Role[];
  approvalLimit: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export class PrincipalError extends Error {
  override name = 'PrincipalError';
  constructor(
    readonly code: 'principal_exists' | 'principal_not_found' | 'principal_revoked',
    message: string,
  ) {
    super(message);
  }
}

const API_KEY_PREFIX = 'rk_';
const API_KEY_SHAPE = /^rk_[A-Za-z0-9_-]{43}$/;

/** A new API key: 256 random bits, so keys cannot be guessed and need no slow hash. */
export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function apiKeyHash(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/**
 * An approver's limit in minor units of `currency`. Decimals the currency does not have are
 * dropped, never rounded up: "1000.50" is 1000 JPY.
 */
export function approvalLimitIn(limit: string | null, currency: string): number {
  if (limit === null) return 0;
  const [units = '0', fraction = ''] = limit.split('.');
  return majorToMinor(`${units}.${fraction.slice(0, minorUnitExponent(currency)) || '0'}`, currency);
}

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : null);

/**
 * A row as the principal it names. Ids are canonical (lowercase): a row written straight to the
 * table in another case is the same principal as its lowercase twin, never a second one.
 */
function toPrincipal(row: Record<string, unknown>): Principal {
  return {
    id: canonicalPrincipalId(String(row.id)),
    roles: row.roles as Role[],
    approvalLimit: (row.approval_limit as string | null) ?? null,
    createdAt: iso(row.created_at)!,
    revokedAt: iso(row.revoked_at),
  };
}

/** Creates a principal with one API key, and returns the key: the only time it is ever shown. */
export async function addPrincipal(
  pool: Pool,
  input: NewPrincipal,
  actor = DATABASE_ADMIN_ACTOR,
): Promise<{ principal: Principal; apiKey: string }> {
  const parsed = NewPrincipal.safeParse(input);
  if (!parsed.success) throw InvalidInputError.fromZod('principal', parsed.error);
  const { id: principalId, roles, approvalLimit } = parsed.data;
  const apiKey = newApiKey();
  const principal = await withTransaction(pool, async (client) => {
    // A row that differs only in case (written straight to the table) is the same principal.
    const inserted = await client.query(
      `INSERT INTO principals (id, roles, approval_limit)
       SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM principals WHERE lower(id) = $1)
       ON CONFLICT (id) DO NOTHING RETURNING *`,
      [principalId, roles, approvalLimit],
    );
    if (!inserted.rows[0]) throw new PrincipalError('principal_exists', `principal ${principalId} already exists`);
    await client.query('INSERT INTO api_keys (key_hash, principal_id) VALUES ($1, $2)', [apiKeyHash(apiKey), principalId]);
    const added = toPrincipal(inserted.rows[0]);
    await auditPrincipalChange(client, principalId, {
      kind: 'principal_added',
      actor,
      at: added.createdAt,
      data: { roles: added.roles, approvalLimit: added.approvalLimit, apiKeys: 1 },
    });
    return added;
  });
  return { principal, apiKey };
}

/** The rows of one principal: its canonical row and any that differ from it only in case, canonical first. */
const ROWS_OF_PRINCIPAL = 'SELECT * FROM principals WHERE lower(id) = $1 ORDER BY id = $1 DESC, id';

/**
 * Revokes every key of an active principal and issues a new one (a lost or leaked key). Keys of
 * rows that differ only in case are revoked too; the new key belongs to the canonical row if there is one.
 */
export async function rotateApiKey(pool: Pool, id: string, actor = DATABASE_ADMIN_ACTOR): Promise<string> {
  const principalId = canonicalPrincipalId(id);
  const apiKey = newApiKey();
  await withTransaction(pool, async (client) => {
    const found = await client.query(`${ROWS_OF_PRINCIPAL} FOR UPDATE`, [principalId]);
    if (!found.rows[0]) throw new PrincipalError('principal_not_found', `principal ${principalId} not found`);
    if (found.rows.some((row) => row.revoked_at)) throw new PrincipalError('principal_revoked', `principal ${principalId} is revoked`);
    const rowIds = found.rows.map((row) => String(row.id));
    const retired = await client.query(
      'UPDATE api_keys SET revoked_at = now() WHERE principal_id = ANY($1::text[]) AND revoked_at IS NULL',
      [rowIds],
    );
    await client.query('INSERT INTO api_keys (key_hash, principal_id) VALUES ($1, $2)', [apiKeyHash(apiKey), rowIds[0]]);
    await auditPrincipalChange(client, principalId, { kind: 'api_key_rotated', actor, data: { apiKeysRevoked: retired.rowCount ?? 0 } });
  });
  return apiKey;
}

/**
 * Revokes a principal and all its keys, at once and for good, including rows that differ from
 * its id only in case. Revoking twice changes nothing.
 */
export async function revokePrincipal(pool: Pool, id: string, actor = DATABASE_ADMIN_ACTOR): Promise<Principal> {
  const principalId = canonicalPrincipalId(id);
  return withTransaction(pool, async (client) => {
    const found = await client.query(`${ROWS_OF_PRINCIPAL} FOR UPDATE`, [principalId]);
    if (!found.rows[0]) throw new PrincipalError('principal_not_found', `principal ${principalId} not found`);
    const rowIds = found.rows.map((row) => String(row.id));
    const wasRevoked = found.rows.every((row) => row.revoked_at);
    const revoked = await client.query(
      'UPDATE principals SET revoked_at = coalesce(revoked_at, now()) WHERE id = ANY($1::text[]) RETURNING *',
      [rowIds],
    );
    const keys = await client.query('UPDATE api_keys SET revoked_at = now() WHERE principal_id = ANY($1::text[]) AND revoked_at IS NULL', [
      rowIds,
    ]);
    const principal = toPrincipal(revoked.rows.find((row) => row.id === rowIds[0])!);
    // Revoking twice changes nothing, and so is not audited twice.
    if (!wasRevoked || keys.rowCount) {
      const data = { revokedAt: principal.revokedAt, apiKeysRevoked: keys.rowCount ?? 0 };
      await auditPrincipalChange(client, principalId, { kind: 'principal_revoked', actor, data });
    }
    return principal;
  });
}

export async function listPrincipals(pool: Pool): Promise<Array<Principal & { activeKeys: number }>> {
  const result = await pool.query(
    `SELECT p.*, (SELECT count(*)::int FROM api_keys k WHERE k.principal_id = p.id AND k.revoked_at IS NULL) AS active_keys
     FROM principals p ORDER BY p.id`,
  );
  return result.rows.map((row) => ({ ...toPrincipal(row), activeKeys: Number(row.active_keys) }));
}

/**
 * The active principal an API key belongs to, with its canonical id, or undefined for an unknown
 * or revoked key. A principal is revoked if any row of it (in any case) is.
 */
export async function authenticate(pool: Pool, apiKey: string): Promise<Principal | undefined> {
  if (!API_KEY_SHAPE.test(apiKey)) return undefined;
  const result = await pool.query(
    `SELECT p.* FROM api_keys k JOIN principals p ON p.id = k.principal_id
     WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND p.revoked_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM principals r WHERE lower(r.id) = lower(p.id) AND r.revoked_at IS NOT NULL)`,
    [apiKeyHash(apiKey)],
  );
  return result.rows[0] ? toPrincipal(result.rows[0]) : undefined;
}
