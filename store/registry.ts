/**
 * The key registry's storage: principals' registry entries, the admins' endorsements of them (one
 * at a time) and revocations, each kept as signed, in append-only tables. Nothing read from here
 * is trusted: `registryRecords` hands back every record naming a principal, and the workflow
 * counts only what verifies against its pinned trust roots (workflows/statements), so a row
 * written straight into these tables changes nothing unless two trust-root admins signed it.
 * Every record added through here is also written to the principal's audit chain
 * (store/principal-audit.ts) in the same transaction, naming `actor`: who added it.
 */
import { InvalidInputError } from '../client/errors';
import {
  canonicalBytes,
  canonicalId,
  Endorsement,
  RegistryEntry,
  sha256Hex,
  SignedRevocation,
  type RegistryRecords,
} from '../workflows/statements';
import type { z } from 'zod';
import { auditPrincipalChange, DATABASE_ADMIN_ACTOR } from './principal-audit';
import { withTransaction, type Db, type Pool, type PoolClient } from './pool';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly code: 'entry_not_found' | 'entry_ambiguous' | 'version_taken',
    message: string,
  ) {
    super(message);
  }
}

function parse<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw InvalidInputError.fromZod(what, parsed.error);
  return parsed.data;
}

/** A stored entry: the entry as signed, its row id and hash, and every endorsement added to it. */
export interface StoredEntry {
  entryId: number;
  entry: RegistryEntry;
  entryHash: string;
  endorsements: Endorsement[];
}

/**
 * Stores a registry entry with the endorsements it comes with (more can follow with
 * `addEndorsement`). Storing the same entry again adds only endorsements it did not have; what is
 * new is audited as done by `actor`.
 */
export async function addRegistryEntry(
  pool: Pool,
  input: { entry: unknown; endorsements?: unknown[] },
  actor = DATABASE_ADMIN_ACTOR,
): Promise<StoredEntry> {
  const entry = parse(RegistryEntry, 'registry entry', input.entry);
  const endorsements = (input.endorsements ?? []).map((e) => parse(Endorsement, 'endorsement', e));
  const entryHash = sha256Hex(canonicalBytes(entry));
  return withTransaction(pool, async (client) => {
    const entryId = await insertEntry(client, entry, entryHash, actor);
    const stored = { entryId, entry, entryHash, endorsements: [] };
    for (const endorsement of endorsements) await insertEndorsement(client, stored, endorsement, actor);
    return { ...stored, endorsements: await endorsementsOf(client, entryId) };
  });
}

/**
 * A new entry for `principalId`, as proposed through the API: refused when the registry already
 * holds a different entry at that version or a later one (it would only conflict or never count).
 * Proposing the very same entry again changes nothing.
 */
export async function proposeRegistryEntry(pool: Pool, input: unknown, actor: string): Promise<StoredEntry & { created: boolean }> {
  const entry = parse(RegistryEntry, 'registry entry', input);
  const entryHash = sha256Hex(canonicalBytes(entry));
  const principalId = canonicalId(entry.principalId);
  return withTransaction(pool, async (client) => {
    // One proposer at a time per principal, so two proposals cannot both take the next version.
    await client.query('SELECT pg_advisory_xact_lock(7001003, hashtext($1))', [principalId]);
    const existing = await client.query<{ id: number }>(
      'SELECT id FROM registry_entries WHERE principal_id = $1 AND version = $2 AND entry_hash = $3',
      [principalId, entry.version, entryHash],
    );
    if (existing.rows[0]) return { ...(await findEntry(client, { principalId, version: entry.version, entryHash })), created: false };
    const latest = await client.query<{ max: number | null }>('SELECT max(version) AS max FROM registry_entries WHERE principal_id = $1', [
      principalId,
    ]);
    const max = latest.rows[0]?.max ?? 0;
    if (entry.version <= max) {
      throw new RegistryError(
        'version_taken',
        `the registry already has ${principalId} at version ${max}: propose version ${max + 1} (an entry counts only at the highest version)`,
      );
    }
    const entryId = await insertEntry(client, entry, entryHash, actor);
    return { entryId, entry, entryHash, endorsements: [], created: true };
  });
}

