/**
 * The API and the worker as production runs them (api/main.ts, worker/main.ts, child processes)
 * against a PostgreSQL server of their own that is down when they start and restarts while they
 * run: the API serves and answers /readyz 503 until the database is back, the worker does not poll
 * Temporal before it can complete a task, and neither process exits. Real Temporal; a real
 * embedded PostgreSQL on its own data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { generateKeyPair } from '../../workflows/statements';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from '../../dev/postgres';
import { migrate } from '../../store/migrate';
import { connectClient, testStack, uniqueId } from '../support/stack';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Child {
  proc: ChildProcess;
  output: () => string;
  /** Resolves with the output once it matches `pattern`; rejects if the process exits first or after 60 s. */
  waitFor(pattern: RegExp): Promise<string>;
}

function startChild(entry: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  proc.on('exit', () => {
    for (const listener of listeners) listener();
  });
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${entry}: no ${pattern} within 60 s; output:\n${output}`)), 60_000);
      const check = () => {
        if (pattern.test(output)) done();
        else if (proc.exitCode !== null || proc.signalCode !== null)
          done(new Error(`${entry} exited (${proc.exitCode}); output:\n${output}`));
      };
      function done(error?: Error) {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve(output);
      }
      listeners.add(check);
      check();
    });
  return { proc, output: () => output, waitFor };
}

let dir: string;
let postgres: EmbeddedPostgresServer | undefined;
let port: number;
let api: Child;
let worker: Child;
const taskQueue = uniqueId('outage');

const startPostgres = async () => {
  postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port });
};
const stopPostgres = async () => {
  await postgres?.stop();
  postgres = undefined;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-outage-'));
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(dir, 0o755);
  postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres') });
  port = postgres.port;
  await migrate(postgres.ownerUrl);
  await stopPostgres();
}, 120_000);

afterAll(async () => {
  for (const child of [api, worker]) child?.proc.kill('SIGTERM');
  await Promise.all(
    [api, worker].map((child) => child && child.proc.exitCode === null && new Promise((resolve) => child.proc.once('exit', resolve))),
  );
  await stopPostgres();
  await rm(dir, { recursive: true, force: true });
});

/** Pollers on the task queue's workflow tasks, as Temporal sees them. */
async function workflowPollers(): Promise<number> {
  const client = await connectClient();
  try {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return pollers?.length ?? 0;
  } finally {
    await client.connection.close();
  }
}

/** Workflow pollers once Temporal has seen at least one: a poll reaches the server a moment after the worker says it polls. */
async function workflowPollersSeen(): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const pollers = await workflowPollers();
    if (pollers > 0 || Date.now() > deadline) return pollers;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** /readyz until it answers `status` (each answer is a real request to the running API). */
async function readyzUntil(url: string, status: number): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(`${url}/readyz`);
    const answer = { status: response.status, body: await response.text() };
    if (answer.status === status || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('PostgreSQL down at start, then restarted while the processes run', () => {
  it('the API serves and reports not ready, the worker waits, and both carry on once it is back', async () => {
    // The superuser's password survives a restart; the service role's is new each time the embedded server starts.
    const databaseUrl = `postgres://postgres:postgres@127.0.0.1:${port}/refunds`;
    const secrets = path.join(dir, 'carrier-secrets.json');
    await writeFile(secrets, JSON.stringify({ ups: [{ keyId: 'ups-1', secret: 'x'.repeat(32) }] }));
    // A worker needs the trust roots its refunds pin; no decision is made here, so any valid ones do.
    const trustRoots = path.join(dir, 'trust-roots.json');
    const root = (adminId: string) => ({ adminId, ...generateKeyPair(`${adminId}.k1`).publicKey });
    await writeFile(trustRoots, JSON.stringify({ admins: [root('admin-a'), root('admin-b')] }));
    const env = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: testStack().temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      REFUNDS_TASK_QUEUE: taskQueue,
      REFUNDS_WORKFLOW_BUNDLE: testStack().workflowBundlePath,
      REFUNDS_DB_RETRY_INITIAL_MS: '100',
      REFUNDS_DB_RETRY_MAX_MS: '400',
      REFUNDS_CARRIER_SECRETS: secrets,
      REFUNDS_TRUST_ROOTS: trustRoots,
      PORT: '0',
      LOG_LEVEL: 'warn',
    };
    api = startChild('api/main.ts', env);
    worker = startChild('worker/main.ts', env);

    const listening = await api.waitFor(/refund API listening on (http:\/\/\S+) /);
    const url = /refund API listening on (http:\/\/\S+) /.exec(listening)![1]!;
    const down = await readyzUntil(url, 503);
    expect(down.status, down.body).toBe(503);
    expect(JSON.parse(down.body).detail).toMatch(/database: database not reachable/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await api.waitFor(/database not ready \(attempt 3\)/);
    await worker.waitFor(/database not ready \(attempt 3\)/);
    expect(worker.output()).not.toMatch(/polling task queue/);
    expect(await workflowPollers()).toBe(0);

    await startPostgres();
    const ready = await readyzUntil(url, 200);
    expect(ready.status, ready.body).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
    await worker.waitFor(/polling task queue/);
    expect(await workflowPollersSeen()).toBeGreaterThan(0);

    await stopPostgres();
    const outage = await readyzUntil(url, 503);
    expect(outage.status, outage.body).toBe(503);
    await startPostgres();
    const back = await readyzUntil(url, 200);
    expect(back.status, back.body).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect(api.proc.exitCode, api.output()).toBeNull();
    expect(worker.proc.exitCode, worker.output()).toBeNull();
    expect(await workflowPollersSeen()).toBeGreaterThan(0);
  }, 240_000);
});
