/**
 * A decision whose audit fact the database will not take: `decide` answers within its bound with
 * DecisionNotYetRecorded instead of waiting forever, the decision still counts, and it is written
 * once the database takes it. An operations action waits for its write within the same bound.
 * The bound is the write's own (its schedule-to-close timeout): the wait starts no timer. When
 * that write gives up, the refund shows Temporal's visibility the state it is in (revision 3).
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { decideUpdate, failureTypes, refundWorkflowId } from '../../workflows/messages';
import { EscalateCommand, escalateUpdate } from '../../workflows/ops-commands';
import { RefundStateKey } from '../../workflows/search-attributes';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { testStack, uniqueId } from '../support/stack';

let h: RefundHarness;
/** Every write carrying a fact of these kinds fails as an unreachable database would (retryable). */
const refused = new Set(['approved']);
/** Every write moving a refund into one of these states fails the same way. */
const refusedEntering = new Set<string>();

beforeAll(async () => {
  h = await startRefundHarness({
    recordProgress: async (input, write) => {
      const entering = (fact: (typeof input.facts)[number]) =>
        fact.kind === 'state_changed' && refusedEntering.has(String((fact.data as { to?: unknown }).to));
      if (input.facts.some((fact) => refused.has(fact.kind) || entering(fact))) throw new Error('connection terminated unexpectedly');
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
  // The wait had no timer of its own: a 30 s timer started with the decision (and fired at the
  // bound) was how the wait was bounded before the write's own timeout bounded it. The write's
  // backoff timers and the deadlines' timers are all shorter.
  const timers = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
    e.timerStartedEventAttributes ? [Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0)] : [],
  );
  expect(timers.filter((seconds) => seconds >= 30)).toEqual([]);

  refused.delete('approved');
  await writtenSoon(request.refundId, 'approved');
  const status = await h.refunds.getRefund(request.refundId);
  expect(status.state).toBe('awaiting_approval');
  expect(status.approvals.map((a) => a.approverId)).toEqual(['emp-a']);
  await replaysDeterministically(request.refundId);
}, 120_000);

it('answers an operations action it cannot write within the same bound, and writes it once the database takes it', async () => {
  const request = refundRequest({
    items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK2', category: 'laptops' }],
  });
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);

  refused.add('escalated');
  const handle = h.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
  const escalation = EscalateCommand.parse({ escalatedBy: 'emp-ops-1', group: 'finance-leads', reason: 'large refund' });
  const sentAt = Date.now();
  // Answered with the refund's status either way; the escalation counts before it is written.
  const status = await handle.executeUpdate(escalateUpdate, { args: [escalation] });
  const waitedMs = Date.now() - sentAt;
  expect(waitedMs).toBeGreaterThanOrEqual(29_000);
  expect(waitedMs).toBeLessThan(45_000);
  expect(status.state).toBe('awaiting_approval');
  expect((await h.refunds.auditTrail(request.refundId)).some((row) => row.kind === 'escalated')).toBe(false);

  refused.delete('escalated');
  await writtenSoon(request.refundId, 'escalated');
  await replaysDeterministically(request.refundId);
}, 120_000);

it('shows Temporal the state a refund is in when its write into it gives up, not the state it came from', async () => {
  const request = refundRequest({
    items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK3', category: 'laptops' }],
  });
  refusedEntering.add('risk_review');
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  const handle = h.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
  const stateAttribute = async () => (await handle.describe()).typedSearchAttributes.get(RefundStateKey);
  await vi.waitFor(async () => expect(await stateAttribute()).toBe('awaiting_warehouse'), { timeout: 15_000, interval: 200 });
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  // The write into risk_review gives up after WRITE_BOUND (30 s); from then on Temporal says so.
  await vi.waitFor(async () => expect(await stateAttribute()).toBe('risk_review'), { timeout: 60_000, interval: 500 });
  const trail = await h.refunds.auditTrail(request.refundId);
  expect(trail.some((row) => row.kind === 'state_changed' && (row.data as { to?: unknown }).to === 'risk_review')).toBe(false);

  refusedEntering.delete('risk_review');
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  await vi.waitFor(async () => expect(await stateAttribute()).toBe('awaiting_approval'), { timeout: 15_000, interval: 200 });
  await replaysDeterministically(request.refundId);
}, 120_000);

/**
 * Its history so far replays with the workflow code, as it does when a worker restarts or evicts
 * the refund from its cache: the give-up replays from its marker as a different error than it ran.
 */
async function replaysDeterministically(refundId: string): Promise<void> {
  const workflowId = refundWorkflowId(refundId);
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { codePath: testStack().workflowBundlePath } }, history, workflowId);
}

/** Waits until the refund's audit trail holds a fact of `kind`, once the database takes writes again. */
async function writtenSoon(refundId: string, kind: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await h.refunds.auditTrail(refundId)).some((row) => row.kind === kind)) {
    if (Date.now() > deadline) throw new Error(`the ${kind} fact was never written after the database took writes again`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
