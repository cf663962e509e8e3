/**
 * The refund policy: what a refund needs before money moves. Pure functions only; the workflow
 * pins one policy value at start (it is in the refund's history), so a refund keeps the rules it
 * started under even when the service's policy changes.
 */
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { majorToMinor } from './currencies';

const DurationString = z.string().refine(
  (value) => {
    try {
      return msToNumber(value as Parameters<typeof msToNumber>[0]) > 0;
    } catch {
      return false;
    }
  },
  { error: 'must be a duration such as "30 days", "10d", "2h" or "5s"' },
);
const DecimalAmount = z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal amount in major units, e.g. "100.00"');

export const Policy = z.strictObject({
  version: z.string().min(1),
  amounts: z.strictObject({
    /** Up to this amount, low risk and clean evidence: paid with no human approval. */
    autoApproveMax: DecimalAmount,
    /** Up to this amount: one approval. Above it: two distinct approvers. */
    singleApprovalMax: DecimalAmount,
  }),
  timers: z.strictObject({
    /** No carrier scan at all within this time after the request: the refund expires. */
    returnWindow: DurationString,
    /** Carrier scanned the parcel but has not delivered it within this time: stuck. */
    carrierDelivery: DurationString,
    /** Delivered to the warehouse but no receipt scan within this time: stuck. */
    warehouseReceipt: DurationString,
    /** Waiting for approvals longer than this: stuck. */
    approval: DurationString,
    /** The payout has not completed within this time (gateway down): stuck. */
    payout: DurationString,
    /** One call to the payment gateway may take this long before it is retried with the same idempotency key. */
    payoutAttempt: DurationString,
  }),
  /** Evidence that does not add up (receipt before delivery, mismatch, empty box, …). */
  evidenceIssues: z.enum(['dual_approval', 'reject']),
  /** Refunds that ask for no return parcel at all. */
  returnless: z.enum(['dual_approval', 'reject']),
  /** How far the warehouse's weight may be from the carrier's, as a fraction (0.2 = 20 %). */
  weightTolerance: z.number().min(0).max(10),
  /** Categories that ring fraud targets because they resell well. */
  highResaleCategories: z.array(z.string().min(1)),
});
export type Policy = z.infer<typeof Policy>;

export const defaultPolicy: Policy = {
  version: '2026-11-21.1',
  amounts: { autoApproveMax: '100.00', singleApprovalMax: '1000.00' },
  timers: {
    returnWindow: '30 days',
    carrierDelivery: '14 days',
    warehouseReceipt: '10 days',
    approval: '2 days',
    payout: '1 hour',
    payoutAttempt: '30 seconds',
  },
  evidenceIssues: 'dual_approval',
  returnless: 'dual_approval',
  weightTolerance: 0.2,
  highResaleCategories: ['laptops', 'phones', 'tablets', 'consoles', 'jewellery', 'precious_metals', 'tyres'],
};

export type RiskBand = 'low' | 'medium' | 'high' | 'block';
export const riskBands: readonly RiskBand[] = ['low', 'medium', 'high', 'block'];

export interface RiskReason {
  code: string;
  detail: string;
  points: number;
}
export interface RiskAssessment {
  score: number;
  band: RiskBand;
  reasons: RiskReason[];
}

/** Why the evidence is not clean enough to pay on. Empty means carrier and warehouse agree. */
export type EvidenceFinding =
  | 'no_return_parcel'
  | 'carrier_delivery_missing'
  | 'receipt_before_delivery'
  | 'item_missing'
  | 'serial_mismatch'
  | 'unexpected_item'
  | 'wrong_item'
  | 'empty_box'
  | 'weight_mismatch'
  | 'scanner_is_requester';

export type ApprovalRequirement =
  | { outcome: 'reject'; reason: string }
  | { outcome: 'approve'; approvals: 0 | 1 | 2; reasons: string[] };

/**
 * How many distinct approvers a refund needs, given its amount, its risk band and what its
 * evidence shows. Monotone: more risk, more findings or more money never needs fewer approvals.
 */
export function approvalsRequired(input: {
  amount: number;
  currency: string;
  band: RiskBand;
  findings: readonly EvidenceFinding[];
  policy: Policy;
}): ApprovalRequirement {
  const { amount, currency, band, findings, policy } = input;
  if (band === 'block') return { outcome: 'reject', reason: 'risk band is block' };
  const returnless = findings.includes('no_return_parcel');
  if (returnless && policy.returnless === 'reject') {
    return { outcome: 'reject', reason: 'policy rejects refunds without a return parcel' };
  }
  const evidenceProblems = findings.filter((f) => f !== 'no_return_parcel');
  if (evidenceProblems.length > 0 && policy.evidenceIssues === 'reject') {
    return { outcome: 'reject', reason: `evidence does not support the refund: ${evidenceProblems.join(', ')}` };
  }

  const reasons: string[] = [];
  let approvals: 0 | 1 | 2 = 0;
  const autoMax = majorToMinor(policy.amounts.autoApproveMax, currency);
  const singleMax = majorToMinor(policy.amounts.singleApprovalMax, currency);
  if (amount > singleMax) {
    approvals = 2;
    reasons.push(`amount above ${policy.amounts.singleApprovalMax} ${currency}`);
  } else if (amount > autoMax) {
    approvals = 1;
    reasons.push(`amount above ${policy.amounts.autoApproveMax} ${currency}`);
  }
  if (band === 'medium' && approvals < 1) {
    approvals = 1;
    reasons.push('medium risk');
  }
  if (band === 'high') {
    approvals = 2;
    reasons.push('high risk');
  }
  if (findings.length > 0) {
    approvals = 2;
    reasons.push(`evidence: ${findings.join(', ')}`);
  }
  return { outcome: 'approve', approvals, reasons };
}

/** The separation-of-duties and authority rules an approval must pass. */
export type ApprovalRule =
  | 'not_awaiting_approval'
  | 'approver_role_required'
  | 'approver_is_requester'
  | 'approver_is_scanner'
  | 'approver_already_decided'
  | 'approval_limit_below_amount';

export interface ApprovalRefusal {
  rule: ApprovalRule;
  message: string;
}
