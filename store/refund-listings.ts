/**
 * Listings over the refunds read model for operations, auditors, refund services and approvers:
 * every refund with cursor pagination and filters, the refunds awaiting approval with their
 * stored status (for an approver's inbox), and the stuck refunds' totals.
 */
import { InvalidInputError } from '../client/errors';
import type { RefundStatus } from '../workflows/messages';
import { activeStates, type RefundState } from '../workflows/refund-model';
import type { Db } from './pool';
import { ROW_COLUMNS, stuckFilters, toRefundRow, type RefundRow, type StuckQuery } from './read-model';

export interface RefundListFilters {
  /** Any of these states (after intersecting with `waitingFor`'s states, if both are given). */
  states?: RefundState[];
  customerId?: string;
  orderId?: string;
  /** true: stuck now (escalated, or past its stage deadline); false: everything else. */
  stuck?: boolean;
  /** Only refunds whose verified requester is this refund service. */
  requestedBy?: string;
  now?: Date;
}

export interface RefundPageRequest {
  /** 1 to 100 (default 20). */
  limit?: number;
  /** The last refund id of the previous page: the page starts after it. */
  startingAfter?: string;
}

/** A refund as the listings show it: its row, whether it is stuck now, and the refund service that requested it. */
export interface RefundListItem extends RefundRow {
  requestedBy: string | null;
}

export interface RefundPage {
  data: RefundListItem[];
  hasMore: boolean;
}

/** The states a refund waits in, quoted for SQL: the predicate of the in-flight indexes, which a query must repeat to use them. */
export const IN_FLIGHT_STATES_SQL = activeStates.map((s) => `'${s}'`).join(', ');
const ACTIVE = `state IN (${IN_FLIGHT_STATES_SQL})`;
const STUCK_NOW = (now: string) => `(${ACTIVE} AND (stuck OR stuck_after <= ${now}))`;

/**
 * Refunds newest first (requested_at, then refund_id, both descending), a page at a time: the
 * cursor is the last refund id of the previous page, so refunds requested meanwhile never shift a
 * page and none is listed twice. A cursor this caller cannot see (unknown, or filtered out by
 * `requestedBy`) is invalid input naming `starting_after`.
 */
export async function listRefunds(db: Db, filters: RefundListFilters = {}, page: RefundPageRequest = {}): Promise<RefundPage> {
  const limit = Math.min(Math.max(page.limit ?? 20, 1), 100);
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (filters.requestedBy !== undefined) where.push(`status ->> 'requestedBy' = ${param(filters.requestedBy)}`);
  if (filters.states !== undefined) where.push(`state = ANY(${param(filters.states)}::text[])`);
  if (filters.customerId !== undefined) where.push(`customer_id = ${param(filters.customerId)}`);
  if (filters.orderId !== undefined) where.push(`order_id = ${param(filters.orderId)}`);
  if (filters.stuck !== undefined) {
    const stuck = STUCK_NOW(param(filters.now ?? new Date()));
    where.push(filters.stuck ? stuck : `NOT ${stuck}`);
  }
  if (page.startingAfter !== undefined) {
    const mine = filters.requestedBy !== undefined;
    const cursor = await db.query<{ requested_at: Date; refund_id: string }>(
      `SELECT requested_at, refund_id FROM refunds WHERE refund_id = $1${mine ? ` AND status ->> 'requestedBy' = $2` : ''}`,
      mine ? [page.startingAfter, filters.requestedBy] : [page.startingAfter],
    );
    const at = cursor.rows[0];
    if (!at) {
      throw new InvalidInputError('page', [{ path: 'starting_after', message: `no refund ${page.startingAfter} to start after` }]);
    }
    where.push(`(requested_at, refund_id) < (${param(at.requested_at)}, ${param(at.refund_id)})`);
  }
  const result = await db.query(
    `SELECT ${ROW_COLUMNS}, status ->> 'requestedBy' AS requested_by FROM refunds
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY requested_at DESC, refund_id DESC LIMIT ${param(limit + 1)}`,
    params,
  );
  const now = filters.now ?? new Date();
  const rows = result.rows.slice(0, limit).map((r) => {
    const row = toRefundRow(r);
    const stuck =
      activeStates.includes(row.state) && (row.stuck || (row.stuckAfter !== null && Date.parse(row.stuckAfter) <= now.getTime()));
    return { ...row, stuck, requestedBy: (r.requested_by as string | null) ?? null };
  });
  return { data: rows, hasMore: result.rows.length > limit };
}

/** Refunds awaiting approval with their stored status, longest waiting first (up to `limit`). */
export async function awaitingApproval(db: Db, limit = 500): Promise<Array<{ row: RefundRow; status: RefundStatus }>> {
  const result = await db.query(
    `SELECT ${ROW_COLUMNS}, status FROM refunds WHERE state = 'awaiting_approval' AND status IS NOT NULL
      ORDER BY state_since, refund_id LIMIT $1`,
    [limit],
  );
  return result.rows.map((r) => ({ row: toRefundRow(r), status: r.status as RefundStatus }));
}

/** One group of the stuck totals: how many refunds in `state` and `currency`, and their sum in minor units. */
export interface StuckTotal {
  state: RefundState;
  currency: string;
  count: number;
  amount: number;
}

/**
 * The stuck refunds (as the stuck listing selects them, with the same filters but no limit),
 * counted and summed by state and currency.
 */
export async function stuckTotals(db: Db, query: StuckQuery = {}): Promise<StuckTotal[]> {
  const now = query.now ?? new Date();
  const states = [...new Set(query.states?.length ? query.states : activeStates)];
  const waited = query.olderThanMs === undefined ? 'stuck_after <= $1' : 'state_since <= $1';
  const bound = query.olderThanMs === undefined ? now : new Date(now.getTime() - query.olderThanMs);
  const filters = stuckFilters(query, 3);
  const result = await db.query(
    `SELECT state, currency, count(*) AS count, sum(amount) AS amount FROM refunds
      WHERE ${ACTIVE} AND state = ANY($2::text[]) AND ${waited}${filters.sql}
      GROUP BY state, currency ORDER BY state, currency`,
    [bound, states, ...filters.params],
  );
  return result.rows.map((r) => ({
    state: r.state as RefundState,
    currency: String(r.currency),
    count: Number(r.count),
    amount: Number(r.amount),
  }));
}
