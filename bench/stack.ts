/**
 * The benchmark's own stack, in a temporary directory: a Temporal dev server on a file-backed
 * SQLite database (WAL), or with the cluster topology Temporal's frontend, history, matching and
 * worker services as separate processes on the embedded PostgreSQL (dev/cluster-stack.ts), an embedded PostgreSQL, the migrations, and two workers, each in its own
 * child process on its own task queue, so each run's worker CPU time and memory can be read from
 * /proc without the load generator's or the other worker's: the refund worker, started from the
 * production entry point (worker/main.ts), and the baseline's (bench/baseline/worker.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTemporalOnPostgres } from '../dev/cluster-stack';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../dev/postgres';
import { killOnExit, OutputTail, terminateChild } from '../dev/processes';
import { resolveTemporalBinary } from '../dev/temporal-binary';
import { startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-server';
import { migrate } from '../store/migrate';
import { peakRssMiB } from './process-stats';
import { buildWorkflowBundle } from '../worker/workflow-bundle';
import { loadConfig } from '../config/worker';
import { writeBenchTrustRoots, type BenchTrust } from './registry';
import { buildBaselineBundle } from './baseline/bundle';
import { refundSearchAttributes } from '../workflows/search-attributes';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export type BenchTopology = 'dev' | 'cluster';

export interface BenchStack {
  dir: string;
  topology: BenchTopology;
  /** With the cluster topology: the frontend's address, and its pid. */
  /** `pids`: every process of Temporal's (the cluster's four services; the dev server's one). */
  temporal: Pick<TemporalDevServer, 'address' | 'namespace' | 'pid' | 'stop'> & { pids?: number[] };
  postgres: EmbeddedPostgresServer;
  refundWorker: WorkerProcess;
  baselineWorker: WorkerProcess;
  /** The refund worker's task queue. */
  taskQueue: string;
  baselineTaskQueue: string;
  /** The admins whose keys the refund worker pins, to register the approvers with. */
  trust: BenchTrust;
  stop(): Promise<void>;
}

export interface WorkerProcess {
  pid: number;
  /** Seconds from spawn until the worker polled its task queue. */
  startSeconds: number;
  /** Peak resident memory during start-up, in MiB. */
  startPeakRssMiB: number;
  /** The options it runs with, as it logged them at start (worker/worker-options.ts). */
  options?: string;
  stop(): Promise<void>;
}

export interface WorkerProcessOptions {
  /** The entry point, relative to the project root; it logs "polling task queue" once it polls. */
  entry: string;
  /** The worker's settings; none of this process's TEMPORAL_* or REFUNDS_* variables reach it. */
  env: Record<string, string>;
  /** Writes a V8 CPU profile of the worker into this directory when it stops. */
  cpuProfileDir?: string;
}

/** Runs a worker entry point in a child process, and waits until it polls. */
export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_') && !name.startsWith('REFUNDS_')),
  );
  Object.assign(env, opts.env);
  const nodeArgs = ['--import', 'tsx'];
  if (opts.cpuProfileDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir);
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(projectRoot, opts.entry)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const removeExitHook = killOnExit(child, 'SIGKILL');
  const tail = new OutputTail(40);
  const polling = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      if (/polling task queue/.test(tail.toString())) resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
    child.once('exit', (code, signal) =>
      reject(new Error(`${opts.entry} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before polling:\n${tail}`)),
    );
    child.once('error', reject);
  });
  await polling;
  const startSeconds = (performance.now() - started) / 1000;
  const options = /worker options: (.*)/.exec(tail.toString())?.[1];
  return {
    ...(options ? { options } : {}),
    pid: child.pid!,
    startSeconds,
    startPeakRssMiB: Math.round(peakRssMiB(child.pid!)),
    async stop() {
      // SIGTERM drains in-flight tasks; the CPU profile is written on a normal exit.
      await terminateChild(child, 'SIGTERM', 20_000);
      removeExitHook();
    },
  };
}

