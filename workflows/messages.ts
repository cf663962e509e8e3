/**
 * The refund workflow's messages, defined once and shared by the workflow and its callers.
 * Evidence arrives as signals (carriers and scanners fire and forget; duplicates are dropped by
 * event id), signed by its source and verified inside the workflow before it counts. Decisions are updates, so a refused approval or a late cancel comes back to the
 * caller at once with the rule it broke, and never enters the refund's history.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { ApprovalRequirement, EvidenceFinding, RiskAssessment } from './policy';
import {
  activeStates,
  approvalsStillNeeded,
  breakersOn,
  delivery,
  evidenceFindings,
  isStuck,
  nextDeadline,
  stuckAfter,
  waitingFor,
  type AuditHead,
  type DeadlineExtension,
  type Escalation,
  type Nudge,
  type ReceivedCarrierEvent,
  type ReceivedScan,
  type RecordedApproval,
  type RefundModel,
  type RefundState,
} from './refund-model';
import type { CancelCommand, RefundRequest } from './schemas';
import {
  carriesAssertion,
  DecisionStatement,
  RefundRequestStatement,
  Signature,
  WarehouseReceiptStatement,
  WebAuthnAssertion,
  type AnySigned,
  type Signed,
} from './statements';
import { builtOnce } from './built-once';

const built = builtOnce('workflows/messages');

export const TASK_QUEUE_DEFAULT = 'refunds';

const WORKFLOW_ID_PREFIX = 'refund-';

/** One workflow per refund; the id is derived from the refund id, so a repeat request finds it. */
export function refundWorkflowId(refundId: string): string {
  return `${WORKFLOW_ID_PREFIX}${refundId}`;
}

/** The refund id a workflow id stands for, or undefined when it is not `refund-<refundId>`. */
export function refundIdOfWorkflowId(workflowId: string): string | undefined {
  return workflowId.startsWith(WORKFLOW_ID_PREFIX) ? workflowId.slice(WORKFLOW_ID_PREFIX.length) : undefined;
}

/**
 * A refund request as the workflow receives it: the request statement a registered refund service
 * signed (the whole request and `requestedBy`, the service's own principal id) and its Ed25519
 * signature. The workflow verifies it against the key registry before the refund may go anywhere;
 * one that does not verify is rejected at once and never pays.
 */
export const SignedRefundRequest = built('SignedRefundRequest', () =>
  z.strictObject({ statement: RefundRequestStatement, signature: Signature }),
);
export type SignedRefundRequest = Signed<RefundRequestStatement>;

/**
 * An approver's decision as the workflow receives it: a decision statement and either the
 * approver's Ed25519 signature over its canonical bytes (`alg: "ed25519"`) or the assertion of the
 * approver's passkey whose challenge is the statement (`alg: "webauthn-es256"`). The workflow
 * believes it only once the signature or assertion verifies with a key the registry gives the
 * approver; roles and limits come from the registry, never from the message.
 */
const Ed25519SignedDecision = built('Ed25519SignedDecision', () => z.strictObject({ statement: DecisionStatement, signature: Signature }));
const PasskeySignedDecision = built('PasskeySignedDecision', () =>
  z.strictObject({ statement: DecisionStatement, assertion: WebAuthnAssertion }),
);
export const SignedDecision = built('SignedDecision', () => z.union([Ed25519SignedDecision, PasskeySignedDecision]));
export type SignedDecision = AnySigned<DecisionStatement>;

/** The one shape `raw` is meant to be (by whether it carries an assertion), so a malformed decision's issues name its own fields. */
export function signedDecisionShape(raw: unknown): typeof Ed25519SignedDecision | typeof PasskeySignedDecision {
  return carriesAssertion(raw) ? PasskeySignedDecision : Ed25519SignedDecision;
}

/**
 * A warehouse receipt as the workflow receives it: a receipt statement (refund id, receipt,
 * scanner) and the scanner's Ed25519 signature over its canonical bytes. It counts only once the
 * signature verifies with a key the registry gives a principal with the warehouse role; the
 * scanner the refund records is that principal.
 */
export const SignedWarehouseScan = built('SignedWarehouseScan', () =>
  z.strictObject({ statement: WarehouseReceiptStatement, signature: Signature }),
);
export type SignedWarehouseScan = Signed<WarehouseReceiptStatement>;

/** The largest carrier webhook body a refund takes, in characters (the API takes less). */
export const MAX_CARRIER_EVENT_BODY = 65_536;

/**
 * A carrier event exactly as the carrier sent it: the raw webhook body and the signature header
 * value (`t=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256>`). The workflow has the worker check
 * the HMAC with the key of the carrier the body names, and only then reads the event from the body.
 */
