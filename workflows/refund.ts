/**
 * The refund workflow: one durable execution per refund. It feeds every message and timer into
 * the pure model (refund-model/), writes what happened to the read model and the audit trail,
 * and only calls the payout activity once the model says `paying`. The handlers and the main
 * loop share one RefundRun (refund-run.ts), which owns the refund's state.
 */
import { ApplicationFailure, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { RefundActivities } from '../activities';
import { pinnedPolicy } from './policy/rules';
import {
  cancelUpdate,
  carrierEventSignal,
  decideUpdate,
  failureTypes,
  refundIdOfWorkflowId,
  statusQuery,
  warehouseScanSignal,
  type RefundStatus,
  type SignedRefundRequest,
} from './messages';
import { RefundRun, WRITE_BOUND } from './refund-run';
import { revisionOf } from './revision';
import { escalateUpdate, extendDeadlineUpdate, nudgeUpdate } from './ops-commands';
import { describeIssues, RefundRequest } from './schemas';
import { claimedSigner } from './statements';

const { pinPolicy } = proxyLocalActivities<RefundActivities>({ startToCloseTimeout: '10 seconds' });
/**
 * The activities that only read and write the service's own PostgreSQL run as local activities:
 * inside the workflow task, with no task-queue round trip and no history events of their own.
 * A worker that dies before its task completes runs them again, which each of them allows:
 * audit facts already written are skipped by refund_seq, the read model only moves forward,
 * and the risk, approver and registry look-ups only read.
 */
const databaseActivities = proxyLocalActivities<RefundActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
  // Past the first second of a failing write, retries wait on server timers, not inside the
  // workflow task: meanwhile the workflow still answers queries and fires its own timers.
  localRetryThreshold: '1 second',
});

/**
 * The writes a caller waits on (a decision, an operations action) give up after WRITE_BOUND of
 * refusals: the bound is the write's own schedule-to-close timeout, which costs nothing while the
 * database takes writes, where a timer per wait costs a command and a cancellation every time.
 * The look-ups (policy, principals, approvers, risk, standing) keep `databaseActivities` and its
 * unbounded retries: nobody is answered early on their behalf, and a look-up that gave up would
 * turn an outage into a refused decision. Only a write's give-up is caught, and written again (see
 * RefundRun.flush); a failure the write reports as permanent still fails the refund.
 *
 * Retries here back off to 5 s, not 30 s: the timeout is only noticed while an attempt runs or
 * when the next one is due, so the caller can wait up to one backoff interval past WRITE_BOUND
 * (with a 30 s cap, the 8th try fails at 25.4 s and the next is due at 51 s; with 5 s, the
 * write gives up by about 31 s).
 */
const boundedWrites = proxyLocalActivities<RefundActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: WRITE_BOUND,
  retry: { initialInterval: '200 milliseconds', maximumInterval: '5 seconds' },
  localRetryThreshold: '1 second',
});

/**
 * One refund, from the refund request a registered refund service signed. The request is taken
 * from the statement, and counts only once the signature verifies (see RefundRun.start); an input
 * that holds no well-formed request at all fails as InvalidMessage.
 */
export async function refundWorkflow(signed: SignedRefundRequest): Promise<RefundStatus> {
  const refundId = refundIdOfWorkflowId(workflowInfo().workflowId);
  if (refundId === undefined) {
    throw ApplicationFailure.nonRetryable('a refund workflow id must be refund-<refundId>', failureTypes.invalidMessage);
  }
  const claimed = parseOrFail(RefundRequest, requestIn(signed), 'invalid refund request');
  // Whatever the input claims, this workflow writes only its own refund's rows: a request for
  // another refund is recorded (and refused) under this one's id.
  const request = claimed.refundId === refundId ? claimed : parseOrFail(RefundRequest, { ...claimed, refundId }, 'invalid refund id');
  const run = new RefundRun(request, databaseActivities, boundedWrites);

  // Registered before the first await, so messages that come with the start are not lost; they
  // wait in the run until the policy and the trust roots are pinned and the request is verified.
  setHandler(statusQuery, () => run.status());
  setHandler(carrierEventSignal, (raw) => run.carrierEvent(raw));
  setHandler(warehouseScanSignal, (raw) => run.warehouseScan(raw));
  setHandler(decideUpdate, (raw) => run.decide(raw), { validator: (raw) => run.validateDecision(raw) });
  setHandler(cancelUpdate, (raw) => run.cancel(raw), { validator: (raw) => run.validateCancel(raw) });
  setHandler(escalateUpdate, (raw) => run.escalate(raw), { validator: (raw) => run.validateEscalate(raw) });
  setHandler(extendDeadlineUpdate, (raw) => run.extendDeadline(raw), { validator: (raw) => run.validateExtendDeadline(raw) });
  setHandler(nudgeUpdate, (raw) => run.nudge(raw), { validator: (raw) => run.validateNudge(raw) });

  // The request's signer is read with the policy: one local activity, not two.
  const pinned = await pinPolicy(claimedSigner(signed) ?? null);
  await run.start({ policy: pinnedPolicy(pinned.policy), trustRoots: pinned.trustRoots }, signed, pinned.principal, revisionOf(pinned));
  return run.run();
}

/**
 * The request the input is about: the signed statement's, or (an unsigned start, refused as such)
 * the input itself, so that even a forged start leaves a rejected refund on the audit trail.
 */
function requestIn(input: unknown): unknown {
  const statement = typeof input === 'object' && input !== null && 'statement' in input ? input.statement : undefined;
  if (statement === undefined) return input;
  return typeof statement === 'object' && statement !== null && 'request' in statement ? statement.request : undefined;
}

function parseOrFail<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`${what}: ${describeIssues(parsed.error)}`, failureTypes.invalidMessage);
  }
  return parsed.data;
}
