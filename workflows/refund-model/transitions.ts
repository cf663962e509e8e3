/**
 * How each event moves the refund. `applyEvent` is the only way its state changes; each event
 * type has its own small reducer, and each reducer says what it did in audit facts.
 */
import type { Policy, RiskBand, RiskReason } from '../policy';
import { riskBands } from '../policy/risk';
import { bandOf, scoreOf } from '../policy/rules';
import { hasCarrierReturn, refundAmount, type RefundRequest } from '../schemas';
import { approvalsStillNeeded, checkApproval, checkCancel, requirementFor } from './approvals';
import { isStuck, waitingFor } from './deadlines';
import { onDeadlineExtended, onNudged, onOpsEscalated } from './ops';
import { evidenceFindings, evidenceStage, isCarrierAcceptanceReview, reviewFindings } from './evidence';
import {
  cancellableStates,
  isTerminal,
  MAX_EVIDENCE_EVENTS,
  type ApproverStanding,
  type AuditFact,
  type RecordedApproval,
  type RefundEvent,
  type RefundModel,
  type RefundState,
  type RequestOrigin,
  type RequestRefusal,
} from './state';

/** The refund as requested, before anything has happened to it. */
function requested(request: RefundRequest, policy: Policy, at: string, origin?: RequestOrigin): RefundModel {
  return {
    request,
    ...(origin ? { requestedBy: origin.requestedBy } : {}),
    amount: refundAmount(request),
    policy,
    state: 'awaiting_carrier',
    stateSince: at,
    requestedAt: at,
    seenEventIds: [],
    carrierEvents: [],
    receipts: [],
    returnWindowElapsed: false,
    evidenceVersion: 0,
    approvals: [],
    escalations: [],
    ignored: [],
  };
}

/** A refund whose request the workflow verified (`origin`: the refund service that signed it). */
export function newRefund(
  request: RefundRequest,
  policy: Policy,
  at: string,
  origin?: RequestOrigin,
): { model: RefundModel; facts: AuditFact[] } {
  const model = requested(request, policy, at, origin);
  const signed = origin ? { requestedBy: origin.requestedBy, ...(origin.statement ? { statement: origin.statement } : {}) } : {};
  const facts: AuditFact[] = [
    {
      kind: 'refund_requested',
      actor: request.initiatedBy,
      at,
      data: { request, amount: model.amount, policyVersion: policy.version, ...signed },
    },
  ];
  return { model: moveTo(model, evidenceStage(model), at, facts), facts };
}

/**
 * A refund whose request does not count (unsigned, forged, altered, for another refund, by no
 * registered refund service): it is recorded, so the attempt is on the audit trail, and rejected
 * at once. Nobody is its requester: the request's `initiatedBy` is only what the message says.
 * `before` are the facts that explain the refusal (the statement rejected), written after the request.
 */
export function refusedRefund(
  request: RefundRequest,
  policy: Policy,
  at: string,
  refusal: RequestRefusal,
  before: readonly Omit<AuditFact, 'at'>[] = [],
): { model: RefundModel; facts: AuditFact[] } {
  const model = requested(request, policy, at);
  const facts: AuditFact[] = [
    {
      kind: 'refund_requested',
      actor: 'system',
      at,
      data: { request, amount: model.amount, policyVersion: policy.version, refused: refusal },
    },
    ...before.map((fact) => ({ ...fact, at })),
  ];
  const outcome = { code: 'request_refused', message: `the refund request does not count (${refusal.rule}): ${refusal.message}` };
  return { model: moveTo(model, 'rejected', at, facts, outcome), facts };
}

/**
 * Applies one event. Returns the new model and the audit facts it produced; an event that
 * changes nothing (a duplicate, or one that comes too late) returns the same model.
 */
export function applyEvent(model: RefundModel, event: RefundEvent): { model: RefundModel; facts: AuditFact[] } {
  const facts: AuditFact[] = [];
  const next = reduce(model, event, facts);
  return { model: next, facts };
}

/** The event of one type; each reducer takes only its own. */
type EventOf<T extends RefundEvent['type']> = Extract<RefundEvent, { type: T }>;

