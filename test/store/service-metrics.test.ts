/**
 * The read-model figures the API's Prometheus gauges report at every scrape
 * (store/service-metrics.ts), on a database of their own so the counts are exact: escalated
 * refunds by state, and the oldest refund of each state in flight. Both must be answerable from
 * an index (they run on every replica at every scrape; at 10,000,000 refunds a table scan takes
 * seconds): with sequential scans switched off, the plans must use the indexes meant for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../store/pool';
import { oldestInState, stuckRefundCounts } from '../../store/service-metrics';
import { scratchDatabase, type ScratchDatabase } from '../support/stack';

let db: ScratchDatabase;
let pool: Pool;

const HOUR = 3_600_000;

beforeAll(async () => {
  db = await scratchDatabase('service_metrics');
  pool = createPool(db.ownerUrl, 2);
  const rows: Array<{ state: string; ageMs: number; stuck: boolean }> = [
    { state: 'awaiting_carrier', ageMs: 30 * HOUR, stuck: true },
    { state: 'awaiting_carrier', ageMs: 20 * HOUR, stuck: true },
    { state: 'awaiting_carrier', ageMs: 1 * HOUR, stuck: false },
    { state: 'awaiting_approval', ageMs: 2 * HOUR, stuck: false },
    { state: 'awaiting_approval', ageMs: 1 * HOUR, stuck: true },
    { state: 'paying', ageMs: 60_000, stuck: false },
    // Finished refunds: never in the oldest-in-state figures, however old.
    { state: 'refunded', ageMs: 900 * HOUR, stuck: false },
    { state: 'rejected', ageMs: 800 * HOUR, stuck: false },
  ];
  let n = 0;
  for (const row of rows) {
    n += 1;
    await pool.query(
      `INSERT INTO refunds (refund_id, workflow_id, order_id, customer_id, initiated_by, currency, amount, state, state_since,
         stuck, stuck_after, carrier, tracking_number, policy_version, approvals_given, request_hash, requested_at, progress_seq, updated_at)
       VALUES ($1, 'refund-' || $1, 'o-' || $1, 'c-1', 'emp-1', 'USD', 1000, $2, now() - $3 * interval '1 millisecond',
         $4, now(), 'ups', '1Z' || $1, 'test', 0, md5($1), now() - $3 * interval '1 millisecond', 1, now())`,
      [`metrics-${n}`, row.state, row.ageMs, row.stuck],
    );
  }
  await pool.query('ANALYZE refunds');
});
afterAll(async () => {
  await pool?.end();
  await db?.drop().catch(() => undefined);
});

describe('the scrape-time gauges', () => {
  it('counts the escalated refunds by state', async () => {
    const counts = Object.fromEntries((await stuckRefundCounts(pool)).map((r) => [r.state, r.n]));
    expect(counts).toEqual({ awaiting_carrier: 2, awaiting_approval: 1 });
  });

  it('gives the oldest refund of each state in flight, and nothing for a state no refund waits in', async () => {
    const oldest = Object.fromEntries((await oldestInState(pool)).map((r) => [r.state, r.seconds]));
    expect(Object.keys(oldest).sort()).toEqual(['awaiting_approval', 'awaiting_carrier', 'paying']);
    expect(oldest.awaiting_carrier).toBeGreaterThanOrEqual(30 * 3600);
    expect(oldest.awaiting_carrier).toBeLessThan(30 * 3600 + 60);
    expect(oldest.awaiting_approval).toBeGreaterThanOrEqual(2 * 3600);
    expect(oldest.awaiting_approval).toBeLessThan(2 * 3600 + 60);
    expect(oldest.paying).toBeGreaterThanOrEqual(60);
    expect(oldest.paying).toBeLessThan(120);
  });

  it('answers both from their indexes, not by reading the table', async () => {
    const client = await pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const planOf = async (run: (db: typeof client) => Promise<unknown>) => {
        let text = '';
        const recording = {
          query: (sql: string) => {
            text = sql;
            return client.query(sql);
          },
        };
        await run(recording as unknown as typeof client);
        return (await client.query(`EXPLAIN ${text}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      const stuckPlan = await planOf((db) => stuckRefundCounts(db));
      expect(stuckPlan).toContain('refunds_escalated_by_state');
      expect(stuckPlan).not.toContain('Seq Scan');
      const oldestPlan = await planOf((db) => oldestInState(db));
      expect(oldestPlan).toContain('refunds_active_by_state_and_since_totals');
      // min() per state as a one-entry probe (a Limit), not an aggregate over every refund in flight.
      expect(oldestPlan).toContain('Limit');
      expect(oldestPlan).not.toContain('Seq Scan on refunds');
    } finally {
      client.release();
    }
  });
});
