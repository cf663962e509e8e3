/**
 * The production build: `npm run build`, then the API and a worker run from dist/ by plain Node
 * (no TypeScript loader) against the test stack, each reporting ready on /readyz, and a refund goes
 * from request to `refunded` through them. A worker whose database cannot be reached is alive but
 * not ready, and says why.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefundsApiClient } from '../../client/refunds-api-client';
import type { RefundView } from '../../client/views';
import { addPrincipal } from '../../store/principals';
import type { RefundState } from '../../workflows/refund-model';
import { freePort } from '../../dev/processes';
import { newCarrierSecrets } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { createRegistryWorld } from '../support/registry-world';
import { ownerPool, testStack, uniqueId } from '../support/stack';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first or 60 s pass. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const procs: Proc[] = [];
let dir: string;
let buildOutput = '';
let buildMs = 0;
const carrierSecrets = newCarrierSecrets('ups');
const taskQueue = uniqueId('dist-refunds');
const owner = ownerPool();
const registry = createRegistryWorld(owner);

/** A built entry point under plain Node: no NODE_OPTIONS (vitest's or tsx's), only the variables given. */
function startBuilt(entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [path.join(root, 'dist', entry)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      for (const wake of waiters) wake();
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: Proc = {
    child,
    output: () => text,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no ${pattern} from ${entry} within 60 s:\n${text}`)), 60_000);
        const check = () => {
          const match = pattern.exec(text);
          if (match) finish(undefined, match);
        };
        const finish = (error?: Error, match?: RegExpMatchArray) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(match!);
        };
        waiters.add(check);
        void exited.then((code) => finish(new Error(`${entry} exited (code ${code}) before printing ${pattern}:\n${text}`)));
        check();
      }),
  };
  procs.push(proc);
  return proc;
}

/** Polls `url` until it answers `status`; the last answer otherwise (after 60 s). */
async function untilStatus(url: string, status: number): Promise<{ status: number; body: unknown }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await fetch(url).then(
      async (res) => ({ status: res.status, body: (await res.json()) as unknown }),
      (error: unknown) => ({ status: 0, body: String(error) }),
    );
    if (answer.status === status || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function productionEnv(extra: Record<string, string> = {}): Record<string, string> {
  const stack = testStack();
  return {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    DATABASE_URL: stack.databaseUrl,
    REFUNDS_TASK_QUEUE: taskQueue,
    REFUNDS_CARRIER_SECRETS: path.join(dir, 'carrier-secrets.json'),
    REFUNDS_TRUST_ROOTS: path.join(dir, 'trust-roots.json'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'refunds-dist-'));
  await writeFile(path.join(dir, 'carrier-secrets.json'), JSON.stringify(carrierSecrets));
  await writeFile(path.join(dir, 'trust-roots.json'), JSON.stringify(registry.trustRoots));
  const started = Date.now();
  const { stdout } = await execFileAsync('npm', ['run', 'build'], { cwd: root, timeout: 300_000 });
  buildMs = Date.now() - started;
  buildOutput = stdout;
  console.log(`npm run build: ${(buildMs / 1000).toFixed(1)} s\n${stdout}`);
}, 320_000);

afterAll(async () => {
  for (const proc of procs) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  }
  await owner.end();
  await rm(dir, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('writes the entry points, the migrations beside them and the workflow bundle', async () => {
    expect(buildOutput).toMatch(/built dist\/ in/);
    for (const file of ['api/main.js', 'worker/main.js', 'worker/workflow-bundle.js', 'store/refunds-admin.js', 'client/refunds.js']) {
      expect((await stat(path.join(root, 'dist', file))).size).toBeGreaterThan(1000);
    }
    for (const dir of ['api', 'worker', 'store']) {
      expect((await stat(path.join(root, 'dist', dir, 'migrations'))).isDirectory()).toBe(true);
    }
  });
});

describe('the built API and worker', () => {
  it('start with plain Node, go ready, and take a refund from request to refunded', async () => {
    const spawned = Date.now();
    const api = startBuilt('api/main.js', productionEnv({ HOST: '127.0.0.1', PORT: '0' }));
    // Tuning set through the environment reaches the SDK (its resolved options are logged).
    const tuning = {
      REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '150',
      REFUNDS_WORKER_WORKFLOW_POLLERS: '4',
      REFUNDS_WORKER_ACTIVITY_POLLERS: '3',
    };
    const worker = startBuilt('worker/main.js', productionEnv({ REFUNDS_WORKER_HTTP_PORT: '0', ...tuning }));
    const [, apiUrl] = await api.waitFor(/refund API listening on (http:\/\/\S+) /);
    const [, healthUrl] = await worker.waitFor(/worker health on (http:\/\/\S+) /);
    // The worker loads the bundle the build made; it does not run webpack.
    await worker.waitFor(/refund worker polling task queue/);
    const polling = Date.now() - spawned;
    expect(worker.output()).toContain(`workflows from the bundle ${path.join(root, 'dist', 'worker', 'workflow-bundle.js')}`);
    expect(worker.output()).toMatch(/worker options: .*maxCachedWorkflows 150, .*workflow task pollers 4, activity task pollers 3,/);

    expect(await untilStatus(`${healthUrl}/healthz`, 200)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await untilStatus(`${healthUrl}/readyz`, 200)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', temporal: 'ok', worker: 'ok' } },
    });
    expect(await untilStatus(`${apiUrl}/readyz`, 200)).toMatchObject({ status: 200, body: { status: 'ready' } });
    console.log(`built worker polling ${polling} ms after spawn; worker and API both ready ${Date.now() - spawned} ms after spawn`);
    expect((await fetch(`${healthUrl}/nothing-here`)).status).toBe(404);
    const paidPayouts = async () =>
      /^refund_payouts_total\{outcome="paid"\} (\d+)$/m.exec(await (await fetch(`${healthUrl}/metrics`)).text())?.[1];
    expect(await paidPayouts()).toBe('0');

    // A refund through the two processes: no approval needed for 45.00 at low risk.
    const svc = uniqueId('svc-dist');
    const scanner = uniqueId('wh-dist');
    const ops = uniqueId('ops-dist');
    const [svcKey, scannerKey] = await Promise.all([
      registry.registerRefundService(svc, { roles: ['refund_service'] }),
      registry.registerScanner(scanner, { roles: ['warehouse'] }),
    ]);
    const [svcPrincipal, scannerPrincipal, opsPrincipal] = await Promise.all([
      addPrincipal(owner, { id: svc, roles: ['refund_service'] }),
      addPrincipal(owner, { id: scanner, roles: ['warehouse'] }),
      addPrincipal(owner, { id: ops, roles: ['ops'] }),
    ]);
    const carrierKey = { carrier: 'ups', ...carrierSecrets.ups![0]! };
    const service = new RefundsApiClient({ baseUrl: apiUrl!, apiKey: svcPrincipal.apiKey, signingKey: svcKey });
    const warehouse = new RefundsApiClient({ baseUrl: apiUrl!, apiKey: scannerPrincipal.apiKey, signingKey: scannerKey });
    const carrier = new RefundsApiClient({ baseUrl: apiUrl!, carrierKey });
    const reader = new RefundsApiClient({ baseUrl: apiUrl!, apiKey: opsPrincipal.apiKey });
    const until = async (refundId: string, state: RefundState): Promise<RefundView> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const refund = await reader.getRefund(refundId);
        if (refund.state === state) return refund;
        if (Date.now() > deadline) throw new Error(`refund ${refundId} is ${refund.state}, expected ${state}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    const request = refundOf(4_500);
    expect((await service.requestRefund(request)).refund.state).toBe('awaiting_carrier');
    await carrier.sendCarrierEvent(carrierEvent(request, 'delivered', { weightGrams: 1_000 }));
    await until(request.refundId, 'awaiting_warehouse');
    await warehouse.recordWarehouseScan(request.refundId, matchingReceipt(request));
    expect(await until(request.refundId, 'refunded')).toMatchObject({
      amount: 4_500,
      approvalsRequired: 0,
      payout: { reference: expect.any(String) },
    });
    // The built worker counted the payout on its /metrics.
    expect(await paidPayouts()).toBe('1');

    // SIGTERM: both stop cleanly, the worker's health listener with it.
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(await worker.exited).toBe(0);
    expect(
      await fetch(`${healthUrl}/healthz`).then(
        (r) => r.status,
        () => 'refused',
      ),
    ).toBe('refused');
  }, 180_000);

  it('a worker whose database cannot be reached is alive, not ready, and says why', async () => {
    const closed = await freePort();
    const worker = startBuilt(
      'worker/main.js',
      productionEnv({
        DATABASE_URL: `postgres://refunds_service:x@127.0.0.1:${closed}/refunds`,
        REFUNDS_WORKER_HTTP_PORT: '0',
        REFUNDS_DB_RETRY_INITIAL_MS: '100',
        REFUNDS_DB_RETRY_MAX_MS: '200',
      }),
    );
    const [, healthUrl] = await worker.waitFor(/worker health on (http:\/\/\S+) /);
    expect(await untilStatus(`${healthUrl}/healthz`, 200)).toEqual({ status: 200, body: { status: 'ok' } });
    const notReady = await fetch(`${healthUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('content-type')).toBe('application/problem+json');
    expect(notReady.headers.get('retry-after')).toBe('5');
    const problem = (await notReady.json()) as { status: number; detail: string };
    expect(problem.status).toBe(503);
    expect(problem.detail).toMatch(
      /^not ready: database: database not reachable: .*ECONNREFUSED.*; worker: worker not started yet \(waiting for the database\)$/,
    );
    expect(problem.detail).not.toContain('temporal:');
    await worker.waitFor(/database not ready \(attempt 2\)/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('a worker refuses a port it cannot listen on, naming the variable', async () => {
    const taken = startBuilt(
      'worker/main.js',
      productionEnv({ REFUNDS_WORKER_HTTP_PORT: '0', DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z' }),
    );
    const [, url] = await taken.waitFor(/worker health on http:\/\/127\.0\.0\.1:(\d+) /);
    const second = startBuilt('worker/main.js', productionEnv({ REFUNDS_WORKER_HTTP_PORT: url! }));
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(new RegExp(`REFUNDS_WORKER_HTTP_PORT: cannot listen on 127\\.0\\.0\\.1:${url}: .*EADDRINUSE`));
    taken.child.kill('SIGTERM');
    expect(await taken.exited).toBe(0);
  });
});
