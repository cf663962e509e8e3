/**
 * Production entry point for a worker process: `node dist/worker/main.js` (built by `npm run
 * build`), or `tsx worker/main.ts`. Needs DATABASE_URL (the service role) and the standard TEMPORAL_*
 * variables; applies pending migrations as the owner when REFUNDS_MIGRATION_DATABASE_URL is set, or
 * else checks none is pending; then runs until SIGINT/SIGTERM. While the database is down or its
 * schema behind, it waits (retrying with backoff) before it polls Temporal: a task it took could not
 * be completed. With REFUNDS_WORKER_HTTP_PORT it serves /healthz and /readyz from the start.
 */
import { Connection } from '@temporalio/client';
import { Runtime, type Worker } from '@temporalio/worker';
import { createWorkerMetrics, type WorkerMetrics } from '../activities/metrics';
import { createWorkerLogger, sdkLogger } from './logging';
import { ConfigError, loadConfig, type Config } from '../config/worker';
import { SchemaError } from '../store/migrate';
import { setupTracing, type Tracing } from '../config/tracing';
import { createPool } from '../store/pool';
import { databaseReadiness, waitForSchema } from '../store/readiness';
import { startHealthServer, type HealthServer } from './health-server';
import { runWorker } from './worker';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL must be set for a worker process (npm start runs an embedded database instead)');
  // Before any connection to Temporal: the runtime's logger and telemetry are set once per process.
  const logger = createWorkerLogger({ level: process.env.LOG_LEVEL ?? 'info' });
  Runtime.install({
    logger: sdkLogger(logger),
    ...(config.sdkMetricsAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.sdkMetricsAddress, useSecondsForDurations: true } } } }
      : {}),
  });
  if (config.sdkMetricsAddress) console.log(`Temporal SDK metrics on http://${config.sdkMetricsAddress}/metrics`);
  const metrics = createWorkerMetrics();
  // Off (and nothing registered) unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
  const tracing = setupTracing({ serviceName: 'refund-worker' });
  if (tracing) console.log('traces exported over OTLP (OTEL_EXPORTER_OTLP_* variables)');
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
  let worker: Worker | undefined;
  const health = config.workerHttp ? await startHealth(config, config.databaseUrl, () => worker, metrics) : undefined;
  try {
    await waitAndRun(config, config.databaseUrl, controller.signal, metrics, tracing, (running) => {
      worker = running;
    });
  } finally {
    await health?.close();
    await tracing?.shutdown();
  }
}

async function waitAndRun(
  config: Config,
  databaseUrl: string,
  signal: AbortSignal,
  metrics: WorkerMetrics,
  tracing: Tracing | undefined,
  onRunning: (worker: Worker) => void,
): Promise<void> {
  try {
    await waitForSchema({
      databaseUrl,
      migrationDatabaseUrl: config.migrationDatabaseUrl,
      backoff: config.dbRetry,
      log: console.log,
      signal,
    });
  } catch (error) {
    if (signal.aborted) return; // stopped while waiting for the database
    throw error;
  }
  await runWorker({ databaseUrl, signal, onRunning, metrics, ...(tracing ? { tracing } : {}) });
}

/**
 * /healthz and /readyz: ready while the database answers with this code's schema, Temporal's
 * frontend answers, and the worker polls its task queue. Checked on connections of their own
 * (one database connection, a lazy Temporal client connection), so a probe never waits on tasks.
 */
async function startHealth(
  config: Config,
  databaseUrl: string,
  worker: () => Worker | undefined,
  metrics: WorkerMetrics,
): Promise<HealthServer> {
  const pool = createPool(databaseUrl, 1);
  const temporal = Connection.lazy({ ...config.temporal.connectionOptions, address: config.temporal.address });
  const server = await startHealthServer({
    ...config.workerHttp!,
    metrics: metrics.registry,
    checks: {
      database: async () => {
        const readiness = await databaseReadiness(pool);
        return readiness.ready ? undefined : readiness.reason;
      },
      temporal: async () => {
        await temporal.ensureConnected();
        const { status } = await temporal.healthService.check({});
        return status === 1 ? undefined : `health status ${String(status)}`;
      },
      worker: async () => {
        const state = worker()?.getState();
        return state === 'RUNNING'
          ? undefined
          : state
            ? `worker is ${state.toLowerCase()}`
            : 'worker not started yet (waiting for the database)';
      },
    },
  }).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    await temporal.close().catch(() => undefined);
    throw new ConfigError(
      `REFUNDS_WORKER_HTTP_PORT: cannot listen on ${config.workerHttp!.host}:${config.workerHttp!.port}: ${(error as Error).message}`,
    );
  });
  console.log(`worker health on ${server.url} (/healthz, /readyz, /metrics)`);
  return {
    url: server.url,
    async close() {
      await server.close();
      await pool.end().catch(() => undefined);
      await temporal.close().catch(() => undefined);
    },
  };
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError || error instanceof SchemaError ? error.message : error);
  process.exit(1);
});
