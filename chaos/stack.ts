/**
 * The chaos run's own stack, in a temporary directory, every piece of which survives SIGKILL and
 * a restart: a Temporal dev server on a SQLite file (WAL), an embedded PostgreSQL on its data
 * directory, the migrations, two refund workers and one API process, each a child process from its
 * production entry point, all on 127.0.0.1 and on ports of their own (never the test suite's).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clusterLikeDynamicConfig } from '../bench/stack';
import { type BenchTrust, writeBenchTrustRoots } from '../bench/registry';
import { createAuditKeyFile } from '../config/audit';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../dev/postgres';
import { freePort } from '../dev/processes';
import { resolveTemporalBinary } from '../dev/temporal-binary';
import { startTemporalDevServer, type TemporalDevServer } from '../dev/temporal-server';
import { migrate } from '../store/migrate';
import { createPool } from '../store/pool';
import { buildWorkflowBundle } from '../worker/workflow-bundle';
import { refundSearchAttributes } from '../workflows/search-attributes';
import { productProcess, type Restartable } from './children';

export interface ChaosStack {
  dir: string;
  apiUrl: string;
  temporalAddress: string;
  /** The workflow bundle the workers run, for replaying histories. */
  workflowBundle: string;
  /** The superuser, for the invariant checks (read only) and resetting role passwords after a restart. */
  adminDatabaseUrl: string;
  ownerDatabaseUrl: string;
  trust: BenchTrust;
  temporal: Restartable;
  postgres: Restartable;
  workers: Restartable[];
  api: Restartable;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

function temporalServer(dir: string, port: number, binary: string): Restartable {
  let server: TemporalDevServer | undefined;
  return {
    name: 'temporal',
    unexpectedExits: [],
    pid: () => server?.pid,
    async start() {
      server = await startTemporalDevServer({
        binary,
        port,
        uiPort: false,
        dbFile: path.join(dir, 'temporal.db'),
        searchAttributes: refundSearchAttributes,
        dynamicConfig: clusterLikeDynamicConfig,
        logFile: path.join(dir, 'temporal.log'),
      });
    },
    async kill() {
      if (!server) return;
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      server = undefined;
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
  };
}

/**
 * Each start of the embedded PostgreSQL gives the roles new passwords; the running worker and API
 * hold the first ones, so a restart sets those again, as an operator's restart would not change them.
 */
async function restoreRolePasswords(server: EmbeddedPostgresServer, first: EmbeddedPostgresServer): Promise<void> {
  const pool = createPool(server.databaseUrl, 1);
  try {
    for (const url of [first.ownerUrl, first.serviceUrl]) {
      const { username, password } = new URL(url);
      await pool.query(`ALTER ROLE ${username} PASSWORD '${decodeURIComponent(password).replace(/'/g, "''")}'`);
    }
  } finally {
    await pool.end();
  }
}

function postgresServer(dir: string, port: number): Restartable & { first(): EmbeddedPostgresServer } {
  let server: EmbeddedPostgresServer | undefined;
  let first: EmbeddedPostgresServer | undefined;
  const startOnce = () => startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port, logFile: path.join(dir, 'postgres.log') });
  return {
    name: 'postgres',
    unexpectedExits: [],
    pid: () => server?.pid,
    first: () => first!,
    async start() {
      // Backends of a killed postmaster hold its shared memory for a moment: retry, bounded.
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          server = await startOnce();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
      if (first) await restoreRolePasswords(server, first);
      else first = server;
    },
    async kill() {
      if (!server) return;
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      server = undefined;
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
  };
}

/** The fetch of the process before the run times the typed client's requests: health checks are not client requests. */
const rawFetch = globalThis.fetch;

async function readyz(apiUrl: string): Promise<boolean> {
  const response = await rawFetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  return response.status === 200;
}

export { readyz };

interface ProductEnv {
  worker: Record<string, string>;
  api: Record<string, string>;
}

