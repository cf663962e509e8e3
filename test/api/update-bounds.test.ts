/**
 * A decision, a cancel or an operations action waits for the refund's workflow to take it. With no worker
 * polling (all stopped, or every one failing the workflow's tasks) the API still answers within
 * its handler timeout: 503 with retry-after, never a request left hanging. Once a worker is back,
 * the same request with the same Idempotency-Key is applied once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';

let api: ApiHarness;
let service: TestPrincipal;
let ops: TestPrincipal;
let scanner: TestPrincipal;
let approver: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, ops, scanner, approver] = await Promise.all([
    api.principal('svc-bounds', ['refund_service']),
    api.principal('emp-ops-bounds', ['ops']),
    api.principal('wh-scanner-bounds', ['warehouse']),
    api.principal('emp-approver-bounds', ['approver'], '100000.00'),
  ]);
});
afterAll(async () => api?.close());

it('answers 503 within the handler timeout when no worker takes a cancel, and cancels once when one is back', async () => {
  const request = refundOf(4_500);
  expect((await api.call('POST', '/v1/refunds', service, request)).statusCode).toBe(201);
  await api.h.stopWorker();
  const key = { 'idempotency-key': `cancel-${request.refundId}` };
  const started = Date.now();
  const unanswered = await api.call('POST', `/v1/refunds/${request.refundId}/cancel`, ops, { reason: 'customer withdrew' }, key);
  expect(unanswered.statusCode, unanswered.body).toBe(503);
  expect(unanswered.headers['retry-after']).toBeDefined();
  expect(Date.now() - started).toBeLessThan(30_000);

  await api.h.startWorker();
  const answered = await api.call('POST', `/v1/refunds/${request.refundId}/cancel`, ops, { reason: 'customer withdrew' }, key);
  expect(answered.statusCode, answered.body).toBe(200);
  expect(JSON.parse(answered.body)).toMatchObject({ state: 'cancelled' });
}, 90_000);

it('answers 503 within the handler timeout when no worker takes a decision, and decides once when one is back', async () => {
  // 500.00 at low risk: one approval.
  const request = refundOf(50_000);
  expect((await api.call('POST', '/v1/refunds', service, request)).statusCode).toBe(201);
  expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const scanBody = api.scanBody(scanner, request.refundId, matchingReceipt(request));
  expect((await api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, scanBody)).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);

  await api.h.stopWorker();
  const key = { 'idempotency-key': `decide-${request.refundId}` };
  const body = api.decisionBody(approver, request, { decision: 'approve', reason: 'receipt matches' });
  const started = Date.now();
  const unanswered = await api.call('POST', `/v1/refunds/${request.refundId}/approvals`, approver, body, key);
  expect(unanswered.statusCode, unanswered.body).toBe(503);
  expect(unanswered.headers['retry-after']).toBeDefined();
  expect(Date.now() - started).toBeLessThan(30_000);

  await api.h.startWorker();
  const answered = await api.call('POST', `/v1/refunds/${request.refundId}/approvals`, approver, body, key);
  expect(answered.statusCode, answered.body).toBe(200);
  await api.h.refunds.waitForState(request.refundId, ['refunded']);
  expect((await api.h.refunds.getRefund(request.refundId)).approvals.map((a) => a.approverId)).toEqual([approver.id]);
}, 120_000);
