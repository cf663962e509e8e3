/**
 * The views and bodies of the listings, the approvals inbox, the stuck refunds' summary and the
 * operations actions (escalate, extend a deadline, nudge, acknowledge an alert). The request
 * bodies are the workflow's own command schemas, less the operator (the authenticated caller).
 */
import { z } from 'zod';
import { RiskAssessment } from '../workflows/policy';
import { EscalateCommand, ExtendDeadlineCommand, NudgeCommand } from '../workflows/ops-commands';
import { waitingParties } from '../workflows/refund-model';
import { Currency, MinorUnits, text } from '../workflows/schemas';
import { RefundState, RefundView } from './views';

const instant = z.string().meta({ format: 'date-time' });

export const WaitingParty = z.enum(waitingParties);

export const EscalateBody = EscalateCommand.omit({ escalatedBy: true });
export type EscalateBody = z.infer<typeof EscalateBody>;
export const ExtendDeadlineBody = ExtendDeadlineCommand.omit({ extendedBy: true });
export type ExtendDeadlineBody = z.infer<typeof ExtendDeadlineBody>;
export const NudgeBody = NudgeCommand.omit({ nudgedBy: true });
export type NudgeBody = z.infer<typeof NudgeBody>;
export const AlertAckBody = z.strictObject({ note: text('note', 500).optional().describe('why, or what was done about it') });
export type AlertAckBody = z.infer<typeof AlertAckBody>;

export const RefundListItem = z
  .object({
    refundId: z.string(),
    workflowId: z.string(),
    orderId: z.string(),
    customerId: z.string(),
    initiatedBy: z.string(),
    requestedBy: z.string().nullable().describe('the refund service whose signed request the workflow verified'),
    currency: z.string(),
    amount: z.number().int().describe('integer minor units of currency'),
    state: RefundState,
    waitingFor: z.string().nullable().describe('what the refund waits for, in words'),
    waitingParty: WaitingParty.nullable().describe('what the refund waits for, as the waitingFor filter names it'),
    stateSince: instant,
    stuck: z.boolean().describe('stuck now: escalated as overdue, or past its stage deadline'),
    stuckAfter: instant.nullable(),
    carrier: z.string().nullable(),
    trackingNumber: z.string().nullable(),
    policyVersion: z.string(),
    riskScore: z.number().int().nullable(),
    riskBand: z.string().nullable(),
    approvalsRequired: z.number().int().nullable(),
    approvalsGiven: z.number().int(),
    requestedAt: instant,
    updatedAt: instant,
  })
  .meta({ id: 'RefundListItem' });
export type RefundListItem = z.infer<typeof RefundListItem>;

export const RefundList = z
  .object({
    data: z.array(RefundListItem).describe('newest first: requested_at, then refund id, both descending'),
    has_more: z.boolean().describe('true when there is a next page: ask again with starting_after set to the last refund id'),
  })
  .meta({ id: 'RefundList' });
export type RefundList = z.infer<typeof RefundList>;

export const InboxItem = z
  .object({
    refundId: z.string(),
    orderId: z.string(),
    customerId: z.string(),
    initiatedBy: z.string(),
    requestedBy: z.string().nullable(),
    amount: MinorUnits,
    currency: Currency,
    waitingSince: instant.describe('when the refund started waiting for approval'),
    stuck: z.boolean(),
    stuckAfter: instant.nullable(),
    evidence: RefundView.shape.evidence.describe('the carrier timeline, the warehouse receipts and the findings'),
    risk: RiskAssessment.extend({ assessedAt: instant }).nullable(),
    approvals: RefundView.shape.approvals.describe('approvals so far'),
    approvalsRequired: z.number().int().nullable(),
    approvalsStillNeeded: z.number().int(),
    escalations: RefundView.shape.escalations,
  })
  .meta({ id: 'InboxItem' });
export type InboxItem = z.infer<typeof InboxItem>;

export const ApprovalsInbox = z
  .object({
    approverId: z.string(),
    registered: z
      .boolean()
      .describe(
        "false when the approver's registry entry does not count under the trust roots: no decision of theirs would, so the inbox is empty",
      ),
    reason: z.string().optional(),
    items: z.array(InboxItem).describe('longest waiting first'),
  })
  .meta({ id: 'ApprovalsInbox' });
export type ApprovalsInbox = z.infer<typeof ApprovalsInbox>;

const StuckGroup = {
  count: z.number().int(),
  amounts: z.record(z.string(), z.number().int()).describe('the sum of amounts per currency, in minor units'),
};

export const StuckSummary = z
  .object({
    total: z.object(StuckGroup),
    byState: z.array(z.object({ state: RefundState, ...StuckGroup })),
    byWaitingFor: z.array(z.object({ waitingFor: WaitingParty, ...StuckGroup })),
    rows: z.array(z.object({ state: RefundState, currency: z.string(), count: z.number().int(), amount: z.number().int() })),
  })
  .meta({ id: 'StuckSummary' });
export type StuckSummary = z.infer<typeof StuckSummary>;
