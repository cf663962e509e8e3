/**
 * What the API answers with, as zod schemas: they serialize every response and describe it in
 * /openapi.json, and callers import their types. Request bodies are the message schemas of
 * workflows/schemas.ts themselves; api/view-checks.ts fails to compile if a response drifts from the
 * type the service uses.
 * Objects are not strict here: a field the service adds before its view does is left out, not a 500.
 */
import { z } from 'zod';
import { ActiveBreaker, insiderRoles, RiskAssessment } from '../workflows/policy';
import { refundStates } from '../workflows/refund-model';
import {
  DecisionStatement,
  PASSKEY_ALG,
  RefundRequestStatement,
  Signature,
  WarehouseReceiptStatement,
  WebAuthnAssertion,
  type AnySigned,
  type Signed,
} from '../workflows/statements';
import {
  CancelCommand,
  CarrierEvent,
  Currency,
  MinorUnits,
  checkRefundRequest,
  RefundRequest,
  RefundRequestFields,
  Role,
  WarehouseReceipt,
  WarehouseScan,
} from '../workflows/schemas';

const instant = z.string().meta({ format: 'date-time' });

export const RefundState = z.enum(refundStates);

export const AuditHeadView = z.object({
  refundSeq: z.number().int().describe('the step within the refund'),
  hash: z.string().describe('that step’s hash: SHA-256 of its canonical JSON, which includes the previous step’s hash'),
});

export const TimelineEntry = z.object({
  seq: z.number().int().describe('insertion order across the service (increasing, with gaps)'),
  at: instant,
  kind: z
    .string()
    .describe(
      'refund_requested, carrier_event, warehouse_receipt, risk_assessed, approved, approval_rejected, state_changed, escalated, paid, statement_rejected, …',
    ),
  actor: z.string().describe('who did it: an employee (employee:<id>), a carrier (carrier:<name>), the system, or the requester'),
  data: z.unknown(),
});

export const RefundView = z
  .object({
    refundId: z.string(),
    orderId: z.string(),
    customerId: z.string(),
    initiatedBy: z.string().describe('the employee who asked for the refund, or "customer"'),
    requestedBy: z
      .string()
      .nullable()
      .describe('the registered refund service whose signed request the workflow verified; null when the request was refused'),
    state: RefundState,
    amount: MinorUnits.describe('integer minor units of currency'),
    currency: Currency,
    since: instant.describe('when the refund entered its current state'),
    waitingFor: z.string().nullable(),
    stuck: z.boolean(),
    policyVersion: z.string(),
    evidence: z.object({
      carrierEvents: z.array(z.object({ ...CarrierEvent.shape, receivedAt: instant })),
      delivered: z.boolean(),
      receipts: z.array(z.object({ ...WarehouseScan.shape, receivedAt: instant })),
      findings: z.array(z.string()).describe('why the evidence is not clean enough to pay automatically, e.g. receipt_before_delivery'),
      ignored: z.array(z.object({ eventId: z.string(), reason: z.string(), at: instant })),
    }),
    risk: RiskAssessment.extend({ assessedAt: instant })
      .nullable()
      .describe(
        'the latest risk check: every reason with its points and the values that fired it, and the tripped breakers of employees on the refund',
      ),
    approvalRequirement: z
      .discriminatedUnion('outcome', [
        z.object({ outcome: z.literal('reject'), reason: z.string() }),
        z.object({ outcome: z.literal('approve'), approvals: z.number().int().min(0), reasons: z.array(z.string()) }),
      ])
      .nullable(),
    approvalsRequired: z
      .number()
      .int()
      .nullable()
      .describe(
        'distinct approvers the refund needs (0 to 3: one more while an employee on it has a tripped breaker); null until the risk check',
      ),
    approvalsStillNeeded: z.number().int(),
    approvals: z.array(
      z.object({
        approverId: z.string(),
        decision: z.enum(['approve', 'reject']),
        reason: z.string().optional(),
        at: instant,
        breaker: ActiveBreaker.optional().describe(
          "the approver's circuit breaker was tripped when they approved: the refund needs one more approver",
        ),
      }),
    ),
    payout: z.object({ reference: z.string(), paidAt: instant }).nullable(),
    outcome: z.object({ code: z.string(), message: z.string(), by: z.string().optional() }).nullable(),
    deadlines: z.object({ next: instant.nullable(), stuckAfter: instant.nullable() }),
    escalations: z.array(
      z.object({
        state: RefundState,
        at: instant,
        reason: z.string(),
        by: z.string().optional().describe('the operator who handed the refund to another approver group'),
        group: z.string().optional().describe('the approver group it was handed to; such an escalation does not make the refund stuck'),
      }),
    ),
    deadlineExtensions: z
      .array(
        z.object({
          state: RefundState,
          at: instant,
          duration: z.string().describe('the extension as asked for, ISO 8601'),
          ms: z.number().int(),
          by: z.string(),
          reason: z.string(),
        }),
      )
      .optional()
      .describe("operations' extensions of a stage deadline; they only move when the refund counts as stuck"),
    nudges: z
      .array(z.object({ party: z.enum(['carrier', 'warehouse']), state: RefundState, at: instant, by: z.string(), reason: z.string() }))
      .optional()
      .describe('times operations asked the carrier or the warehouse again'),
    auditHead: AuditHeadView.nullable().describe(
      "the refund's last audit step as its workflow wrote it; audit verification holds the database's rows to it",
    ),
    timeline: z
      .array(TimelineEntry)
      .describe(
        'every step of the refund, from its audit trail, oldest first; the latest step may appear a moment after the state changes',
      ),
  })
  .meta({ id: 'Refund' });
