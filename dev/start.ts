/**
 * `npm start`: the refund service on one machine. Starts what the environment
 * does not provide (a Temporal dev server unless TEMPORAL_ADDRESS is set, an
 * embedded PostgreSQL unless DATABASE_URL is set), applies the migrations (as the
 * schema owner; the product connects as the service role), and
 * runs the worker and the HTTP API until Ctrl-C (the dev server's Web UI only
 * through a read-only proxy, dev/read-only-ui.ts); then stops everything in
 * reverse order. With the embedded database, the first start also creates demo
 * principals and carrier signing keys for ups, dhl and fedex (dev/demo-credentials.ts),
 * and the demo trust roots, signing keys and endorsed registry entries (dev/demo-registry.ts).
 *
 * Data lives in .data/ (Temporal's SQLite file and the PostgreSQL cluster), so
 * refunds survive a restart. .data/stack.json tells CLIs where the running
 * stack is (config/local-stack.ts reads it).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { loadApiConfig, requireCarrierSecrets, type ApiConfig } from '../config/api';
import type { CarrierSecrets } from '../client/carrier-signature';
import { startApiServer } from '../api/server';
import { ConfigError, loadConfig } from '../config/worker';
import { runWorker } from '../worker/worker';
import { ensureSchema } from '../store/migrate';
import { describeIssues } from '../workflows/schemas';
import { refundSearchAttributes } from '../workflows/search-attributes';
import { ensureDemoAuditKey, type DemoAudit } from './demo-audit-key';
import { type DemoData, ensureDemoData, leaveDemoRefund } from './demo-data';
import { startEmbeddedPostgres } from './postgres';
import { startReadOnlyUi } from './read-only-ui';
import { stackFilePath, type StackInfo } from '../config/local-stack';
import { claimStackFile, StackFileTaken, stopOnSignals, writeStackFile } from './stack-file';
import { resolveTemporalBinary } from './temporal-binary';
import { startTemporalDevServer } from './temporal-server';
import { configuredTemporal, devServerTemporal, type TemporalTarget } from './temporal-target';
import { setupTracing, type Tracing } from '../config/tracing';

const stackFile = stackFilePath;
const dataDir = path.dirname(stackFile);

const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);
// Messages without the variable's name: describeIssues puts it in front.
const port = (fallback: number) =>
  z.preprocess(
    unsetIfEmpty,
    z.coerce
      .number({ error: 'must be a port number' })
      .int('must be a whole number')
      .min(1, 'must be between 1 and 65535')
      .max(65535, 'must be between 1 and 65535')
      .default(fallback),
  );

const Env = z.object({
  TEMPORAL_ADDRESS: z.preprocess(unsetIfEmpty, z.string().optional()),
  TEMPORAL_NAMESPACE: z.preprocess(unsetIfEmpty, z.string().default('default')),
  DATABASE_URL: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
      .optional(),
  ),
  REFUNDS_MIGRATION_DATABASE_URL: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
      .optional(),
  ),
  REFUNDS_DEV_TEMPORAL_PORT: port(7233),
  REFUNDS_DEV_UI_PORT: port(8233),
  REFUNDS_DEV_PG_PORT: port(5433),
});
type Env = z.infer<typeof Env>;

/** Something `npm start` runs; stopped in reverse start order. */
interface Service {
  name: string;
  stop(): Promise<void>;
}

class StartupError extends Error {}

const services: Service[] = [];
let shuttingDown: Promise<void> | undefined;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) throw new StartupError(describeIssues(parsed.error, { separator: '\n' }));
  const env = parsed.data;
  const api = apiConfig(env);
  const configured = configuredCluster();

  await mkdir(dataDir, { recursive: true });
  await claimStackFile(stackFile).catch((err: unknown) => {
    throw err instanceof StackFileTaken ? new StartupError(err.message) : err;
  });

  // Temporal and PostgreSQL are independent, so they start side by side.
  const [temporal, database] = await startAll([startTemporal(env, configured), startPostgres(env)]);
  const databaseUrl = database.serviceUrl;

  say(`Temporal server   ${temporal.address}  (namespace ${temporal.namespace}${describeConnection(temporal)})`);
  if (temporal.uiUrl) say(`Temporal Web UI   ${temporal.uiUrl}  (read-only; change refunds through the API)`);
  say(
    `PostgreSQL        ${redact(databaseUrl)}${env.DATABASE_URL ? '' : "  (the service role; its URL and the owner role's are in .data/stack.json)"}`,
  );

  await ensureSchema({ databaseUrl, migrationDatabaseUrl: database.ownerUrl, log: (msg) => say(`migrations: ${msg}`) });

  const info: StackInfo = {
    temporalAddress: temporal.address,
    namespace: temporal.namespace,
    databaseUrl,
    ...(env.DATABASE_URL ? {} : { ownerDatabaseUrl: database.ownerUrl }),
    uiUrl: temporal.uiUrl,
    apiUrl: `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`,
    pid: process.pid,
  };
  services.push({ name: 'stack file', stop: await writeStackFile(stackFile, info) });

  // Embedded database: demo principals and carrier keys (unless REFUNDS_CARRIER_SECRETS names some). DATABASE_URL: only what is configured.
  let carrierSecrets = api.carrierSecrets;
  let demo: DemoData | undefined;
  if (!env.DATABASE_URL) {
    demo = await ensureDemoData({ ownerUrl: database.ownerUrl!, dataDir, say, carrierSecrets });
    carrierSecrets = demo.carrierSecrets;
    // The worker pins these trust roots unless REFUNDS_TRUST_ROOTS names others.
    process.env.REFUNDS_TRUST_ROOTS ||= demo.trustRootsFile;
    say(`Trust roots       ${path.relative(process.cwd(), process.env.REFUNDS_TRUST_ROOTS)}`);
  }
  const audit = demoAudit();
  const tracing = startTracing();
  // Started before the worker, so Ctrl-C stops the worker first, as the signal arrives.
  await startApi({ temporal, databaseUrl, api: { ...api, carrierSecrets: carrierSecrets! }, audit, tracing });

  // The worker verifies carrier events with the same keys the API checks webhooks with.
  startWorker({ temporal, databaseUrl, audit, carrierSecrets: carrierSecrets!, tracing });
  say('Starting the refund worker; press Ctrl-C to stop.');
  // With the demo principals: one refund waiting for the demo approver, created on the first start.
  if (demo) void leaveDemoRefund({ apiUrl: info.apiUrl!, demo, say, stopping: () => shuttingDown !== undefined });
}

