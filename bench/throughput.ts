/**
 * Refund throughput and latency against the NullRefund baseline: runs alternate (baseline,
 * pipeline, baseline, …) at each concurrency, so both see the same machine at nearly the same
 * moment, and the ratio between them means something even on a busy machine. Each run's worker
 * figures are those of its own worker process (the refund worker's, or the baseline's).
 */
import type { Client } from '@temporalio/client';
import type { Pool } from '../store/pool';
import type { RefundsService } from '../api/refunds-service';
import type { Signer } from './registry';
import { baselineDriver, closedLoop, pipelineDriver, type Driver, type DriverKind, type LifecycleTimes } from './lifecycle';
import { peakRssMiB, percentiles, resetPeakRss, treeCpuSeconds, type Percentiles } from './process-stats';

export interface ThroughputOptions {
  concurrencies: number[];
  /** Pairs of (baseline, pipeline) runs at each concurrency. */
  repetitions: number;
  warmupMs: number;
  measureMs: number;
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
  finalApprovalToPaidMs: Percentiles;
  cpuSeconds: CpuSeconds;
  workerPeakRssMiB: number;
  /** With BENCH_PG_STATEMENTS=1: the statements that took PostgreSQL the most time in the window. */
  topStatements?: StatementStat[];
}

export interface KindSummary {
  refundsPerSecond: number;
  endToEndMs: Percentiles;
  finalApprovalToPaidMs: Percentiles;
  cpuSeconds: CpuSeconds;
  workerCpuMsPerRefund: number;
  workerPeakRssMiB: number;
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
}

export interface Pids {
  /** Each run's own worker process. */
  workers: Record<DriverKind, number>;
  temporal: number;
  postgres: number;
}

function cpuNow(pids: Pids, worker: number): CpuSeconds {
  const self = process.cpuUsage();
  return {
    worker: treeCpuSeconds(worker),
    temporal: treeCpuSeconds(pids.temporal),
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
}

/** PostgreSQL's own account of the statements a run made (pg_stat_statements), when it is loaded. */
export interface StatementStats {
  reset(): Promise<void>;
  top(): Promise<StatementStat[]>;
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
  };
}

async function measure(
  driver: Driver,
  concurrency: number,
  repetition: number,
  deps: { pids: Pids; statements?: StatementStats | undefined },
  opts: ThroughputOptions,
): Promise<MeasuredRun> {
  const { pids } = deps;
  const worker = pids.workers[driver.kind];
  let before: CpuSeconds | undefined;
  let after: CpuSeconds | undefined;
  let peak = 0;
  let statements: Promise<StatementStat[]> | undefined;
  const loop = await closedLoop(driver, {
    concurrency,
    warmupMs: opts.warmupMs,
    measureMs: opts.measureMs,
    onWindowStart: () => {
      resetPeakRss(worker);
      before = cpuNow(pids, worker);
      void deps.statements?.reset();
    },
    onWindowEnd: () => {
      after = cpuNow(pids, worker);
      peak = peakRssMiB(worker);
      statements = deps.statements?.top();
    },
  });
  const done = loop.completed;
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
    cpuSeconds: cpuDelta(before!, after!),
    workerPeakRssMiB: round(peak, 0),
  };
  const top = await statements;
  if (top) record.topStatements = top;
  return { record, samples: done };
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
  return {
    refundsPerSecond: round(samples.length / seconds),
    endToEndMs: percentiles(samples.map((t) => t.finishedAt - t.startedAt)),
    finalApprovalToPaidMs: percentiles(samples.flatMap((t) => (t.finalApprovalAt ? [t.finishedAt - t.finalApprovalAt] : []))),
    cpuSeconds: cpuDelta({ worker: 0, temporal: 0, postgres: 0, loadGenerator: 0 }, cpu),
    workerCpuMsPerRefund: round((cpu.worker * 1000) / Math.max(samples.length, 1), 1),
    workerPeakRssMiB: Math.max(...runs.map((r) => r.workerPeakRssMiB)),
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
    statements?: StatementStats | undefined;
    log: (line: string) => void;
  },
  opts: ThroughputOptions,
): Promise<ThroughputResult> {
  const drivers = [baselineDriver(deps.temporal, deps.baselineTaskQueue), pipelineDriver(deps.refunds, deps.temporal, deps.sign)];
  const measured: MeasuredRun[] = [];
  for (const concurrency of opts.concurrencies) {
    for (let repetition = 1; repetition <= opts.repetitions; repetition++) {
      for (const driver of drivers) {
        const { record: run, samples } = await measure(driver, concurrency, repetition, deps, opts);
        measured.push({ record: run, samples });
        deps.log(
          `${driver.kind.padEnd(8)} c=${String(concurrency).padStart(2)} #${repetition}: ${run.refundsPerSecond.toFixed(1)} refunds/s, ` +
            `p50 ${run.endToEndMs.p50} ms, p99 ${run.endToEndMs.p99} ms, approval→paid p99 ${run.finalApprovalToPaidMs.p99} ms, ` +
            `worker ${run.cpuSeconds.worker} CPU s, ${run.workerPeakRssMiB} MiB` +
            (run.errors ? `, ${run.errors} errors (${run.firstError})` : ''),
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
  return { runs: measured.map((m) => m.record), summary, baselinePeak: { concurrency: peak.concurrency, ratio: peak.ratio } };
}
