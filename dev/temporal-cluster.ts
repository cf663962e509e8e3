/**
 * A Temporal cluster as production runs one, on one machine: the frontend, history, matching and
 * worker services each in a process of its own (the server built by dev/temporal-server-binaries.ts),
 * on PostgreSQL for persistence and visibility, with 16 history shards. The config files are
 * generated from the server's development-postgres12.yaml under the cluster's directory on every
 * start (the database password changes each start); the schema tool sets up and updates both
 * databases (idempotent); the `default` namespace and the refund search attributes are registered
 * through the frontend before the other services start, so they read both fresh.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { NativeConnection } from '@temporalio/worker';
import { ensureSearchAttributes } from '../worker/worker';
import {
  freePort,
  freePortInRange,
  isPortInUse,
  OutputTail,
  pollUntilReady,
  ReadyTimeout,
  reapOrphan,
  type SupervisedServer,
  superviseServer,
  writeOwnerFile,
} from './processes';
import type { TemporalServerBinaries } from './temporal-server-binaries';

const execFileAsync = promisify(execFile);

export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

export interface ServicePorts {
  /** gRPC: the frontend's is the address clients use. */
  grpc: number;
  /** Ringpop membership, between the services. */
  membership: number;
  /** Prometheus metrics, /metrics. */
  metrics: number;
}

export type ClusterPorts = Record<TemporalService, ServicePorts>;

/** Temporal's own defaults (development-postgres12.yaml): frontend 7233, history 7234, matching 7235, worker 7239; metrics from 9091. */
export const defaultClusterPorts: ClusterPorts = {
  frontend: { grpc: 7233, membership: 6933, metrics: 9091 },
  history: { grpc: 7234, membership: 6934, metrics: 9092 },
  matching: { grpc: 7235, membership: 6935, metrics: 9093 },
  worker: { grpc: 7239, membership: 6939, metrics: 9094 },
};

/** Free ports for every service (tests, several clusters on one machine); membership ports below 32768, which Temporal stores as a smallint. */
export async function freeClusterPorts(host = '127.0.0.1'): Promise<ClusterPorts> {
  const ports = {} as ClusterPorts;
  for (const service of TEMPORAL_SERVICES) {
    ports[service] = { grpc: await freePort(host), membership: await freePortInRange(20_000, 32_767, host), metrics: await freePort(host) };
  }
  return ports;
}

export interface TemporalClusterOptions {
  binaries: TemporalServerBinaries;
  /** The cluster's directory: config/, logs/, owner files. */
  dir: string;
  /** Where Temporal's databases live, and the role that owns them. */
  postgres: { host: string; port: number; user: string; password: string; persistenceDatabase: string; visibilityDatabase: string };
  ports: ClusterPorts;
  numHistoryShards?: number;
  namespace?: string;
  /** Days a closed workflow's history is kept. Default 3. */
  retentionDays?: number;
  searchAttributes: boolean;
  /** Progress lines. */
  log: (line: string) => void;
  /** How long each service has to come up. Default 120 s. */
  readyTimeoutMs?: number;
}