/**
 * Adds one admin's endorsement to the stored entry of `principalId` at `version` (the latest
 * version if none is given). `entryHash` picks one when different entries share the version.
 */
export async function addEndorsement(
  pool: Pool,
  target: { principalId: string; version?: number; entryHash?: string },
  endorsement: unknown,
  actor = DATABASE_ADMIN_ACTOR,
): Promise<StoredEntry> {
  const parsed = parse(Endorsement, 'endorsement', endorsement);
  return withTransaction(pool, async (client) => {
    const stored = await findEntry(client, target);
    await insertEndorsement(client, stored, parsed, actor);
    return { ...stored, endorsements: await endorsementsOf(client, stored.entryId) };
  });
}

/** The stored entry of `principalId` at `version` (default: the latest), for an admin to endorse. */
export async function findEntry(db: Db, target: { principalId: string; version?: number; entryHash?: string }): Promise<StoredEntry> {
  const principalId = canonicalId(target.principalId);
  const result = await db.query(
    `SELECT id, entry, entry_hash FROM registry_entries
     WHERE principal_id = $1
       AND version = coalesce($2, (SELECT max(version) FROM registry_entries WHERE principal_id = $1))
       AND ($3::text IS NULL OR entry_hash = $3)
     ORDER BY id`,
    [principalId, target.version ?? null, target.entryHash ?? null],
  );
  const which = `${principalId}${target.version !== undefined ? ` version ${target.version}` : ''}`;
  if (result.rows.length === 0) throw new RegistryError('entry_not_found', `the registry has no entry for ${which}`);
  if (result.rows.length > 1) {
    const hashes = result.rows.map((r) => String(r.entry_hash)).join(', ');
    throw new RegistryError('entry_ambiguous', `the registry has several entries for ${which} (${hashes}): name one by its hash`);
  }
  const row = result.rows[0]!;
  const entryId = Number(row.id);
  return { entryId, entry: row.entry as RegistryEntry, entryHash: String(row.entry_hash), endorsements: await endorsementsOf(db, entryId) };
}

/** Stores a signed revocation (one admin's signature is enough for it to count); a new one is audited as done by `actor`. */
export async function addRevocation(pool: Pool, signed: unknown, actor = DATABASE_ADMIN_ACTOR): Promise<SignedRevocation> {
  const parsed = parse(SignedRevocation, 'revocation', signed);
  const { revocation } = parsed;
  await withTransaction(pool, async (client) => {
    const inserted = await client.query(
      `INSERT INTO registry_revocations (principal_id, revocation, revoked_at) VALUES ($1, $2, $3)
       ON CONFLICT (principal_id, revocation) DO NOTHING RETURNING id`,
      [canonicalId(revocation.principalId), parsed, revocation.revokedAt],
    );
    if (!inserted.rowCount) return;
    await auditPrincipalChange(client, revocation.principalId, {
      kind: 'registry_revocation',
      actor,
      data: {
        scope: revocation.keyId === undefined ? 'principal' : 'key',
        ...(revocation.keyId !== undefined ? { keyId: revocation.keyId } : {}),
        reason: revocation.reason,
        revokedAt: revocation.revokedAt,
        adminId: canonicalId(revocation.adminId),
        adminKeyId: revocation.adminKeyId,
        revocationHash: sha256Hex(canonicalBytes(parsed)),
      },
    });
  });
  return parsed;
}

/**
 * Every stored record naming `principalId` (in any case): each entry with all its endorsements,
 * and every revocation, unverified and in the order they were added.
 */
export async function registryRecords(db: Db, principalId: string): Promise<RegistryRecords> {
  const id = canonicalId(principalId);
  const entries = await db.query(
    `SELECT e.entry, coalesce(jsonb_agg(d.endorsement ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL), '[]'::jsonb) AS endorsements
     FROM registry_entries e LEFT JOIN registry_endorsements d ON d.entry_id = e.id
     WHERE e.principal_id = $1 GROUP BY e.id ORDER BY e.id`,
    [id],
  );
  const revocations = await db.query('SELECT revocation FROM registry_revocations WHERE principal_id = $1 ORDER BY id', [id]);
  return {
    entries: entries.rows.map((row) => ({ entry: row.entry, endorsements: row.endorsements })),
    revocations: revocations.rows.map((row) => row.revocation),
  };
}

