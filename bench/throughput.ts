/**
 * Refund throughput and latency against the NullRefund baseline: runs alternate (baseline,
 * pipeline, baseline, …) at each concurrency, so both see the same machine at nearly the same
 * moment, and the ratio between them means something even on a busy machine. Each run's worker
 * figures are those of its own worker process (the refund worker's, or the baseline's).
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Pool } from '../store/pool';
import type { RefundsService } from '../api/refunds-service';
import type { Signer } from './registry';
import { baselineDriver, closedLoop, fixedLoop, pipelineDriver, type Driver, type DriverKind, type LifecycleTimes } from './lifecycle';
import { warmUpRefunds } from './refunds';
import { peakRssMiB, percentiles, resetPeakRss, treeCpuSeconds, type Percentiles } from './process-stats';

export interface ThroughputOptions {
  concurrencies: number[];
  /** Pairs of (baseline, pipeline) runs at each concurrency. */
  repetitions: number;
  warmupMs: number;
  measureMs: number;
  /** Runs the staff warm-up (`warmUpStaff`) on the pipeline before the first measured run. */
  warmStaff: boolean;
}

/**
 * The staff warm-up, before the first measured run: refunds that have every approver and scanner
 * sign once, so that the worker has verified each one's registry entry (their two admin
 * endorsements, remembered per workflow thread: workflows/statements/verified-once.ts) before the
 * clock starts, as a worker that has run for a while has. Without it, a run measures a mix of
 * first and later look-ups that depends on its length.
 */
export interface WarmUp {
  refunds: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Worker CPU per refund during the warm-up, where every look-up is a first one. */
  workerCpuMsPerRefund: number;
}

export interface CpuSeconds {
  /** The run's own worker: the refund worker for the pipeline, the baseline worker for the baseline. */
  worker: number;
  temporal: number;
  postgres: number;
  /** This process: the load generator, including the clients. */
  loadGenerator: number;
}

export interface RunRecord {
  kind: DriverKind;
  concurrency: number;
  repetition: number;
  completed: number;
  errors: number;
  firstError?: string;
  windowSeconds: number;
  refundsPerSecond: number;
  endToEndMs: Percentiles;
  /** From the approver's request to the refund's result. */
  finalApprovalToPaidMs: Percentiles;
  /** From the approver's request to the payout: the payout row's paid_at (pipeline), the no-op payout's run (baseline). */
  finalApprovalToPayoutMs: Percentiles;
  cpuSeconds: CpuSeconds;
  workerPeakRssMiB: number;
  /** Top-level statements (each one a round trip) PostgreSQL ran in the window, by who sent them. */
  dbRoundTrips: DbRoundTrips;
  /** Events in the histories of a sample of the refunds finished in the window. */
  history: HistoryStats;
  /** With BENCH_PG_STATEMENTS=1: the statements that took PostgreSQL the most time in the window. */
  topStatements?: StatementStat[];
}

/** Round trips to PostgreSQL: the worker's (as the service role) and the load generator's (the API side, `RefundsService`). */
export interface DbRoundTrips {
  worker: number;
  api: number;
}

export interface HistoryStats {
  /** Histories counted. */
  sampled: number;
  events: number;
  /** Events of each type (`MARKER_RECORDED` is a local activity), summed over the sample. */
  byType: Record<string, number>;
}

export interface KindSummary {
  refundsPerSecond: number;
  endToEndMs: Percentiles;
  finalApprovalToPaidMs: Percentiles;
  /** From the approver's request to the payout: the payout row's paid_at (pipeline), the no-op payout's run (baseline). */
  finalApprovalToPayoutMs: Percentiles;
  cpuSeconds: CpuSeconds;
  workerCpuMsPerRefund: number;
  workerPeakRssMiB: number;
  dbRoundTripsPerRefund: DbRoundTrips;
  historyEventsPerRefund: number;
  /** Events of each type per refund. */
  historyEventsByType: Record<string, number>;
  errors: number;
}

export interface ConcurrencySummary {
  concurrency: number;
  baseline: KindSummary;
  pipeline: KindSummary;
  /** Pipeline ÷ baseline throughput. */
  ratio: number;
}

export interface ThroughputResult {
  runs: RunRecord[];
  summary: ConcurrencySummary[];
  /** The concurrency at which the baseline's throughput peaked, and R there. */
  baselinePeak: { concurrency: number; ratio: number };
  /** The staff warm-up, when it ran. */
  warmUp?: WarmUp;
}

export interface Pids {
  /** Each run's own worker process. */
  workers: Record<DriverKind, number>;
  /** Every Temporal process: the dev server, or the cluster's frontend, history, matching and worker services. */
  temporal: number[];
  postgres: number;
}