function reduce(model: RefundModel, event: RefundEvent, facts: AuditFact[]): RefundModel {
  if (isTerminal(model.state)) return model;
  switch (event.type) {
    case 'carrier_event':
      return onCarrierEvent(model, event, facts);
    case 'warehouse_scan':
      return onWarehouseScan(model, event, facts);
    case 'return_window_elapsed':
      return onReturnWindowElapsed(model, event, facts);
    case 'stage_overdue':
      return onStageOverdue(model, event, facts);
    case 'risk_assessed':
      return onRiskAssessed(model, event, facts);
    case 'approval':
      return onApproval(model, event, facts);
    case 'cancel':
      return onCancel(model, event, facts);
    case 'payout_succeeded':
      return onPayoutSucceeded(model, event, facts);
    case 'payout_failed':
      return onPayoutFailed(model, event, facts);
    case 'ops_escalated':
      return onOpsEscalated(model, event, facts);
    case 'deadline_extended':
      return onDeadlineExtended(model, event, facts);
    case 'nudged':
      return onNudged(model, event, facts);
  }
}

function onCarrierEvent(model: RefundModel, { event: e, keyId, at }: EventOf<'carrier_event'>, facts: AuditFact[]): RefundModel {
  if (model.seenEventIds.includes(e.eventId)) return model;
  const seen = { ...model, seenEventIds: [...model.seenEventIds, e.eventId] };
  const actor = `carrier:${e.carrier}`;
  const expected = model.request.return;
  if (!hasCarrierReturn(expected) || expected.carrier !== e.carrier || expected.trackingNumber !== e.trackingNumber) {
    return ignore(seen, e.eventId, 'carrier or tracking number does not match this refund', at, facts, actor);
  }
  if (model.seenEventIds.length >= MAX_EVIDENCE_EVENTS) return ignore(seen, e.eventId, 'too many evidence events', at, facts, actor);
  facts.push({ kind: 'carrier_event', actor, at, data: { ...e, ...(keyId ? { keyId } : {}) } });
  const recorded = { ...seen, carrierEvents: [...seen.carrierEvents, { ...e, receivedAt: at }] };
  if (e.status === 'returned_to_sender' && cancellableStates.includes(model.state)) {
    return moveTo(recorded, 'rejected', at, facts, {
      code: 'returned_to_sender',
      message: 'the carrier returned the parcel to the sender',
    });
  }
  if (e.status === 'exception' && cancellableStates.includes(model.state)) {
    const escalated = escalate(recorded, `carrier reported an exception${e.facilityId ? ` at ${e.facilityId}` : ''}`, at, facts);
    return afterEvidence(escalated, at, facts);
  }
  return afterEvidence(recorded, at, facts);
}

function onWarehouseScan(model: RefundModel, { scan, statement, at }: EventOf<'warehouse_scan'>, facts: AuditFact[]): RefundModel {
  const { receipt, scannedBy } = scan;
  if (model.seenEventIds.includes(receipt.eventId)) return model;
  const seen = { ...model, seenEventIds: [...model.seenEventIds, receipt.eventId] };
  const actor = `employee:${scannedBy}`;
  if (model.seenEventIds.length >= MAX_EVIDENCE_EVENTS) return ignore(seen, receipt.eventId, 'too many evidence events', at, facts, actor);
  if (!cancellableStates.includes(model.state)) {
    return ignore(seen, receipt.eventId, `refund is already ${model.state}`, at, facts, actor);
  }
  facts.push({ kind: 'warehouse_receipt', actor, at, data: { ...receipt, scannedBy, ...(statement ? { statement } : {}) } });
  return afterEvidence({ ...seen, receipts: [...seen.receipts, { ...scan, receivedAt: at }] }, at, facts);
}

function onReturnWindowElapsed(model: RefundModel, { at }: EventOf<'return_window_elapsed'>, facts: AuditFact[]): RefundModel {
  if (model.state !== 'awaiting_carrier' || model.carrierEvents.length > 0 || model.returnWindowElapsed) return model;
  const elapsed = { ...model, returnWindowElapsed: true };
  if (elapsed.receipts.length > 0) {
    facts.push({ kind: 'return_window_elapsed', actor: 'system', at, data: { receipts: elapsed.receipts.length } });
    return moveTo(elapsed, evidenceStage(elapsed), at, facts);
  }
  return moveTo(elapsed, 'expired', at, facts, {
    code: 'return_window_elapsed',
    message: `no carrier scan of the return parcel within ${model.policy.timers.returnWindow}`,
  });
}

