/**
 * The local cluster (`npm run cluster`, dev/cluster-stack.ts) end to end over HTTP: Temporal as
 * separate frontend, history, matching and worker services on PostgreSQL, two refund workers and
 * two API replicas, each its own process, started here on free ports in a temporary directory
 * (twice: an empty data directory, then the same one again, and both start-up times printed).
 * The demo principals and keys the cluster creates do the work, through the typed client, spread
 * over both replicas. Refunds go to `refunded` with no approval, one and two; a worker is killed
 * with SIGKILL mid-payout and the other pays it, once; an API replica is killed mid-request and
 * the client's retry with the same Idempotency-Key on the other replica decides it once.
 *
 * The workers pay through the fake card processor (test/cluster/processor-worker.ts), which keeps
 * every charge. The first run on a machine builds the Temporal server with Go (about 5 minutes).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payoutIdempotencyKey } from '../../activities/payments';
import { readSigningKeyFile } from '../../client/cli/signing-key';
import { RefundsApiClient } from '../../client/refunds-api-client';
import type { RefundView } from '../../client/views';
import { type Cluster, startCluster } from '../../dev/cluster-stack';
import type { DemoCredentials } from '../../dev/demo-credentials';
import { type EmbeddedPostgresServer, startEmbeddedPostgres } from '../../dev/postgres';
import { createPool, type Pool } from '../../store/pool';
import type { RefundState } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { carrierEvent, matchingReceipt, nextId, refundOf } from '../support/fixtures';
import { chargesFor, installFakeProcessor } from '../support/scripted-gateway';

type Role = 'service' | 'carrier' | 'scanner' | 'approver1' | 'approver2' | 'ops';

let dataDir: string;
let cluster: Cluster;
/** The PostgreSQL server the cluster is given after its cold start. */
let postgres: EmbeddedPostgresServer;
let owner: Pool;
let credentials: DemoCredentials;
/** Each role's client on each API replica: as[0] on api-1, as[1] on api-2. */
let as: Array<Record<Role, RefundsApiClient>>;

const quiet = () => undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'refunds-cluster-'));
  const options = { dataDir, ports: 'free' as const, workerEntry: 'test/cluster/processor-worker.ts', log: quiet };
  const cold = await startCluster(options);
  console.log(`cluster cold start (empty data directory): ${cold.startSeconds} s (${describeTimings(cold.timings)})`);
  await cold.stop();
  // The same data again, on a PostgreSQL server that runs on its own and is given by URL
  // (REFUNDS_CLUSTER_POSTGRES_URL): the cluster finds its databases there and leaves the server running.
  postgres = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres') });
  cluster = await startCluster({ ...options, postgresAdminUrl: postgres.databaseUrl });
  console.log(
    `cluster warm start (same data directory, PostgreSQL already running): ${cluster.startSeconds} s (${describeTimings(cluster.timings)})`,
  );

  owner = createPool(cluster.postgres.ownerUrl, 2);
  await installFakeProcessor(owner);
  credentials = JSON.parse(await readFile(cluster.demo.credentialsFile, 'utf8')) as DemoCredentials;
  const apiKey = (id: string) => credentials.principals.find((p) => p.id === id)!.apiKey;
  const signingKey = (id: string) => readSigningKeyFile(path.join(cluster.demo.keysDir, `${id}.json`));
  const keys = {
    service: await signingKey('svc-returns-portal'),
    scanner: await signingKey('wh-scanner-1'),
    approver1: await signingKey('emp-approver-1'),
    approver2: await signingKey('emp-approver-2'),
  };
  const carrierKey = { carrier: 'ups', ...credentials.carrierSecrets.ups![0]! };
  as = cluster.apis.map((api) => {
    const client = (options: Partial<ConstructorParameters<typeof RefundsApiClient>[0]> = {}) =>
      new RefundsApiClient({ baseUrl: api.url, carrierKey, ...options });
    return {
      service: client({ apiKey: apiKey('svc-returns-portal'), signingKey: keys.service }),
      carrier: client(),
      scanner: client({ apiKey: apiKey('wh-scanner-1'), signingKey: keys.scanner }),
      approver1: client({ apiKey: apiKey('emp-approver-1'), signingKey: keys.approver1 }),
      approver2: client({ apiKey: apiKey('emp-approver-2'), signingKey: keys.approver2 }),
      ops: client({ apiKey: apiKey('emp-ops-1') }),
    };
  });
});

