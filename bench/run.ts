/**
 * `npm run bench`: refund throughput and latency against a bare-Temporal baseline measured in the
 * same run, the stuck listing and the stuck summary over a million refunds (BENCH_STUCK_ROWS), and the API under load. It reports figures;
 * it does not pass or fail. Writes bench/results/latest.{json,md,svg} (quick runs: bench/results/tmp/).
 *
 * BENCH_QUICK=1 runs a short version for iterating; BENCH_PARTS picks parts
 * (throughput,stuck,api); BENCH_WORKER_CPU_PROFILE=<dir> writes a V8 CPU profile of each worker;
 * BENCH_TEMPORAL_DEFAULTS=1 runs the Temporal dev server without the settings in bench/stack.ts;
 * BENCH_PG_STATEMENTS=1 records PostgreSQL's busiest statements per run (pg_stat_statements, which
 * every run loads to count the round trips per refund);
 * BENCH_BUNDLE_AT_START=1 lets the workers bundle their workflows at start instead of loading prebuilt bundles;
 * BENCH_TOPOLOGY=cluster runs Temporal as separate frontend, history, matching and worker services on
 * PostgreSQL instead of the dev server (results in <name>-cluster.*), both runs the benchmark on each in turn.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { createPool, type Pool } from '../store/pool';
import { RefundsService } from '../api/refunds-service';
import { startCarrierEventSweep, type SweepLogger } from '../api/carrier-event-sweep';
import { defaultApiLimits } from '../config/api';
import { runApiLoad, stuckListingOverHttp } from './api-load';
import { describeMachine, markdownReport, svgChart, type BenchResults } from './report';
import { type BenchTopology, clusterLikeDynamicConfig, startBenchStack, type BenchStack } from './stack';
import { runStuckListing } from './stuck-listing';
import { pgStatementStats, runThroughput } from './throughput';
import { benchSigner } from './registry';
import { benchApprovers, benchScanners } from './refunds';

const list = (what: string) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^\d+$/, `${what} must be a comma-separated list of whole numbers`)).min(1))
    .transform((v) => v.map(Number));
const seconds = z.coerce.number().positive();

const Env = z.object({
  BENCH_QUICK: z.enum(['0', '1']).default('0'),
  BENCH_PARTS: z
    .string()
    .default('throughput,stuck,api')
    .transform((v) => v.split(',').map((s) => s.trim()))
    .pipe(z.array(z.enum(['throughput', 'stuck', 'api']))),
  BENCH_CONCURRENCY: list('BENCH_CONCURRENCY').optional(),
  BENCH_REPETITIONS: z.coerce.number().int().min(1).optional(),
  BENCH_WARMUP_SECONDS: seconds.optional(),
  BENCH_MEASURE_SECONDS: seconds.optional(),
  BENCH_STUCK_ROWS: z.coerce.number().int().min(1000).optional(),
  BENCH_WORKER_CPU_PROFILE: z.string().min(1).optional(),
  BENCH_TEMPORAL_DEFAULTS: z.enum(['0', '1']).default('0'),
  BENCH_PG_STATEMENTS: z.enum(['0', '1']).default('0'),
  BENCH_BUNDLE_AT_START: z.enum(['0', '1']).default('0'),
  BENCH_TOPOLOGY: z.enum(['dev', 'cluster', 'both']).default('dev'),
  BENCH_WARM_STAFF: z.enum(['0', '1']).default('1'),
  // The refund worker's own settings, e.g. REFUNDS_WORKER_MAX_WORKFLOW_TASKS=16,REFUNDS_WORKER_MAX_ACTIVITIES=16;
  // the baseline worker runs with the same tuning (concurrency, cache, pollers, V8 context, threads).
  BENCH_WORKER_SETTINGS: z
    .string()
    .transform((v, ctx) => {
      const pairs = v.split(',').map((pair): [string, string] => {
        const [name = '', ...value] = pair.trim().split('=');
        return [name, value.join('=')];
      });
      for (const [name, value] of pairs) {
        if (!name.startsWith('REFUNDS_WORKER_') || value === '') {
          ctx.addIssue({ code: 'custom', message: `expected REFUNDS_WORKER_<SETTING>=<value>, got "${name}=${value}"` });
        }
      }
      return Object.fromEntries(pairs);
    })
    .optional(),
});

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

type Env = z.infer<typeof Env>;
type Settings = ReturnType<typeof settingsFrom>;

function settingsFrom(env: Env) {
  const quick = env.BENCH_QUICK === '1';
  return {
    concurrencies: env.BENCH_CONCURRENCY ?? (quick ? [1, 16] : [1, 4, 16, 64]),
    repetitions: env.BENCH_REPETITIONS ?? (quick ? 1 : 2),
    warmupMs: (env.BENCH_WARMUP_SECONDS ?? (quick ? 2 : 4)) * 1000,
    measureMs: (env.BENCH_MEASURE_SECONDS ?? (quick ? 6 : 20)) * 1000,
    stuckRows: env.BENCH_STUCK_ROWS ?? (quick ? 100_000 : 1_000_000),
    stuckIterations: quick ? 100 : 300,
    apiConcurrencies: quick ? [16] : [1, 16],
    parts: env.BENCH_PARTS,
    temporalDynamicConfig: env.BENCH_TEMPORAL_DEFAULTS === '1' ? {} : clusterLikeDynamicConfig,
    bundleAtStart: env.BENCH_BUNDLE_AT_START === '1',
    warmStaff: env.BENCH_WARM_STAFF === '1',
  };
}

/** The command as it was run: the BENCH_* settings given, then `npm run bench`. */
function commandLine(): string {
  const given = Object.keys(Env.shape)
    .filter((name) => process.env[name] !== undefined && process.env[name] !== '')
    .map((name) => `${name}=${process.env[name]}`);
  return [...given, 'npm run bench'].join(' ');
}

