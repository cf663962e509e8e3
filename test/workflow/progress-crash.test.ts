/**
 * Transitions are written by a local activity, inside the workflow task. A worker that dies after
 * the write committed but before the task completed leaves a history that does not know about the
 * write; the next worker writes the transition again. The audit trail and the read model take the
 * second write as a no-op: every step is recorded once, the chain verifies, and the refund is paid
 * once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { asOwner } from '../support/stack';
import { startDyingWorker, type ChildWorker } from '../support/child-worker';

let h: RefundHarness;
let child: ChildWorker | undefined;

beforeAll(async () => {
  h = await startRefundHarness({ startWorker: false });
});
afterAll(async () => {
  child?.proc.kill('SIGKILL');
  await h?.close();
});

it('records each step once when the worker dies between writing a transition and completing its task', async () => {
  const dying = await startDyingWorker(h.taskQueue, 'receipt_recorded', h.registry.trustRoots);
  child = dying;
  const request = refundOf(4_300);
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
  await dying.exited;

  // The receipt's transition is in PostgreSQL; the history has no record of having written it.
  const written = await h.refunds.auditTrail(request.refundId);
  expect(written.filter((row) => row.kind === 'warehouse_receipt')).toHaveLength(1);
  expect((await h.refunds.getRefundRow(request.refundId))?.state).toBe('risk_review');

  await h.startWorker();
  const done = await h.refunds.waitForState(request.refundId, ['refunded'], 45_000);
  expect(done.payout).not.toBeNull();

  const trail = await h.refunds.auditTrail(request.refundId);
  expect(trail.map((row) => row.refundSeq)).toEqual(trail.map((_, i) => i + 1));
  expect(trail.filter((row) => row.kind === 'warehouse_receipt')).toHaveLength(1);
  expect(trail.filter((row) => row.kind === 'paid')).toHaveLength(1);
  expect((await h.refunds.verifyAudit()).ok).toBe(true);
  const row = await h.refunds.getRefundRow(request.refundId);
  expect(row?.state).toBe('refunded');
  // The service role only writes the ledger; reading it back takes the owner.
  const ledger = await asOwner((owner) =>
    owner.query('SELECT direction, amount FROM ledger_entries WHERE refund_id = $1 ORDER BY direction', [request.refundId]),
  );
  expect(ledger.rows).toEqual([
    { direction: 'credit', amount: 4_300 },
    { direction: 'debit', amount: 4_300 },
  ]);
}, 90_000);
