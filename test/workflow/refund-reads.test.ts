/**
 * Reading a refund without a worker, on the real Temporal dev server and PostgreSQL: a finished
 * refund is read from PostgreSQL as its workflow last wrote it; a refund in flight whose workflow
 * does not answer (no worker polls its task queue) is answered from PostgreSQL within the bound,
 * instead of hanging until the caller gives up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefundStatus } from '../../workflows/messages';
import { carrierEvent, fastPolicy, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';

let h: RefundHarness;

beforeAll(async () => {
  // The refund left waiting must still be waiting after the worker's stop and restart, however long
  // a busy machine takes for them: the fast policy's 4 s return window would expire it.
  const policy = { ...fastPolicy, version: 'test-reads', timers: { ...fastPolicy.timers, returnWindow: '1h' } };
  h = await startRefundHarness({ policy });
});
afterAll(async () => h?.close());

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

describe('reading a refund', () => {
  it('answers from PostgreSQL when no worker runs: a finished refund as it ended, one in flight as last written', async () => {
    const paid = refundOf(4_500);
    await h.refunds.requestRefund(paid);
    await h.refunds.waitForState(paid.refundId, ['awaiting_carrier']);
    await h.carrierEvent(carrierEvent(paid, 'delivered'));
    await h.refunds.waitForState(paid.refundId, ['awaiting_warehouse']);
    await h.scan(paid.refundId, matchingReceipt(paid), 'emp-scan-reads');
    const final: RefundStatus = await h.refunds.waitForState(paid.refundId, ['refunded']);

    const waiting = refundOf(4_500);
    await h.refunds.requestRefund(waiting);
    const before = await h.refunds.waitForState(waiting.refundId, ['awaiting_carrier']);

    await h.stopWorker();
    try {
      const finished = await timed(() => h.refunds.getRefund(paid.refundId));
      // Exactly the workflow's own final status, audit head included.
      expect(finished.value).toEqual(final);
      expect(finished.value.auditHead).not.toBeNull();

      const inFlight = await timed(() => h.refunds.getRefund(waiting.refundId));
      expect(inFlight.value).toMatchObject({ refundId: waiting.refundId, state: 'awaiting_carrier', since: before.since });
      // Bounded by the 3 s wait for the workflow, not by the caller's own timeout.
      expect(inFlight.ms).toBeLessThan(20_000);
    } finally {
      await h.startWorker();
    }
    // With a worker again, the workflow answers: the same refund, still waiting.
    expect((await h.refunds.getRefund(waiting.refundId)).state).toBe('awaiting_carrier');
  });
});