export const SignedCarrierEvent = built('SignedCarrierEvent', () =>
  z.strictObject({
    rawBody: z
      .string({ error: 'rawBody must be the webhook body as a string' })
      .max(MAX_CARRIER_EVENT_BODY, `rawBody must be at most ${MAX_CARRIER_EVENT_BODY} characters`),
    signature: z
      .string({ error: 'signature must be the signature header as a string' })
      .max(1_024, 'signature must be at most 1024 characters'),
  }),
);
export type SignedCarrierEvent = z.infer<typeof SignedCarrierEvent>;

export const carrierEventSignal = defineSignal<[SignedCarrierEvent]>('carrierEvent');
export const warehouseScanSignal = defineSignal<[SignedWarehouseScan]>('warehouseScan');
export const decideUpdate = defineUpdate<RefundStatus, [SignedDecision]>('decide');
export const cancelUpdate = defineUpdate<RefundStatus, [CancelCommand]>('cancel');
export const statusQuery = defineQuery<RefundStatus>('status');

/** Failure types callers can rely on (ApplicationFailure.type). */
export const failureTypes = {
  invalidMessage: 'InvalidMessage',
  approvalRefused: 'ApprovalRefused',
  cancelRefused: 'CancelRefused',
  paymentDeclined: 'PaymentDeclined',
  refundConflict: 'RefundConflict',
  /** A decision was applied but its audit fact is not written yet (the database is not taking writes). */
  decisionNotYetRecorded: 'DecisionNotYetRecorded',
} as const;

/** The refund as callers see it: small, stable, and enough to act on. */
export interface RefundStatus {
  refundId: string;
  orderId: string;
  customerId: string;
  initiatedBy: string;
  /** The registered refund service whose signed request the workflow verified; null when the request was refused. */
  requestedBy: string | null;
  state: RefundState;
  amount: number;
  currency: string;
  since: string;
  waitingFor: string | null;
  stuck: boolean;
  policyVersion: string;
  evidence: {
    carrierEvents: ReceivedCarrierEvent[];
    delivered: boolean;
    receipts: ReceivedScan[];
    findings: EvidenceFinding[];
    ignored: RefundModel['ignored'];
  };
  /** Score, band and reasons of the latest risk check; `breakers` lists employees on the refund with a tripped circuit breaker. */
  risk: (RiskAssessment & { assessedAt: string }) | null;
  approvalRequirement: ApprovalRequirement | null;
  approvalsRequired: number | null;
  approvalsStillNeeded: number;
  approvals: RecordedApproval[];
  payout: { reference: string; paidAt: string } | null;
  outcome: NonNullable<RefundModel['outcome']> | null;
  deadlines: { next: string | null; stuckAfter: string | null };
  escalations: Escalation[];
  /** Deadline extensions by operations, each with its state, operator and reason (absent in statuses written before they existed). */
  deadlineExtensions?: DeadlineExtension[];
  /** Times operations asked the carrier or the warehouse again (absent in statuses written before they existed). */
  nudges?: Nudge[];
  /**
   * The refund's audit head as the workflow last wrote it (step and hash); null before its first
   * write, and for refunds whose earlier writes did not answer with one. Audit verification holds
   * the database's rows to it.
   */
  auditHead: AuditHead | null;
}

export function refundStatus(model: RefundModel): RefundStatus {
  const deadline = nextDeadline(model);
  const stuckAt = stuckAfter(model);
  const requirement = model.requirement ?? null;
  return {
    refundId: model.request.refundId,
    orderId: model.request.orderId,
    customerId: model.request.customerId,
    initiatedBy: model.request.initiatedBy,
    requestedBy: model.requestedBy ?? null,
    state: model.state,
    amount: model.amount,
    currency: model.request.currency,
    since: model.stateSince,
    waitingFor: waitingFor(model) ?? null,
    stuck: activeStates.includes(model.state) && isStuck(model),
    policyVersion: model.policy.version,
    evidence: {
      carrierEvents: model.carrierEvents,
      delivered: delivery(model) !== undefined,
      receipts: model.receipts,
      findings: evidenceFindings(model),
      ignored: model.ignored,
    },
    risk: model.risk
      ? {
          score: model.risk.score,
          band: model.risk.band,
          reasons: model.risk.reasons,
          breakers: breakersOn(model),
          assessedAt: model.risk.assessedAt,
        }
      : null,
    approvalRequirement: requirement,
    approvalsRequired: requirement?.outcome === 'approve' ? requirement.approvals : null,
    approvalsStillNeeded: approvalsStillNeeded(model),
    approvals: model.approvals,
    payout: model.payout ?? null,
    outcome: model.outcome ?? null,
    deadlines: {
      next: deadline ? new Date(deadline.at).toISOString() : null,
      stuckAfter: stuckAt !== undefined ? new Date(stuckAt).toISOString() : null,
    },
    escalations: model.escalations,
    deadlineExtensions: model.extensions ?? [],
    nudges: model.nudges ?? [],
    auditHead: model.auditHead ?? null,
  };
}

export type { RefundRequest };
