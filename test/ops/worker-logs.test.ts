/**
 * The worker's log lines are pino JSON: the SDK's own, the workflow's and the activities', with
 * their workflowId and runId and the refund's id. The runtime logger is installed before this
 * file's worker connects, as worker/main.ts installs it.
 */
import { Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createWorkerLogger, sdkLogger } from '../../worker/logging';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

const lines: string[] = [];
let h: RefundHarness;

beforeAll(async () => {
  Runtime.install({ logger: sdkLogger(createWorkerLogger({ level: 'debug', stream: { write: (line) => lines.push(line) } })) });
  h = await startRefundHarness();
});
afterAll(async () => h?.close());

it('writes workflow and activity lines as JSON with workflowId, runId and refundId', async () => {
  const request = refundRequest(); // 45.00, low risk: paid without approvals
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  await h.refunds.waitForState(request.refundId, ['refunded']);

  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const ofRefund = () => parsed().filter((line) => line.refundId === request.refundId);
  const workflowId = `refund-${request.refundId}`;
  await vi.waitFor(() => {
    expect(ofRefund()).toContainEqual(
      expect.objectContaining({ activityType: 'payOut', isLocal: false, workflowId, runId: expect.any(String), msg: 'Activity completed' }),
    );
    expect(ofRefund()).toContainEqual(
      expect.objectContaining({ workflowType: 'refundWorkflow', workflowId, runId: expect.any(String), msg: 'Workflow completed' }),
    );
  });
  for (const line of ofRefund()) {
    expect(line).toMatchObject({ workflowId, runId: expect.any(String), level: expect.any(Number), time: expect.any(Number) });
    expect(line).not.toHaveProperty('taskToken');
  }
  // Lines about other workflows (none here but this file's refunds) never carry this refund's id.
  expect(parsed().filter((line) => line.workflowId !== workflowId && line.refundId === request.refundId)).toEqual([]);
});
