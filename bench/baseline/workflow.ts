/**
 * NullRefund: the benchmark's baseline. It receives exactly the messages a refund receives (the
 * same start arguments, the `carrierEvent` and `warehouseScan` signals, the `decide` and `cancel`
 * updates, the `status` query) and does nothing with them but wait, with two no-op activities
 * where a refund checks risk and pays out. What it costs is what Temporal alone costs for a
 * refund's messages on a given deployment; the refund workflow is measured against it.
 *
 * It imports nothing but the SDK, so its bundle holds none of the refund workflow's code: the
 * messages are defined here under the refund's names, with only the fields it reads.
 */
import { condition, defineQuery, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { NullRefundActivities } from './activities';

export type NullRefundState = 'awaiting_evidence' | 'risk_review' | 'awaiting_approval' | 'paying' | 'refunded' | 'rejected' | 'cancelled';
export interface NullRefundStatus {
  state: NullRefundState;
  approvals: number;
  /** When the no-op payout ran (ms since the epoch): where a refund's payout row would be written. */
  paidAt?: number;
}

/** Same names as the refund's own messages, so a caller drives both the same way. */
export const nullRefundCarrierEventSignal = defineSignal<[{ status: string }]>('carrierEvent');
export const nullRefundWarehouseScanSignal = defineSignal<[unknown]>('warehouseScan');
export const nullRefundStatusQuery = defineQuery<NullRefundStatus>('status');
export const nullRefundDecideUpdate = defineUpdate<
  NullRefundStatus,
  [{ approver: { approverId: string }; decision: { decision: 'approve' | 'reject' } }]
>('decide');
export const nullRefundCancelUpdate = defineUpdate<NullRefundStatus, [unknown]>('cancel');

export function nullRefundWorkflowId(refundId: string): string {
  return `null-refund-${refundId}`;
}

// The same activity options as the refund's risk check.
const { nullRiskCheck, nullPayout } = proxyActivities<NullRefundActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '30 seconds' },
});

/**
 * Started with the refund's own request (it reads none of it) and the number of approvals the
 * refund's tier needs, which the refund workflow works out from its policy.
 */
export async function nullRefundWorkflow(_request: unknown, approvalsNeeded: number): Promise<NullRefundStatus> {
  // Handlers change it behind the main flow's back; the cast keeps TypeScript from narrowing it.
  let state = 'awaiting_evidence' as NullRefundState;
  let delivered = false;
  let received = false;
  const approvers = new Set<string>();
  const status = (): NullRefundStatus => ({ state, approvals: approvers.size });

  setHandler(nullRefundStatusQuery, status);
  setHandler(nullRefundCarrierEventSignal, (event) => {
    delivered ||= event.status === 'delivered';
  });
  setHandler(nullRefundWarehouseScanSignal, () => {
    received = true;
  });
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
  if (approvalsNeeded > 0) {
    state = 'awaiting_approval';
    await condition(() => approvers.size >= approvalsNeeded || state !== 'awaiting_approval');
    if (state !== 'awaiting_approval') return status();
  }
  state = 'paying';
  const paidAt = await nullPayout();
  state = 'refunded';
  return { ...status(), paidAt };
}
