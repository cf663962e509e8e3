/**
 * The stuck-refund listing at scale: a database of its own is loaded with a million refunds in a
 * realistic mix of states and ages (one INSERT … SELECT over generate_series), then the listing
 * is timed through the typed client, with the query plans kept for the report.
 */
import { createDatabaseIfMissing } from '../store/database-server';
import { createPool, type Pool } from '../store/pool';
import { listStuckRefunds, type StuckQuery } from '../store/read-model';
import { migrate } from '../store/migrate';
import { percentiles, type Percentiles } from './process-stats';

export interface StuckQueryResult {
  name: string;
  via: 'client' | 'http';
  ms: Percentiles;
  rows: number;
  plan?: string;
}

/** The HTTP API serving the loaded database, for `GET /v1/refunds/stuck`. */
export type StuckListingOverHttp = (
  databaseUrl: string,
) => Promise<{ list(query: StuckQuery): Promise<unknown[]>; close(): Promise<void> }>;

export interface StuckListingResult {
  rows: number;
  active: number;
  stuck: number;
  loadSeconds: number;
  queries: StuckQueryResult[];
}

const DAY = 86_400_000;

/**
 * 85 % finished (refunded, rejected, cancelled, expired, failed), 15 % in flight. In-flight refunds
 * mostly wait about as long as their stage usually takes (exponential ages: a week for the carrier,
 * two days for the warehouse, half a day for approvals, minutes for payout); one in ten has been
 * forgotten for up to 90 days, which is what the stuck listing is for.
 */
const LOAD_SQL = `
WITH numbered AS (
  SELECT g, g % 1000 AS bucket, random() AS r1, random() AS r2, random() AS r3 FROM generate_series(1, $1::int) AS g
), shaped AS (
  SELECT g, r1, r2,
    CASE
      WHEN bucket < 700 THEN 'refunded' WHEN bucket < 760 THEN 'rejected' WHEN bucket < 800 THEN 'cancelled'
      WHEN bucket < 840 THEN 'expired' WHEN bucket < 850 THEN 'failed'
      WHEN bucket < 910 THEN 'awaiting_carrier' WHEN bucket < 940 THEN 'awaiting_warehouse'
      WHEN bucket < 945 THEN 'risk_review' WHEN bucket < 990 THEN 'awaiting_approval' ELSE 'paying'
    END AS state,
    CASE
      WHEN bucket < 850 THEN interval '1 day' * (r1 * 365)
      WHEN r3 < 0.1 THEN interval '1 day' * (r1 * 90)
      ELSE interval '1 hour' * (-ln(1 - r1) * CASE
        WHEN bucket < 910 THEN 168 WHEN bucket < 940 THEN 48 WHEN bucket < 945 THEN 0.001 WHEN bucket < 990 THEN 12 ELSE 0.03 END)
    END AS age
  FROM numbered
), timed AS (
  SELECT *, now() - age AS state_since,
    -- Requested before the current stage began: up to two weeks earlier for later stages.
    now() - age - CASE WHEN state = 'awaiting_carrier' THEN interval '0' ELSE interval '1 day' * (r2 * 14) END AS requested_at
  FROM shaped
)
INSERT INTO refunds (refund_id, workflow_id, order_id, customer_id, initiated_by, currency, amount, state, waiting_for,
  state_since, stuck, stuck_after, carrier, tracking_number, policy_version, risk_score, risk_band, approvals_required,
  approvals_given, request_hash, requested_at, progress_seq, updated_at)
SELECT 'bench-' || g, 'refund-bench-' || g, 'o-' || g, 'c-' || (g % 200000), 'emp-' || (g % 500), 'USD',
  1000 + (g::bigint * 7919) % 300000, state, NULL, state_since,
  coalesce(stuck_after <= now(), false), stuck_after, 'ups', '1Z' || g, 'bench', NULL, NULL, NULL, 0, md5(g::text), requested_at, 3, state_since
FROM (
  SELECT *, CASE state
    WHEN 'awaiting_carrier' THEN requested_at + interval '30 days'
    WHEN 'awaiting_warehouse' THEN state_since + interval '10 days'
    WHEN 'awaiting_approval' THEN state_since + interval '2 days'
    WHEN 'paying' THEN state_since + interval '1 hour'
    WHEN 'risk_review' THEN state_since + interval '1 hour'
  END AS stuck_after FROM timed
) AS rows`;

