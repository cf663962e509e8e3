/** The refunds read model: one row per refund, for lookups and operations lists. */
import type { ReadModelSnapshot } from '../workflows/read-model-snapshot';
import { activeStates, type AuditFact, type AuditHead, type RefundState } from '../workflows/refund-model';
import { auditAppendOf, auditAppendParams, type AuditAppend, type AuditAppendRow } from './audit-trail';
import type { Db, Pool, PoolClient } from './pool';

/** $1 to $11 of the statements that move a row forward. */
function rowParams(row: ReadModelSnapshot): unknown[] {
  return [row.refundId, ...progressParams(row)];
}

/** The columns a transition moves, in their order ($2 to $11 above; advance_refund takes them after the facts). */
function progressParams(row: ReadModelSnapshot): unknown[] {
  return [
    row.state,
    row.waitingFor,
    row.stateSince,
    row.stuck,
    row.stuckAfter,
    row.riskScore,
    row.riskBand,
    row.approvalsRequired,
    row.approvalsGiven,
    row.progressSeq,
  ];
}

/** Moves a row forward to `row`; changes nothing when the row already reflects a later step. */
async function updateRefundRow(client: PoolClient, row: ReadModelSnapshot): Promise<number> {
  const updated = await client.query(
    `UPDATE refunds SET state = $2, waiting_for = $3, state_since = $4, stuck = $5, stuck_after = $6, risk_score = $7,
       risk_band = $8, approvals_required = $9, approvals_given = $10, progress_seq = $11, updated_at = now()
     WHERE refund_id = $1 AND progress_seq < $11`,
    rowParams(row),
  );
  return updated.rowCount ?? 0;
}

/**
 * Inserts or updates a refund's row. A row only moves forward: an update carrying an older
 * progress sequence (a retried activity overtaken by a newer one) changes nothing.
 * Returns false when the row belongs to a different request with the same refund id.
 * Only the first write of a refund carries its request hash; every later one is one statement.
 */
