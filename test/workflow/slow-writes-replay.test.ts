/**
 * A message that arrives while one of the workflow's local activities runs reaches the workflow
 * before that activity's result on the first run, but after it when the history is replayed
 * (a worker that took the refund over, a status query on an evicted refund). The refund must do
 * the same either way. Here the database writes are slowed past the workflow task's heartbeat,
 * at random, while evidence, decisions and an operations action arrive at random moments; every
 * refund's history must then replay. Before the main loop took every message only when idle,
 * this found `Activity type of recorded marker 'verifyCarrierEvent' does not match activity type
 * of local activity command 'recordProgress'`.
 */
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { carrierEvent, fastPolicy, matchingReceipt, refundOf } from '../support/fixtures';
import { testStack } from '../support/stack';
import { refundWorkflowId, type RefundStatus } from '../../workflows/messages';
import { EscalateCommand, escalateUpdate } from '../../workflows/ops-commands';

let h: RefundHarness;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  h = await startRefundHarness({
    // Timers long enough that no refund expires or goes stuck while its writes are slow.
    policy: {
      ...fastPolicy,
      version: 'test-slow-writes',
      timers: {
        ...fastPolicy.timers,
        returnWindow: '10 minutes',
        carrierDelivery: '10 minutes',
        warehouseReceipt: '10 minutes',
        approval: '10 minutes',
      },
    },
    // About one write in three outlasts the workflow task's heartbeat (80% of its 10 s timeout).
    recordProgress: async (input, write) => {
      await pause(Math.random() < 0.35 ? 8_500 + Math.random() * 3_000 : Math.random() * 300);
      return write(input);
    },
  });
}, 120_000);
afterAll(async () => h?.close());

/** Polls the refund until `done`: a status query waits while a slow write holds the workflow task. */
async function until(refundId: string, done: (status: RefundStatus) => boolean): Promise<RefundStatus> {
  for (;;) {
    const status = await h.refunds.getRefund(refundId).catch(() => undefined);
    if (status && done(status)) return status;
    await pause(250);
  }
}

it('replays every refund whose writes were slow while messages arrived', async () => {
  const refunds = Array.from({ length: 8 }, (_, i) => refundOf(i % 2 === 0 ? 4_500 : 150_000));
  await Promise.all(
    refunds.map(async (request, i) => {
      await h.refunds.requestRefund(request);
      await until(request.refundId, (s) => s.state === 'awaiting_carrier');
      await pause(Math.random() * 2_000);
      await h.carrierEvent(carrierEvent(request, 'delivered'));
      await pause(Math.random() * 2_000);
      await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-slow');
      if (request.items[0]!.unitAmount < 10_000) return void (await until(request.refundId, (s) => s.state === 'refunded'));
      await until(request.refundId, (s) => s.state === 'awaiting_approval');
      // An operations action and two approvals, the second sent before the first is answered.
      if (i % 4 === 1) {
        const escalation = EscalateCommand.parse({ escalatedBy: 'emp-ops-slow', group: 'finance-leads', reason: 'large refund' });
        await h.refunds.opsUpdate(request.refundId, escalateUpdate, escalation);
      }
      await Promise.all([
        h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-1')).catch(() => undefined),
        pause(Math.random() * 1_000).then(async () =>
          h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-2')).catch(() => undefined),
        ),
      ]);
      await until(request.refundId, (s) => s.state === 'refunded');
    }),
  );
  const failures: string[] = [];
  for (const request of refunds) {
    const workflowId = refundWorkflowId(request.refundId);
    const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: testStack().workflowBundlePath } }, history, workflowId).catch(
      (error: Error) => failures.push(`${request.refundId}: ${error.message.slice(0, 400)}`),
    );
  }
  expect(failures).toEqual([]);
}, 600_000);
