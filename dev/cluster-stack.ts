/**
 * The refund service as production runs it, on one machine (`npm run cluster`, the cluster tests,
 * the benchmark's cluster topology): PostgreSQL holding the refunds database beside Temporal's
 * persistence and visibility databases; a Temporal cluster of separate frontend, history, matching
 * and worker service processes (dev/temporal-cluster.ts); the migrations and the demo data as
 * `npm start` makes them; then two refund workers and two API replicas, each a child process from
 * its production entry point on a port of its own, so any one of them can be killed.
 *
 * Everything lives in one data directory, so a second start reuses it: the databases, the demo
 * credentials and keys, the logs (<dataDir>/logs/).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createDatabaseIfMissing,
  forgetTemporalMembers,
  ping,
  provisionRoles,
  provisionTemporalDatabases,
  temporalRole,
} from '../store/database-server';
import { ensureSchema } from '../store/migrate';
import { buildWorkflowBundle } from '../worker/workflow-bundle';
import { ensureDemoAuditKey } from './demo-audit-key';
import { type DemoData, ensureDemoData } from './demo-data';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from './postgres';
import { freePort, isPortInUse, OutputTail, pollUntilReady, ReadyTimeout, superviseServer } from './processes';
import {
  type ClusterPorts,
  defaultClusterPorts,
  freeClusterPorts,
  startTemporalCluster,
  type TemporalCluster,
  updateTemporalSchema,
} from './temporal-cluster';
import { resolveTemporalServerBinaries, type TemporalServerBinaries } from './temporal-server-binaries';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';

export interface ClusterPortPlan {
  temporal: ClusterPorts;
  postgres: number;
  apis: number[];
  /** Each worker's /healthz, /readyz and /metrics (REFUNDS_WORKER_HTTP_PORT). */
  workers: number[];
}

/** `npm run cluster`'s ports: Temporal's own defaults, PostgreSQL 5434, the APIs 3000 and 3001, the workers' health 3010 and 3011. */
export const defaultPortPlan: ClusterPortPlan = {
  temporal: defaultClusterPorts,
  postgres: 5434,
  apis: [3000, 3001],
  workers: [3010, 3011],
};

export interface ClusterOptions {
  /** Created if missing; reused (and its data kept) on the next start. */
  dataDir: string;
  /** Default: defaultPortPlan; 'free' picks free ports for everything (tests). */
  ports?: ClusterPortPlan | 'free';
  /** How many refund workers and API replicas. Default 2 each. */
  workers?: number;
  apis?: number;
  /** The workers' entry point, relative to the project root. Default worker/main.ts. */
  workerEntry?: string;
  /** Extra environment for every worker and API replica (REFUNDS_* tuning, LOG_LEVEL). */
  workerEnv?: Record<string, string>;
  apiEnv?: Record<string, string>;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
  /**
   * An existing PostgreSQL server to run on instead of the embedded one: a superuser's URL on any
   * of its databases. The refunds database and roles and Temporal's role and two databases are
   * created on it when missing, as on the embedded server; it is left running on stop.
   */
  postgresAdminUrl?: string;
}

