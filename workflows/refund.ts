/**
 * The refund workflow: one durable execution per refund. It feeds every message and timer into
 * the pure model (refund-model.ts), writes what happened to the read model and the audit trail,
 * and only calls the payout activity once the model says `paying`.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RefundActivities } from '../activities';
import { pinnedPolicy, type Policy } from './policy';
import {
  cancelUpdate,
  carrierEventSignal,
  decideUpdate,
  failureTypes,
  refundStatus,
  statusQuery,
  warehouseScanSignal,
  type RefundStatus,
} from './messages';
import {
  applyEvent,
  checkApproval,
  checkCancel,
  isStuck,
  isTerminal,
  newRefund,
  nextDeadline,
  reviewFindings,
  scannerIds,
  type AuditFact,
  type RefundEvent,
  type RefundModel,
} from './refund-model';
import {
  ApprovalCommand,
  CancelCommand,
  CarrierEvent,
  describeIssues,
  RefundOrigin,
  RefundRequest,
  WarehouseScan,
} from './schemas';
import {
  RefundAmountKey,
  RefundCurrencyKey,
  RefundStateKey,
  RefundStuckKey,
  RefundWaitingSinceKey,
} from './search-attributes';
import { readModelSnapshot } from './read-model-snapshot';

const { pinPolicy } = proxyLocalActivities<RefundActivities>({ startToCloseTimeout: '10 seconds' });
const databaseActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
} as const;
/**
 * The activities that only read and write the service's own PostgreSQL run as local activities:
 * inside the workflow task, with no task-queue round trip and no history events of their own.
 * A worker that dies before its task completes runs them again, which each of them allows:
 * audit facts already written are skipped by refund_seq, the read model only moves forward,
 * and the risk and approver checks only read.
 */
const databaseActivities = {
  local: proxyLocalActivities<RefundActivities>(databaseActivityOptions),
  remote: proxyActivities<RefundActivities>(databaseActivityOptions),
};
/** Refunds started before the database activities ran locally ran them as ordinary activities, and replay that way. */
const DATABASE_ACTIVITIES_LOCAL = 'database-activities-local';
/** Retried without limit: a payout that never completes is escalated, never silently dropped. */
const payoutActivity = (policy: Policy) =>
  proxyActivities<RefundActivities>({
    startToCloseTimeout: policy.timers.payoutAttempt,
    retry: { initialInterval: '1 second', maximumInterval: '5 minutes', nonRetryableErrorTypes: [failureTypes.paymentDeclined] },
  }).payOut;

const now = () => new Date(Date.now()).toISOString();

/** Approvals since the approver check: refunds started before it replay their approvals as they were applied. */
const APPROVER_STANDING_CHECK = 'approver-standing-check';
/** Refunds started before this wrote facts applied during a write only at their next change, and replay that way. */
const WRITE_FACTS_FROM_DURING_A_WRITE = 'write-facts-from-during-a-write';

