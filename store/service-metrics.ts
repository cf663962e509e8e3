/**
 * The read-model figures the service's Prometheus metrics report at scrape time: what is stuck
 * and waiting for whom, how long the oldest refund has been in each state, and the employees'
 * circuit breakers. Counted where the truth is, so every API replica reports the same.
 */
import type { Db } from './pool';
import { IN_FLIGHT_STATES_SQL } from './refund-listings';

export interface StuckCount {
  state: string;
  n: number;
}

/**
 * Refunds past their state's limit, by state (only refunds in flight can be stuck), from the
 * partial index over the escalated ones (`refunds_escalated_by_state`).
 */
export async function stuckRefundCounts(db: Db): Promise<StuckCount[]> {
  const result = await db.query<StuckCount>('SELECT state, count(*)::int AS n FROM refunds WHERE stuck GROUP BY state');
  return result.rows;
}

/**
 * For each state with refunds in flight, how many seconds the longest-waiting one has been in it.
 * One probe per state for its oldest refund, on `(state, state_since)` (the in-flight index):
 * five index entries read, where grouping every refund in flight read them all (at 1,000,000
 * refunds 150,000 entries, 28 ms, at each scrape).
 */
export async function oldestInState(db: Db): Promise<Array<{ state: string; seconds: number }>> {
  const result = await db.query<{ state: string; seconds: number }>(
    `SELECT s.state, extract(epoch FROM now() - oldest.since)::float8 AS seconds
       FROM unnest(ARRAY[${IN_FLIGHT_STATES_SQL}]::text[]) AS s(state)
       CROSS JOIN LATERAL (SELECT min(r.state_since) AS since FROM refunds r WHERE r.state = s.state AND r.state IN (${IN_FLIGHT_STATES_SQL})) AS oldest
      WHERE oldest.since IS NOT NULL`,
  );
  return result.rows;
}

/** Every breaker ever tripped (rows are never deleted, only lifted), and those still tripped. */
export async function breakerCounts(db: Db): Promise<{ trips: number; tripped: number }> {
  const result = await db.query<{ trips: number; tripped: number }>(
    'SELECT count(*)::int AS trips, (count(*) FILTER (WHERE lifted_at IS NULL))::int AS tripped FROM employee_breakers',
  );
  return result.rows[0] ?? { trips: 0, tripped: 0 };
}

/**
 * When the refund entered `state` for the last time before its audit step `beforeSeq` (the
 * `state_changed` fact that moved it there), inside the caller's transaction; undefined if never.
 */
export async function enteredStateAt(db: Db, refundId: string, state: string, beforeSeq: number): Promise<Date | undefined> {
  const result = await db.query<{ occurred_at: Date }>(
    `SELECT occurred_at FROM audit_log
      WHERE refund_id = $1 AND refund_seq < $2 AND kind = 'state_changed' AND data->>'to' = $3
      ORDER BY refund_seq DESC LIMIT 1`,
    [refundId, beforeSeq, state],
  );
  return result.rows[0]?.occurred_at;
}