export interface TemporalServiceProcess {
  service: TemporalService;
  pid: number;
  ports: ServicePorts;
  logFile: string;
  exited: Promise<string>;
  stop(): Promise<void>;
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  services: Record<TemporalService, TemporalServiceProcess>;
  /** Stops the services in reverse start order: worker, matching and history, frontend. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 15_000;

/** The schema tool's setup-schema (version 0.0, idempotent) and update-schema for both databases. */
export async function updateTemporalSchema(opts: Pick<TemporalClusterOptions, 'binaries' | 'postgres' | 'log'>): Promise<void> {
  const { postgres } = opts;
  const env = {
    ...process.env,
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: postgres.host,
    SQL_PORT: String(postgres.port),
    SQL_USER: postgres.user,
    SQL_PASSWORD: postgres.password,
  };
  const run = async (database: string, args: string[]) => {
    try {
      await execFileAsync(opts.binaries.sqlTool, ['--db', database, ...args], { env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const err = error as Error & { stderr?: string; stdout?: string };
      const output = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${err.message.split('\n')[0]}\n${output}`);
    }
  };
  const schemas = [
    { database: postgres.persistenceDatabase, dir: path.join(opts.binaries.postgresSchemaDir, 'temporal', 'versioned') },
    { database: postgres.visibilityDatabase, dir: path.join(opts.binaries.postgresSchemaDir, 'visibility', 'versioned') },
  ];
  await Promise.all(
    schemas.map(async ({ database, dir }) => {
      await run(database, ['setup-schema', '-v', '0.0']);
      await run(database, ['update-schema', '-d', dir]);
    }),
  );
  opts.log(`Temporal schema up to date in ${schemas.map((s) => s.database).join(' and ')}`);
}

export async function startTemporalCluster(opts: TemporalClusterOptions): Promise<TemporalCluster> {
  const namespace = opts.namespace ?? 'default';
  const configDir = path.join(opts.dir, 'config');
  const logDir = path.join(opts.dir, 'logs');
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  await mkdir(logDir, { recursive: true });
  await writeConfig(configDir, opts);
  for (const service of TEMPORAL_SERVICES) {
    await reapOrphan({
      ownerFile: ownerFile(opts.dir, service),
      what: `Temporal ${service} service for ${opts.dir}`,
      isServerCommand: (command) =>
        command.includes('temporal-server') && command.includes(opts.dir) && command.includes(`--env ${service}`),
      signal: 'SIGTERM',
      log: opts.log,
    });
    for (const [kind, port] of Object.entries(opts.ports[service])) {
      if (await isPortInUse(HOST, port)) {
        throw new Error(`Cannot start the Temporal ${service} service: its ${kind} port ${port} on ${HOST} is already in use.`);
      }
    }
  }

  const started: TemporalServiceProcess[] = [];
  const stop = async () => {
    // The worker service first, then history and matching together, the frontend last.
    const byOrder = [...started].reverse();
    const last = byOrder.filter((s) => s.service === 'frontend');
    const first = byOrder.filter((s) => s.service === 'worker');
    const middle = byOrder.filter((s) => s.service !== 'frontend' && s.service !== 'worker');
    for (const group of [first, middle, last]) await Promise.all(group.map((s) => s.stop()));
  };
  try {
    const address = `${HOST}:${opts.ports.frontend.grpc}`;
    const frontend = await startService('frontend', opts, () => frontendReady(address));
    started.push(frontend);
    await ensureNamespace(address, namespace, opts.retentionDays ?? 3, opts.log);
    if (opts.searchAttributes) {
      const native = await NativeConnection.connect({ address });
      try {
        // A namespace registered just now is known to the frontend's namespace cache only once it refreshes (every 10 s).
        await pollUntilReady(() => ensureSearchAttributes(native, namespace), {
          timeoutMs: 60_000,
          intervalMs: 500,
          notReady: `The refund search attributes could not be registered on namespace ${namespace}`,
        });
      } finally {
        await native.close();
      }
    }
    const rest = await Promise.allSettled(
      (['history', 'matching', 'worker'] as const).map((service) =>
        // The worker service serves no gRPC of its own: it is up once it listens for membership.
        startService(service, opts, () => portOpen(service === 'worker' ? opts.ports[service].membership : opts.ports[service].grpc)).then(
          (s) => {
            started.push(s);
            return s;
          },
        ),
      ),
    );
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const services = Object.fromEntries(started.map((s) => [s.service, s])) as Record<TemporalService, TemporalServiceProcess>;
    return { address, namespace, services, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startService(
  service: TemporalService,
  opts: TemporalClusterOptions,
  ready: () => Promise<void>,
): Promise<TemporalServiceProcess> {
  const logFile = path.join(opts.dir, 'logs', `${service}.log`);
  const args = ['--root', opts.dir, '--config', 'config', '--env', service, '--allow-no-auth', 'start', '--service', service];
  const tail = new OutputTail(40);
  const log = createWriteStream(logFile, { flags: 'a' });
  // Own process group: a Ctrl-C in the terminal reaches only the orchestrator, which stops the services in order.
  const child = spawn(opts.binaries.server, args, { cwd: opts.dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const server: SupervisedServer = superviseServer(child, {
    tail,
    log,
    stopSignal: 'SIGTERM',
    killOnExitSignal: 'SIGKILL',
    graceMs: STOP_GRACE_MS,
    ownerFile: ownerFile(opts.dir, service),
  });
  const command = `\`${opts.binaries.server} ${args.join(' ')}\``;
  try {
    const outcome = await server.readyOrEnded(
      pollUntilReady(ready, {
        timeoutMs: opts.readyTimeoutMs ?? 120_000,
        intervalMs: 200,
        notReady: `The Temporal ${service} service did not become ready`,
      }),
    );
    if (outcome !== 'ready') {
      if ('error' in outcome) throw new Error(`Could not run the Temporal server at ${opts.binaries.server}: ${outcome.error.message}`);
      throw new Error(`The Temporal ${service} service ${outcome.exited} before it was ready (${command}).${output(tail, logFile)}`);
    }
  } catch (error) {
    await server.stop();
    throw error instanceof ReadyTimeout ? new Error(`${error.message} (${command}).${output(tail, logFile)}`) : error;
  }
  if (child.pid) await writeOwnerFile(ownerFile(opts.dir, service), child.pid);
  return { service, pid: child.pid ?? -1, ports: opts.ports[service], logFile, exited: server.exited, stop: server.stop };
}

function ownerFile(dir: string, service: TemporalService): string {
  return path.join(dir, `${service}.owner.json`);
}

function output(tail: OutputTail, logFile: string): string {
  const text = tail.toString();
  return text ? `\n--- server output (last lines; all of it in ${logFile}) ---\n${text}` : ` It printed nothing (log: ${logFile}).`;
}

async function portOpen(port: number): Promise<void> {
  if (!(await isPortInUse(HOST, port))) throw new Error(`nothing listens on ${HOST}:${port} yet`);
}

async function frontendReady(address: string): Promise<void> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Registers the namespace unless it exists (what `temporal operator namespace create` does). */
async function ensureNamespace(address: string, namespace: string, retentionDays: number, log: (line: string) => void): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== 5) throw error; // NOT_FOUND: register it
    }
    await connection.workflowService
      .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000) })
      .catch((error: { code?: number }) => {
        if (error.code !== 6) throw error; // ALREADY_EXISTS: registered concurrently
      });
    log(`Temporal namespace "${namespace}" registered (retention ${retentionDays} days)`);
  } finally {
    await connection.close();
  }
}

