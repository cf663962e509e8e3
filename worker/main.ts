/**
 * Production entry point for a worker process: `tsx worker/main.ts`. Needs DATABASE_URL and the
 * standard TEMPORAL_* variables; applies pending migrations, then runs until SIGINT/SIGTERM.
 */
import { ConfigError, loadConfig } from '../config/worker';
import { migrate } from '../store/migrate';
import { runWorker } from './worker';

async function main() {
  const config = loadConfig();
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL must be set for a worker process (npm start runs an embedded database instead)');
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
  await migrate(config.databaseUrl);
  await runWorker({ databaseUrl: config.databaseUrl, signal: controller.signal });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