export type RefundView = z.infer<typeof RefundView>;

export const StuckRefund = z
  .object({
    refundId: z.string(),
    state: RefundState,
    waitingFor: z.string().nullable(),
    since: instant,
    stuckAfter: instant.nullable(),
    amount: MinorUnits,
    currency: Currency,
    customerId: z.string(),
    initiatedBy: z.string(),
  })
  .meta({ id: 'StuckRefund' });
export type StuckRefund = z.infer<typeof StuckRefund>;

export const StuckList = z.object({ refunds: z.array(StuckRefund) });

export const CarrierEventAccepted = z.object({
  eventId: z.string(),
  refundIds: z.array(z.string()).describe('the refunds that have received the event'),
  finishedRefundIds: z.array(z.string()).describe('refunds of this parcel that have already finished: the event changes nothing there'),
  pending: z
    .boolean()
    .describe('true when no refund has the event yet: it is stored and delivered as soon as a refund for this parcel is requested'),
});
export type CarrierEventAccepted = z.infer<typeof CarrierEventAccepted>;

export const StoredCarrierEvent = z.object({
  carrier: z.string(),
  eventId: z.string(),
  trackingNumber: z.string(),
  status: z.string().describe('the tracking status the event reports'),
  receivedAt: z.string(),
  conflict: z.boolean().describe('a different body under an event id already received: kept, never delivered'),
  deliveredTo: z.array(z.string()),
  deliveredAt: z.string().nullable(),
  expiredAt: z.string().nullable().describe('set when the event stayed undelivered past the return window: no longer retried'),
  undeliverable: z
    .string()
    .nullable()
    .describe('why the event can never be delivered (stored before the inbox kept the signed raw body); null when it can'),
  event: z.record(z.string(), z.unknown()).describe('the event as received'),
});
export type StoredCarrierEvent = z.infer<typeof StoredCarrierEvent>;
export const CarrierEventList = z.object({ events: z.array(StoredCarrierEvent) });

export const ScanAccepted = z.object({ refundId: z.string(), eventId: z.string() });

export const AuditFindingView = z
  .object({
    check: z
      .enum([
        'row_hash',
        'chain_link',
        'step_sequence',
        'legacy_chain',
        'read_model',
        'checkpoint_chain',
        'checkpoint_root',
        'checkpoint_signature',
        'checkpoint_head',
        'checkpoint_export',
        'workflow_head',
      ])
      .describe('the check that failed (docs/operations.md, "Audit trail")'),
    problem: z
      .enum(['edited', 'rehashed', 'deleted', 'forged', 'unverifiable'])
      .describe(
        'what the evidence says happened: edited in place, changed with its hashes recomputed, deleted, a signature forged, or not checkable',
      ),
    subject: z.string().optional().describe('the refund id, or `employee <id>`'),
    refundSeq: z.number().int().optional().describe('the step within the subject'),
    seq: z.number().int().optional().describe('the row, when it is there'),
    checkpointId: z.number().int().optional(),
    detail: z.string(),
  })
  .meta({ id: 'AuditFinding' });