function onStageOverdue(model: RefundModel, event: EventOf<'stage_overdue'>, facts: AuditFact[]): RefundModel {
  if (model.state !== event.state || isStuck(model)) return model;
  return escalate(model, `${waitingFor(model) ?? model.state} overdue`, event.at, facts);
}

function onRiskAssessed(model: RefundModel, event: EventOf<'risk_assessed'>, facts: AuditFact[]): RefundModel {
  const { at } = event;
  if (model.state !== 'risk_review' || event.evidenceVersion !== model.evidenceVersion) return model;
  const withRisk: RefundModel = { ...model, risk: { ...event.risk, evidenceVersion: event.evidenceVersion, assessedAt: at } };
  if (isCarrierAcceptanceReview(model)) return reviewOnCarrierAcceptance(withRisk, event.risk.band, at, facts);
  const findings = evidenceFindings(model);
  const requirement = requirementFor(withRisk, event.risk.band, findings);
  facts.push({ kind: 'risk_assessed', actor: 'system', at, data: { ...event.risk, findings, requirement } });
  const assessed: RefundModel = { ...withRisk, requirement };
  if (requirement.outcome === 'reject') {
    return moveTo(assessed, 'rejected', at, facts, { code: 'policy', message: requirement.reason });
  }
  return moveTo(assessed, approvalsStillNeeded(assessed) > 0 ? 'awaiting_approval' : 'paying', at, facts);
}

/** The early review under refund on carrier acceptance: pay now, or wait for the receipt as usual. */
function reviewOnCarrierAcceptance(model: RefundModel, band: RiskBand, at: string, facts: AuditFact[]): RefundModel {
  // The delivery is not expected yet; every other finding (a receipt already in, say) still counts.
  const findings = reviewFindings(model);
  const requirement = requirementFor(model, band, findings);
  const pays = requirement.outcome === 'approve' && requirement.approvals === 0 && band === 'low' && findings.length === 0;
  facts.push({
    kind: 'risk_assessed',
    actor: 'system',
    at,
    data: { ...model.risk, findings, requirement, review: 'carrier_acceptance', paysNow: pays },
  });
  if (requirement.outcome === 'reject') {
    return moveTo({ ...model, requirement, carrierAcceptance: 'declined' }, 'rejected', at, facts, {
      code: 'policy',
      message: requirement.reason,
    });
  }
  if (pays) return moveTo({ ...model, requirement, carrierAcceptance: 'paid' }, 'paying', at, facts);
  const waiting: RefundModel = { ...model, carrierAcceptance: 'declined' };
  return moveTo(waiting, evidenceStage(waiting), at, facts);
}

function onApproval(model: RefundModel, event: EventOf<'approval'>, facts: AuditFact[]): RefundModel {
  if (checkApproval(model, event.command)) return model;
  const { at } = event;
  const { approver, decision } = event.command;
  const breaker = decision.decision === 'approve' ? event.standing?.breaker : undefined;
  const approval: RecordedApproval = {
    approverId: approver.approverId,
    decision: decision.decision,
    ...(decision.reason ? { reason: decision.reason } : {}),
    at,
    ...(breaker ? { breaker } : {}),
  };
  facts.push({
    kind: decision.decision === 'approve' ? 'approved' : 'approval_rejected',
    actor: `employee:${approver.approverId}`,
    at,
    data: {
      ...approval,
      roles: approver.roles,
      approvalLimit: approver.approvalLimit,
      ...(event.statement ? { statement: event.statement } : {}),
    },
  });
  let decided: RefundModel = { ...model, approvals: [...model.approvals, approval] };
  if (decision.decision === 'approve' && event.standing) {
    decided = raiseRiskForApprover(decided, approver.approverId, event.standing, at, facts);
    if (isTerminal(decided.state)) return decided;
  }
  if (decision.decision === 'reject') {
    return moveTo(decided, 'rejected', at, facts, {
      code: 'approver_rejected',
      message: decision.reason ?? 'rejected by an approver',
      by: approver.approverId,
    });
  }
  return approvalsStillNeeded(decided) > 0 ? decided : moveTo(decided, 'paying', at, facts);
}

