/**
 * Sessions of the operations console. The browser holds a random 256-bit session id; the table
 * holds its SHA-256 only. A session counts while it is neither revoked nor past its idle or
 * absolute expiry, and while the API key it was opened with and its principal are both still
 * active: every lookup checks all of it, so revoking a principal (or its key) ends its sessions
 * at their next request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../workflows/schemas';
import { canonicalPrincipalId } from '../workflows/schemas';
import type { Pool } from './pool';
import type { Principal } from './principals';

export interface NewConsoleSession {
  /** The secret the cookie carries; shown only here. */
  id: string;
  csrfToken: string;
  expiresAt: string;
}

export interface ConsoleSession {
  idHash: string;
  principal: Principal;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
}

/** Why a session id does not count (any more). */
export type SessionRefusal = 'unknown' | 'signed_out' | 'expired' | 'idle' | 'principal_revoked';

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export const sessionIdHash = (id: string) => createHash('sha256').update(id).digest('hex');

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value));

/** Opens a session for `principal`, signed in with the API key whose hash is `apiKeyHash`. */
export async function openConsoleSession(
  pool: Pool,
  input: { principalId: string; apiKeyHash: string; lifetimeMs: number },
): Promise<NewConsoleSession> {
  const id = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const result = await pool.query(
    `INSERT INTO console_sessions (id_hash, principal_id, api_key_hash, csrf_token, expires_at)
     VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond') RETURNING expires_at`,
    [sessionIdHash(id), canonicalPrincipalId(input.principalId), input.apiKeyHash, csrfToken, input.lifetimeMs],
  );
  return { id, csrfToken, expiresAt: iso(result.rows[0].expires_at) };
}

/**
 * The live session `id` names, with its principal as it is now (roles included), and its last
 * use moved to now; or why it does not count. `idleMs`: how long a session may go unused.
 */
export async function useConsoleSession(
  pool: Pool,
  id: string,
  idleMs: number,
): Promise<{ session: ConsoleSession } | { refused: SessionRefusal }> {
  if (!SESSION_ID.test(id)) return { refused: 'unknown' };
  const idHash = sessionIdHash(id);
  const found = await pool.query(
    `SELECT s.*, p.id AS p_id, p.roles, p.approval_limit, p.created_at AS p_created_at,
            (s.expires_at <= now()) AS expired,
            (s.last_seen_at <= now() - $2 * interval '1 millisecond') AS idle,
            (p.id IS NULL OR k.key_hash IS NULL) AS principal_gone
       FROM console_sessions s
       LEFT JOIN api_keys k ON k.key_hash = s.api_key_hash AND k.revoked_at IS NULL
       LEFT JOIN principals p ON p.id = k.principal_id AND lower(p.id) = s.principal_id AND p.revoked_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM principals r WHERE lower(r.id) = lower(p.id) AND r.revoked_at IS NOT NULL)
      WHERE s.id_hash = $1`,
    [idHash, idleMs],
  );
  const row = found.rows[0];
  if (!row) return { refused: 'unknown' };
  if (row.revoked_at) return { refused: 'signed_out' };
  if (row.principal_gone) return { refused: 'principal_revoked' };
  if (row.expired) return { refused: 'expired' };
  if (row.idle) return { refused: 'idle' };
  const touched = await pool.query(
    'UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1 AND revoked_at IS NULL RETURNING last_seen_at',
    [idHash],
  );
  if (!touched.rowCount) return { refused: 'signed_out' };
  return {
    session: {
      idHash,
      principal: {
        id: canonicalPrincipalId(String(row.p_id)),
        roles: row.roles as Role[],
        approvalLimit: (row.approval_limit as string | null) ?? null,
        createdAt: iso(row.p_created_at),
        revokedAt: null,
      },
      csrfToken: String(row.csrf_token),
      createdAt: iso(row.created_at),
      expiresAt: iso(row.expires_at),
      lastSeenAt: iso(touched.rows[0].last_seen_at),
    },
  };
}

/** Signs a session out for good; signing out twice changes nothing. */
export async function revokeConsoleSession(pool: Pool, idHash: string): Promise<void> {
  await pool.query('UPDATE console_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id_hash = $1', [idHash]);
}