export async function upsertRefundRow(client: PoolClient, row: ReadModelSnapshot, requestHash: string | undefined): Promise<boolean> {
  if (requestHash === undefined) {
    if ((await updateRefundRow(client, row)) === 0) {
      const exists = await client.query('SELECT 1 FROM refunds WHERE refund_id = $1', [row.refundId]);
      if (!exists.rowCount) throw new Error(`refund ${row.refundId} has no read-model row to update`);
    }
    return true;
  }
  const existing = await client.query<{ request_hash: string }>('SELECT request_hash FROM refunds WHERE refund_id = $1 FOR UPDATE', [
    row.refundId,
  ]);
  const current = existing.rows[0];
  if (current) {
    if (current.request_hash !== requestHash) return false;
    await updateRefundRow(client, row);
    return true;
  }
  await client.query(
    `INSERT INTO refunds (refund_id, workflow_id, order_id, customer_id, initiated_by, currency, amount, state,
       waiting_for, state_since, stuck, stuck_after, carrier, tracking_number, policy_version,
       risk_score, risk_band, approvals_required, approvals_given, request_hash, requested_at, progress_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
    [
      row.refundId,
      row.workflowId,
      row.orderId,
      row.customerId,
      row.initiatedBy,
      row.currency,
      row.amount,
      row.state,
      row.waitingFor,
      row.stateSince,
      row.stuck,
      row.stuckAfter,
      row.carrier,
      row.trackingNumber,
      row.policyVersion,
      row.riskScore,
      row.riskBand,
      row.approvalsRequired,
      row.approvalsGiven,
      requestHash,
      row.requestedAt,
      row.progressSeq,
    ],
  );
  return true;
}

/** A refund's read-model row as callers see it: the workflow's snapshot, plus when it last changed. */
export interface RefundRow extends Omit<ReadModelSnapshot, 'progressSeq' | 'status'> {
  updatedAt: string;
}

/** Every column but the status document, which the lists have no use for. */
export const ROW_COLUMNS = `refund_id, workflow_id, order_id, customer_id, initiated_by, currency, amount, state, waiting_for,
  state_since, stuck, stuck_after, carrier, tracking_number, policy_version, risk_score, risk_band, approvals_required,
  approvals_given, requested_at, updated_at`;

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : null);

export function toRefundRow(r: Record<string, unknown>): RefundRow {
  return {
    refundId: String(r.refund_id),
    workflowId: String(r.workflow_id),
    orderId: String(r.order_id),
    customerId: String(r.customer_id),
    initiatedBy: String(r.initiated_by),
    currency: String(r.currency),
    amount: Number(r.amount),
    state: r.state as RefundState,
    waitingFor: (r.waiting_for as string | null) ?? null,
    stateSince: iso(r.state_since)!,
    stuck: Boolean(r.stuck),
    stuckAfter: iso(r.stuck_after),
    carrier: (r.carrier as string | null) ?? null,
    trackingNumber: (r.tracking_number as string | null) ?? null,
    policyVersion: String(r.policy_version),
    riskScore: r.risk_score === null ? null : Number(r.risk_score),
    riskBand: (r.risk_band as string | null) ?? null,
    approvalsRequired: r.approvals_required === null ? null : Number(r.approvals_required),
    approvalsGiven: Number(r.approvals_given),
    requestedAt: iso(r.requested_at)!,
    updatedAt: iso(r.updated_at)!,
  };
}

export async function getRefundRow(pool: Pool, refundId: string): Promise<RefundRow | undefined> {
  const result = await pool.query(`SELECT ${ROW_COLUMNS} FROM refunds WHERE refund_id = $1`, [refundId]);
  return result.rows[0] ? toRefundRow(result.rows[0]) : undefined;
}

/** The refunds a carrier's tracking number belongs to (normally one). */
export async function findRefundsByTracking(pool: Pool, carrier: string, trackingNumber: string): Promise<RefundRow[]> {
  const result = await pool.query(`SELECT ${ROW_COLUMNS} FROM refunds WHERE carrier = $1 AND tracking_number = $2 ORDER BY requested_at`, [
    carrier,
    trackingNumber,
  ]);
  return result.rows.map(toRefundRow);
}

export interface StuckQuery {
  /** Waiting in the current state longer than this many milliseconds. Omitted: past the state's own limit. */
  olderThanMs?: number;
  states?: RefundState[];
  /** Only refunds in this currency; with it, `amountMin` and `amountMax` (minor units, inclusive). */
  currency?: string;
  amountMin?: number;
  amountMax?: number;
  limit?: number;
  now?: Date;
}

/** The optional filters of the stuck listing as SQL, with their parameters numbered from `first`. */
export function stuckFilters(query: StuckQuery, first: number): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(clause(`$${first + params.length - 1}`));
  };
  if (query.currency !== undefined) add((p) => `currency = ${p}`, query.currency);
  if (query.amountMin !== undefined) add((p) => `amount >= ${p}`, query.amountMin);
  if (query.amountMax !== undefined) add((p) => `amount <= ${p}`, query.amountMax);
  return { sql: clauses.map((c) => ` AND ${c}`).join(''), params };
}

/**
 * Refunds still in flight that have waited too long, oldest first. One scan of the
 * (state, state_since) index per state, oldest first, merged: a scan stops at `limit` matches,
 * and the longest-waiting refunds of a state are nearly always the ones past its limit, so the
 * listing reads a few hundred rows however many refunds are stuck.
 */
export async function listStuckRefunds(pool: Pool, query: StuckQuery = {}): Promise<RefundRow[]> {
  const now = query.now ?? new Date();
  const states = [...new Set(query.states?.length ? query.states : activeStates)];
  const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
  const active = `state IN (${activeStates.map((s) => `'${s}'`).join(', ')})`;
  // `stuck_after + interval '0'`, not `stuck_after`: the summary's (state, stuck_after) index would
  // otherwise tempt PostgreSQL to fetch every stuck refund of the state and sort them (about a
  // second at 10,000,000 refunds) instead of scanning the state oldest first and stopping at `limit`.
  const waited = query.olderThanMs === undefined ? `stuck_after + interval '0' <= $1` : 'state_since <= $1';
  const bound = query.olderThanMs === undefined ? now : new Date(now.getTime() - query.olderThanMs);
  const filters = stuckFilters(query, states.length + 3);
  const perState = states.map(
    (_, i) =>
      `(SELECT ${ROW_COLUMNS} FROM refunds WHERE ${active} AND state = $${i + 3} AND ${waited}${filters.sql} ORDER BY state_since LIMIT $2)`,
  );
  const result = await pool.query(`SELECT * FROM (${perState.join(' UNION ALL ')}) AS stuck ORDER BY state_since LIMIT $2`, [
    bound,
    limit,
    ...states,
    ...filters.params,
  ]);
  return result.rows.map(toRefundRow);
}

/**
 * Keeps the refund's whole status with its row, with the audit head this write produced (the
 * workflow only learns it from the write). Unless a later write has already moved the row on.
 */
export async function recordRefundStatus(client: PoolClient, row: ReadModelSnapshot, auditHead: AuditHead | null): Promise<void> {
  await client.query('UPDATE refunds SET status = $3 WHERE refund_id = $1 AND progress_seq = $2', [
    row.refundId,
    row.progressSeq,
    JSON.stringify({ ...row.status, auditHead: auditHead ?? row.status.auditHead }),
  ]);
}

/**
 * A later transition's row and status document in one statement (the first goes through
 * `upsertRefundRow`, then `recordRefundStatus`). The row only moves forward, as there: an older
 * progress sequence changes nothing. A refund with no row at all is an error.
 */
export async function advanceRefundRow(client: PoolClient, row: ReadModelSnapshot, auditHead: AuditHead | null): Promise<void> {
  const updated = await client.query(
    `UPDATE refunds SET state = $2, waiting_for = $3, state_since = $4, stuck = $5, stuck_after = $6, risk_score = $7,
       risk_band = $8, approvals_required = $9, approvals_given = $10, progress_seq = $11, status = $12, updated_at = now()
     WHERE refund_id = $1 AND progress_seq < $11`,
    [...rowParams(row), JSON.stringify({ ...row.status, auditHead: auditHead ?? row.status.auditHead })],
  );
  if (updated.rowCount) return;
  const exists = await client.query('SELECT 1 FROM refunds WHERE refund_id = $1', [row.refundId]);
  if (!exists.rowCount) throw new Error(`refund ${row.refundId} has no read-model row to update`);
}

/**
 * A later transition with nothing else to write, in one statement and one round trip: its audit
 * facts appended (as appendAuditFacts) and its row moved forward (as advanceRefundRow), by the
 * database function advance_refund (migrations/). One statement is one transaction, so the facts
 * and the row commit together: a refund with no row raises and leaves no fact behind. Given the
 * pool, not a transaction's client: a transaction around it would only add BEGIN and COMMIT.
 */
export async function appendAndAdvance(db: Db, row: ReadModelSnapshot, firstSeq: number, facts: AuditFact[]): Promise<AuditAppend> {
  const result = await db.query<AuditAppendRow>(
    `SELECT appended, head_seq, head_hash
       FROM advance_refund($1, $2, $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[], $8::text[],
                           $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::jsonb)`,
    // The status as given; the function sets its auditHead to the head it appended to.
    [...auditAppendParams(row.refundId, firstSeq, facts), ...progressParams(row), JSON.stringify(row.status)],
  );
  return auditAppendOf(result.rows[0]!);
}

/** The refund's status as its workflow last wrote it, if its row has one. */
export async function storedRefundStatus(pool: Pool, refundId: string): Promise<ReadModelSnapshot['status'] | undefined> {
  const result = await pool.query('SELECT status FROM refunds WHERE refund_id = $1', [refundId]);
  return (result.rows[0]?.status as ReadModelSnapshot['status'] | null) ?? undefined;
}
