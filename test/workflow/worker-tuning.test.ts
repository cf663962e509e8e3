/**
 * The worker's tuning variables reach the SDK, and a worker that gives each workflow a V8 context
 * of its own (REFUNDS_WORKER_REUSE_V8_CONTEXT=false) still runs refunds to the end with the same
 * bundle: its preloaded modules (workflows/shared-modules.ts) are only loaded into a reused
 * context; otherwise each workflow loads what it imports in its own context.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../config/worker';
import { workerTuning } from '../../worker/worker';
import { describeWorkerOptions } from '../../worker/worker-options';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';

let h: RefundHarness;

beforeAll(async () => {
  const config = loadConfig({
    REFUNDS_WORKER_REUSE_V8_CONTEXT: 'false',
    REFUNDS_WORKER_WORKFLOW_THREADS: '3',
    REFUNDS_WORKER_MAX_CACHED_WORKFLOWS: '20',
    REFUNDS_WORKER_WORKFLOW_POLLERS: '2',
    REFUNDS_WORKER_ACTIVITY_POLLERS: '3',
  });
  h = await startRefundHarness({ tuning: workerTuning(config) });
});
afterAll(async () => h?.close());

it('gives the SDK the cache size, the pollers, the V8 context and the workflow threads set', () => {
  const described = describeWorkerOptions(h.workerOptions()!);
  expect(described).toContain('reuseV8Context false');
  expect(described).toContain('workflow threads 3');
  expect(described).toContain('maxCachedWorkflows 20');
  expect(described).toContain('workflow task pollers 2');
  expect(described).toContain('activity task pollers 3');
});

it('pays an approved refund with a V8 context per workflow', async () => {
  const request = refundOf(50_000);
  await h.refunds.requestRefund(request);
  await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
  await h.carrierEvent(carrierEvent(request, 'in_transit', { occurredAt: new Date(Date.now() - 120_000).toISOString() }));
  await h.carrierEvent(carrierEvent(request, 'delivered', { occurredAt: new Date(Date.now() - 60_000).toISOString() }));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-1'));
  const done = await h.refunds.waitForState(request.refundId, ['refunded']);
  expect(done).toMatchObject({
    state: 'refunded',
    approvalsRequired: 1,
    approvals: [expect.objectContaining({ approverId: 'emp-approver-1' })],
  });
});
