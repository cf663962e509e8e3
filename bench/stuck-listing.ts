/**
 * The stuck-refund listing and the dashboard's aggregates at scale: a database of its own is
 * loaded with a million refunds (BENCH_STUCK_ROWS) in a realistic mix of states and ages (one
 * INSERT … SELECT over generate_series), then the listing and the stuck summary (counts and money
 * by state and by what refunds wait for) are timed through the store and over HTTP, and the
 * figures the API's Prometheus gauges read at every scrape through the store, with the query
 * plans kept for the report. Both are timed twice in the same run: first on the indexes as
 * they were before `comparedIndexes` (the indexes it adds dropped, those it replaced built again),
 * then on the schema as migrated (the added indexes built again from their own definitions), so one
 * run shows what they change.
 */
import os from 'node:os';
import { createDatabaseIfMissing } from '../store/database-server';
import { createPool, type Pool } from '../store/pool';
import { listStuckRefunds, type StuckQuery } from '../store/read-model';
import { stuckTotals } from '../store/refund-listings';
import { migrate } from '../store/migrate';
import { oldestInState, stuckRefundCounts } from '../store/service-metrics';
import { percentiles, type Percentiles } from './process-stats';

export interface StuckQueryResult {
  name: string;
  via: 'client' | 'http';
  /** On the indexes before `comparedIndexes`' migration, or after it. */
  phase?: 'before' | 'after';
  ms: Percentiles;
  /** Calls timed (after the warm-up). */
  samples?: number;
  rows: number;
  plan?: string;
}

export interface StuckAggregateResult extends StuckQueryResult {
  /** Stuck refunds the summary counted. */
  counted: number;
}

/** The HTTP API serving the loaded database, for `GET /v1/refunds/stuck` and `GET /v1/refunds/stuck/summary`. */
export type StuckListingOverHttp = (databaseUrl: string) => Promise<{
  list(query: StuckQuery): Promise<unknown[]>;
  summary(query: StuckQuery): Promise<{ total: { count: number }; rows: unknown[] }>;
  close(): Promise<void>;
}>;

export interface StuckListingResult {
  rows: number;
  active: number;
  stuck: number;
  loadSeconds: number;
  /** The loaded database's size on disk (pg_database_size), in MiB. */
  databaseMiB?: number;
  /** The machine's 1-minute load average before loading, after loading and at the end (other work shares it). */
  loadAverage?: { start: number; loaded: number; end: number };
  queries: StuckQueryResult[];
  aggregates?: StuckAggregateResult[];
  /** The scrape-time gauges' queries (store/service-metrics.ts); `rows` is how many series each gave. */
  gauges?: StuckQueryResult[];
  /** The indexes built for each round, with the seconds each took over the loaded table. */
  indexBuilds?: Array<{ phase: 'before' | 'after'; name: string; definition: string; buildSeconds: number }>;
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

/** The stuck summary's filters, as the dashboard sends them. */
export const stuckAggregates: Array<{ name: string; query: StuckQuery }> = [
  { name: 'past their limit (default)', query: {} },
  { name: 'waiting over 3 days', query: { olderThanMs: 3 * DAY } },
  { name: 'awaiting approval, past its limit', query: { states: ['awaiting_approval'] } },
  { name: 'USD 100.00 to 1,000.00, past their limit', query: { currency: 'USD', amountMin: 10_000, amountMax: 100_000 } },
];

const ACTIVE_STATES = `('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying')`;

/**
 * The figures the API's gauges read at every scrape, as the store reads them ("after"), and as it
 * read them before migration 1796300000000_scrape-gauge-index ("before": the same statements it
 * ran then, kept here to compare).
 */
export const scrapeGauges: Array<{ name: string; now: (db: Pool) => Promise<unknown[]>; before: string }> = [
  {
    name: 'refunds_stuck (escalated, by state)',
    now: stuckRefundCounts,
    before: 'SELECT state, count(*)::int AS n FROM refunds WHERE stuck GROUP BY state',
  },
  {
    name: 'refunds_oldest_in_state_seconds',
    now: oldestInState,
    before: `SELECT state, extract(epoch FROM now() - min(state_since))::float8 AS seconds FROM refunds
      WHERE state IN ${ACTIVE_STATES} GROUP BY state`,
  },
];

/**
 * The indexes compared (store/migrations/1796110000000_stuck-totals-indexes.sql for the listing
 * and the summary, 1796300000000_scrape-gauge-index.sql for the gauges): the round "before" runs
 * without `added` and with `replaced` (as the migrations before them had them), the round "after"
 * on the schema as migrated.
 */
export const comparedIndexes = {
  added: ['refunds_stuck_by_state_and_limit', 'refunds_active_by_state_and_since_totals', 'refunds_escalated_by_state'],
  replaced: [
    {
      name: 'refunds_active_by_state_and_since',
      definition: `CREATE INDEX refunds_active_by_state_and_since ON refunds (state, state_since) WHERE state IN ${ACTIVE_STATES}`,
    },
  ],
};

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
    // Loading into a table with its dozen indexes takes several times longer than building them
    // afterwards (at 10,000,000 refunds, over half an hour on 2 busy CPUs): the secondary indexes
    // are dropped for the load and built again from their own definitions.
    const indexes = await pool.query<{ indexname: string; indexdef: string }>(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = 'refunds' AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const index of indexes.rows) await pool.query(`DROP INDEX ${index.indexname}`);
    await pool.query('SELECT setseed(0.5)');
    await pool.query(LOAD_SQL, [rows]);
    log(`inserted in ${Math.round((performance.now() - started) / 1000)} s; building ${indexes.rows.length} indexes…`);
    for (const index of indexes.rows) await pool.query(index.indexdef);
    await pool.query('VACUUM ANALYZE refunds');
    return { url: url.toString(), seconds: (performance.now() - started) / 1000 };
  } finally {
    await pool.end();
  }
}

