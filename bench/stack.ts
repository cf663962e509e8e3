/**
 * The benchmark's own stack, in a temporary directory: a Temporal dev server on a file-backed
 * SQLite database (WAL), an embedded PostgreSQL, the migrations, and one refund worker started
 * from the production entry point (worker/main.ts) in a child process, so its CPU time and
 * memory can be read from /proc without the load generator's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../dev/postgres';
import { killOnExit, OutputTail, terminateChild } from '../dev/processes';
import { resolveTemporalBinary } from '../dev/temporal-binary';
import { startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-server';
import { migrate } from '../store/migrate';
import { peakRssMiB } from './process-stats';
import { buildWorkflowBundle } from '../worker/workflow-bundle';
import { refundSearchAttributes } from '../workflows/search-attributes';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export interface BenchStack {
  dir: string;
  temporal: TemporalDevServer;
  postgres: EmbeddedPostgresServer;
  worker: WorkerProcess;
  taskQueue: string;
  stop(): Promise<void>;
}

export interface WorkerProcess {
  pid: number;
  /** Seconds from spawn until the worker polled its task queue. */
  startSeconds: number;
  /** Peak resident memory during start-up, in MiB. */
  startPeakRssMiB: number;
  stop(): Promise<void>;
}

export interface WorkerProcessOptions {
  temporalAddress: string;
  databaseUrl: string;
  taskQueue: string;
  /** Extra environment for the worker (REFUNDS_* tuning). */
  env?: Record<string, string>;
  /** Writes a V8 CPU profile of the worker into this directory when it stops. */
  cpuProfileDir?: string;
}

/** Runs `worker/main.ts` exactly as production does, and waits until it polls. */
export async function startWorkerProcess(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_') && !name.startsWith('REFUNDS_')));
  Object.assign(env, {
    TEMPORAL_ADDRESS: opts.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    DATABASE_URL: opts.databaseUrl,
    REFUNDS_TASK_QUEUE: opts.taskQueue,
    ...opts.env,
  });
  const nodeArgs = ['--import', 'tsx'];
  if (opts.cpuProfileDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfileDir);
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(projectRoot, 'worker/main.ts')], {
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
    child.once('exit', (code, signal) => reject(new Error(`the worker ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before polling:\n${tail}`)));
    child.once('error', reject);
  });
  await polling;
  const startSeconds = (performance.now() - started) / 1000;
  return {
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

export async function startBenchStack(opts: {
  log: (line: string) => void;
  temporalDynamicConfig?: Record<string, string | number | boolean>;
  workerEnv?: Record<string, string>;
  cpuProfileDir?: string;
  /** Loads pg_stat_statements, for profiling the worker's queries. */
  pgStatements?: boolean;
  /** Lets the worker bundle the workflows itself at start, instead of loading a bundle built beforehand. */
  bundleAtStart?: boolean;
}): Promise<BenchStack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-bench-'));
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dir, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
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
    stops.push(temporal.stop, postgres.stop);
    await migrate(postgres.databaseUrl);
    opts.log(`Temporal ${temporal.address} (SQLite WAL in ${dir}), PostgreSQL ${postgres.databaseUrl}`);
    const workerEnv = { ...opts.workerEnv };
    if (!opts.bundleAtStart) {
      // As in production: the workflows are bundled once, before any worker starts.
      workerEnv.REFUNDS_WORKFLOW_BUNDLE = path.join(dir, 'workflow-bundle.js');
      await buildWorkflowBundle(workerEnv.REFUNDS_WORKFLOW_BUNDLE);
    }
    const taskQueue = 'bench-refunds';
    const worker = await startWorkerProcess({
      temporalAddress: temporal.address,
      databaseUrl: postgres.databaseUrl,
      taskQueue,
      env: workerEnv,
      ...(opts.cpuProfileDir ? { cpuProfileDir: opts.cpuProfileDir } : {}),
    });
    stops.push(worker.stop);
    opts.log(`worker pid ${worker.pid} polling "${taskQueue}" after ${worker.startSeconds.toFixed(1)} s, ${worker.startPeakRssMiB} MiB`);
    return { dir, temporal, postgres, worker, taskQueue, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