export async function refundWorkflow(input: RefundRequest, originInput?: RefundOrigin): Promise<RefundStatus> {
  const parsed = RefundRequest.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid refund request: ${describeIssues(parsed.error)}`, failureTypes.invalidMessage);
  }
  const request = parsed.data;
  const { recordProgress, assessRisk, approverStanding } = databaseActivities[patched(DATABASE_ACTIVITIES_LOCAL) ? 'local' : 'remote'];
  const origin = RefundOrigin.optional().safeParse(originInput);
  if (!origin.success) {
    throw ApplicationFailure.nonRetryable(`invalid refund origin: ${describeIssues(origin.error)}`, failureTypes.invalidMessage);
  }

  // Messages can arrive before the policy is pinned; they wait here and are applied in order.
  let model: RefundModel | undefined;
  const early: RefundEvent[] = [];
  const pending: AuditFact[] = [];
  let flushed = 0;
  let version = 0;

  const apply = (event: RefundEvent) => {
    if (!model) {
      early.push(event);
      return;
    }
    const result = applyEvent(model, event);
    pending.push(...result.facts);
    if (result.model !== model) {
      model = result.model;
      version++;
    }
  };
  const rejectMalformed = (kind: string, issues: string) => {
    // A malformed message cannot be trusted for anything, including its event id: it is
    // written to the audit trail and otherwise dropped.
    pending.push({ kind: 'message_rejected', actor: 'system', at: now(), data: { message: kind, issues } });
    version++;
  };

  setHandler(statusQuery, () => {
    if (!model) throw ApplicationFailure.create({ message: 'refund is starting', type: 'RefundStarting' });
    return refundStatus(model);
  });
  setHandler(carrierEventSignal, (raw) => {
    const event = CarrierEvent.safeParse(raw);
    if (event.success) apply({ type: 'carrier_event', event: event.data, at: now() });
    else rejectMalformed('carrierEvent', describeIssues(event.error));
  });
  setHandler(warehouseScanSignal, (raw) => {
    const scan = WarehouseScan.safeParse(raw);
    if (scan.success) apply({ type: 'warehouse_scan', scan: scan.data, at: now() });
    else rejectMalformed('warehouseScan', describeIssues(scan.error));
  });
  setHandler(
    decideUpdate,
    async (raw) => {
      const command = ApprovalCommand.parse(raw);
      if (!patched(APPROVER_STANDING_CHECK)) {
        apply({ type: 'approval', command, at: now() });
        return refundStatus(model!);
      }
      // The approver's own activity and circuit breaker are checked here, in the workflow, so no
      // caller can skip the check; a rejection needs no check.
      const current = model!;
      const standing =
        command.decision.decision === 'approve'
          ? await approverStanding({
              refundId: request.refundId,
              approverId: command.approver.approverId,
              policy: current.policy,
              customerId: request.customerId,
              initiatedBy: request.initiatedBy,
              scanners: scannerIds(current),
              amount: current.amount,
              currency: request.currency,
            })
          : undefined;
      // The refund may have moved on while the check ran (new evidence, another decision).
      const refusal = checkApproval(model!, command);
      if (refusal) throw ApplicationFailure.create({ message: refusal.message, type: failureTypes.approvalRefused, details: [refusal] });
      apply({ type: 'approval', command, ...(standing ? { standing } : {}), at: now() });
      // Answer once the decision is in the audit trail and the read model, where the next check
      // counts it. A decision that ends the refund answers at once: the last write closes the refund.
      const recorded = flushed + pending.length;
      await condition(() => flushed >= recorded || isTerminal(model!.state));
      return refundStatus(model!);
    },
    {
      validator: (raw) => {
        const command = ApprovalCommand.safeParse(raw);
        if (!command.success) {
          throw ApplicationFailure.create({ message: describeIssues(command.error), type: failureTypes.invalidMessage });
        }
        const refusal = model
          ? checkApproval(model, command.data)
          : { rule: 'not_awaiting_approval' as const, message: 'refund is starting, not awaiting approval' };
        if (refusal) {
          throw ApplicationFailure.create({ message: refusal.message, type: failureTypes.approvalRefused, details: [refusal] });
        }
      },
    },
  );
  setHandler(
    cancelUpdate,
    async (command) => {
      await condition(() => model !== undefined);
      apply({ type: 'cancel', command: CancelCommand.parse(command), at: now() });
      return refundStatus(model!);
    },
    {
      validator: (raw) => {
        const command = CancelCommand.safeParse(raw);
        if (!command.success) {
          throw ApplicationFailure.create({ message: describeIssues(command.error), type: failureTypes.invalidMessage });
        }
        const refusal = model && checkCancel(model);
        if (refusal) throw ApplicationFailure.create({ message: refusal, type: failureTypes.cancelRefused });
      },
    },
  );

  const policy = pinnedPolicy(await pinPolicy());
  const started = newRefund(request, policy, new Date(workflowInfo().startTime.getTime()).toISOString(), origin.data);
  model = started.model;
  pending.push(...started.facts);
  for (const event of early.splice(0)) apply(event);

  let published: string | undefined;
  const flush = async () => {
    const current = model!;
    const batch = pending.slice();
    const snapshot = readModelSnapshot(current, workflowInfo().workflowId, flushed + batch.length);
    if (batch.length > 0) {
      await recordProgress({ refund: snapshot, firstSeq: flushed + 1, facts: batch, ...(flushed === 0 ? { request } : {}) });
      pending.splice(0, batch.length);
      flushed += batch.length;
    }
    const searchable = `${current.state}|${isStuck(current)}`;
    if (searchable !== published) {
      upsertSearchAttributes([
        { key: RefundStateKey, value: current.state },
        { key: RefundWaitingSinceKey, value: new Date(current.stateSince) },
        { key: RefundAmountKey, value: current.amount },
        { key: RefundCurrencyKey, value: current.request.currency },
        { key: RefundStuckKey, value: isStuck(current) },
      ]);
      published = searchable;
    }
  };

  /** Waits until something changes the model, or until the model's next deadline passes. */
  const waitForChange = async (until?: () => boolean) => {
    // Facts applied while the last write was in flight are written now, not after the next change.
    if (pending.length > 0 && patched(WRITE_FACTS_FROM_DURING_A_WRITE)) return;
    const seen = version;
    const deadline = nextDeadline(model!);
    const changed = () => version !== seen || (until?.() ?? false);
    if (!deadline) return void (await condition(changed));
    const fired = !(await condition(changed, Math.max(deadline.at - Date.now(), 1)));
    if (fired) apply({ type: deadline.event, state: deadline.state, at: now() } as RefundEvent);
  };

  while (!isTerminal(model.state)) {
    await flush();
    const current: RefundModel = model;
    switch (current.state) {
      case 'risk_review': {
        const evidenceVersion = current.evidenceVersion;
        const risk = await assessRisk({
          refundId: request.refundId,
          request,
          policy: current.policy,
          amount: current.amount,
          findings: reviewFindings(current),
          carrierEvents: current.carrierEvents,
          receipts: current.receipts,
          approvers: current.approvals.filter((a) => a.decision === 'approve').map((a) => a.approverId),
        });
        apply({ type: 'risk_assessed', risk, evidenceVersion, at: now() });
        break;
      }
      case 'paying': {
        let result: { reference: string } | { failure: unknown } | undefined;
        payoutActivity(current.policy)({ refundId: request.refundId, customerId: request.customerId, amount: current.amount, currency: request.currency }).then(
          (receipt) => void (result = receipt),
          (failure: unknown) => void (result = { failure }),
        );
        while (!result) {
          await waitForChange(() => result !== undefined);
          await flush();
        }
        if ('reference' in result) {
          apply({ type: 'payout_succeeded', reference: result.reference, at: now() });
        } else {
          const cause = result.failure instanceof ActivityFailure ? result.failure.cause : result.failure;
          const code = cause instanceof ApplicationFailure && cause.type ? cause.type : 'PayoutFailed';
          apply({ type: 'payout_failed', code, message: cause instanceof Error ? cause.message : String(cause), at: now() });
        }
        break;
      }
      default:
        await waitForChange();
    }
  }
  await flush();
  // An approval that finished the refund answers its caller before the workflow closes.
  await condition(allHandlersFinished);
  return refundStatus(model);
}