/** A worker or an API replica: a child process that can be stopped, or killed to see the others carry on. */
export interface ProductProcess {
  name: string;
  pid: number;
  /** The API's base URL, or the worker's health listener. */
  url: string;
  logFile: string;
  /** Resolves with how it ended: "exited with code 0", "was killed by SIGKILL". */
  exited: Promise<string>;
  /** What it printed lately (its last 200 lines). */
  output(): string;
  /** Resolves with the first line it prints from now on that matches `pattern` (or one already in its output). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (default SIGKILL) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<string>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(): Promise<void>;
}

export interface Cluster {
  dataDir: string;
  /** host:port of the Temporal frontend. */
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  temporal: TemporalCluster;
  postgres: {
    port: number;
    /** The refunds database as the service role, the owner, and the superuser. */
    serviceUrl: string;
    ownerUrl: string;
    adminUrl: string;
  };
  apis: ProductProcess[];
  workers: ProductProcess[];
  demo: DemoData;
  /** Seconds from the call until everything served, and the steps that took longest. */
  startSeconds: number;
  timings: Record<string, number>;
  /** Stops everything in reverse start order: the API replicas, the workers, Temporal, PostgreSQL. */
  stop(): Promise<void>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const started = performance.now();
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await work();
    timings[what] = Number(((performance.now() - t0) / 1000).toFixed(1));
    return result;
  };
  const log = opts.log ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(path.join(dataDir, 'logs'), { recursive: true });
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dataDir, 0o755);
  const ports = opts.ports === 'free' ? await freePortPlan(opts) : (opts.ports ?? defaultPortPlan);
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stop = async () => {
    for (const part of stops.splice(0).reverse()) {
      await part.stop().catch((error: unknown) => log(`stopping ${part.name} failed: ${(error as Error).message}`));
    }
  };
  try {
    // Independent: the binaries (built once), PostgreSQL, and the workflow bundle the workers load.
    const bundle = path.join(dataDir, 'workflow-bundle.js');
    const [binaries, postgres] = await settled([
      timed('Temporal binaries', () => resolveTemporalServerBinaries({ log })),
      timed('PostgreSQL', async () => {
        if (opts.postgresAdminUrl) return existingPostgres(opts.postgresAdminUrl);
        const server = await startEmbeddedPostgres({
          dataDir: path.join(dataDir, 'postgres'),
          port: ports.postgres,
          logFile: path.join(dataDir, 'logs', 'postgres.log'),
        });
        stops.push({ name: 'PostgreSQL', stop: server.stop });
        return { ...server, host: HOST };
      }),
      timed('workflow bundle', () => buildWorkflowBundle(bundle)),
    ]);
    log(
      opts.postgresAdminUrl
        ? `PostgreSQL        ${postgres.host}:${postgres.port}  (an existing server)`
        : `PostgreSQL        ${postgres.host}:${postgres.port}  (data ${path.join(dataDir, 'postgres')})`,
    );

    const [temporal, demo] = await settled([
      startTemporalOnPostgres({ dir: path.join(dataDir, 'temporal'), postgres, ports: ports.temporal, binaries, log, timed }).then(
        (temporal) => {
          stops.push({ name: 'Temporal', stop: temporal.stop });
          return temporal;
        },
      ),
      timed('migrations and demo data', async () => {
        await ensureSchema({
          databaseUrl: postgres.serviceUrl,
          migrationDatabaseUrl: postgres.ownerUrl,
          log: (msg) => log(`migrations: ${msg}`),
        });
        return ensureDemoData({ ownerUrl: postgres.ownerUrl, dataDir, say: log });
      }),
    ]);
    const cluster = await startProducts({ opts, dataDir, ports, postgres, temporal, demo, bundle, stops, timed, log });
    const startSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
    return { ...cluster, dataDir, demo, startSeconds, timings, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Like Promise.all, but waits for every start to settle, so a part that did come up is registered
 * (and so stopped) even when another failed.
 */
async function settled<T extends readonly unknown[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Temporal's services on an embedded PostgreSQL the caller started: its role and databases, their
 * schema, then the services in `dir` (config, logs). Also what the benchmark's cluster topology runs.
 */
export async function startTemporalOnPostgres(opts: {
  dir: string;
  postgres: ClusterPostgres;
  /** Default: free ports. */
  ports?: ClusterPorts;
  binaries?: TemporalServerBinaries;
  log?: (line: string) => void;
  timed?: <T>(what: string, work: () => Promise<T>) => Promise<T>;
}): Promise<TemporalCluster> {
  const log = opts.log ?? (() => undefined);
  const timed = opts.timed ?? (<T>(_what: string, work: () => Promise<T>) => work());
  const binaries = opts.binaries ?? (await resolveTemporalServerBinaries({ log }));
  const password = await timed('Temporal schema', () => temporalSchema(binaries, opts.postgres, log));
  const ports = opts.ports ?? (await freeClusterPorts(HOST));
  return timed('Temporal services', () =>
    startTemporalCluster({
      binaries,
      dir: opts.dir,
      postgres: temporalDatabases(opts.postgres, password),
      ports,
      searchAttributes: true,
      log,
    }),
  );
}

async function freePortPlan(opts: ClusterOptions): Promise<ClusterPortPlan> {
  const many = async (n: number) => {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(await freePort(HOST));
    return ports;
  };
  return {
    temporal: await freeClusterPorts(HOST),
    postgres: await freePort(HOST),
    apis: await many(opts.apis ?? 2),
    workers: await many(opts.workers ?? 2),
  };
}

/** The server the cluster runs on, embedded or existing, and the host its clients reach it at. */
type ClusterPostgres = EmbeddedPostgresServer & { host?: string };

/** An existing server, given its superuser's URL: the refunds database and roles made ready on it; never stopped. */
async function existingPostgres(adminUrl: string): Promise<ClusterPostgres> {
  const url = new URL(adminUrl);
  await ping(adminUrl).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `the PostgreSQL server of REFUNDS_CLUSTER_POSTGRES_URL (${url.hostname}:${url.port || 5432}) does not answer: ${reason}`,
    );
  });
  await createDatabaseIfMissing(adminUrl, REFUNDS_DATABASE);
  const roles = await provisionRoles(adminUrl, REFUNDS_DATABASE);
  url.pathname = `/${REFUNDS_DATABASE}`;
  return {
    databaseUrl: url.toString(),
    ...roles,
    host: url.hostname,
    port: Number(url.port || 5432),
    pid: -1,
    stop: async () => undefined,
  };
}