/** Inserts `entry` unless stored already (then audits nothing) and answers with its row id. */
async function insertEntry(client: PoolClient, entry: RegistryEntry, entryHash: string, actor: string): Promise<number> {
  const principalId = canonicalId(entry.principalId);
  const inserted = await client.query(
    `INSERT INTO registry_entries (principal_id, version, entry, entry_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (principal_id, version, entry_hash) DO NOTHING RETURNING id`,
    [principalId, entry.version, entry, entryHash],
  );
  if (!inserted.rows[0]) return entryIdOf(client, principalId, entry.version, entryHash);
  await auditPrincipalChange(client, principalId, {
    kind: 'registry_entry_proposed',
    actor,
    data: {
      version: entry.version,
      entryHash,
      status: entry.status,
      roles: entry.roles,
      approvalLimits: entry.approvalLimits,
      keyIds: entry.keys.map((k) => k.keyId),
      issuedAt: entry.issuedAt,
    },
  });
  return Number(inserted.rows[0].id);
}

async function entryIdOf(db: Db, principalId: string, version: number, entryHash: string): Promise<number> {
  const found = await db.query('SELECT id FROM registry_entries WHERE principal_id = $1 AND version = $2 AND entry_hash = $3', [
    principalId,
    version,
    entryHash,
  ]);
  return Number(found.rows[0].id);
}

async function insertEndorsement(
  client: PoolClient,
  stored: Pick<StoredEntry, 'entryId' | 'entry' | 'entryHash'>,
  endorsement: Endorsement,
  actor: string,
): Promise<void> {
  const inserted = await client.query(
    'INSERT INTO registry_endorsements (entry_id, endorsement) VALUES ($1, $2) ON CONFLICT (entry_id, endorsement) DO NOTHING',
    [stored.entryId, endorsement],
  );
  if (!inserted.rowCount) return;
  await auditPrincipalChange(client, stored.entry.principalId, {
    kind: 'registry_entry_endorsed',
    actor,
    data: {
      version: stored.entry.version,
      entryHash: stored.entryHash,
      adminId: canonicalId(endorsement.adminId),
      keyId: endorsement.keyId,
    },
  });
}

async function endorsementsOf(db: Db, entryId: number): Promise<Endorsement[]> {
  const result = await db.query('SELECT endorsement FROM registry_endorsements WHERE entry_id = $1 ORDER BY id', [entryId]);
  return result.rows.map((row) => row.endorsement as Endorsement);
}

/**
 * A principal's stored registry, as it is, with when each record was added: what an admin
 * reviews. Records are unverified and may be malformed (a row written straight into the tables).
 */
export interface StoredRegistry {
  entries: Array<{ entryId: number; version: number; entry: unknown; entryHash: string; endorsements: unknown[]; addedAt: string }>;
  revocations: Array<{ signed: unknown; addedAt: string }>;
}

/** Every stored entry (with its endorsements) and revocation naming `principalId`, oldest first; unverified. */
export async function storedRegistryOf(db: Db, principalId: string): Promise<StoredRegistry> {
  const id = canonicalId(principalId);
  const entries = await db.query(
    `SELECT e.id, e.version, e.entry, e.entry_hash, e.added_at,
            coalesce(jsonb_agg(d.endorsement ORDER BY d.id) FILTER (WHERE d.id IS NOT NULL), '[]'::jsonb) AS endorsements
     FROM registry_entries e LEFT JOIN registry_endorsements d ON d.entry_id = e.id
     WHERE e.principal_id = $1 GROUP BY e.id ORDER BY e.id`,
    [id],
  );
  const revocations = await db.query('SELECT revocation, added_at FROM registry_revocations WHERE principal_id = $1 ORDER BY id', [id]);
  return {
    entries: entries.rows.map((row) => ({
      entryId: Number(row.id),
      version: Number(row.version),
      entry: row.entry as unknown,
      entryHash: String(row.entry_hash),
      endorsements: row.endorsements as unknown[],
      addedAt: (row.added_at as Date).toISOString(),
    })),
    revocations: revocations.rows.map((row) => ({ signed: row.revocation, addedAt: (row.added_at as Date).toISOString() })),
  };
}
