/**
 * The refund as a pure state machine: `applyEvent(model, event)` is the only way its state
 * changes, and the workflow does nothing but feed it events and wait. Keeping every decision here
 * lets the property tests drive thousands of random event sequences through exactly the code
 * that runs in production.
 */
import { msToNumber } from '@temporalio/common';
import { formatMinor } from './currencies';
import {
  approvalsRequired,
  bandOf,
  highResaleCategoriesOf,
  riskBands,
  roleApprovalLimit,
  scoreOf,
  thresholdsFor,
  type ActiveBreaker,
  type ApprovalRefusal,
  type ApprovalRequirement,
  type EvidenceFinding,
  type Policy,
  type RiskAssessment,
  type RiskBand,
  type RiskReason,
} from './policy';
import {
  CUSTOMER,
  hasCarrierReturn,
  refundAmount,
  type ApprovalCommand,
  type CancelCommand,
  type CarrierEvent,
  type RefundOrigin,
  type RefundRequest,
  type WarehouseScan,
} from './schemas';

export const refundStates = [
  'awaiting_carrier',
  'awaiting_warehouse',
  'risk_review',
  'awaiting_approval',
  'paying',
  'refunded',
  'rejected',
  'cancelled',
  'expired',
  'failed',
] as const;
export type RefundState = (typeof refundStates)[number];
export const terminalStates: readonly RefundState[] = ['refunded', 'rejected', 'cancelled', 'expired', 'failed'];
export const activeStates: readonly RefundState[] = refundStates.filter((s) => !terminalStates.includes(s));
/** States from which a refund service may still cancel: everything before money starts to move. */
const cancellableStates: readonly RefundState[] = ['awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval'];

/** Past this many distinct evidence events a refund stops taking more and says so. */
export const MAX_EVIDENCE_EVENTS = 500;

export interface ReceivedCarrierEvent extends CarrierEvent {
  receivedAt: string;
}
export interface ReceivedScan extends WarehouseScan {
  receivedAt: string;
}
export interface RecordedApproval {
  approverId: string;
  decision: 'approve' | 'reject';
  reason?: string;
  at: string;
  /** The approver's circuit breaker was tripped when they approved: the refund needs one more approver. */
  breaker?: ActiveBreaker;
}

/** What the workflow learned about an approver, inside its own trusted path, just before their approval. */
export interface ApproverStanding {
  /** Risk reasons from the approver's recent activity (volume, value, concentration). */
  reasons: RiskReason[];
  /** Their circuit breaker, if it is tripped or this approval trips it. */
  breaker?: ActiveBreaker;
}
export interface Escalation {
  state: RefundState;
  at: string;
  reason: string;
}

export interface RefundModel {
  request: RefundRequest;
  /** The authenticated refund service that relayed the request, when it came through the API. */
  requestedBy?: string;
  amount: number;
  policy: Policy;
  state: RefundState;
  stateSince: string;
  requestedAt: string;
  /** Event ids seen (carrier and warehouse): a repeat changes nothing. */
  seenEventIds: string[];
  carrierEvents: ReceivedCarrierEvent[];
  receipts: ReceivedScan[];
  returnWindowElapsed: boolean;
  /** Bumped by every piece of new evidence; a risk result for an older version is stale. */
  evidenceVersion: number;
  risk?: RiskAssessment & { evidenceVersion: number; assessedAt: string };
  requirement?: ApprovalRequirement;
  /** The one early review a refund gets under refundTiming "on_carrier_acceptance", once it has been made. */
  carrierAcceptance?: 'paid' | 'declined';
  approvals: RecordedApproval[];
  payout?: { reference: string; paidAt: string };
  /** Why a terminal state was reached (rejected, cancelled, expired, failed). */
  outcome?: { code: string; message: string; by?: string };
  escalations: Escalation[];
  /** Evidence the refund refused to count (wrong tracking number, too many events, too late). */
  ignored: Array<{ eventId: string; reason: string; at: string }>;
}

export type RefundEvent =
  | { type: 'carrier_event'; event: CarrierEvent; at: string }
  | { type: 'warehouse_scan'; scan: WarehouseScan; at: string }
  | { type: 'return_window_elapsed'; at: string }
  | { type: 'stage_overdue'; state: RefundState; at: string }
  | { type: 'risk_assessed'; risk: RiskAssessment; evidenceVersion: number; at: string }
  | { type: 'approval'; command: ApprovalCommand; standing?: ApproverStanding; at: string }
  | { type: 'cancel'; command: CancelCommand; at: string }
  | { type: 'payout_succeeded'; reference: string; at: string }
  | { type: 'payout_failed'; code: string; message: string; at: string };

/** What the audit trail records for one step: who did what, with the evidence. */
export interface AuditFact {
  kind: string;
  actor: string;
  at: string;
  data: Record<string, unknown>;
}

