/**
 * Policy versions on the real Temporal server: a refund keeps the policy it started under when
 * the workers move to a new one (its risk weights, thresholds and refund timing), and refunds
 * started after the change follow the new policy, including refund on carrier acceptance.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Policy } from '../../workflows/policy';
import type { RefundRequest } from '../../workflows/schemas';
import { carrierEvent, fastPolicy, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

/** Policy A: refund after receipt; a phone is worth 20 points. */
const policyA: Policy = { ...fastPolicy, version: 'pinned-test-A' };
/** Policy B: refund on carrier acceptance up to 50.00, auto-approval only up to 20.00, and phones are high risk. */
const policyB: Policy = {
  ...fastPolicy,
  version: 'pinned-test-B',
  refundTiming: 'on_carrier_acceptance',
  amounts: { ...fastPolicy.amounts, autoApproveMax: '20.00', carrierAcceptanceMax: '50.00' },
  weights: { ...fastPolicy.weights, goods_high_resale: 60 },
};

let h: RefundHarness;
beforeAll(async () => {
  h = await startRefundHarness({ policy: policyA });
});
afterAll(async () => h?.close());

const refund = (unitAmount: number, category: string): RefundRequest =>
  refundRequest({ initiatedBy: uniqueId('emp-agent'), items: [{ sku: 'ITEM-1', quantity: 1, unitAmount, category }] });
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

async function deliverAndScan(request: RefundRequest) {
  await h.carrierEvent(carrierEvent(request, 'delivered', { occurredAt: minutesAgo(2) }));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
}

it('keeps the policy a refund started under after the workers change policy; new refunds get the new one', async () => {
  const underA = refund(4_500, 'phones');
  await h.refunds.requestRefund(underA);
  expect(await h.refunds.waitForState(underA.refundId, ['awaiting_carrier'])).toMatchObject({ policyVersion: 'pinned-test-A' });

  await h.stopWorker();
  await h.startWorker(undefined, policyB);

  // Under B this phone would be high risk and need two approvers; under A, the policy it pinned,
  // it is low risk, is not reviewed on acceptance, and is paid after the receipt with none.
  await h.carrierEvent(carrierEvent(underA, 'accepted', { occurredAt: minutesAgo(5) }));
  await new Promise((r) => setTimeout(r, 300));
  expect((await h.refunds.getRefund(underA.refundId)).state).toBe('awaiting_carrier');
  await deliverAndScan(underA);
  const paidA = await h.refunds.waitForState(underA.refundId, ['refunded']);
  expect(paidA).toMatchObject({
    policyVersion: 'pinned-test-A',
    approvalsRequired: 0,
    risk: { score: 20, band: 'low', reasons: [expect.objectContaining({ code: 'goods_high_resale', points: 20 })] },
  });
  const trailA = await h.refunds.auditTrail(underA.refundId);
  expect(trailA.find((r) => r.kind === 'refund_requested')?.data).toMatchObject({ policyVersion: 'pinned-test-A' });
  expect(trailA.find((r) => r.kind === 'risk_assessed')?.data).toMatchObject({ score: 20, band: 'low' });
  expect(await h.refunds.getRefundRow(underA.refundId)).toMatchObject({ policyVersion: 'pinned-test-A', riskScore: 20, riskBand: 'low' });

  // A new phone refund follows B: 60 points, high risk, two approvers; not paid on acceptance.
  const underB = refund(4_500, 'phones');
  await h.refunds.requestRefund(underB);
  await h.carrierEvent(carrierEvent(underB, 'accepted', { occurredAt: minutesAgo(5) }));
  await h.refunds.waitForState(underB.refundId, ['awaiting_carrier', 'risk_review']);
  await deliverAndScan(underB);
  const waitingB = await h.refunds.waitForState(underB.refundId, ['awaiting_approval']);
  expect(waitingB).toMatchObject({ policyVersion: 'pinned-test-B', approvalsRequired: 2, risk: { score: 60, band: 'high' } });
  const earlyReview = (await h.refunds.auditTrail(underB.refundId)).find((r) => r.kind === 'risk_assessed');
  expect(earlyReview?.data).toMatchObject({ review: 'carrier_acceptance', paysNow: false, band: 'high' });
});

it('pays a low-value, low-risk refund on carrier acceptance under a policy that allows it', async () => {
  await h.stopWorker();
  await h.startWorker(undefined, policyB);
  const small = refund(1_500, 'accessories');
  await h.refunds.requestRefund(small);
  await h.refunds.waitForState(small.refundId, ['awaiting_carrier']);
  await h.carrierEvent(carrierEvent(small, 'accepted', { occurredAt: minutesAgo(1) }));
  const paid = await h.refunds.waitForState(small.refundId, ['refunded']);
  expect(paid).toMatchObject({
    policyVersion: 'pinned-test-B',
    approvals: [],
    evidence: { delivered: false, receipts: [] },
    risk: { band: 'low' },
  });
  const kinds = (await h.refunds.auditTrail(small.refundId)).map((r) => r.kind);
  expect(kinds).toEqual(expect.arrayContaining(['carrier_event', 'risk_assessed', 'paid']));
  expect(kinds).not.toContain('warehouse_receipt');

  // Above B's auto-approval limit (20.00) an approval is needed, so it is not paid early: it waits for the receipt.
  const needsApproval = refund(3_000, 'accessories');
  await h.refunds.requestRefund(needsApproval);
  await h.carrierEvent(carrierEvent(needsApproval, 'accepted', { occurredAt: minutesAgo(1) }));
  await new Promise((r) => setTimeout(r, 300));
  expect(await h.refunds.waitForState(needsApproval.refundId, ['awaiting_carrier'])).toMatchObject({ risk: { band: 'low' }, payout: null });
  await deliverAndScan(needsApproval);
  expect(await h.refunds.waitForState(needsApproval.refundId, ['awaiting_approval'])).toMatchObject({ approvalsRequired: 1 });
});