/** The API's configuration, checked before anything starts; production mode needs its carriers' keys. */
function apiConfig(env: Env): ApiConfig {
  try {
    loadConfig(process.env); // the worker's variables too, e.g. REFUNDS_MIGRATION_DATABASE_URL only with DATABASE_URL
    const api = loadApiConfig(process.env);
    if (env.DATABASE_URL) requireCarrierSecrets(api);
    return api;
  } catch (err) {
    throw err instanceof ConfigError ? new StartupError(err.message) : err;
  }
}

/** The cluster the environment names (TEMPORAL_ADDRESS, or a chosen profile), or undefined for a dev server. */
function configuredCluster(): TemporalTarget | undefined {
  try {
    return configuredTemporal(process.env);
  } catch (err) {
    throw err instanceof ConfigError ? new StartupError(err.message) : err;
  }
}

/** What the connection adds to the address: TLS, an API key. */
function describeConnection(temporal: TemporalTarget): string {
  const { tls, apiKey } = temporal.connectionOptions;
  return `${tls ? ', TLS' : ''}${apiKey ? ', API key' : ''}`;
}

/** Traces for the API and the worker (one process here), when an OTLP endpoint is set; stopped last, so it flushes everything. */
function startTracing(): Tracing | undefined {
  const tracing = setupTracing({ serviceName: 'refund-approvals', http: true });
  if (!tracing) return undefined;
  services.unshift({ name: 'tracing', stop: tracing.shutdown });
  say('Traces            exported over OTLP (OTEL_EXPORTER_OTLP_* variables)');
  return tracing;
}

async function startApi(opts: {
  temporal: TemporalTarget;
  databaseUrl: string;
  api: ApiConfig & { carrierSecrets: CarrierSecrets };
  audit: DemoAudit;
  tracing: Tracing | undefined;
}): Promise<void> {
  const server = await startApiServer({
    // The same connection options as the worker's: TLS and an API key for a configured cluster.
    temporal: opts.temporal,
    ...(opts.tracing ? { tracing: opts.tracing } : {}),
    databaseUrl: opts.databaseUrl,
    taskQueue: loadConfig().taskQueue,
    // The roots the worker pins (the demo admins' unless REFUNDS_TRUST_ROOTS names others), for the registry routes.
    trustRoots: loadConfig().trustRoots,
    audit: { publicKeys: opts.audit.publicKeys, checkpointFile: opts.audit.checkpointFile },
    api: opts.api,
  }).catch((err: unknown) => {
    throw withHint(
      err,
      /EADDRINUSE/.test(describe(err)) ? 'Set PORT (and HOST) to serve the API elsewhere.' : 'The HTTP API did not start.',
    );
  });
  services.push({ name: 'HTTP API', stop: server.close });
  say(`HTTP API          ${server.url}  (OpenAPI: ${server.url}/openapi.json)`);
  // WebAuthn (the console's passkeys) needs a host name, not an IP address.
  say(
    `Console           ${server.url.replace(/\/\/(127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(?=:)/, '//localhost')}/console  (sign in with a principal id and its API key)`,
  );
}

/**
 * Like Promise.all, but waits for every start to settle so a service that did
 * come up is registered (and so stopped) even when another failed.
 */