/**
 * The dev server runs one history shard, which by default reads its transfer queue (the tasks
 * that hand workflow and activity tasks to workers) at most 20 times a second: on this one busy
 * shard every dispatch then waits about 25 ms, a wait a production cluster, spreading the same
 * load over hundreds of shards, does not have. Raising the one shard's read rate stands in for
 * that; BENCH_TEMPORAL_DEFAULTS=1 measures the dev server as it comes.
 */
export const clusterLikeDynamicConfig = { 'history.transferProcessorMaxPollRPS': 1000 };

interface BenchStackOptions {
  log: (line: string) => void;
  /** dev (default): the Temporal dev server; cluster: Temporal's services as separate processes on PostgreSQL. */
  topology?: BenchTopology;
  temporalDynamicConfig?: Record<string, string | number | boolean>;
  /** Extra environment for the refund worker (REFUNDS_* tuning); the baseline worker gets the same limits. */
  workerEnv?: Record<string, string>;
  /** Writes a V8 CPU profile of each worker into this directory. */
  cpuProfileDir?: string;
  /** Loads pg_stat_statements, for profiling the worker's queries. */
  pgStatements?: boolean;
  /** Lets the workers bundle their workflows at start, instead of loading bundles built beforehand. */
  bundleAtStart?: boolean;
}

export async function startBenchStack(opts: BenchStackOptions): Promise<BenchStack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-bench-'));
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dir, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const topology = opts.topology ?? 'dev';
    const { temporal, postgres } = topology === 'cluster' ? await startClusterServers(dir, opts, stops) : await startServers(dir, opts);
    if (topology === 'dev') stops.push(temporal.stop, postgres.stop);
    // As in production: the owner migrates, the worker connects as the service role.
    await migrate(postgres.ownerUrl);
    const where = topology === 'cluster' ? 'frontend, history, matching and worker services on PostgreSQL' : `SQLite WAL in ${dir}`;
    opts.log(`Temporal ${temporal.address} (${where}), PostgreSQL ${postgres.databaseUrl}`);
    const workers = await startWorkers(dir, temporal.address, postgres.serviceUrl, opts, stops);
    return { dir, topology, temporal, postgres, ...workers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** PostgreSQL, then Temporal's services on it; Temporal is stopped before the database it stands on. */
async function startClusterServers(
  dir: string,
  opts: BenchStackOptions,
  stops: Array<() => Promise<void>>,
): Promise<{ temporal: BenchStack['temporal']; postgres: EmbeddedPostgresServer }> {
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'postgres'),
    logFile: path.join(dir, 'postgres.log'),
    ...(opts.pgStatements ? { settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } } : {}),
  });
  stops.push(postgres.stop);
  const cluster = await startTemporalOnPostgres({ dir: path.join(dir, 'temporal'), postgres, log: opts.log });
  stops.push(cluster.stop);
  return {
    temporal: {
      address: cluster.address,
      namespace: cluster.namespace,
      pid: cluster.services.frontend.pid,
      pids: Object.values(cluster.services).map((service) => service.pid),
      stop: cluster.stop,
    },
    postgres,
  };
}

async function startServers(
  dir: string,
  opts: BenchStackOptions,
): Promise<{ temporal: TemporalDevServer; postgres: EmbeddedPostgresServer }> {
  const [temporal, postgres] = await Promise.all([
    resolveTemporalBinary().then((binary) =>
      startTemporalDevServer({
        binary,
        uiPort: false,
        // A file, not memory: writes reach disk (WAL) as they would on a server that survives restarts.
        dbFile: path.join(dir, 'temporal.db'),
        searchAttributes: refundSearchAttributes,
        ...(opts.temporalDynamicConfig ? { dynamicConfig: opts.temporalDynamicConfig } : {}),
        logFile: path.join(dir, 'temporal.log'),
      }),
    ),
    startEmbeddedPostgres({
      dataDir: path.join(dir, 'postgres'),
      logFile: path.join(dir, 'postgres.log'),
      ...(opts.pgStatements ? { settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } } : {}),
    }),
  ]);
  return { temporal, postgres };
}