export const stuckQueries: Array<{ name: string; query: StuckQuery }> = [
  { name: 'past their limit (default)', query: {} },
  { name: 'waiting over 3 days', query: { olderThanMs: 3 * DAY } },
  { name: 'awaiting approval, past its limit', query: { states: ['awaiting_approval'] } },
  { name: 'paying, past its limit', query: { states: ['paying'] } },
];

/** Creates (or reuses) the loaded database next to the benchmark's own. */
export async function loadStuckDatabase(
  databaseUrl: string,
  rows: number,
  log: (line: string) => void,
): Promise<{ url: string; seconds: number }> {
  const url = new URL(databaseUrl);
  const name = `refunds_stuck_${rows}`;
  await createDatabaseIfMissing(databaseUrl, name);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const pool = createPool(url.toString(), 2);
  try {
    const have = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM refunds');
    if (have.rows[0]!.n === rows) return { url: url.toString(), seconds: 0 };
    log(`loading ${rows.toLocaleString('en')} refunds…`);
    const started = performance.now();
    await pool.query('TRUNCATE refunds');
    await pool.query('SELECT setseed(0.5)');
    await pool.query(LOAD_SQL, [rows]);
    await pool.query('VACUUM ANALYZE refunds');
    return { url: url.toString(), seconds: (performance.now() - started) / 1000 };
  } finally {
    await pool.end();
  }
}

/** Runs `listStuckRefunds` through a pool that remembers its last query, to EXPLAIN exactly that. */
async function explain(pool: Pool, query: StuckQuery): Promise<string> {
  let last: { text: string; values: unknown[] } | undefined;
  const recording = {
    query: (text: string, values: unknown[]) => {
      last = { text, values };
      return pool.query(text, values);
    },
  } as unknown as Pool;
  await listStuckRefunds(recording, query);
  const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${last!.text}`, last!.values);
  return plan.rows.map((r) => r['QUERY PLAN']).join('\n');
}

export async function timeListing(run: () => Promise<unknown[]>, iterations: number): Promise<{ ms: Percentiles; rows: number }> {
  let rows = 0;
  for (let i = 0; i < 20; i++) rows = (await run()).length;
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return { ms: percentiles(samples), rows };
}

export async function runStuckListing(
  databaseUrl: string,
  opts: { rows: number; iterations: number; log: (line: string) => void; http?: StuckListingOverHttp },
): Promise<StuckListingResult> {
  const loaded = await loadStuckDatabase(databaseUrl, opts.rows, opts.log);
  const pool = createPool(loaded.url, 4);
  const api = await opts.http?.(loaded.url);
  try {
    const counts = await pool.query<{ active: number; stuck: number }>(
      `SELECT count(*) FILTER (WHERE stuck_after IS NOT NULL)::int AS active, count(*) FILTER (WHERE stuck_after <= now())::int AS stuck FROM refunds`,
    );
    const queries: StuckQueryResult[] = [];
    for (const { name, query } of stuckQueries) {
      const client = await timeListing(() => listStuckRefunds(pool, query), opts.iterations);
      queries.push({ name, via: 'client', ...client, plan: await explain(pool, query) });
      opts.log(`stuck listing, ${name}: p50 ${client.ms.p50} ms, p99 ${client.ms.p99} ms (${client.rows} rows)`);
      if (api) {
        const http = await timeListing(() => api.list(query), opts.iterations);
        queries.push({ name, via: 'http', ...http });
        opts.log(`stuck listing over HTTP, ${name}: p50 ${http.ms.p50} ms, p99 ${http.ms.p99} ms (${http.rows} rows)`);
      }
    }
    return {
      rows: opts.rows,
      active: counts.rows[0]!.active,
      stuck: counts.rows[0]!.stuck,
      loadSeconds: Math.round(loaded.seconds),
      queries,
    };
  } finally {
    await api?.close();
    await pool.end();
  }
}