function cpuNow(pids: Pids, worker: number): CpuSeconds {
  const self = process.cpuUsage();
  return {
    worker: treeCpuSeconds(worker),
    temporal: pids.temporal.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0),
    postgres: treeCpuSeconds(pids.postgres),
    loadGenerator: (self.user + self.system) / 1e6,
  };
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

function cpuDelta(a: CpuSeconds, b: CpuSeconds): CpuSeconds {
  return {
    worker: round(b.worker - a.worker),
    temporal: round(b.temporal - a.temporal),
    postgres: round(b.postgres - a.postgres),
    loadGenerator: round(b.loadGenerator - a.loadGenerator),
  };
}

interface MeasuredRun {
  record: RunRecord;
  samples: LifecycleTimes[];
  /** Final approval → payout of each refund that needed approvals, ms. */
  toPayout: number[];
}

/** PostgreSQL's own account of the statements a run made (pg_stat_statements). */
export interface StatementStats {
  reset(): Promise<void>;
  top(): Promise<StatementStat[]>;
  roundTrips(): Promise<DbRoundTrips>;
}
export interface StatementStat {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
}

export async function pgStatementStats(pool: Pool): Promise<StatementStats> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  return {
    async reset() {
      await pool.query('SELECT pg_stat_statements_reset()');
    },
    async top() {
      const result = await pool.query<{ query: string; calls: number; total: number; mean: number }>(
        `SELECT query, calls, total_exec_time AS total, mean_exec_time AS mean FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 15`,
      );
      return result.rows.map((r) => ({
        query: r.query.replace(/\s+/g, ' ').slice(0, 200),
        calls: Number(r.calls),
        totalMs: round(r.total, 1),
        meanMs: round(r.mean, 3),
      }));
    },
    // Top-level statements only (BEGIN and COMMIT among them): those inside a database function
    // run in the same round trip as the statement that called it.
    async roundTrips() {
      const result = await pool.query<{ api: boolean; calls: string }>(
        `SELECT s.userid = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS api, sum(s.calls)::text AS calls
         FROM pg_stat_statements s
         WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.toplevel
           AND s.query NOT LIKE '%pg_stat_statements%'
         GROUP BY 1`,
      );
      const of = (api: boolean) => Number(result.rows.find((r) => r.api === api)?.calls ?? 0);
      return { worker: of(false), api: of(true) };
    },
  };
}

const { EventType } = proto.temporal.api.enums.v1;

