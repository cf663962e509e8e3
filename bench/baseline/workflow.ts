/**
 * NullRefund: the benchmark's baseline. It receives exactly the messages a refund receives (the
 * same start arguments, the `carrierEvent` and `warehouseScan` signals, the `decide` and `cancel`
 * updates, the `status` query) and does nothing with them but wait, with two no-op activities
 * where a refund checks risk and pays out. What it costs is what Temporal alone costs for a
 * refund's messages on a given deployment; the refund workflow is measured against it.
 */
import { condition, defineQuery, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { NullRefundActivities } from './activities';
import { carrierEventSignal, warehouseScanSignal } from '../../workflows/messages';
import { approvalsRequired, defaultPolicy } from '../../workflows/policy';
import { refundAmount, type ApprovalCommand, type CancelCommand, type RefundRequest } from '../../workflows/schemas';

export type NullRefundState = 'awaiting_evidence' | 'risk_review' | 'awaiting_approval' | 'paying' | 'refunded' | 'rejected' | 'cancelled';
export interface NullRefundStatus {
  state: NullRefundState;
  approvals: number;
}

/** Same names as the refund's own messages, so a caller drives both the same way. */
export const nullRefundStatusQuery = defineQuery<NullRefundStatus>('status');
export const nullRefundDecideUpdate = defineUpdate<NullRefundStatus, [ApprovalCommand]>('decide');
export const nullRefundCancelUpdate = defineUpdate<NullRefundStatus, [CancelCommand]>('cancel');

export function nullRefundWorkflowId(refundId: string): string {
  return `null-refund-${refundId}`;
}

// The same activity options as the refund's risk check.
const { nullRiskCheck, nullPayout } = proxyActivities<NullRefundActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
});

export async function nullRefundWorkflow(request: RefundRequest): Promise<NullRefundStatus> {
  // Handlers change it behind the main flow's back; the cast keeps TypeScript from narrowing it.
  let state = 'awaiting_evidence' as NullRefundState;
  let delivered = false;
  let received = false;
  const approvers = new Set<string>();
  const status = (): NullRefundStatus => ({ state, approvals: approvers.size });

  setHandler(nullRefundStatusQuery, status);
  setHandler(carrierEventSignal, (event) => void (delivered ||= event.status === 'delivered'));
  setHandler(warehouseScanSignal, () => void (received = true));
  setHandler(
    nullRefundDecideUpdate,
    (command) => {
      if (command.decision.decision === 'reject') state = 'rejected';
      else approvers.add(command.approver.approverId);
      return status();
    },
    {
      validator: (command) => {
        if (state !== 'awaiting_approval') throw new Error(`refund is ${state}, not awaiting approval`);
        if (approvers.has(command.approver.approverId)) throw new Error(`${command.approver.approverId} has already decided`);
      },
    },
  );
  setHandler(
    nullRefundCancelUpdate,
    (_command) => {
      state = 'cancelled';
      return status();
    },
    {
      validator: (_command) => {
        if (state === 'paying' || state === 'refunded') throw new Error(`refund is ${state}; it can only be cancelled before payout`);
      },
    },
  );

  await condition(() => (delivered && received) || state === 'cancelled');
  if (state === 'cancelled') return status();
  state = 'risk_review';
  await nullRiskCheck();
  // The same tiers a low-risk refund with clean evidence gets.
  const requirement = approvalsRequired({ amount: refundAmount(request), currency: request.currency, band: 'low', findings: [], policy: defaultPolicy });
  const needed = requirement.outcome === 'approve' ? requirement.approvals : 0;
  if (needed > 0) {
    state = 'awaiting_approval';
    await condition(() => approvers.size >= needed || state !== 'awaiting_approval');
    if (state !== 'awaiting_approval') return status();
  }
  state = 'paying';
  await nullPayout();
  state = 'refunded';
  return status();
}
