/**
 * A worker process dies (SIGKILL) after the gateway has moved the money but before the payout
 * is recorded. Another worker takes over: it asks the gateway again with the same idempotency
 * key, records the payout once, and the customer is paid exactly once.
 */
import proto from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { asOwner } from '../support/stack';
import { chargesFor, ScriptedGateway } from '../support/scripted-gateway';
import { startDyingWorker, type ChildWorker } from '../support/child-worker';
import { refundWorkflowId } from '../../workflows/messages';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;

let h: RefundHarness;
let child: ChildWorker | undefined;

beforeAll(async () => {
  h = await startRefundHarness({ startWorker: false });
});
afterAll(async () => {
  child?.proc.kill('SIGKILL');
  await h?.close();
});

it('pays exactly once when the worker is killed mid-payout', async () => {
  child = await startDyingWorker(h.taskQueue, 'payout_charged', h.registry.trustRoots);
  const request = refundOf(4_200);
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');

  // Wait until the processor has charged the card: the worker is now stuck waiting for its answer.
  const deadline = Date.now() + 20_000;
  while ((await chargesFor(h.pool, request.refundId)) === 0) {
    if (Date.now() > deadline) throw new Error('the child worker never reached the gateway');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.proc.kill('SIGKILL');
  const killedAt = Date.now();
  await child.exited;
  const before = await h.pool.query('SELECT status FROM payouts WHERE refund_id = $1', [request.refundId]);
  expect(before.rows).toEqual([{ status: 'pending' }]);

  await h.startWorker(new ScriptedGateway(h.pool, 'ok'));
  const done = await h.refunds.waitForState(request.refundId, ['refunded'], 30_000);
  // The attempt on the dead worker stops heartbeating: it is retried after the 5 s heartbeat
  // timeout (and the 1 s retry interval), well before its 30 s start-to-close timeout runs out.
  const retry = await h.pool.query<{ at: Date }>(`SELECT at FROM fake_processor.calls WHERE idempotency_key = $1 AND outcome = 'ok'`, [
    `refund-payout:${request.refundId}`,
  ]);
  const retriedAfterMs = retry.rows[0]!.at.getTime() - killedAt;
  expect(retriedAfterMs).toBeLessThan(12_000);
  const retried = await payoutStarted(request.refundId);
  expect(retried?.attempt).toBe(2);
  expect(retried?.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
  expect(done.payout?.reference).toBe(`ch_${request.refundId}`);
  expect(await chargesFor(h.pool, request.refundId)).toBe(1);
  // The service role only writes the ledger; reading it back takes the owner.
  const ledger = await asOwner((owner) =>
    owner.query('SELECT direction, amount FROM ledger_entries WHERE refund_id = $1 ORDER BY direction', [request.refundId]),
  );
  expect(ledger.rows).toEqual([
    { direction: 'credit', amount: 4_200 },
    { direction: 'debit', amount: 4_200 },
  ]);
  const payout = await h.pool.query('SELECT status, attempts FROM payouts WHERE refund_id = $1', [request.refundId]);
  expect(payout.rows).toEqual([{ status: 'paid', attempts: 2 }]);
  const calls = await h.pool.query('SELECT outcome FROM fake_processor.calls WHERE idempotency_key = $1 ORDER BY id', [
    `refund-payout:${request.refundId}`,
  ]);
  expect(calls.rows.map((r) => r.outcome)).toEqual(['hang_after_charge', 'ok']);
});

/** The started event of the payout attempt that completed: its attempt number and the failure before it. */
async function payoutStarted(refundId: string) {
  const history = await h.temporal.workflow.getHandle(refundWorkflowId(refundId)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'payOut',
  );
  const started = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId),
  );
  return started?.activityTaskStartedEventAttributes;
}