/** base.yaml for every service, <service>.yaml with what differs (its metrics port), and the dynamic config. */
async function writeConfig(configDir: string, opts: TemporalClusterOptions): Promise<void> {
  const { postgres, ports } = opts;
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const base = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: opts.numHistoryShards ?? 16,
      datastores: {
        'postgres-default': datastore(postgres.persistenceDatabase, 20),
        'postgres-visibility': datastore(postgres.visibilityDatabase, 10),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: HOST } },
    services: Object.fromEntries(
      TEMPORAL_SERVICES.map((service) => [
        service,
        { rpc: { grpcPort: ports[service].grpc, membershipPort: ports[service].membership, bindOnIP: HOST } },
      ]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `${HOST}:${ports.frontend.grpc}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: path.join(configDir, 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
  const header = '# Generated by the local cluster (dev/temporal-cluster.ts) on every start; edits are overwritten.\n';
  // It holds the database password: readable by this user only.
  await writeFile(path.join(configDir, 'base.yaml'), header + toYaml(base), { mode: 0o600 });
  await chmod(path.join(configDir, 'base.yaml'), 0o600);
  for (const service of TEMPORAL_SERVICES) {
    const own = {
      global: {
        metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `${HOST}:${ports[service].metrics}` } },
      },
    };
    await writeFile(path.join(configDir, `${service}.yaml`), header + toYaml(own));
  }
  await writeFile(path.join(configDir, 'dynamicconfig.yaml'), `${header}limit.maxIDLength:\n  - value: 255\n    constraints: {}\n`);
}

/** YAML for plain nested objects of strings, numbers and booleans (strings quoted as JSON, which YAML reads). */
export function toYaml(value: Record<string, unknown>, indent = ''): string {
  let out = '';
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      out += `${indent}${key}:\n${toYaml(item as Record<string, unknown>, `${indent}  `)}`;
    } else {
      out += `${indent}${key}: ${JSON.stringify(item)}\n`;
    }
  }
  return out;
}
