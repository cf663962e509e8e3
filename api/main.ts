/**
 * Production entry point for an API process: `node dist/api/main.js` (built by `npm run build`), or
 * `npx tsx api/main.ts`. Needs DATABASE_URL,
 * REFUNDS_CARRIER_SECRETS and the standard TEMPORAL_* variables; serves on HOST:PORT until
 * SIGINT/SIGTERM, then finishes the requests in flight and stops. DATABASE_URL is the service role;
 * migrations are applied only with REFUNDS_MIGRATION_DATABASE_URL (the owner), else checked.
 * It serves while PostgreSQL is down (/readyz answers 503) and gets the schema ready in the
 * background, retrying with backoff.
 */
import { ConfigError, loadConfig } from '../config/worker';
import { SchemaError } from '../store/migrate';
import { waitForSchema } from '../store/readiness';
import { loadApiConfig, requireCarrierSecrets } from '../config/api';
import { loadAuditConfig } from '../config/audit';
import { setupTracing } from '../config/tracing';
import { apiLoggerOptions } from './logging';
import { startApiServer } from './server';

async function main() {
  const config = loadConfig();
  const api = loadApiConfig();
  const audit = loadAuditConfig();
  if (!config.databaseUrl)
    throw new ConfigError('DATABASE_URL must be set for an API process (npm start runs an embedded database instead)');
  const carrierSecrets = requireCarrierSecrets(api);
  // Off (and nothing registered) unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.
  const tracing = setupTracing({ serviceName: 'refund-api', http: true });
  if (tracing) console.log('traces exported over OTLP (OTEL_EXPORTER_OTLP_* variables)');
  const server = await startApiServer({
    temporal: config.temporal,
    databaseUrl: config.databaseUrl,
    taskQueue: config.taskQueue,
    api: { ...api, carrierSecrets },
    dbPoolSize: config.dbPoolSize,
    audit: { publicKeys: audit.publicKeys, checkpointFile: audit.checkpointFile },
    policy: config.policy,
    ...(config.trustRoots ? { trustRoots: config.trustRoots } : {}),
    logger: apiLoggerOptions({ level: process.env.LOG_LEVEL ?? 'info' }),
    ...(tracing ? { tracing } : {}),
  });
  console.log(`refund API listening on ${server.url} (OpenAPI at ${server.url}/openapi.json)`);
  const stopWaiting = new AbortController();
  waitForSchema({
    databaseUrl: config.databaseUrl,
    migrationDatabaseUrl: config.migrationDatabaseUrl,
    backoff: config.dbRetry,
    log: console.log,
    signal: stopWaiting.signal,
  }).then(
    () => console.log('database ready'),
    () => undefined, // only an abort ends the wait: the process is stopping
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopWaiting.abort();
      server
        .close()
        .then(() => tracing?.shutdown())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            console.error(error);
            process.exit(1);
          },
        );
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError || error instanceof SchemaError ? error.message : error);
  process.exit(1);
});