/** Runs `run` through a pool that remembers its last query, to EXPLAIN exactly that. */
async function explain(pool: Pool, run: (recording: Pool) => Promise<unknown>): Promise<string> {
  let last: { text: string; values: unknown[] } | undefined;
  const recording = {
    query: (text: string, values: unknown[]) => {
      last = { text, values };
      return pool.query(text, values);
    },
  } as unknown as Pool;
  await run(recording);
  const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${last!.text}`, last!.values);
  return plan.rows.map((r) => r['QUERY PLAN']).join('\n');
}

/**
 * Times a query that may take seconds: 3 calls of warm-up, then `iterations` calls or as many as
 * fit in `budgetMs`, at least 10.
 */
async function timeCalls<T>(
  run: () => Promise<T>,
  iterations: number,
  budgetMs: number,
): Promise<{ ms: Percentiles; samples: number; last: T }> {
  let last = await run();
  for (let i = 0; i < 2; i++) last = await run();
  const samples: number[] = [];
  const started = performance.now();
  while (samples.length < iterations && (samples.length < 10 || performance.now() - started < budgetMs)) {
    const t0 = performance.now();
    last = await run();
    samples.push(performance.now() - t0);
  }
  return { ms: percentiles(samples), samples: samples.length, last };
}

const load1 = () => Math.round(os.loadavg()[0]! * 100) / 100;

export async function runStuckListing(
  databaseUrl: string,
  opts: { rows: number; iterations: number; log: (line: string) => void; http?: StuckListingOverHttp },
): Promise<StuckListingResult> {
  const loadStart = load1();
  const loaded = await loadStuckDatabase(databaseUrl, opts.rows, opts.log);
  const loadLoaded = load1();
  opts.log(`loaded in ${Math.round(loaded.seconds)} s (load average ${loadStart} before, ${loadLoaded} after)`);
  const pool = createPool(loaded.url, 4);
  const api = await opts.http?.(loaded.url);
  try {
    const counts = await pool.query<{ active: number; stuck: number }>(
      `SELECT count(*) FILTER (WHERE stuck_after IS NOT NULL)::int AS active, count(*) FILTER (WHERE stuck_after <= now())::int AS stuck FROM refunds`,
    );
    const size = await pool.query<{ mib: number }>('SELECT (pg_database_size(current_database()) / 1048576)::int AS mib');
    const timed = await timeBeforeAndAfter(pool, api, opts);
    return {
      rows: opts.rows,
      active: counts.rows[0]!.active,
      stuck: counts.rows[0]!.stuck,
      loadSeconds: Math.round(loaded.seconds),
      databaseMiB: size.rows[0]!.mib,
      loadAverage: { start: loadStart, loaded: loadLoaded, end: load1() },
      ...timed,
    };
  } finally {
    await api?.close();
    await pool.end();
  }
}

type Api = Awaited<ReturnType<StuckListingOverHttp>> | undefined;

/** Builds each index from its definition, timed. */
async function build(
  pool: Pool,
  indexes: Array<{ name: string; definition: string }>,
  phase: 'before' | 'after',
  log: (line: string) => void,
) {
  const built = [];
  for (const index of indexes) {
    const t0 = performance.now();
    await pool.query(index.definition);
    const buildSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`built ${index.name} in ${buildSeconds} s`);
    built.push({ phase, ...index, buildSeconds });
  }
  await pool.query('VACUUM ANALYZE refunds');
  return built;
}

/**
 * The listing and the summary on the indexes before `comparedIndexes`, then after. Each query is
 * called 3 times to warm up, then `iterations` times or for `budgetMs` (at least 10 calls).
 */
async function timeBeforeAndAfter(
  pool: Pool,
  api: Api,
  opts: { iterations: number; log: (line: string) => void; budgetMs?: number },
): Promise<Pick<StuckListingResult, 'queries' | 'aggregates' | 'gauges' | 'indexBuilds'>> {
  const budgetMs = opts.budgetMs ?? 15_000;
  const defined = await pool.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'refunds' AND indexname = ANY($1::text[]) ORDER BY indexname`,
    [comparedIndexes.added],
  );
  const added = defined.rows.map((r) => ({ name: r.indexname, definition: r.indexdef }));
  const queries: StuckQueryResult[] = [];
  const aggregates: StuckAggregateResult[] = [];
  const gauges: StuckQueryResult[] = [];
  const indexBuilds: NonNullable<StuckListingResult['indexBuilds']> = [];
  const round = async (phase: 'before' | 'after') => {
    for (const { name, query } of stuckQueries) {
      const client = await timeCalls(() => listStuckRefunds(pool, query), opts.iterations, budgetMs);
      const plan = await explain(pool, (recording) => listStuckRefunds(recording, query));
      queries.push({ name, via: 'client', phase, ms: client.ms, samples: client.samples, rows: client.last.length, plan });
      opts.log(`stuck listing (${phase}), ${name}: p50 ${client.ms.p50} ms, p99 ${client.ms.p99} ms (${client.last.length} rows)`);
      if (api) {
        const http = await timeCalls(() => api.list(query), opts.iterations, budgetMs);
        queries.push({ name, via: 'http', phase, ms: http.ms, samples: http.samples, rows: http.last.length });
        opts.log(`stuck listing over HTTP (${phase}), ${name}: p50 ${http.ms.p50} ms, p99 ${http.ms.p99} ms`);
      }
    }
    for (const { name, query } of stuckAggregates) {
      const client = await timeCalls(() => stuckTotals(pool, query), opts.iterations, budgetMs);
      const counted = client.last.reduce((sum, r) => sum + r.count, 0);
      const plan = await explain(pool, (recording) => stuckTotals(recording, query));
      aggregates.push({ name, via: 'client', phase, ms: client.ms, samples: client.samples, rows: client.last.length, counted, plan });
      opts.log(`stuck summary (${phase}), ${name}: p50 ${client.ms.p50} ms, p99 ${client.ms.p99} ms (${counted} refunds)`);
      if (api) {
        const http = await timeCalls(() => api.summary(query), opts.iterations, budgetMs);
        aggregates.push({
          name,
          via: 'http',
          phase,
          ms: http.ms,
          samples: http.samples,
          rows: http.last.rows.length,
          counted: http.last.total.count,
        });
        opts.log(`stuck summary over HTTP (${phase}), ${name}: p50 ${http.ms.p50} ms, p99 ${http.ms.p99} ms`);
      }
    }
    for (const gauge of scrapeGauges) {
      const read = (db: Pool) => (phase === 'before' ? db.query(gauge.before, []).then((r) => r.rows) : gauge.now(db));
      const client = await timeCalls(() => read(pool), opts.iterations, budgetMs);
      const plan = await explain(pool, (recording) => read(recording));
      gauges.push({ name: gauge.name, via: 'client', phase, ms: client.ms, samples: client.samples, rows: client.last.length, plan });
      opts.log(`scrape gauge (${phase}), ${gauge.name}: p50 ${client.ms.p50} ms, p99 ${client.ms.p99} ms`);
    }
  };
  if (added.length) {
    for (const index of added) await pool.query(`DROP INDEX ${index.name}`);
    indexBuilds.push(...(await build(pool, comparedIndexes.replaced, 'before', opts.log)));
    await round('before');
    for (const index of comparedIndexes.replaced) await pool.query(`DROP INDEX ${index.name}`);
    indexBuilds.push(...(await build(pool, added, 'after', opts.log)));
  }
  await round('after');
  return { queries, aggregates, gauges, indexBuilds };
}