/**
 * An approver's own recent activity raises the risk of the refund they approve: their reasons
 * join the refund's, and the approvals it needs are worked out again (never fewer than before).
 */
function raiseRiskForApprover(
  model: RefundModel,
  approverId: string,
  standing: ApproverStanding,
  at: string,
  facts: AuditFact[],
): RefundModel {
  const risk = model.risk;
  const known = (r: RiskReason) => risk?.reasons.some((k) => k.code === r.code && k.values.employeeId === r.values.employeeId);
  const added = standing.reasons.filter((r) => !known(r));
  if (!risk || (added.length === 0 && !standing.breaker)) return model;
  const reasons = [...risk.reasons, ...added];
  const score = Math.min(100, risk.score + scoreOf(added));
  // Never below the band the risk check gave: more reasons only ever raise it.
  const band = riskBands[Math.max(riskBands.indexOf(risk.band), riskBands.indexOf(bandOf(score, model.policy.bands)))]!;
  const raised: RefundModel = { ...model, risk: { ...risk, reasons, score, band } };
  const requirement = requirementFor(raised, band, evidenceFindings(raised));
  facts.push({
    kind: 'risk_raised',
    actor: 'system',
    at,
    data: { approverId, reasons: added, ...(standing.breaker ? { breaker: standing.breaker } : {}), score, band, requirement },
  });
  const assessed: RefundModel = { ...raised, requirement };
  if (requirement.outcome === 'reject') return moveTo(assessed, 'rejected', at, facts, { code: 'policy', message: requirement.reason });
  return assessed;
}

function onCancel(model: RefundModel, { command, at }: EventOf<'cancel'>, facts: AuditFact[]): RefundModel {
  if (checkCancel(model)) return model;
  return moveTo(model, 'cancelled', at, facts, {
    code: 'cancelled',
    message: command.reason,
    by: command.cancelledBy,
  });
}

function onPayoutSucceeded(model: RefundModel, { reference, at }: EventOf<'payout_succeeded'>, facts: AuditFact[]): RefundModel {
  if (model.state !== 'paying') return model;
  facts.push({ kind: 'paid', actor: 'system', at, data: { reference, amount: model.amount, currency: model.request.currency } });
  return moveTo({ ...model, payout: { reference, paidAt: at } }, 'refunded', at, facts);
}

function onPayoutFailed(model: RefundModel, event: EventOf<'payout_failed'>, facts: AuditFact[]): RefundModel {
  if (model.state !== 'paying') return model;
  return moveTo(model, 'failed', event.at, facts, { code: event.code, message: event.message });
}

function moveTo(model: RefundModel, state: RefundState, at: string, facts: AuditFact[], outcome?: RefundModel['outcome']): RefundModel {
  if (state === model.state && !outcome) return model;
  facts.push({
    kind: 'state_changed',
    actor: 'system',
    at,
    data: { from: model.state, to: state, ...(outcome ? { outcome } : {}) },
  });
  return { ...model, state, stateSince: at, ...(outcome ? { outcome } : {}) };
}

/** After new evidence: back to collecting it, or to a fresh risk check if it is complete. */
function afterEvidence(model: RefundModel, at: string, facts: AuditFact[]): RefundModel {
  const bumped = { ...model, evidenceVersion: model.evidenceVersion + 1 };
  if (!cancellableStates.includes(model.state)) return bumped;
  return moveTo(bumped, evidenceStage(bumped), at, facts);
}

function ignore(model: RefundModel, eventId: string, reason: string, at: string, facts: AuditFact[], actor: string) {
  facts.push({ kind: 'evidence_ignored', actor, at, data: { eventId, reason } });
  return { ...model, ignored: [...model.ignored, { eventId, reason, at }] };
}

function escalate(model: RefundModel, reason: string, at: string, facts: AuditFact[]): RefundModel {
  facts.push({ kind: 'escalated', actor: 'system', at, data: { state: model.state, reason } });
  return { ...model, escalations: [...model.escalations, { state: model.state, at, reason }] };
}