async function startAll<T extends readonly unknown[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(starts);
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new StartupError(errors.map((e) => (e instanceof Error ? e.message : String(e))).join('\n\n'));
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

async function startTemporal(env: Env, configured: TemporalTarget | undefined): Promise<TemporalTarget & { uiUrl?: string }> {
  if (configured) return configured;
  const binary = await resolveTemporalBinary().catch((err: unknown) => {
    throw withHint(err, 'Or set TEMPORAL_ADDRESS to use a Temporal server that is already running.');
  });
  const server = await startTemporalDevServer({
    binary,
    port: env.REFUNDS_DEV_TEMPORAL_PORT,
    // Internal: people get the UI through the read-only proxy on REFUNDS_DEV_UI_PORT.
    uiPort: 0,
    dbFile: path.join(dataDir, 'temporal.db'),
    namespace: env.TEMPORAL_NAMESPACE,
    searchAttributes: refundSearchAttributes,
    logFile: path.join(dataDir, 'temporal.log'),
  }).catch((err: unknown) => {
    throw withHint(
      err,
      /already in use/.test(describe(err))
        ? 'Set REFUNDS_DEV_TEMPORAL_PORT to use another port, or TEMPORAL_ADDRESS to use a Temporal server that is already running.'
        : `Its log is ${path.relative(process.cwd(), path.join(dataDir, 'temporal.log'))}.`,
    );
  });
  services.push({ name: 'Temporal dev server', stop: server.stop });
  return { ...devServerTemporal(server.address, server.namespace), uiUrl: await startWebUi(env, server.uiUrl) };
}

/** The dev server's Web UI has no login and write actions on: people get it through a read-only proxy. */
async function startWebUi(env: Env, upstream: string | undefined): Promise<string | undefined> {
  if (!upstream) return undefined;
  const ui = await startReadOnlyUi({ upstream, port: env.REFUNDS_DEV_UI_PORT }).catch((err: unknown) => {
    throw withHint(err, 'Set REFUNDS_DEV_UI_PORT to serve the Web UI on another port.');
  });
  services.push({ name: 'Temporal Web UI proxy', stop: ui.close });
  return ui.url;
}

/** The service role's URL, and the owner's when there is one to migrate with. */
async function startPostgres(env: Env): Promise<{ serviceUrl: string; ownerUrl: string | undefined }> {
  if (env.DATABASE_URL) return { serviceUrl: env.DATABASE_URL, ownerUrl: env.REFUNDS_MIGRATION_DATABASE_URL };
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(dataDir, 'postgres'),
    port: env.REFUNDS_DEV_PG_PORT,
    logFile: path.join(dataDir, 'postgres.log'),
  }).catch((err: unknown) => {
    throw withHint(
      err,
      /already in use/.test(describe(err))
        ? 'Set REFUNDS_DEV_PG_PORT to use another port, or DATABASE_URL to use a PostgreSQL that is already running.'
        : 'Or set DATABASE_URL to use a PostgreSQL that is already running.',
    );
  });
  services.push({ name: 'PostgreSQL', stop: postgres.stop });
  return { serviceUrl: postgres.serviceUrl, ownerUrl: postgres.ownerUrl };
}

/** The worker's audit key (created on the first start) and where checkpoints go; its public key is what verifiers pin. */
function demoAudit(): DemoAudit {
  let audit: DemoAudit;
  try {
    audit = ensureDemoAuditKey(dataDir);
  } catch (err) {
    throw err instanceof ConfigError ? new StartupError(err.message) : err;
  }
  const where = path.relative(process.cwd(), audit.keyFile);
  say(`Audit key         ${where}  (${audit.created ? 'created; ' : ''}pin ${JSON.stringify(audit.key.publicKey)})`);
  say(`Audit checkpoints every ${audit.intervalMs / 1000} s, exported to ${path.relative(process.cwd(), audit.checkpointFile)}`);
  return audit;
}

function startWorker(opts: {
  temporal: TemporalTarget;
  databaseUrl: string;
  audit: DemoAudit;
  carrierSecrets: CarrierSecrets;
  tracing: Tracing | undefined;
}): void {
  const controller = new AbortController();
  const { audit, tracing, ...connection } = opts;
  const done = runWorker({
    ...connection,
    ...(tracing ? { tracing } : {}),
    audit: { keyFile: audit.keyFile, checkpointFile: audit.checkpointFile },
    signal: controller.signal,
  });
  services.push({
    name: 'worker',
    stop: async () => {
      controller.abort();
      await done;
    },
  });
  // The worker ending on its own (it cannot reach Temporal, say) ends the stack.
  done.then(
    () => {
      if (!shuttingDown) {
        process.stderr.write('The worker stopped unexpectedly; shutting down.\n');
        void shutdown(1);
      }
    },
    (err: unknown) => {
      if (!shuttingDown) {
        process.stderr.write(`The worker failed: ${describe(err)}\n`);
        void shutdown(1);
      }
    },
  );
}

function shutdown(exitCode: number): Promise<void> {
  shuttingDown ??= (async () => {
    for (const service of [...services].reverse()) {
      try {
        await service.stop();
      } catch (err) {
        process.stderr.write(`stopping ${service.name} failed: ${describe(err)}\n`);
        exitCode = 1;
      }
    }
    process.exit(exitCode);
  })();
  return shuttingDown;
}

function withHint(err: unknown, hint: string): Error {
  return new StartupError(`${describe(err)}\n${hint}`);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

stopOnSignals(() => void shutdown(0));

main().catch(async (err: unknown) => {
  process.stderr.write(
    `\nnpm start failed: ${err instanceof StartupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  await shutdown(1);
});
