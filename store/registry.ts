/**
 * The key registry's storage: principals' registry entries, the admins' endorsements of them (one
 * at a time) and revocations, each kept as signed, in append-only tables. Nothing read from here
 * is trusted: `registryRecords` hands back every record naming a principal, and the workflow
 * counts only what verifies against its pinned trust roots (workflows/statements), so a row
 * written straight into these tables changes nothing unless two trust-root admins signed it.
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
import { withTransaction, type Db, type Pool } from './pool';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly code: 'entry_not_found' | 'entry_ambiguous',
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
 * `addEndorsement`). Storing the same entry again adds only endorsements it did not have.
 */
export async function addRegistryEntry(pool: Pool, input: { entry: unknown; endorsements?: unknown[] }): Promise<StoredEntry> {
  const entry = parse(RegistryEntry, 'registry entry', input.entry);
  const endorsements = (input.endorsements ?? []).map((e) => parse(Endorsement, 'endorsement', e));
  const entryHash = sha256Hex(canonicalBytes(entry));
  return withTransaction(pool, async (client) => {
    const inserted = await client.query(
      `INSERT INTO registry_entries (principal_id, version, entry, entry_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (principal_id, version, entry_hash) DO NOTHING RETURNING id`,
      [canonicalId(entry.principalId), entry.version, entry, entryHash],
    );
    const entryId = inserted.rows[0]
      ? Number(inserted.rows[0].id)
      : await entryIdOf(client, canonicalId(entry.principalId), entry.version, entryHash);
    for (const endorsement of endorsements) await insertEndorsement(client, entryId, endorsement);
    return { entryId, entry, entryHash, endorsements: await endorsementsOf(client, entryId) };
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
): Promise<StoredEntry> {
  const parsed = parse(Endorsement, 'endorsement', endorsement);
  return withTransaction(pool, async (client) => {
    const stored = await findEntry(client, target);
    await insertEndorsement(client, stored.entryId, parsed);
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

/** Stores a signed revocation (one admin's signature is enough for it to count). */
export async function addRevocation(pool: Pool, signed: unknown): Promise<SignedRevocation> {
  const parsed = parse(SignedRevocation, 'revocation', signed);
  await pool.query(
    `INSERT INTO registry_revocations (principal_id, revocation, revoked_at) VALUES ($1, $2, $3)
     ON CONFLICT (principal_id, revocation) DO NOTHING`,
    [canonicalId(parsed.revocation.principalId), parsed, parsed.revocation.revokedAt],
  );
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

async function entryIdOf(db: Db, principalId: string, version: number, entryHash: string): Promise<number> {
  const found = await db.query('SELECT id FROM registry_entries WHERE principal_id = $1 AND version = $2 AND entry_hash = $3', [
    principalId,
    version,
    entryHash,
  ]);
  return Number(found.rows[0].id);
}

async function insertEndorsement(db: Db, entryId: number, endorsement: Endorsement): Promise<void> {
  await db.query(
    'INSERT INTO registry_endorsements (entry_id, endorsement) VALUES ($1, $2) ON CONFLICT (entry_id, endorsement) DO NOTHING',
    [entryId, endorsement],
  );
}

async function endorsementsOf(db: Db, entryId: number): Promise<Endorsement[]> {
  const result = await db.query('SELECT endorsement FROM registry_endorsements WHERE entry_id = $1 ORDER BY id', [entryId]);
  return result.rows.map((row) => row.endorsement as Endorsement);
}
