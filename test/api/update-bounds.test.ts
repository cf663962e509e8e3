/**
 * A cancel or an operations action waits for the refund's workflow to take it. With no worker
 * polling (all stopped, or every one failing the workflow's tasks) the API still answers within
 * its handler timeout: 503 with retry-after, never a request left hanging. Once a worker is back,
 * the same request with the same Idempotency-Key is applied once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { refundOf } from '../support/fixtures';

let api: ApiHarness;
let service: TestPrincipal;
let ops: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, ops] = await Promise.all([api.principal('svc-bounds', ['refund_service']), api.principal('emp-ops-bounds', ['ops'])]);
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
