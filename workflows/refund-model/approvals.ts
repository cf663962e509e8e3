/** Who may decide a refund, how many approvals it needs, and whether it may still be cancelled. */
import { formatMinor } from '../currencies';
import type { ActiveBreaker, ApprovalRefusal, ApprovalRequirement, EvidenceFinding, RiskBand } from '../policy';
import { approvalsRequired, highResaleCategoriesOf, roleApprovalLimit } from '../policy/rules';
import type { ApprovalCommand } from '../schemas';
import { canonicalId, type DecisionStatement } from '../statements';
import { scannerIds } from './evidence';
import { cancellableStates, type RefundModel } from './state';

/**
 * Whether `command` may be applied now. The workflow's update validator calls this, so a refusal
 * reaches the caller synchronously and never enters the refund's history.
 */
export function checkApproval(model: RefundModel, command: ApprovalCommand): ApprovalRefusal | undefined {
  const { approver, decision } = command;
  if (model.state !== 'awaiting_approval') {
    return { rule: 'not_awaiting_approval', message: `refund is ${model.state}, not awaiting approval` };
  }
  if (!approver.roles.includes('approver')) {
    return { rule: 'approver_role_required', message: `${approver.approverId} does not have the approver role` };
  }
  // Both the employee named in the request and the service principal that relayed it requested it.
  if (approver.approverId === model.request.initiatedBy || approver.approverId === model.requestedBy) {
    return { rule: 'approver_is_requester', message: `${approver.approverId} requested this refund and cannot decide it` };
  }
  if (scannerIds(model).includes(approver.approverId)) {
    return { rule: 'approver_is_scanner', message: `${approver.approverId} scanned this return and cannot decide it` };
  }
  if (model.approvals.some((a) => a.approverId === approver.approverId)) {
    return { rule: 'approver_already_decided', message: `${approver.approverId} has already decided this refund` };
  }
  if (decision.decision === 'approve' && approver.approvalLimit < model.amount) {
    return {
      rule: 'approval_limit_below_amount',
      message: `${approver.approverId}'s approval limit (${approver.approvalLimit}) is below the refund amount (${model.amount})`,
    };
  }
  const roleLimit = roleApprovalLimit(model.policy, model.request.currency, approver.roles);
  if (decision.decision === 'approve' && roleLimit !== undefined && roleLimit < model.amount) {
    const currency = model.request.currency;
    return {
      rule: 'role_limit_below_amount',
      message: `policy ${model.policy.version} lets ${approver.roles.join(', ')} approve up to ${formatMinor(roleLimit, currency)}; the refund is ${formatMinor(model.amount, currency)}`,
    };
  }
  return undefined;
}

/**
 * What can be told of a signed decision before its signer is looked up: whether the refund awaits
 * a decision, the statement is about this refund, for its amount and currency, and the approver it
 * names neither requested nor scanned it. Names are compared in
 * canonical form, so a change of case escapes no rule. The update validator calls this, so these
 * refusals never enter the refund's history; the signature is checked afterwards, in the handler.
 */
export function precheckDecision(model: RefundModel, statement: DecisionStatement): ApprovalRefusal | undefined {
  if (model.state !== 'awaiting_approval') {
    return { rule: 'not_awaiting_approval', message: `refund is ${model.state}, not awaiting approval` };
  }
  if (statement.refundId !== model.request.refundId) {
    return { rule: 'wrong_refund', message: `the statement is about refund ${statement.refundId}, not ${model.request.refundId}` };
  }
  const currency = model.request.currency;
  if (statement.amount !== model.amount || statement.currency !== currency) {
    return {
      rule: 'amount_mismatch',
      message: `the decision is for ${formatMinor(statement.amount, statement.currency)}; the refund is ${formatMinor(model.amount, currency)}`,
    };
  }
  const approverId = canonicalId(statement.approverId);
  const requesters = [model.request.initiatedBy, model.requestedBy].filter((id) => id !== undefined).map(canonicalId);
  if (requesters.includes(approverId)) {
    return { rule: 'approver_is_requester', message: `${approverId} requested this refund and cannot decide it` };
  }
  if (scannerIds(model).map(canonicalId).includes(approverId)) {
    return { rule: 'approver_is_scanner', message: `${approverId} scanned this return and cannot decide it` };
  }
  return undefined;
}

export function checkCancel(model: RefundModel): string | undefined {
  if (!cancellableStates.includes(model.state)) return `refund is ${model.state}; it can only be cancelled before payout`;
  return undefined;
}

/**
 * Approvals that still count. An approver who later scans a receipt for the same refund has
 * become a scanner of it, and their approval no longer counts towards the payout.
 */
export function approvalsGiven(model: RefundModel): number {
  const scanners = scannerIds(model);
  return model.approvals.filter((a) => a.decision === 'approve' && !scanners.includes(a.approverId)).length;
}

/** Employees on the refund whose circuit breaker was tripped when they touched it. */
export function breakersOn(model: RefundModel): ActiveBreaker[] {
  return [...(model.risk?.breakers ?? []), ...model.approvals.flatMap((a) => (a.breaker ? [a.breaker] : []))];
}

/** The approvals the refund needs at `band` with `findings`, counting breakers already on it. */
export function requirementFor(model: RefundModel, band: RiskBand, findings: readonly EvidenceFinding[]): ApprovalRequirement {
  return approvalsRequired({
    amount: model.amount,
    currency: model.request.currency,
    band,
    findings,
    policy: model.policy,
    breaker: breakersOn(model).length > 0,
    highResale: highResaleCategoriesOf(model.request.items, model.policy).length > 0,
  });
}

export function approvalsStillNeeded(model: RefundModel): number {
  const requirement = model.requirement;
  if (requirement?.outcome !== 'approve') return 0;
  return Math.max(0, requirement.approvals - approvalsGiven(model));
}
