/**
 * Principal ids are canonical over the whole stack: a principal row written straight to
 * PostgreSQL in another case authenticates as its lowercase twin, never as a second person, and
 * ids in requests and messages are lowercased before any rule compares them. Real API, Temporal
 * and PostgreSQL; `refunds-admin` as a child process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyHash, authenticate, newApiKey, revokePrincipal } from '../../store/principals';
import { carrierEventSignal, refundWorkflowId } from '../../workflows/messages';
import type { RefundRequest, Role } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { signedCarrierEvent } from '../support/carrier-keys';
import { testStack, uniqueId } from '../support/stack';

let api: ApiHarness;
let service: TestPrincipal;
let scanner: TestPrincipal;
let approver1: TestPrincipal;
let approver2: TestPrincipal;
let admin: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, scanner, approver1, approver2, admin] = await Promise.all([
    api.principal('svc-returns', ['refund_service']),
    api.principal('wh-scanner', ['warehouse']),
    api.principal('emp-approver-1', ['approver'], '100000.00'),
    api.principal('emp-approver-2', ['approver'], '100000.00'),
    api.principal('emp-admin', ['admin']),
  ]);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

/** The database as refunds-admin (and an insider with write access to the principals) reaches it: the schema owner. */
const principalsDb = () => api.owner;
const principalsDatabaseUrl = () => testStack().ownerDatabaseUrl;

/** A principal row in another case, with its own API key, written straight to the tables as an insider with database access could. */
async function sqlAlias(of: TestPrincipal, roles: Role[], approvalLimit: string | null = null): Promise<TestPrincipal> {
  const id = of.id.toUpperCase();
  const apiKey = newApiKey();
  await principalsDb().query('INSERT INTO principals (id, roles, approval_limit) VALUES ($1, $2, $3)', [id, roles, approvalLimit]);
  await principalsDb().query('INSERT INTO api_keys (key_hash, principal_id) VALUES ($1, $2)', [apiKeyHash(apiKey), id]);
  return { id, apiKey };
}

function expectProblem(response: { statusCode: number; body: string }, status: number, type: string): Record<string, unknown> {
  expect(response.statusCode, response.body).toBe(status);
  const problem = json(response);
  expect(problem).toMatchObject({ type: `/problems/${type}`, status });
  return problem;
}

const approve = (request: RefundRequest, who: TestPrincipal) =>
  api.call(
    'POST',
    `/v1/refunds/${request.refundId}/approvals`,
    who,
    api.decisionBody(who, request, { decision: 'approve', reason: 'receipt matches' }),
  );

/** Delivers the carrier's delivery and the warehouse's matching scan, and waits for the approvals. */
async function withEvidence(request: RefundRequest): Promise<void> {
  const delivered = await api.carrierPost(carrierEvent(request, 'delivered'));
  expect(delivered.statusCode, delivered.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const scan = await api.call(
    'POST',
    `/v1/refunds/${request.refundId}/warehouse-scans`,
    scanner,
    api.scanBody(scanner, request.refundId, matchingReceipt(request)),
  );
  expect(scan.statusCode, scan.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
}

async function requested(request: RefundRequest): Promise<Record<string, unknown>> {
  const response = await api.call('POST', '/v1/refunds', service, request);
  expect(response.statusCode, response.body).toBe(201);
  return json(response);
}

describe('a principal row in another case', () => {
  it('authenticates as its lowercase twin', async () => {
    const alias = await sqlAlias(approver2, ['approver'], '100000.00');
    expect(alias.id).not.toBe(approver2.id);
    expect(await authenticate(api.h.pool, alias.apiKey)).toMatchObject({ id: approver2.id, roles: ['approver'] });
  });

  it('does not give a second approval on a two-approval refund', async () => {
    const canonical = await api.principal('emp-approver-2', ['approver'], '100000.00');
    // The alias row's API key, with the signing key of the principal it aliases.
    const alias = { ...(await sqlAlias(canonical, ['approver'], '100000.00')), signingKey: canonical.signingKey! };

    // 1,500.00 USD: two distinct approvers.
    const request = refundOf(150_000);
    await requested(request);
    await withEvidence(request);

    const first = await approve(request, canonical);
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2, approvalsStillNeeded: 1 });

    expect(expectProblem(await approve(request, alias), 403, 'approval-refused').rule).toBe('approver_already_decided');
    expect(await api.h.refunds.getRefund(request.refundId)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1 });

    const second = await approve(request, approver1);
    expect(second.statusCode, second.body).toBe(200);
    expect(json(second).state).toBe('paying');
    expect((json(second).approvals as Array<{ approverId: string }>).map((a) => a.approverId)).toEqual([canonical.id, approver1.id]);
    await api.h.refunds.waitForState(request.refundId, ['refunded']);
  });

  it('is revoked with its twin, whichever of them is revoked', async () => {
    const [left, right] = await Promise.all([api.principal('emp-leaver', ['ops']), api.principal('emp-mover', ['ops'])]);
    const [leftAlias, rightAlias] = await Promise.all([sqlAlias(left, ['ops']), sqlAlias(right, ['ops'])]);
    for (const who of [left, leftAlias, right, rightAlias]) {
      expect((await api.call('GET', '/v1/refunds/stuck', who)).statusCode).toBe(200);
    }
    // Revoked by its id in another case: both rows go.
    const revoked = await revokePrincipal(principalsDb(), left.id.toUpperCase());
    expect(revoked.id).toBe(left.id);
    expectProblem(await api.call('GET', '/v1/refunds/stuck', left), 401, 'unauthenticated');
    expectProblem(await api.call('GET', '/v1/refunds/stuck', leftAlias), 401, 'unauthenticated');
    // A row revoked on its own (straight in the table) revokes the principal.
    await principalsDb().query('UPDATE principals SET revoked_at = now() WHERE id = $1', [rightAlias.id]);
    expectProblem(await api.call('GET', '/v1/refunds/stuck', right), 401, 'unauthenticated');
  });
});