/** Counts the events in the histories of up to `max` of the refunds, spread evenly over them. */
async function historyStats(temporal: Client, samples: readonly LifecycleTimes[], max = 20): Promise<HistoryStats> {
  const step = Math.max(1, Math.floor(samples.length / max));
  const picked = samples.filter((_, i) => i % step === 0).slice(0, max);
  const byType: Record<string, number> = {};
  let events = 0;
  for (const sample of picked) {
    const history = await temporal.workflow.getHandle(sample.workflowId).fetchHistory();
    for (const event of history.events ?? []) {
      const type = (EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
      byType[type] = (byType[type] ?? 0) + 1;
      events++;
    }
  }
  return { sampled: picked.length, events, byType };
}

/** When each refund's payout row says it was paid (ms since the epoch), for the refunds that have one. */
async function payoutTimes(pool: Pool, refundIds: readonly string[]): Promise<Map<string, number>> {
  if (refundIds.length === 0) return new Map();
  const result = await pool.query<{ refund_id: string; paid: number }>(
    `SELECT refund_id, (extract(epoch FROM paid_at) * 1000)::float8 AS paid FROM payouts WHERE refund_id = ANY($1) AND paid_at IS NOT NULL`,
    [refundIds],
  );
  return new Map(result.rows.map((r) => [r.refund_id, r.paid]));
}

/** From the final approval's request to the payout, for the refunds that needed approvals. */
async function approvalToPayout(kind: DriverKind, samples: readonly LifecycleTimes[], pool: Pool): Promise<number[]> {
  const approved = samples.filter((t) => t.finalApprovalEpochMs !== undefined);
  const paid =
    kind === 'pipeline'
      ? await payoutTimes(
          pool,
          approved.map((t) => t.refundId),
        )
      : new Map(approved.flatMap((t) => (t.paidEpochMs ? [[t.refundId, t.paidEpochMs] as const] : [])));
  return approved.flatMap((t) => {
    const at = paid.get(t.refundId);
    return at === undefined ? [] : [at - t.finalApprovalEpochMs!];
  });
}

async function measure(
  driver: Driver,
  concurrency: number,
  repetition: number,
  deps: { pids: Pids; temporal: Client; pool: Pool; statements: StatementStats; topStatements: boolean },
  opts: ThroughputOptions,
): Promise<MeasuredRun> {
  const { pids } = deps;
  const worker = pids.workers[driver.kind];
  let before: CpuSeconds | undefined;
  let after: CpuSeconds | undefined;
  let peak = 0;
  let statements: Promise<StatementStat[]> | undefined;
  let roundTrips: Promise<DbRoundTrips> | undefined;
  let reset: Promise<void> | undefined;
  const loop = await closedLoop(driver, {
    concurrency,
    warmupMs: opts.warmupMs,
    measureMs: opts.measureMs,
    onWindowStart: () => {
      resetPeakRss(worker);
      before = cpuNow(pids, worker);
      reset = deps.statements.reset().catch(() => undefined);
    },
    onWindowEnd: () => {
      after = cpuNow(pids, worker);
      peak = peakRssMiB(worker);
      // A count that cannot be read (pg_stat_statements gone) is reported as missing, not fatal.
      roundTrips = (reset ?? Promise.resolve())
        .then(() => deps.statements.roundTrips())
        .catch(() => ({ worker: Number.NaN, api: Number.NaN }));
      if (deps.topStatements) statements = reset!.then(() => deps.statements.top()).catch(() => []);
    },
  });
  const done = loop.completed;
  const toPayout = await approvalToPayout(driver.kind, done, deps.pool);
  const record: RunRecord = {
    kind: driver.kind,
    concurrency,
    repetition,
    completed: done.length,
    errors: loop.errors,
    ...(loop.firstError ? { firstError: loop.firstError } : {}),
    windowSeconds: loop.windowSeconds,
    refundsPerSecond: round(done.length / loop.windowSeconds),
    endToEndMs: percentiles(done.map((t) => t.finishedAt - t.startedAt)),
    finalApprovalToPaidMs: percentiles(done.flatMap((t) => (t.finalApprovalAt ? [t.finishedAt - t.finalApprovalAt] : []))),
    finalApprovalToPayoutMs: percentiles(toPayout),
    cpuSeconds: cpuDelta(before!, after!),
    workerPeakRssMiB: round(peak, 0),
    dbRoundTrips: (await roundTrips) ?? { worker: 0, api: 0 },
    history: await historyStats(deps.temporal, done),
  };
  const top = await statements;
  if (top) record.topStatements = top;
  return { record, samples: done, toPayout };
}

/** Pools the repetitions of one kind at one concurrency. */
function summarise(measured: MeasuredRun[]): KindSummary {
  const runs = measured.map((m) => m.record);
  const samples = measured.flatMap((m) => m.samples);
  const seconds = runs.reduce((sum, r) => sum + r.windowSeconds, 0);
  const cpu = runs.reduce<CpuSeconds>(
    (sum, r) => ({
      worker: sum.worker + r.cpuSeconds.worker,
      temporal: sum.temporal + r.cpuSeconds.temporal,
      postgres: sum.postgres + r.cpuSeconds.postgres,
      loadGenerator: sum.loadGenerator + r.cpuSeconds.loadGenerator,
    }),
    { worker: 0, temporal: 0, postgres: 0, loadGenerator: 0 },
  );
  const refunds = Math.max(samples.length, 1);
  const history = runs.reduce(
    (sum, r) => {
      for (const [type, n] of Object.entries(r.history.byType)) sum.byType[type] = (sum.byType[type] ?? 0) + n;
      return { sampled: sum.sampled + r.history.sampled, events: sum.events + r.history.events, byType: sum.byType };
    },
    { sampled: 0, events: 0, byType: {} as Record<string, number> },
  );
  const perHistory = (n: number) => round(n / Math.max(history.sampled, 1), 1);
  return {
    refundsPerSecond: round(samples.length / seconds),
    endToEndMs: percentiles(samples.map((t) => t.finishedAt - t.startedAt)),
    finalApprovalToPaidMs: percentiles(samples.flatMap((t) => (t.finalApprovalAt ? [t.finishedAt - t.finalApprovalAt] : []))),
    finalApprovalToPayoutMs: percentiles(measured.flatMap((m) => m.toPayout)),
    cpuSeconds: cpuDelta({ worker: 0, temporal: 0, postgres: 0, loadGenerator: 0 }, cpu),
    workerCpuMsPerRefund: round((cpu.worker * 1000) / refunds, 1),
    workerPeakRssMiB: Math.max(...runs.map((r) => r.workerPeakRssMiB)),
    dbRoundTripsPerRefund: {
      worker: round(runs.reduce((sum, r) => sum + r.dbRoundTrips.worker, 0) / refunds, 1),
      api: round(runs.reduce((sum, r) => sum + r.dbRoundTrips.api, 0) / refunds, 1),
    },
    historyEventsPerRefund: perHistory(history.events),
    historyEventsByType: Object.fromEntries(Object.entries(history.byType).map(([type, n]) => [type, perHistory(n)])),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

export async function runThroughput(
  deps: {
    refunds: RefundsService;
    temporal: Client;
    /** Signs the pipeline's approvals as registered approvers. */
    sign: Signer;
    baselineTaskQueue: string;
    pids: Pids;
    /** The benchmark's own pool (the API side's), for pg_stat_statements and the payout rows. */
    pool: Pool;
    statements: StatementStats;
    /** Whether to record each run's busiest statements (BENCH_PG_STATEMENTS=1). */
    topStatements: boolean;
    log: (line: string) => void;
  },
  opts: ThroughputOptions,
): Promise<ThroughputResult> {
  const drivers = [baselineDriver(deps.temporal, deps.baselineTaskQueue), pipelineDriver(deps.refunds, deps.temporal, deps.sign)];
  const warmUp = opts.warmStaff ? await warmStaff(deps) : undefined;
  const measured: MeasuredRun[] = [];
  for (const concurrency of opts.concurrencies) {
    for (let repetition = 1; repetition <= opts.repetitions; repetition++) {
      for (const driver of drivers) {
        const run = await measure(driver, concurrency, repetition, deps, opts);
        measured.push(run);
        const { record } = run;
        const perRefund = (n: number) => (n / Math.max(record.completed, 1)).toFixed(1);
        deps.log(
          `${driver.kind.padEnd(8)} c=${String(concurrency).padStart(2)} #${repetition}: ${record.refundsPerSecond.toFixed(1)} refunds/s, ` +
            `p50 ${record.endToEndMs.p50} ms, p99 ${record.endToEndMs.p99} ms, approval→payout p99 ${record.finalApprovalToPayoutMs.p99} ms, ` +
            `worker ${record.cpuSeconds.worker} CPU s, ${record.workerPeakRssMiB} MiB, ` +
            `${(record.history.events / Math.max(record.history.sampled, 1)).toFixed(1)} events, ` +
            `${perRefund(record.dbRoundTrips.worker)} + ${perRefund(record.dbRoundTrips.api)} db round trips per refund` +
            (record.errors ? `, ${record.errors} errors (${record.firstError})` : ''),
        );
      }
    }
  }
  const summary = opts.concurrencies.map((concurrency): ConcurrencySummary => {
    const of = (kind: DriverKind) => summarise(measured.filter((m) => m.record.concurrency === concurrency && m.record.kind === kind));
    const baseline = of('baseline');
    const pipeline = of('pipeline');
    return { concurrency, baseline, pipeline, ratio: round(pipeline.refundsPerSecond / baseline.refundsPerSecond) };
  });
  const peak = summary.reduce((best, s) => (s.baseline.refundsPerSecond > best.baseline.refundsPerSecond ? s : best), summary[0]!);
  return {
    runs: measured.map((m) => m.record),
    summary,
    baselinePeak: { concurrency: peak.concurrency, ratio: peak.ratio },
    ...(warmUp ? { warmUp } : {}),
  };
}

async function warmStaff(deps: {
  refunds: RefundsService;
  temporal: Client;
  sign: Signer;
  pids: Pids;
  log: (line: string) => void;
}): Promise<WarmUp> {
  const worker = deps.pids.workers.pipeline;
  const before = cpuNow(deps.pids, worker);
  const started = Date.now();
  const driver = pipelineDriver(deps.refunds, deps.temporal, deps.sign, { warmUp: true });
  const loop = await fixedLoop(driver, { count: warmUpRefunds, concurrency: 16 });
  const seconds = round((Date.now() - started) / 1000, 1);
  const cpu = cpuDelta(before, cpuNow(deps.pids, worker));
  const warmUp: WarmUp = {
    refunds: loop.completed,
    errors: loop.errors,
    ...(loop.firstError ? { firstError: loop.firstError } : {}),
    seconds,
    workerCpuMsPerRefund: round((cpu.worker * 1000) / Math.max(loop.completed, 1), 1),
  };
  deps.log(
    `staff warm-up: ${warmUp.refunds} refunds with two approvals through every approver and scanner in ${seconds} s, ` +
      `worker ${warmUp.workerCpuMsPerRefund} CPU ms per refund` +
      (warmUp.errors ? `, ${warmUp.errors} errors (${warmUp.firstError})` : ''),
  );
  return warmUp;
}
