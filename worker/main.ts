/**
 * Production entry point for a worker process: `tsx worker/main.ts`. Needs DATABASE_URL (the
 * service role) and the standard TEMPORAL_* variables; applies pending migrations as the owner when
 * REFUNDS_MIGRATION_DATABASE_URL is set, or else checks none is pending; then runs until SIGINT/SIGTERM.
 * While the database is down or its schema behind, it waits (retrying with backoff) before it
 * polls Temporal: a task it took could not be completed.
 */
import { ConfigError, loadConfig } from '../config/worker';
import { SchemaError } from '../store/migrate';
import { waitForSchema } from '../store/readiness';
import { runWorker } from './worker';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL must be set for a worker process (npm start runs an embedded database instead)');
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
  try {
    await waitForSchema({
      databaseUrl: config.databaseUrl,
      migrationDatabaseUrl: config.migrationDatabaseUrl,
      backoff: config.dbRetry,
      log: console.log,
      signal: controller.signal,
    });
  } catch (error) {
    if (controller.signal.aborted) return; // stopped while waiting for the database
    throw error;
  }
  await runWorker({ databaseUrl: config.databaseUrl, signal: controller.signal });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError || error instanceof SchemaError ? error.message : error);
  process.exit(1);
});