describe('ids in requests and messages', () => {
  it('refuses an approver whose id, in another case, is the refund’s initiatedBy', async () => {
    const request = refundOf(150_000, { initiatedBy: approver1.id.toUpperCase() });
    expect(await requested(request)).toMatchObject({ initiatedBy: approver1.id });
    await withEvidence(request);
    expect(expectProblem(await approve(request, approver1), 403, 'approval-refused').rule).toBe('approver_is_requester');
  });

  it('canonicalizes a refund started straight on Temporal, past the API', async () => {
    // A principal registered as both a refund service and an approver signs the request under its id in another case.
    const dual = await api.principal('svc-approver', ['refund_service', 'approver'], '100000.00');
    const request = refundOf(150_000, { initiatedBy: approver1.id.toUpperCase() });
    const signed = await api.h.registry.signedRequest(request, { requestedBy: dual.id.toUpperCase(), key: dual.signingKey! });
    const handle = await api.h.temporal.workflow.start('refundWorkflow', {
      taskQueue: api.h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [signed],
    });
    await api.h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    await handle.signal(carrierEventSignal, signedCarrierEvent(carrierEvent(request, 'delivered'), { secrets: api.carrierSecrets }));
    await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    const scan = await api.call(
      'POST',
      `/v1/refunds/${request.refundId}/warehouse-scans`,
      scanner,
      api.scanBody(scanner, request.refundId, matchingReceipt(request)),
    );
    expect(scan.statusCode, scan.body).toBe(202);
    await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    expect(await api.h.refunds.getRefund(request.refundId)).toMatchObject({ initiatedBy: approver1.id, requestedBy: dual.id });
    expect(expectProblem(await approve(request, approver1), 403, 'approval-refused').rule).toBe('approver_is_requester');
    expect(expectProblem(await approve(request, dual), 403, 'approval-refused').rule).toBe('approver_is_requester');
  });

  it('refuses an admin lifting their own breaker under their id in another case', async () => {
    const problem = expectProblem(
      await api.call('POST', `/v1/employees/${admin.id.toUpperCase()}/breaker/lift`, admin, { reason: 'mine' }),
      403,
      'breaker-lift-refused',
    );
    expect(problem.detail).toContain(`${admin.id} cannot lift their own breaker`);
  });

  it('refuses an employee id outside the alphabet with 422 naming it', async () => {
    const problem = expectProblem(await api.call('GET', '/v1/employees/emp%2B1/breakers', admin), 422, 'invalid-input');
    expect(JSON.stringify(problem.errors)).toContain('^[a-z0-9][a-z0-9._@:-]{0,127}$');
  });
});

describe('refunds-admin principal add', () => {
  const refundsAdminBin = fileURLToPath(new URL('../../store/refunds-admin.mjs', import.meta.url));
  const refundsAdmin = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env = { PATH: process.env.PATH ?? '', DATABASE_URL: principalsDatabaseUrl() };
      execFile(refundsAdminBin, args, { env, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('stores EMP-X as emp-x, and refuses emp-x again as the same principal', async () => {
    const id = uniqueId('emp-x');
    const keyFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'refunds-keys-')), 'key.json');
    const added = await refundsAdmin(['principal', 'add', id.toUpperCase(), '--role', 'ops', '--key-file', keyFile, '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ id });
    const stored = await api.h.pool.query('SELECT id FROM principals WHERE lower(id) = $1', [id]);
    expect(stored.rows).toEqual([{ id }]);

    const again = await refundsAdmin(['principal', 'add', id, '--role', 'ops']);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`principal ${id} already exists`);
  });

  it('refuses an id outside the alphabet, naming it', async () => {
    const bad = await refundsAdmin(['principal', 'add', 'emp/x', '--role', 'ops']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('id: id must be 1 to 128 of a-z 0-9 . _ @ : -');
  });

  it('does not add a principal whose id differs only in case from a row written in SQL', async () => {
    const id = uniqueId('emp-y');
    await principalsDb().query('INSERT INTO principals (id, roles) VALUES ($1, $2)', [id.toUpperCase(), ['ops']]);
    const added = await refundsAdmin(['principal', 'add', id, '--role', 'ops']);
    expect(added.code).toBe(3);
    expect(added.stderr).toContain('already exists');
    expect((await api.h.pool.query('SELECT 1 FROM principals WHERE id = $1', [id])).rowCount).toBe(0);
  });
});
