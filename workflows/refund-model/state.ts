/** The refund's states, its model, the events that move it and the audit facts they leave. */
import type { ActiveBreaker, ApprovalRequirement, Policy, RiskAssessment, RiskReason } from '../policy';
import type { ApprovalCommand, CancelCommand, CarrierEvent, RefundRequest, WarehouseScan } from '../schemas';

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
export const cancellableStates: readonly RefundState[] = ['awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval'];

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
  /** The operator who handed the refund to another approver group (absent when the refund escalated itself, overdue). */
  by?: string;
  /** The approver group it was handed to. An escalation with a group does not make the refund stuck. */
  group?: string;
}

/** Operations gave the refund more time in `state`: its stage deadline moves `ms` later. */
export interface DeadlineExtension {
  state: RefundState;
  at: string;
  /** The extension as asked for (ISO 8601 duration) and in milliseconds. */
  duration: string;
  ms: number;
  by: string;
  reason: string;
}

/** Operations asked the carrier or the warehouse again for the evidence the refund waits for. */
export interface Nudge {
  party: 'carrier' | 'warehouse';
  state: RefundState;
  at: string;
  by: string;
  reason: string;
}

export interface RefundModel {
  request: RefundRequest;
  /** The refund service whose signed request the workflow verified; absent when the request was refused. */
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
  /** Deadline extensions by operations (absent on refunds that never had one). */
  extensions?: DeadlineExtension[];
  /** Nudges by operations to the carrier or the warehouse (absent on refunds that never had one). */
  nudges?: Nudge[];
  /** Evidence the refund refused to count (wrong tracking number, too many events, too late). */
  ignored: Array<{ eventId: string; reason: string; at: string }>;
  /**
   * Where the refund's audit chain stood after the workflow's last write, as the write answered.
   * Set by the workflow after each write, never by the rules, and never read to decide: it is the
   * workflow's own copy of the head, which verification holds the database to.
   */
  auditHead?: AuditHead;
}

/** The last step of an audit subject's hash chain: its number within the subject and its hash. */
export interface AuditHead {
  refundSeq: number;
  hash: string;
}

export type RefundEvent =
  /** `keyId`: the carrier's key that signed the event, once the worker verified it. */
  | { type: 'carrier_event'; event: CarrierEvent; keyId?: string; at: string }
  /** `statement`: the signed receipt statement the scan was verified from. */
  | { type: 'warehouse_scan'; scan: WarehouseScan; statement?: VerifiedStatement; at: string }
  | { type: 'return_window_elapsed'; at: string }
  | { type: 'stage_overdue'; state: RefundState; at: string }
  | { type: 'risk_assessed'; risk: RiskAssessment; evidenceVersion: number; at: string }
  | { type: 'approval'; command: ApprovalCommand; standing?: ApproverStanding; statement?: VerifiedStatement; at: string }
  | { type: 'cancel'; command: CancelCommand; at: string }
  /** Operations actions: none of them moves money or skips a step (see ops.ts). */
  | { type: 'ops_escalated'; group: string; by: string; reason: string; at: string }
  | { type: 'deadline_extended'; duration: string; ms: number; by: string; reason: string; at: string }
  | { type: 'nudged'; party: Nudge['party']; by: string; reason: string; at: string }
  | { type: 'payout_succeeded'; reference: string; at: string }
  | { type: 'payout_failed'; code: string; message: string; at: string };

/** The signed statement an approval (or a scan) was verified from: its id, the key that signed it, the registry version of its signer. */
export interface VerifiedStatement {
  statementId: string;
  keyId: string;
  registryVersion: number;
}

/** Who asked for the refund, as the workflow verified it: the refund service that signed the request, and its statement. */
export interface RequestOrigin {
  requestedBy: string;
  statement?: VerifiedStatement;
}

/** Why a refund request does not count: the rule it broke, in words. */
export interface RequestRefusal {
  rule: string;
  message: string;
}

/** What the audit trail records for one step: who did what, with the evidence. */
export interface AuditFact {
  kind: string;
  actor: string;
  at: string;
  data: Record<string, unknown>;
}

export function isTerminal(state: RefundState): boolean {
  return terminalStates.includes(state);
}
