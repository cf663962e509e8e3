/**
 * The row the read model keeps for each refund, derived from the model at every transition.
 * Operations lists (stuck refunds, refunds by customer) come from these rows, not from
 * scanning workflows.
 */
import { refundStatus, type RefundStatus } from './messages';
import { approvalsGiven, isStuck, stuckAfter, waitingFor, type RefundModel, type RefundState } from './refund-model';
import { hasCarrierReturn } from './schemas';

export interface ReadModelSnapshot {
  refundId: string;
  workflowId: string;
  orderId: string;
  customerId: string;
  initiatedBy: string;
  currency: string;
  amount: number;
  state: RefundState;
  waitingFor: string | null;
  stateSince: string;
  stuck: boolean;
  stuckAfter: string | null;
  carrier: string | null;
  trackingNumber: string | null;
  policyVersion: string;
  riskScore: number | null;
  riskBand: string | null;
  approvalsRequired: number | null;
  approvalsGiven: number;
  requestedAt: string;
  /** The audit sequence number this row reflects; a row is never overwritten by an older one. */
  progressSeq: number;
  /** The refund's whole status as of this row, for reading a refund without its workflow. */
  status: RefundStatus;
}

export function readModelSnapshot(model: RefundModel, workflowId: string, progressSeq: number): ReadModelSnapshot {
  const { request } = model;
  const stuckAt = stuckAfter(model);
  const requirement = model.requirement;
  return {
    refundId: request.refundId,
    workflowId,
    orderId: request.orderId,
    customerId: request.customerId,
    initiatedBy: request.initiatedBy,
    currency: request.currency,
    amount: model.amount,
    state: model.state,
    waitingFor: waitingFor(model) ?? null,
    stateSince: model.stateSince,
    stuck: isStuck(model),
    stuckAfter: stuckAt === undefined ? null : new Date(stuckAt).toISOString(),
    carrier: hasCarrierReturn(request.return) ? request.return.carrier : null,
    trackingNumber: hasCarrierReturn(request.return) ? request.return.trackingNumber : null,
    policyVersion: model.policy.version,
    riskScore: model.risk?.score ?? null,
    riskBand: model.risk?.band ?? null,
    approvalsRequired: requirement?.outcome === 'approve' ? requirement.approvals : null,
    approvalsGiven: approvalsGiven(model),
    requestedAt: model.requestedAt,
    progressSeq,
    status: refundStatus(model),
  };
}