function readEnv(): Env {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`invalid benchmark settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const env = readEnv();
  const topologies: BenchTopology[] = env.BENCH_TOPOLOGY === 'both' ? ['dev', 'cluster'] : [env.BENCH_TOPOLOGY];
  for (const topology of topologies) await runOn(env, topology);
}

async function runOn(env: Env, topology: BenchTopology): Promise<void> {
  const quick = env.BENCH_QUICK === '1';
  const settings = { ...settingsFrom(env), topology };
  const machine = describeMachine();
  log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memory}, Node ${machine.node}; Temporal topology: ${topology}`);

  const stack: BenchStack = await startBenchStack({
    log,
    topology,
    temporalDynamicConfig: settings.temporalDynamicConfig,
    // Always: the round trips per refund are counted from pg_stat_statements.
    pgStatements: true,
    bundleAtStart: settings.bundleAtStart,
    ...(env.BENCH_WORKER_SETTINGS ? { workerEnv: env.BENCH_WORKER_SETTINGS } : {}),
    ...(env.BENCH_WORKER_CPU_PROFILE ? { cpuProfileDir: path.resolve(env.BENCH_WORKER_CPU_PROFILE) } : {}),
  });
  const stopOnSignal = () => void stack.stop().finally(() => process.exit(130));
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const connection = await Connection.connect({ address: stack.temporal.address });
  const temporal = new Client({ connection, namespace: 'default' });
  const pool = createPool(stack.postgres.databaseUrl, 20);
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    command: commandLine(),
    quick,
    machine,
    settings,
    workerStart: {
      seconds: Math.round(stack.refundWorker.startSeconds * 10) / 10,
      peakRssMiB: stack.refundWorker.startPeakRssMiB,
      workflowBundle: settings.bundleAtStart ? 'bundled by the worker at start' : 'built beforehand (REFUNDS_WORKFLOW_BUNDLE)',
    },
    workerOptions: { pipeline: stack.refundWorker.options ?? 'not logged', baseline: stack.baselineWorker.options ?? 'not logged' },
  };
  try {
    await runParts({ stack, temporal, pool, pgStatements: env.BENCH_PG_STATEMENTS === '1' }, settings, results);
    // Written before the clients close: a refund still in flight must not cost the run its figures.
    await writeResults(results, topology === 'cluster' ? '-cluster' : '');
  } finally {
    await pool.end();
    await connection.close();
    await stack.stop();
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
  }
}