async function productEnv(
  dir: string,
  temporalAddress: string,
  serviceUrl: string,
  trust: BenchTrust,
  apiPort: number,
): Promise<ProductEnv> {
  const audit = createAuditKeyFile(path.join(dir, 'audit-key.json'), 'chaos-audit-1');
  const bundle = path.join(dir, 'workflow-bundle.js');
  await buildWorkflowBundle(bundle);
  const common = {
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    DATABASE_URL: serviceUrl,
    REFUNDS_TASK_QUEUE: 'chaos-refunds',
    REFUNDS_TRUST_ROOTS: trust.file,
    REFUNDS_CARRIER_SECRETS: trust.carrierSecretsFile,
    REFUNDS_AUDIT_CHECKPOINT_FILE: path.join(dir, 'audit-checkpoints.jsonl'),
  };
  return {
    worker: {
      ...common,
      REFUNDS_WORKFLOW_BUNDLE: bundle,
      REFUNDS_AUDIT_KEY: path.join(dir, 'audit-key.json'),
      REFUNDS_AUDIT_CHECKPOINT_INTERVAL: '15s',
    },
    api: {
      ...common,
      HOST,
      PORT: String(apiPort),
      REFUNDS_AUDIT_PUBLIC_KEYS: JSON.stringify([audit.publicKey]),
      // The run's clients are a handful of principals sending hundreds of requests a minute.
      REFUNDS_API_RATE_LIMIT: '1000000',
      REFUNDS_CARRIER_EVENT_SWEEP_INTERVAL: '1s',
      LOG_LEVEL: 'warn',
    },
  };
}

function productProcesses(dir: string, env: ProductEnv, apiUrl: string): { workers: Restartable[]; api: Restartable } {
  const workers = [1, 2].map((n) =>
    productProcess({
      name: `worker-${n}`,
      entry: 'worker/main.ts',
      env: env.worker,
      readyLine: /polling task queue/,
      logFile: path.join(dir, `worker-${n}.log`),
    }),
  );
  const api = productProcess({
    name: 'api',
    entry: 'api/main.ts',
    env: env.api,
    readyLine: /refund API listening/,
    logFile: path.join(dir, 'api.log'),
    readyCheck: () => readyz(apiUrl),
  });
  return { workers, api };
}

/** With `keep`, the directory (logs, data) stays for a look after the run; its path is printed. */
export async function startChaosStack(log: (line: string) => void, keep = false): Promise<ChaosStack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-chaos-'));
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dir, 0o755);
  const started: Restartable[] = [];
  const stop = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined);
    if (keep) log(`kept ${dir} (process logs *.log, temporal.log, postgres.log)`);
    else await rm(dir, { recursive: true, force: true });
  };
  try {
    const [temporalPort, pgPort, apiPort] = [await freePort(HOST), await freePort(HOST), await freePort(HOST)];
    const temporal = temporalServer(dir, temporalPort, await resolveTemporalBinary());
    const postgres = postgresServer(dir, pgPort);
    await Promise.all([temporal.start(), postgres.start()]);
    started.push(temporal, postgres);
    const db = postgres.first();
    await migrate(db.ownerUrl);
    const trust = await writeBenchTrustRoots(dir);
    const apiUrl = `http://${HOST}:${apiPort}`;
    const env = await productEnv(dir, `${HOST}:${temporalPort}`, db.serviceUrl, trust, apiPort);
    const { workers, api } = productProcesses(dir, env, apiUrl);
    for (const part of [...workers, api]) {
      await part.start();
      started.push(part);
    }
    log(`stack in ${dir}: Temporal ${HOST}:${temporalPort}, PostgreSQL port ${pgPort}, API ${apiUrl}, 2 workers`);
    return {
      dir,
      apiUrl,
      temporalAddress: `${HOST}:${temporalPort}`,
      workflowBundle: env.worker.REFUNDS_WORKFLOW_BUNDLE!,
      adminDatabaseUrl: db.databaseUrl,
      ownerDatabaseUrl: db.ownerUrl,
      trust,
      temporal,
      postgres,
      workers,
      api,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
