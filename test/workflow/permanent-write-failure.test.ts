/**
 * A write PostgreSQL refuses for its data (here a NUL in an audit fact, which jsonb cannot hold)
 * is not retried for ever: recordProgress fails it as PermanentWriteFailure naming the refund and
 * the SQLSTATE, and the refund's workflow fails with it, loudly, instead of retrying in silence.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PERMANENT_WRITE_FAILURE } from '../../activities/write-failures';
import { refundWorkflowId } from '../../workflows/messages';
import { carrierEvent, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';

let h: RefundHarness;
let attempts = 0;

beforeAll(async () => {
  h = await startRefundHarness({
    // The carrier event's fact reaches PostgreSQL with a NUL in it, as a defect upstream would send it.
    recordProgress: async (input, write) => {
      if (!input.facts.some((fact) => fact.kind === 'carrier_event')) return write(input);
      attempts++;
      const facts = input.facts.map((fact) =>
        fact.kind === 'carrier_event' ? { ...fact, data: { ...fact.data, note: 'a\u0000b' } } : fact,
      );
      return write({ ...input, facts });
    },
  });
});
afterAll(async () => {
  await h?.close();
});

it('fails the refund with PermanentWriteFailure, naming the refund and the SQLSTATE, after one attempt', async () => {
  const request = refundOf(4_200);
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
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