async function runParts(
  deps: { stack: BenchStack; temporal: Client; pool: Pool; pgStatements: boolean },
  settings: Settings,
  results: BenchResults,
): Promise<void> {
  const { stack, temporal, pool } = deps;
  const refunds = new RefundsService({ temporal, pool, taskQueue: stack.taskQueue });
  // As in the API process: a carrier event that arrives before its refund's first row (later than
  // requestRefund waits for under load) stays pending until the sweep delivers it.
  const sweep = startCarrierEventSweep(
    refunds,
    { intervalMs: defaultApiLimits.carrierEventSweepIntervalMs, batchSize: defaultApiLimits.carrierEventSweepBatch },
    sweepLog,
  );
  try {
    await runPartsWith(refunds, deps, settings, results);
  } finally {
    await sweep.stop();
  }
}

const sweepLog: SweepLogger = {
  info: () => undefined,
  warn: (details, message) => log(`${message} ${JSON.stringify(details)}`),
  error: (details, message) => log(`${message} ${JSON.stringify(details)}`),
};

async function runPartsWith(
  refunds: RefundsService,
  deps: { stack: BenchStack; temporal: Client; pool: Pool; pgStatements: boolean },
  settings: Settings,
  results: BenchResults,
): Promise<void> {
  const { stack, temporal, pool } = deps;
  const sign = await benchSigner(pool, stack.trust, benchApprovers, benchScanners);
  if (settings.parts.includes('throughput')) {
    results.throughput = await runThroughput(
      {
        refunds,
        temporal,
        sign,
        baselineTaskQueue: stack.baselineTaskQueue,
        pids: {
          workers: { pipeline: stack.refundWorker.pid, baseline: stack.baselineWorker.pid },
          temporal: stack.temporal.pids ?? [stack.temporal.pid],
          postgres: stack.postgres.pid,
        },
        pool,
        statements: await pgStatementStats(pool),
        topStatements: deps.pgStatements,
        log,
      },
      settings,
    );
  }
  if (settings.parts.includes('stuck')) {
    results.stuckListing = await runStuckListing(stack.postgres.databaseUrl, {
      rows: settings.stuckRows,
      iterations: settings.stuckIterations,
      http: stuckListingOverHttp(temporal, stack.taskQueue),
      log,
    });
  }
  if (settings.parts.includes('api')) {
    results.api = await runApiLoad({
      refunds,
      temporal,
      databaseUrl: stack.postgres.databaseUrl,
      taskQueue: stack.taskQueue,
      concurrencies: settings.apiConcurrencies,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
      log,
      sign,
    });
  }
}

async function writeResults(results: BenchResults, suffix: string): Promise<void> {
  const dir = results.quick ? path.join(resultsDir, 'tmp') : resultsDir;
  await mkdir(dir, { recursive: true });
  // A run of some parts only keeps its own file, so it never replaces the figures of a whole run.
  const parts = (results.settings.parts as string[] | undefined) ?? [];
  const whole = ['throughput', 'stuck', 'api'].every((p) => parts.includes(p));
  const name = `${results.quick ? 'quick' : whole ? 'latest' : `latest-${parts.join('-')}`}${suffix}`;
  await writeFile(path.join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
  const markdown = markdownReport(results);
  await writeFile(path.join(dir, `${name}.md`), `# Refund benchmark\n\n${markdown}\n`);
  if (results.throughput) await writeFile(path.join(dir, `${name}.svg`), svgChart(results.throughput.summary));
  process.stdout.write(
    `\n${markdown}\nResults in ${path.relative(process.cwd(), dir)}/${name}.{json,md${results.throughput ? ',svg' : ''}}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
