/**
 * A write PostgreSQL refuses for its data (here a NUL in an audit fact, which jsonb cannot hold)
 * is not retried for ever: recordProgress fails it as PermanentWriteFailure naming the refund and
 * the SQLSTATE, and the refund's workflow fails with it, loudly, instead of retrying in silence.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { LedgerOnlyGateway } from '../../activities/payments';
import { PERMANENT_WRITE_FAILURE } from '../../activities/write-failures';
import { refundWorkflowId } from '../../workflows/messages';
import { carrierEvent, fastPolicy, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { testStack } from '../support/stack';

let h: RefundHarness;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let attempts = 0;

beforeAll(async () => {
  h = await startRefundHarness({ startWorker: false });
  const activities = createActivities({
    pool: h.pool,
    policy: fastPolicy,
    gateway: new LedgerOnlyGateway(),
    trustRoots: h.registry.trustRoots,
  });
  worker = await Worker.create({
    connection: h.native,
    namespace: 'default',
    taskQueue: h.taskQueue,
    workflowBundle: { codePath: testStack().workflowBundlePath },
    activities: {
      ...activities,
      // The carrier event's fact reaches PostgreSQL with a NUL in it, as a defect upstream would send it.
      async recordProgress(input: Parameters<typeof activities.recordProgress>[0]) {
        if (!input.facts.some((fact) => fact.kind === 'carrier_event')) return activities.recordProgress(input);
        attempts++;
        const facts = input.facts.map((fact) =>
          fact.kind === 'carrier_event' ? { ...fact, data: { ...fact.data, note: 'a\u0000b' } } : fact,
        );
        return activities.recordProgress({ ...input, facts });
      },
    },
  });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await h?.close();
});

it('fails the refund with PermanentWriteFailure, naming the refund and the SQLSTATE, after one attempt', async () => {
  const request = refundOf(4_200);
  await h.refunds.requestRefund(request);
  await h.refunds.recordCarrierEvent(carrierEvent(request, 'delivered'));
  const error = await h.temporal.workflow
    .getHandle(refundWorkflowId(request.refundId))
    .result()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  // The workflow's failure carries the activity's, however the SDK nests it.
  let failure: unknown = (error as WorkflowFailedError).cause;
  while (failure instanceof ActivityFailure) failure = failure.cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect((failure as ApplicationFailure).type).toBe(PERMANENT_WRITE_FAILURE);
  expect((failure as ApplicationFailure).nonRetryable).toBe(true);
  expect((failure as ApplicationFailure).message).toContain(`writing refund ${request.refundId} can never succeed: SQLSTATE 22`);
  expect(attempts).toBe(1);
}, 60_000);
