/**
 * `npm run cluster`: the refund service as production runs it, on this machine
 * (dev/cluster-stack.ts): PostgreSQL, Temporal as separate frontend, history, matching and worker
 * services on PostgreSQL, two refund workers and two API replicas, each its own process. Data lives
 * in .data/cluster/ (REFUNDS_CLUSTER_DATA_DIR), so refunds survive a restart; the ports are fixed
 * (docs/cluster.md) unless REFUNDS_CLUSTER_FREE_PORTS=1 picks free ones; .data/stack.json tells
 * the CLIs where it is (so it does not run beside `npm start`). Ctrl-C stops everything in reverse
 * start order. The first start builds the Temporal server with Go (a few minutes, once).
 */
import path from 'node:path';
import { stackFilePath } from '../config/local-stack';
import { type Cluster, startCluster } from './cluster-stack';
import { leaveDemoRefund } from './demo-data';
import { claimStackFile, stopOnSignals, writeStackFile } from './stack-file';

const dataDir = path.resolve(process.env.REFUNDS_CLUSTER_DATA_DIR || path.join(path.dirname(stackFilePath), 'cluster'));

let cluster: Cluster | undefined;
let removeStackFile: (() => Promise<void>) | undefined;
let shuttingDown: Promise<void> | undefined;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  await claimStackFile(stackFilePath);
  say(`Starting the local cluster in ${path.relative(process.cwd(), dataDir) || dataDir}…`);
  const freePorts = process.env.REFUNDS_CLUSTER_FREE_PORTS === '1';
  const postgresAdminUrl = process.env.REFUNDS_CLUSTER_POSTGRES_URL || undefined;
  if (postgresAdminUrl && !/^postgres(ql)?:\/\//.test(postgresAdminUrl)) {
    throw new Error('REFUNDS_CLUSTER_POSTGRES_URL must be a postgres:// URL of a superuser on an existing server');
  }
  cluster = await startCluster({
    dataDir,
    log: say,
    ...(freePorts ? { ports: 'free' as const } : {}),
    ...(postgresAdminUrl ? { postgresAdminUrl } : {}),
  }).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      /already in use/.test(message) && !freePorts ? `${message}\nSet REFUNDS_CLUSTER_FREE_PORTS=1 to run on free ports.` : message,
    );
  });
  const api = cluster.apis[0]!;
  removeStackFile = await writeStackFile(stackFilePath, {
    temporalAddress: cluster.temporalAddress,
    namespace: cluster.namespace,
    databaseUrl: cluster.postgres.serviceUrl,
    ownerDatabaseUrl: cluster.postgres.ownerUrl,
    apiUrl: api.url,
    pid: process.pid,
  });
  const services = Object.values(cluster.temporal.services)
    .map((s) => `${s.service} ${s.ports.grpc}`)
    .join(', ');
  say('');
  say(
    `Temporal frontend ${cluster.temporalAddress}  (namespace ${cluster.namespace}; services ${services}; logs ${rel(path.join(dataDir, 'temporal', 'logs'))})`,
  );
  for (const p of cluster.apis) say(`HTTP API          ${p.url}  (${p.name}, OpenAPI: ${p.url}/openapi.json)`);
  for (const p of cluster.workers) say(`Refund worker     ${p.name}, health ${p.url}/readyz`);
  say(`PostgreSQL        ${redact(cluster.postgres.serviceUrl)}  (the service role; the owner's URL is in ${rel(stackFilePath)})`);
  const steps = Object.entries(cluster.timings)
    .map(([what, seconds]) => `${what} ${seconds} s`)
    .join(', ');
  say(`Started in ${cluster.startSeconds} s (${steps}). Press Ctrl-C to stop.`);
  void leaveDemoRefund({ apiUrl: api.url, demo: cluster.demo, say, stopping: () => shuttingDown !== undefined });
  // A product process that dies is reported; the rest carry on, as in production.
  for (const p of [...cluster.apis, ...cluster.workers]) {
    void p.exited.then((how) => {
      if (!shuttingDown) process.stderr.write(`${p.name} ${how} (its log: ${rel(p.logFile)})\n`);
    });
  }
}

function rel(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function shutdown(exitCode: number): Promise<void> {
  shuttingDown ??= (async () => {
    try {
      await cluster?.stop();
      await removeStackFile?.();
    } catch (err) {
      process.stderr.write(`stopping failed: ${err instanceof Error ? err.message : String(err)}\n`);
      exitCode = 1;
    }
    process.exit(exitCode);
  })();
  return shuttingDown;
}

stopOnSignals(() => void shutdown(0));

main().catch(async (err: unknown) => {
  process.stderr.write(`\nnpm run cluster failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
