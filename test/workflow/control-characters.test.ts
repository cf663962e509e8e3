/**
 * A message with a control character sent straight to Temporal, past the API, does not jam the
 * refund: the workflow parses it with the same schemas, records it as message_rejected (naming
 * the field and the character, never storing the character) and moves on with the next message.
 * Real Temporal and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelUpdate, carrierEventSignal, refundWorkflowId, warehouseScanSignal } from '../../workflows/messages';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { signedCarrierEvent } from '../support/carrier-keys';

let h: RefundHarness;

beforeAll(async () => {
  h = await startRefundHarness();
});
afterAll(async () => h?.close());

/** The audit rows of `kind`, once there are `count` of them (the workflow writes them after the signal). */
async function auditRows(refundId: string, kind: string, count: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = (await h.refunds.auditTrail(refundId)).filter((row) => row.kind === kind);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a signal with a NUL sent straight to Temporal', () => {
  it('is rejected and audited, and the refund still moves on', async () => {
    const request = refundRequest();
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    const handle = h.temporal.workflow.getHandle(refundWorkflowId(request.refundId));

    // Signed by the carrier, so the signature verifies; the event in it is still refused.
    const poisoned = carrierEvent(request, 'delivered', { facilityId: 'dock\u00007' });
    await handle.signal(carrierEventSignal, signedCarrierEvent(poisoned));
    const [rejected] = await auditRows(request.refundId, 'statement_rejected', 1);
    expect(rejected?.data).toEqual({
      statement: 'carrier_event',
      rule: 'malformed_event',
      message: expect.stringMatching(/facilityId: facilityId must not contain control characters \(found U\+0000\)/),
      keyId: 'test-ups-1',
    });
    expect((await h.refunds.getRefund(request.refundId)).state).toBe('awaiting_carrier');

    await handle.signal(carrierEventSignal, signedCarrierEvent(carrierEvent(request, 'delivered')));
    await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);

    // A signature cannot be made over a statement with a control character: the signal carries the raw receipt.
    const signed = await h.registry.signedScan(request.refundId, 'emp-scan-ctl', matchingReceipt(request));
    const receipt = { ...signed.statement.receipt, warehouseId: 'wh\u0000east' };
    await handle.signal(warehouseScanSignal, { ...signed, statement: { ...signed.statement, receipt } });
    const [malformed] = await auditRows(request.refundId, 'message_rejected', 1);
    expect(malformed?.data).toEqual({
      message: 'warehouseScan',
      issues: expect.stringMatching(/^statement\.receipt\.warehouseId: warehouseId must not contain control characters \(found U\+0000\)/),
    });

    await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-ctl');
    const moved = await h.refunds.waitForState(request.refundId, ['refunded', 'awaiting_approval']);
    expect(moved.state).not.toBe('awaiting_warehouse');
  });

  it('a cancel with a NUL in its reason is refused by the update validator, and a clean one goes through', async () => {
    const request = refundRequest();
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    const handle = h.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
    const refused = await handle.executeUpdate(cancelUpdate, { args: [{ cancelledBy: 'emp-ops', reason: 'dup\u0000licate' }] }).then(
      () => undefined,
      (error: Error & { cause?: Error }) => error,
    );
    expect(refused?.cause?.message).toMatch(/reason: reason must not contain control characters \(found U\+0000\)/);
    const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ cancelledBy: 'emp-ops', reason: 'duplicate' }] });
    expect(cancelled.state).toBe('cancelled');
    const trail = await h.refunds.auditTrail(request.refundId);
    expect(JSON.stringify(trail)).not.toContain('\\u0000');
  });
});