export function newRefund(
  request: RefundRequest,
  policy: Policy,
  at: string,
  origin?: RefundOrigin,
): { model: RefundModel; facts: AuditFact[] } {
  const model: RefundModel = {
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
  const facts: AuditFact[] = [
    {
      kind: 'refund_requested',
      actor: request.initiatedBy,
      at,
      data: { request, amount: model.amount, policyVersion: policy.version, ...(origin ? { requestedBy: origin.requestedBy } : {}) },
    },
  ];
  return { model: moveTo(model, evidenceStage(model), at, facts), facts };
}

export function isTerminal(state: RefundState): boolean {
  return terminalStates.includes(state);
}

export function delivery(model: Pick<RefundModel, 'carrierEvents'>): ReceivedCarrierEvent | undefined {
  return model.carrierEvents.find((e) => e.status === 'delivered');
}

export function scannerIds(model: RefundModel): string[] {
  return [...new Set(model.receipts.map((r) => r.scannedBy))];
}

/** Carrier statuses that show the carrier has the parcel. */
const carrierHasParcel: readonly CarrierEvent['status'][] = ['accepted', 'in_transit', 'out_for_delivery', 'delivered'];

/**
 * Refund on carrier acceptance: under refundTiming "on_carrier_acceptance", a refund up to
 * amounts.carrierAcceptanceMax gets one early review as soon as the carrier has the parcel (and
 * has reported no exception). It is paid then only if that review finds low risk, no approval
 * needed and no evidence problem; otherwise it waits for delivery and the receipt as usual.
 */
export function dueForCarrierAcceptanceReview(model: RefundModel): boolean {
  return (
    model.policy.refundTiming === 'on_carrier_acceptance' &&
    model.carrierAcceptance === undefined &&
    hasCarrierReturn(model.request.return) &&
    model.amount <= thresholdsFor(model.policy, model.request.currency).carrierAcceptanceMax &&
    model.carrierEvents.some((e) => carrierHasParcel.includes(e.status)) &&
    !model.carrierEvents.some((e) => !carrierHasParcel.includes(e.status))
  );
}

/** Whether the refund's risk review is the early one on carrier acceptance (the evidence is not complete). */
function isCarrierAcceptanceReview(model: RefundModel): boolean {
  return collectedEvidenceStage(model) !== 'risk_review' && dueForCarrierAcceptanceReview(model);
}

/** The findings the current risk review weighs: at the early review the delivery is not expected yet. */
export function reviewFindings(model: RefundModel): EvidenceFinding[] {
  const findings = evidenceFindings(model);
  return isCarrierAcceptanceReview(model) ? findings.filter((f) => f !== 'carrier_delivery_missing') : findings;
}

function evidenceStage(model: RefundModel): RefundState {
  const collected = collectedEvidenceStage(model);
  return collected !== 'risk_review' && dueForCarrierAcceptanceReview(model) ? 'risk_review' : collected;
}

/**
 * Where the evidence alone puts a refund that is still collecting it. Carrier events may come
 * late or out of order (a `delivered` before `in_transit`); only what has been seen counts.
 */
function collectedEvidenceStage(model: RefundModel): RefundState {
  if (!hasCarrierReturn(model.request.return)) return 'risk_review';
  const delivered = delivery(model) !== undefined;
  if (delivered && model.receipts.length > 0) return 'risk_review';
  if (delivered) return 'awaiting_warehouse';
  // A receipt with no carrier scan at all is reviewed once the return window is over.
  if (model.receipts.length > 0 && model.returnWindowElapsed && model.carrierEvents.length === 0) return 'risk_review';
  return 'awaiting_carrier';
}

/** What the evidence shows that a payout must not be made automatically on. */
export function evidenceFindings(model: RefundModel): EvidenceFinding[] {
  const findings = new Set<EvidenceFinding>();
  const { request } = model;
  if (!hasCarrierReturn(request.return)) {
    findings.add('no_return_parcel');
    return [...findings];
  }
  const delivered = delivery(model);
  if (!delivered) findings.add('carrier_delivery_missing');
  const returnWarehouse = request.return.warehouseId;
  if (delivered?.facilityId !== undefined && returnWarehouse !== undefined && delivered.facilityId !== returnWarehouse) {
    findings.add('delivered_elsewhere');
  }
  const receipt = model.receipts.at(-1);
  for (const scan of model.receipts) {
    if (delivered && Date.parse(scan.receipt.scannedAt) < Date.parse(delivered.occurredAt)) {
      findings.add('receipt_before_delivery');
    }
    if (request.initiatedBy !== CUSTOMER && scan.scannedBy === request.initiatedBy) findings.add('scanner_is_requester');
  }
  if (receipt) {
    const received = [...receipt.receipt.items];
    for (const item of request.items) {
      for (let n = 0; n < item.quantity; n++) {
        const index = received.findIndex(
          (r) => r.sku === item.sku && (item.serialNumber === undefined || r.serialNumber === item.serialNumber),
        );
        if (index >= 0) {
          received.splice(index, 1);
        } else if (item.serialNumber !== undefined && received.some((r) => r.sku === item.sku)) {
          findings.add('serial_mismatch');
          received.splice(received.findIndex((r) => r.sku === item.sku), 1);
        } else {
          findings.add('item_missing');
        }
      }
    }
    if (received.some((r) => r.condition !== 'empty_box')) findings.add('unexpected_item');
    for (const item of receipt.receipt.items) {
      if (item.condition === 'wrong_item') findings.add('wrong_item');
      if (item.condition === 'empty_box') findings.add('empty_box');
    }
    // The carrier's weighing if there is one, else the catalogue weight of what was asked for.
    const carrierWeight = [...model.carrierEvents].reverse().find((e) => e.weightGrams !== undefined)?.weightGrams;
    const catalogueWeight = request.items.every((i) => i.weightGrams !== undefined)
      ? request.items.reduce((sum, i) => sum + i.quantity * i.weightGrams!, 0)
      : undefined;
    const expectedWeight = carrierWeight ?? catalogueWeight;
    if (expectedWeight !== undefined) {
      const off = Math.abs(receipt.receipt.weightGrams - expectedWeight) / expectedWeight;
      if (off > model.policy.weightTolerance) findings.add('weight_mismatch');
    }
  }
  return [...findings];
}

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
function requirementFor(model: RefundModel, band: RiskBand, findings: readonly EvidenceFinding[]): ApprovalRequirement {
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
  if (!requirement || requirement.outcome !== 'approve') return 0;
  return Math.max(0, requirement.approvals - approvalsGiven(model));
}

/** The next timer the workflow must set: when it fires, apply the returned event. */
export function nextDeadline(model: RefundModel): { at: number; event: RefundEvent['type']; state: RefundState } | undefined {
  const timers = model.policy.timers;
  const since = Date.parse(model.stateSince);
  const escalated = model.escalations.some((e) => e.state === model.state && Date.parse(e.at) >= since);
  switch (model.state) {
    case 'awaiting_carrier': {
      if (model.carrierEvents.length === 0 && !model.returnWindowElapsed) {
        return { at: Date.parse(model.requestedAt) + msToNumber(timers.returnWindow as never), event: 'return_window_elapsed', state: model.state };
      }
      if (escalated || model.carrierEvents.length === 0) return undefined;
      const firstScan = Math.min(...model.carrierEvents.map((e) => Date.parse(e.receivedAt)));
      return { at: firstScan + msToNumber(timers.carrierDelivery as never), event: 'stage_overdue', state: model.state };
    }
    case 'awaiting_warehouse':
      return escalated ? undefined : { at: since + msToNumber(timers.warehouseReceipt as never), event: 'stage_overdue', state: model.state };
    case 'awaiting_approval':
      return escalated ? undefined : { at: since + msToNumber(timers.approval as never), event: 'stage_overdue', state: model.state };
    case 'paying':
      return escalated ? undefined : { at: since + msToNumber(timers.payout as never), event: 'stage_overdue', state: model.state };
    default:
      return undefined;
  }
}

/** When the refund counts as stuck in its current state, for the read model's stuck listing. */
export function stuckAfter(model: RefundModel): number | undefined {
  const timers = model.policy.timers;
  const since = Date.parse(model.stateSince);
  switch (model.state) {
    case 'awaiting_carrier':
      return model.carrierEvents.length === 0
        ? Date.parse(model.requestedAt) + msToNumber(timers.returnWindow as never)
        : Math.min(...model.carrierEvents.map((e) => Date.parse(e.receivedAt))) + msToNumber(timers.carrierDelivery as never);
    case 'awaiting_warehouse':
      return since + msToNumber(timers.warehouseReceipt as never);
    case 'awaiting_approval':
      return since + msToNumber(timers.approval as never);
    case 'paying':
      return since + msToNumber(timers.payout as never);
    case 'risk_review':
      return since + msToNumber(timers.payout as never);
    default:
      return undefined;
  }
}

export function isStuck(model: RefundModel): boolean {
  const since = Date.parse(model.stateSince);
  return model.escalations.some((e) => e.state === model.state && Date.parse(e.at) >= since);
}

/** What the refund is waiting for, in words an operator understands. */
export function waitingFor(model: RefundModel): string | undefined {
  switch (model.state) {
    case 'awaiting_carrier':
      return model.carrierEvents.length === 0 ? 'first carrier scan of the return parcel' : 'carrier delivery to the warehouse';
    case 'awaiting_warehouse':
      return 'warehouse receipt scan';
    case 'risk_review':
      return 'risk check';
    case 'awaiting_approval': {
      const needed = approvalsStillNeeded(model);
      return `${needed} more approval${needed === 1 ? '' : 's'}`;
    }
    case 'paying':
      return 'payout';
    default:
      return undefined;
  }
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

/**
 * Applies one event. Returns the new model and the audit facts it produced; an event that
 * changes nothing (a duplicate, or one that comes too late) returns the same model.
 */
export function applyEvent(model: RefundModel, event: RefundEvent): { model: RefundModel; facts: AuditFact[] } {
  const facts: AuditFact[] = [];
  const next = reduce(model, event, facts);
  return { model: next, facts };
}

function reduce(model: RefundModel, event: RefundEvent, facts: AuditFact[]): RefundModel {
  if (isTerminal(model.state)) return model;
  const { at } = event;
  switch (event.type) {
    case 'carrier_event': {
      const e = event.event;
      if (model.seenEventIds.includes(e.eventId)) return model;
      const seen = { ...model, seenEventIds: [...model.seenEventIds, e.eventId] };
      const actor = `carrier:${e.carrier}`;
      const expected = model.request.return;
      if (!hasCarrierReturn(expected) || expected.carrier !== e.carrier || expected.trackingNumber !== e.trackingNumber) {
        return ignore(seen, e.eventId, 'carrier or tracking number does not match this refund', at, facts, actor);
      }
      if (model.seenEventIds.length >= MAX_EVIDENCE_EVENTS) return ignore(seen, e.eventId, 'too many evidence events', at, facts, actor);
      facts.push({ kind: 'carrier_event', actor, at, data: { ...e } });
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
    case 'warehouse_scan': {
      const { receipt, scannedBy } = event.scan;
      if (model.seenEventIds.includes(receipt.eventId)) return model;
      const seen = { ...model, seenEventIds: [...model.seenEventIds, receipt.eventId] };
      const actor = `employee:${scannedBy}`;
      if (model.seenEventIds.length >= MAX_EVIDENCE_EVENTS) return ignore(seen, receipt.eventId, 'too many evidence events', at, facts, actor);
      if (!cancellableStates.includes(model.state)) {
        return ignore(seen, receipt.eventId, `refund is already ${model.state}`, at, facts, actor);
      }
      facts.push({ kind: 'warehouse_receipt', actor, at, data: { ...receipt, scannedBy } });
      return afterEvidence({ ...seen, receipts: [...seen.receipts, { ...event.scan, receivedAt: at }] }, at, facts);
    }
    case 'return_window_elapsed': {
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
    case 'stage_overdue': {
      if (model.state !== event.state || isStuck(model)) return model;
      return escalate(model, `${waitingFor(model) ?? model.state} overdue`, at, facts);
    }
    case 'risk_assessed': {
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
    case 'approval': {
      if (checkApproval(model, event.command)) return model;
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
        data: { ...approval, roles: approver.roles, approvalLimit: approver.approvalLimit },
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
    case 'cancel': {
      if (checkCancel(model)) return model;
      return moveTo(model, 'cancelled', at, facts, {
        code: 'cancelled',
        message: event.command.reason,
        by: event.command.cancelledBy,
      });
    }
    case 'payout_succeeded': {
      if (model.state !== 'paying') return model;
      facts.push({ kind: 'paid', actor: 'system', at, data: { reference: event.reference, amount: model.amount, currency: model.request.currency } });
      return moveTo({ ...model, payout: { reference: event.reference, paidAt: at } }, 'refunded', at, facts);
    }
    case 'payout_failed': {
      if (model.state !== 'paying') return model;
      return moveTo(model, 'failed', at, facts, { code: event.code, message: event.message });
    }
  }
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
    return moveTo({ ...model, requirement, carrierAcceptance: 'declined' }, 'rejected', at, facts, { code: 'policy', message: requirement.reason });
  }
  if (pays) return moveTo({ ...model, requirement, carrierAcceptance: 'paid' }, 'paying', at, facts);
  const waiting: RefundModel = { ...model, carrierAcceptance: 'declined' };
  return moveTo(waiting, evidenceStage(waiting), at, facts);
}

/**
 * An approver's own recent activity raises the risk of the refund they approve: their reasons
 * join the refund's, and the approvals it needs are worked out again (never fewer than before).
 */
function raiseRiskForApprover(model: RefundModel, approverId: string, standing: ApproverStanding, at: string, facts: AuditFact[]): RefundModel {
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

function escalate(model: RefundModel, reason: string, at: string, facts: AuditFact[]): RefundModel {
  facts.push({ kind: 'escalated', actor: 'system', at, data: { state: model.state, reason } });
  return { ...model, escalations: [...model.escalations, { state: model.state, at, reason }] };
}