const REFUNDS_DATABASE = 'refunds';

const TEMPORAL_DATABASES = { persistence: 'temporal', visibility: 'temporal_visibility' };

/** Temporal's role and databases (new password each start), and their schema brought up to date; returns the password. */
async function temporalSchema(binaries: TemporalServerBinaries, postgres: ClusterPostgres, log: (line: string) => void): Promise<string> {
  const password = await provisionTemporalDatabases(postgres.databaseUrl, Object.values(TEMPORAL_DATABASES));
  await updateTemporalSchema({ binaries, postgres: temporalDatabases(postgres, password), log });
  // None of this cluster's services runs yet: the rows of the last run's would only delay their start.
  const persistence = new URL(postgres.databaseUrl);
  persistence.pathname = `/${TEMPORAL_DATABASES.persistence}`;
  await forgetTemporalMembers(persistence.toString());
  return password;
}

function temporalDatabases(postgres: ClusterPostgres, password: string) {
  return {
    host: postgres.host ?? HOST,
    port: postgres.port,
    user: temporalRole,
    password,
    persistenceDatabase: TEMPORAL_DATABASES.persistence,
    visibilityDatabase: TEMPORAL_DATABASES.visibility,
  };
}

async function startProducts(ctx: {
  opts: ClusterOptions;
  dataDir: string;
  ports: ClusterPortPlan;
  postgres: ClusterPostgres;
  temporal: TemporalCluster;
  demo: DemoData;
  bundle: string;
  stops: Array<{ name: string; stop: () => Promise<void> }>;
  timed: <T>(what: string, work: () => Promise<T>) => Promise<T>;
  log: (line: string) => void;
}): Promise<Omit<Cluster, 'dataDir' | 'demo' | 'startSeconds' | 'timings' | 'stop'>> {
  const { opts, dataDir, ports, postgres, demo, stops, log } = ctx;
  const temporalCluster = ctx.temporal;
  const taskQueue = opts.workerEnv?.REFUNDS_TASK_QUEUE ?? 'refunds';
  // The cluster's own audit key (whatever REFUNDS_AUDIT_* this process has): the workers sign checkpoints, the APIs pin its public key.
  const audit = ensureDemoAuditKey(dataDir, {});
  const carrierSecretsFile = path.join(dataDir, 'carrier-secrets.json');
  await writeFile(carrierSecretsFile, `${JSON.stringify(demo.carrierSecrets, null, 2)}\n`, { mode: 0o600 });
  const common = {
    TEMPORAL_ADDRESS: temporalCluster.address,
    TEMPORAL_NAMESPACE: temporalCluster.namespace,
    DATABASE_URL: postgres.serviceUrl,
    REFUNDS_TASK_QUEUE: taskQueue,
    REFUNDS_TRUST_ROOTS: demo.trustRootsFile,
    REFUNDS_CARRIER_SECRETS: carrierSecretsFile,
    REFUNDS_AUDIT_CHECKPOINT_FILE: audit.checkpointFile,
  };
  const workerCount = opts.workers ?? 2;
  const apiCount = opts.apis ?? 2;
  const workerSpecs = Array.from({ length: workerCount }, (_, i) => ({
    name: `worker-${i + 1}`,
    entry: opts.workerEntry ?? 'worker/main.ts',
    url: `http://${HOST}:${ports.workers[i]}`,
    env: {
      ...common,
      REFUNDS_WORKFLOW_BUNDLE: ctx.bundle,
      REFUNDS_AUDIT_KEY: audit.keyFile,
      REFUNDS_WORKER_HTTP_HOST: HOST,
      REFUNDS_WORKER_HTTP_PORT: String(ports.workers[i]),
      ...opts.workerEnv,
    },
    ready: /polling task queue/,
  }));
  const apiSpecs = Array.from({ length: apiCount }, (_, i) => ({
    name: `api-${i + 1}`,
    entry: 'api/main.ts',
    url: `http://${HOST}:${ports.apis[i]}`,
    env: {
      ...common,
      HOST,
      PORT: String(ports.apis[i]),
      REFUNDS_AUDIT_PUBLIC_KEYS: JSON.stringify(audit.publicKeys),
      ...opts.apiEnv,
    },
    ready: /refund API listening/,
  }));
  for (const spec of [...workerSpecs, ...apiSpecs]) {
    const port = Number(new URL(spec.url).port);
    if (await isPortInUse(HOST, port)) throw new Error(`Cannot start ${spec.name}: port ${port} on ${HOST} is already in use.`);
  }
  // Workers first, so the API replicas (stopped first) never outlive the workers' drain by much; all start side by side.
  const results = await ctx.timed('workers and APIs', () =>
    Promise.allSettled(
      [...workerSpecs, ...apiSpecs].map((spec) =>
        startProductProcess({ ...spec, logFile: path.join(dataDir, 'logs', `${spec.name}.log`) }).then((p) => {
          stops.push({ name: p.name, stop: p.stop });
          log(`${p.name.padEnd(17)} ${p.url}  (pid ${p.pid}, log ${path.relative(process.cwd(), p.logFile)})`);
          return p;
        }),
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const all = results.map((r) => (r as PromiseFulfilledResult<ProductProcess>).value);
  // Stopped in reverse: the API replicas before the workers.
  stops.sort((a, b) => rank(a.name) - rank(b.name));
  return {
    temporalAddress: temporalCluster.address,
    namespace: temporalCluster.namespace,
    taskQueue,
    temporal: temporalCluster,
    postgres: { port: postgres.port, serviceUrl: postgres.serviceUrl, ownerUrl: postgres.ownerUrl, adminUrl: postgres.databaseUrl },
    workers: all.filter((p) => p.name.startsWith('worker-')),
    apis: all.filter((p) => p.name.startsWith('api-')),
  };
}

function rank(name: string): number {
  if (name === 'PostgreSQL') return 0;
  if (name === 'Temporal') return 1;
  if (name.startsWith('worker-')) return 2;
  return 3;
}

/** Runs a product entry point (tsx) in a child process of its own group, until its ready line and (for the API) /readyz. */
async function startProductProcess(spec: {
  name: string;
  entry: string;
  url: string;
  env: Record<string, string>;
  ready: RegExp;
  logFile: string;
}): Promise<ProductProcess> {
  // None of this process's TEMPORAL_* or REFUNDS_* variables reach it: only what the cluster sets.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(TEMPORAL_|REFUNDS_)/.test(name)));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, spec.entry)], {
    cwd: projectRoot,
    env: { ...env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail = new OutputTail(200);
  const lines = new LineWatch();
  child.stdout?.on('data', (chunk: Buffer) => lines.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => lines.push(chunk));
  const server = superviseServer(child, {
    tail,
    log: createWriteStream(spec.logFile, { flags: 'a' }),
    stopSignal: 'SIGTERM',
    killOnExitSignal: 'SIGKILL',
    graceMs: 20_000,
  });
  const isApi = spec.entry.startsWith('api/');
  const ready = pollUntilReady(
    async () => {
      if (!lines.seen(spec.ready)) throw new Error(`no line matching ${spec.ready} yet`);
      if (isApi) {
        const response = await fetch(`${spec.url}/readyz`, { signal: AbortSignal.timeout(3000) });
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`/readyz answered ${response.status}`);
      }
    },
    { timeoutMs: 180_000, intervalMs: 100, notReady: `${spec.name} did not become ready` },
  );
  try {
    const outcome = await server.readyOrEnded(ready);
    if (outcome !== 'ready') {
      if ('error' in outcome) throw new Error(`Could not run ${spec.name}: ${outcome.error.message}`);
      throw new Error(`${spec.name} ${outcome.exited} before it was ready:\n${tail}`);
    }
  } catch (error) {
    await server.stop();
    throw error instanceof ReadyTimeout ? new Error(`${error.message}:\n${tail}`) : error;
  }
  return {
    name: spec.name,
    pid: child.pid ?? -1,
    url: spec.url,
    logFile: spec.logFile,
    exited: server.exited,
    output: () => tail.toString(),
    waitForOutput: (pattern, timeoutMs = 60_000) => lines.next(pattern, timeoutMs, spec.name),
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const how = await server.exited;
      await server.stop();
      return how;
    },
    stop: server.stop,
  };
}

/** Lines a child printed, and waiters for the next one that matches. */
class LineWatch {
  private partial = '';
  private readonly recent: string[] = [];
  private readonly waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();

  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.recent.push(line);
      if (this.recent.length > 500) this.recent.shift();
      for (const waiter of [...this.waiters]) {
        if (waiter.pattern.test(line)) {
          this.waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  }

  seen(pattern: RegExp): boolean {
    return this.recent.some((line) => pattern.test(line));
  }

  next(pattern: RegExp, timeoutMs: number, name: string): Promise<string> {
    const already = this.recent.find((line) => pattern.test(line));
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${name} printed no line matching ${pattern} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}