/** The refund worker, then the baseline's: one at a time, so the refund worker's start-up figures are its own. */
async function startWorkers(
  dir: string,
  temporalAddress: string,
  databaseUrl: string,
  opts: BenchStackOptions,
  stops: Array<() => Promise<void>>,
): Promise<Pick<BenchStack, 'refundWorker' | 'baselineWorker' | 'taskQueue' | 'baselineTaskQueue' | 'trust'>> {
  const taskQueue = 'bench-refunds';
  const baselineTaskQueue = 'bench-baseline';
  const temporalEnv = { TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: 'default' };
  const refundEnv: Record<string, string> = { ...temporalEnv, DATABASE_URL: databaseUrl, REFUNDS_TASK_QUEUE: taskQueue, ...opts.workerEnv };
  const baselineEnv: Record<string, string> = { ...temporalEnv, BENCH_BASELINE_TASK_QUEUE: baselineTaskQueue };
  const trust = await writeBenchTrustRoots(dir);
  refundEnv.REFUNDS_TRUST_ROOTS = trust.file;
  refundEnv.REFUNDS_CARRIER_SECRETS = trust.carrierSecretsFile;
  if (!opts.bundleAtStart) {
    // As in production: the workflows are bundled once, before any worker starts.
    refundEnv.REFUNDS_WORKFLOW_BUNDLE = path.join(dir, 'workflow-bundle.js');
    baselineEnv.BENCH_BASELINE_WORKFLOW_BUNDLE = path.join(dir, 'baseline-workflow-bundle.js');
    await buildWorkflowBundle(refundEnv.REFUNDS_WORKFLOW_BUNDLE);
    await buildBaselineBundle(baselineEnv.BENCH_BASELINE_WORKFLOW_BUNDLE);
  }
  // The refund worker's tuning, as its configuration resolves it; what it leaves unset stays the
  // SDK's default in both workers.
  const tuning = loadConfig(refundEnv);
  const baselineTuning: Record<string, number | boolean | undefined> = {
    BENCH_BASELINE_MAX_ACTIVITIES: tuning.maxConcurrentActivities,
    BENCH_BASELINE_MAX_WORKFLOW_TASKS: tuning.maxConcurrentWorkflowTasks,
    BENCH_BASELINE_MAX_CACHED_WORKFLOWS: tuning.maxCachedWorkflows,
    BENCH_BASELINE_WORKFLOW_POLLERS: tuning.workflowTaskPollers,
    BENCH_BASELINE_ACTIVITY_POLLERS: tuning.activityTaskPollers,
    BENCH_BASELINE_REUSE_V8_CONTEXT: tuning.reuseV8Context,
    BENCH_BASELINE_WORKFLOW_THREADS: tuning.workflowThreads,
  };
  for (const [name, value] of Object.entries(baselineTuning)) if (value !== undefined) baselineEnv[name] = String(value);
  const profile = opts.cpuProfileDir ? { cpuProfileDir: opts.cpuProfileDir } : {};
  const refundWorker = await startWorkerProcess({ entry: 'worker/main.ts', env: refundEnv, ...profile });
  stops.push(refundWorker.stop);
  opts.log(
    `refund worker pid ${refundWorker.pid} polling "${taskQueue}" after ${refundWorker.startSeconds.toFixed(1)} s, ${refundWorker.startPeakRssMiB} MiB`,
  );
  const baselineWorker = await startWorkerProcess({ entry: 'bench/baseline/worker.ts', env: baselineEnv, ...profile });
  stops.push(baselineWorker.stop);
  opts.log(
    `baseline worker pid ${baselineWorker.pid} polling "${baselineTaskQueue}" after ${baselineWorker.startSeconds.toFixed(1)} s, ${baselineWorker.startPeakRssMiB} MiB`,
  );
  return { refundWorker, baselineWorker, taskQueue, baselineTaskQueue, trust };
}