export const AuditVerificationView = z.object({
  ok: z.boolean().describe('true when nothing was found'),
  rowsChecked: z.number().int(),
  subjectsChecked: z.number().int().describe('hash chains checked: one per refund, one per employee with breaker records'),
  lastSeq: z.number().int(),
  lastHash: z.string(),
  brokenAt: z
    .object({ seq: z.number().int(), refundId: z.string(), reason: z.string() })
    .optional()
    .describe('the first finding, in the shape older clients read'),
  checkpoints: z.object({
    checked: z.number().int(),
    latest: z.object({ id: z.number().int(), createdAt: instant, root: z.string(), keyId: z.string() }).nullable(),
    exportFile: z.object({
      path: z.string().nullable(),
      state: z.enum(['matched', 'mismatch', 'unavailable', 'not_configured']),
      lines: z.number().int(),
    }),
  }),
  workflowHeadsChecked: z.number().int().describe("in-flight refunds whose workflow's own audit head was compared (?workflows=true)"),
  findings: z.array(AuditFindingView).describe('what was found, and where; at most 1000'),
  findingsOmitted: z.number().int(),
});

export type AuditVerification = z.infer<typeof AuditVerificationView>;

export const Health = z.object({ status: z.literal('ok') });

/** Every error answer: an RFC 9457 problem (application/problem+json). */
export const Problem = z
  .object({
    type: z.string().describe('a URI reference naming the problem, e.g. /problems/invalid-input'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.object({ path: z.string().describe('dotted path of the field, e.g. items.0.unitAmount'), message: z.string() }))
      .optional()
      .describe('invalid input: every field at fault'),
    rule: z
      .string()
      .optional()
      .describe('the rule that refused: for approvals, e.g. approver_is_requester; for registry changes, e.g. bad_signature, own_entry'),
    requiredRoles: z.array(z.string()).optional().describe('role_required: any of these roles may call the endpoint'),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

export const BreakerView = z
  .object({
    id: z.number().int(),
    employeeId: z.string(),
    trippedAs: z.enum(insiderRoles).describe('the role whose limit the employee crossed'),
    reason: z.string().describe('the limit crossed, e.g. "51 approvals in 24 hours (limit 50)"'),
    details: z.record(z.string(), z.unknown()).describe('the activity counted, the limits crossed and the policy version'),
    refundId: z.string().nullable().describe('the refund whose action tripped it'),
    trippedAt: instant,
    liftedAt: instant.nullable().describe('null while the breaker is tripped'),
    liftedBy: z.string().nullable().describe('the admin who lifted it'),
    liftReason: z.string().nullable(),
  })
  .meta({ id: 'Breaker' });

export type Breaker = z.infer<typeof BreakerView>;

export const BreakerList = z.object({ breakers: z.array(BreakerView).describe('newest first; a tripped breaker has liftedAt null') });

export const OpsAlertView = z
  .object({
    id: z.number().int(),
    kind: z.string().describe('breaker_tripped'),
    employeeId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    createdAt: instant,
    acknowledgedAt: instant.nullable().describe('when an operator acknowledged the alert; null while nobody has'),
    acknowledgedBy: z.string().nullable(),
    acknowledgeNote: z.string().nullable(),
  })
  .meta({ id: 'OpsAlert' });

export type OpsAlert = z.infer<typeof OpsAlertView>;

export const OpsAlertList = z.object({ alerts: z.array(OpsAlertView).describe('oldest first') });

/** Request bodies: the message schemas themselves, less what the API takes from the caller's identity. */
export const CancelBody = CancelCommand.omit({ cancelledBy: true });

const decisionFields = DecisionStatement.omit({ kind: true, refundId: true, approverId: true, alg: true });

/**
 * An approval or rejection over HTTP: the caller's signed decision statement, less what the API
 * fills in (the refund id from the path, the approver from the API key, `kind`). Signed with an
 * Ed25519 key: `signature` (and `alg` absent or "ed25519"); signed with a passkey:
 * `alg: "webauthn-es256"` and the browser's `assertion`, whose challenge is the whole statement
 * (`POST /v1/refunds/{id}/approvals/challenge` builds it). Either covers the whole statement as
 * `signedDecisionOf` rebuilds it.
 */
export const ApprovalBody = z
  .discriminatedUnion(
    'alg',
    [
      decisionFields.extend({ alg: z.literal('ed25519').optional(), signature: Signature }),
      decisionFields.extend({
        alg: z.literal(PASSKEY_ALG),
        assertion: WebAuthnAssertion.describe(
          'the `response` of navigator.credentials.get (authenticatorData, clientDataJSON, signature), base64url each',
        ),
      }),
    ],
    { error: `alg must be "ed25519" (or absent, with a signature) or "${PASSKEY_ALG}" (with an assertion)` },
  )
  .meta({ id: 'ApprovalBody' });
export type ApprovalBody = z.infer<typeof ApprovalBody>;

/** The signed statement an approval body stands for, about `refundId`, by `approverId`. */
export function signedDecisionOf(refundId: string, approverId: string, body: ApprovalBody): AnySigned<DecisionStatement> {
  if (body.alg === PASSKEY_ALG) {
    const { assertion, alg, ...fields } = body;
    return { statement: { kind: 'decision', refundId, approverId, ...fields, alg }, assertion };
  }
  const { signature, alg: _alg, ...fields } = body;
  return { statement: { kind: 'decision', refundId, approverId, ...fields, alg: 'ed25519' }, signature };
}

const scanSigning = WarehouseReceiptStatement.pick({ keyId: true, signedAt: true, nonce: true });

/**
 * A warehouse scan over HTTP: the receipt, as before, plus the scanner's signature over the receipt
 * statement the API rebuilds from it (`signedScanOf`: the refund id from the path, the scanner from
 * the API key, `kind: "warehouse_receipt"` and `alg: "ed25519"`).
 */
export const ScanBody = WarehouseReceipt.extend({ ...scanSigning.shape, signature: Signature }).meta({ id: 'ScanBody' });
export type ScanBody = z.infer<typeof ScanBody>;

/** The signed receipt statement a scan body stands for, about `refundId`, by `scannedBy`. */
export function signedScanOf(refundId: string, scannedBy: string, body: ScanBody): Signed<WarehouseReceiptStatement> {
  const { signature, keyId, signedAt, nonce, ...receipt } = body;
  return {
    statement: { kind: 'warehouse_receipt', refundId, receipt, scannedBy, keyId, alg: 'ed25519', signedAt, nonce },
    signature,
  };
}

/**
 * A refund request over HTTP: the request's fields and, next to them, the signature fields of the
 * refund_request statement the refund service signed (`keyId`, `signedAt`, `nonce`, `signature`).
 * The API fills in the rest of the statement (`requestedBy`: the calling service, `kind`, `alg`);
 * the signature must cover the whole statement as `signedRequestOf` rebuilds it.
 */
export const RefundRequestBody = z
  .strictObject({
    ...RefundRequestFields.shape,
    keyId: RefundRequestStatement.shape.keyId,
    signedAt: RefundRequestStatement.shape.signedAt,
    nonce: RefundRequestStatement.shape.nonce,
    signature: Signature,
  })
  .superRefine(checkRefundRequest)
  .meta({ id: 'RefundRequestBody' });
export type RefundRequestBody = z.infer<typeof RefundRequestBody>;

/** The signed statement a refund request body stands for, by the refund service `requestedBy`. */
export function signedRequestOf(requestedBy: string, body: RefundRequestBody): Signed<RefundRequestStatement> {
  const { keyId, signedAt, nonce, signature, ...request } = body;
  return { statement: { kind: 'refund_request', request, requestedBy, keyId, alg: 'ed25519', signedAt, nonce }, signature };
}

/** The body that sends `signed` (a refund_request statement) over HTTP: its request, and its signature fields. */
export function requestBodyOf(signed: Signed<RefundRequestStatement>): RefundRequestBody {
  const { request, keyId, signedAt, nonce } = signed.statement;
  return { ...request, keyId, signedAt, nonce, signature: signed.signature };
}

export const requestSchemas = {
  RefundRequest,
  RefundRequestBody,
  CarrierEvent,
  WarehouseReceipt,
  ScanBody,
  ApprovalBody,
  CancelBody,
  Role,
};