afterAll(async () => {
  await owner?.end();
  await cluster?.stop();
  await postgres?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function describeTimings(timings: Record<string, number>): string {
  return Object.entries(timings)
    .map(([what, seconds]) => `${what} ${seconds} s`)
    .join(', ');
}

/** The ops client on a replica that is up (api-2 serves reads when api-1 was killed). */
function ops(): RefundsApiClient {
  return as[1]!.ops;
}

/** Polls the refund until it is in one of `states` and its timeline (written just after) has caught up. */
async function until(refundId: string, states: RefundState[], timeoutMs = 60_000): Promise<RefundView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refund = await ops().getRefund(refundId);
    const recorded = refund.timeline.some((t) => t.kind === 'state_changed' && (t.data as { to?: string }).to === refund.state);
    if (states.includes(refund.state) && recorded) return refund;
    if (Date.now() > deadline) throw new Error(`refund ${refundId} is ${refund.state}, expected ${states.join(' or ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Request on api-1, carrier delivery on api-2, warehouse scan on api-1. */
async function returned(request: RefundRequest): Promise<RefundView> {
  const { created, refund } = await as[0]!.service.requestRefund(request);
  expect(created).toBe(true);
  expect(refund.state).toBe('awaiting_carrier');
  await as[1]!.carrier.sendCarrierEvent(carrierEvent(request, 'delivered', { weightGrams: 1_000 }));
  await until(request.refundId, ['awaiting_warehouse']);
  await as[0]!.scanner.recordWarehouseScan(request.refundId, matchingReceipt(request));
  return until(request.refundId, ['awaiting_approval', 'paying', 'refunded']);
}

describe('the cluster over HTTP', () => {
  it('runs on the PostgreSQL server it was given, with the databases its cold start made there', async () => {
    expect(cluster.postgres.port).toBe(postgres.port);
    const server = createPool(postgres.databaseUrl, 1);
    try {
      const { rows } = await server.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname');
      expect(rows.map((r) => r.datname)).toEqual(expect.arrayContaining(['refunds', 'temporal', 'temporal_visibility']));
    } finally {
      await server.end();
    }
  });

  it('refuses to start on a PostgreSQL server that does not answer, naming it', async () => {
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'refunds-cluster-unreachable-'));
    try {
      await expect(
        startCluster({ dataDir: elsewhere, ports: 'free', log: quiet, postgresAdminUrl: 'postgres://postgres:x@127.0.0.1:1/postgres' }),
      ).rejects.toThrow(/REFUNDS_CLUSTER_POSTGRES_URL \(127\.0\.0\.1:1\) does not answer/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('pays 45.00 with no approval, 450.00 after one, 2,499.00 after two distinct approvers, each charged once', async () => {
    const small = refundOf(4_500);
    const medium = refundOf(45_000);
    const large = refundOf(249_900, {
      items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
    });
    const [afterSmall, afterMedium, afterLarge] = await Promise.all([returned(small), returned(medium), returned(large)]);

    expect(afterSmall).toMatchObject({ approvalsRequired: 0 });
    expect(afterMedium).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 1 });
    expect((await as[1]!.approver1.approve(medium.refundId, 'receipt matches')).state).toMatch(/^(paying|refunded)$/);
    expect(afterLarge).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2 });
    expect(await as[0]!.approver1.approve(large.refundId)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1 });
    expect((await as[1]!.approver2.approve(large.refundId, 'serial matches')).state).toMatch(/^(paying|refunded)$/);

    for (const [request, approvers] of [
      [small, []],
      [medium, ['emp-approver-1']],
      [large, ['emp-approver-1', 'emp-approver-2']],
    ] as const) {
      const paid = await until(request.refundId, ['refunded']);
      expect(paid).toMatchObject({ state: 'refunded', payout: { reference: `ch_${request.refundId}` } });
      expect(paid.approvals.map((a) => a.approverId)).toEqual(approvers);
      expect(await chargesFor(owner, request.refundId)).toBe(1);
    }
  });

  it('pays a refund once when the worker paying it is killed mid-payout: the other worker retries with the same key', async () => {
    const request = refundOf(4_500, { refundId: nextId('stall') });
    const stalled = new RegExp(`payout stalled: ${request.refundId}$`);
    // Whichever worker takes the payout says so; the other one must finish it.
    const paying = Promise.race(cluster.workers.map((worker) => worker.waitForOutput(stalled, 120_000).then(() => worker)));
    await returned(request);
    const victim = await paying;
    const survivor = cluster.workers.find((w) => w !== victim)!;
    // The card is charged and the gateway never answers: the worker dies before the payout is recorded.
    await untilTrue(async () => (await chargesFor(owner, request.refundId)) === 1, 'the first attempt charged the card');
    expect((await ops().getRefund(request.refundId)).state).toBe('paying');
    expect(await victim.kill('SIGKILL')).toBe('was killed by SIGKILL');

    const paid = await until(request.refundId, ['refunded'], 120_000);
    expect(paid.payout).toMatchObject({ reference: `ch_${request.refundId}` });
    expect(await chargesFor(owner, request.refundId)).toBe(1);
    const calls = await owner.query<{ outcome: string }>(
      'SELECT outcome FROM fake_processor.calls WHERE idempotency_key = $1 ORDER BY id',
      [payoutIdempotencyKey(request.refundId)],
    );
    expect(calls.rows.map((r) => r.outcome)).toEqual(['hang_after_charge', 'ok']);
    expect(survivor.output()).not.toMatch(stalled);
    const payout = await owner.query<{ status: string }>('SELECT status FROM payouts WHERE refund_id = $1', [request.refundId]);
    expect(payout.rows).toEqual([{ status: 'paid' }]);
  });

  it('decides once when the API replica handling an approval is killed mid-request and the client retries on the other', async () => {
    const request = refundOf(45_000);
    expect(await returned(request)).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 1 });
    const refund = await ops().getRefund(request.refundId);
    const body = as[0]!.approver1.signedApprovalBody(refund, { decision: 'approve' });
    const key = `approve-${request.refundId}`;
    const requestId = nextId('req');
    const [first, second] = cluster.apis as [Cluster['apis'][number], Cluster['apis'][number]];

    // The approval reaches api-1, which dies as soon as it logs the request: its client sees the connection drop.
    const arrived = first.waitForOutput(new RegExp(`"x-request-id":"${requestId}"`), 60_000);
    const attempt = post(first.url, `/v1/refunds/${request.refundId}/approvals`, 'emp-approver-1', body, key, requestId).then(
      (response) => ({ answered: response.status }),
      (error: unknown) => ({ error: String(error) }),
    );
    await arrived;
    await first.kill('SIGKILL');
    const lost = await attempt;

    // The retry, with the same Idempotency-Key and body, on the other replica: one decision, whatever the first attempt did.
    const retried = await post(second.url, `/v1/refunds/${request.refundId}/approvals`, 'emp-approver-1', body, key);
    expect(retried.status).toBe(200);
    const answer = (await retried.json()) as RefundView;
    expect(answer.approvals.map((a) => a.approverId)).toEqual(['emp-approver-1']);
    const again = await post(second.url, `/v1/refunds/${request.refundId}/approvals`, 'emp-approver-1', body, key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(answer);

    const paid = await until(request.refundId, ['refunded']);
    expect(paid.approvals.map((a) => a.approverId)).toEqual(['emp-approver-1']);
    expect(await chargesFor(owner, request.refundId)).toBe(1);
    console.log(
      `approval on the killed replica: ${'error' in lost ? `connection lost (${lost.error})` : `answered ${lost.answered} first`}`,
    );
  });
});

function post(
  baseUrl: string,
  url: string,
  principalId: string,
  body: unknown,
  idempotencyKey: string,
  requestId?: string,
): Promise<Response> {
  const apiKey = credentials.principals.find((p) => p.id === principalId)!.apiKey;
  return fetch(`${baseUrl}${url}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${apiKey}`,
      'idempotency-key': idempotencyKey,
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: JSON.stringify(body),
  });
}

async function untilTrue(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
