/**
 * A decision whose audit fact the database will not take: `decide` answers within its bound with
 * DecisionNotYetRecorded instead of waiting forever, the decision still counts, and it is written
 * once the database takes it.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decideUpdate, failureTypes, refundWorkflowId } from '../../workflows/messages';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

let h: RefundHarness;
/** While set, every write carrying an approval fails as an unreachable database would (retryable). */
let refuseApprovals = true;

beforeAll(async () => {
  h = await startRefundHarness({
    recordProgress: async (input, write) => {
      if (refuseApprovals && input.facts.some((fact) => fact.kind === 'approved')) throw new Error('connection terminated unexpectedly');
      return write(input);
    },
  });
});
afterAll(async () => {
  await h?.close();
});

it('answers a decision it cannot write within its bound, and writes it once the database takes it', async () => {
  const request = refundRequest({
    items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
  });
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);

  const handle = h.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
  const sentAt = Date.now();
  const error = await handle.executeUpdate(decideUpdate, { args: [await h.registry.approval(request, 'emp-a')] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const waitedMs = Date.now() - sentAt;
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const failure = (error as WorkflowUpdateFailedError).cause as ApplicationFailure;
  expect(failure.type).toBe(failureTypes.decisionNotYetRecorded);
  expect(failure.message).toContain(`refund ${request.refundId} is applied but not yet written`);
  expect(waitedMs).toBeGreaterThanOrEqual(29_000);
  expect(waitedMs).toBeLessThan(45_000);
  // Applied but not yet in the audit trail.
  expect((await h.refunds.auditTrail(request.refundId)).some((row) => row.kind === 'approved')).toBe(false);

  refuseApprovals = false;
  const deadline = Date.now() + 60_000; // the write's retry interval has grown to tens of seconds by now
  while (!(await h.refunds.auditTrail(request.refundId)).some((row) => row.kind === 'approved')) {
    if (Date.now() > deadline) throw new Error('the approval was never written after the database took writes again');
    await new Promise((r) => setTimeout(r, 100));
  }
  const status = await h.refunds.getRefund(request.refundId);
  expect(status.state).toBe('awaiting_approval');
  expect(status.approvals.map((a) => a.approverId)).toEqual(['emp-a']);
}, 120_000);
