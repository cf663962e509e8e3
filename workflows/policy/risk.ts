/**
 * What the risk check and the approval rules exchange. The risk types are zod schemas so the
 * HTTP API serializes and documents exactly these shapes.
 */
import { z } from 'zod';
import type { StatementRule } from '../statements';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/policy/risk');

export const riskBands = ['low', 'medium', 'high', 'block'] as const;
export type RiskBand = (typeof riskBands)[number];

/** One reason behind a risk score: what fired, in words, its points and the values that made it fire. */
export const RiskReason = built('RiskReason', () =>
  z.object({
    code: z.string().describe('the signal that fired, e.g. customer_refunds_30d'),
    detail: z.string().describe('what fired, in words'),
    points: z.number().describe('what it added to the score'),
    values: z.record(z.string(), z.unknown()).describe('the values that made it fire, e.g. counts, amounts, limits'),
  }),
);
export type RiskReason = z.infer<typeof RiskReason>;

/** The roles in which an employee touches a refund. */
export const insiderRoles = ['initiator', 'scanner', 'approver'] as const;
export type InsiderRole = (typeof insiderRoles)[number];

/** An employee who touched the refund while their circuit breaker was tripped. */
export const ActiveBreaker = built('ActiveBreaker', () =>
  z.object({
    employeeId: z.string(),
    touchedAs: z.enum(insiderRoles).describe('how they touched this refund'),
    trippedAt: z.string().meta({ format: 'date-time' }),
    reason: z.string().describe('which limit they crossed'),
  }),
);
export type ActiveBreaker = z.infer<typeof ActiveBreaker>;

export const RiskAssessment = built('RiskAssessment', () =>
  z.object({
    score: z.number().int().min(0).max(100),
    band: z.enum(riskBands),
    reasons: z.array(RiskReason),
    breakers: z
      .array(ActiveBreaker)
      .optional()
      .describe('employees on this refund whose circuit breaker is tripped (absent in assessments made before breakers existed)'),
  }),
);
export type RiskAssessment = z.infer<typeof RiskAssessment>;

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
  | 'delivered_elsewhere'
  | 'scanner_is_requester';

export type ApprovalRequirement = { outcome: 'reject'; reason: string } | { outcome: 'approve'; approvals: number; reasons: string[] };

/**
 * The separation-of-duties and authority rules an approval must pass. A statement's missing role
 * or limit is reported as `approver_role_required` or `approval_limit_below_amount`.
 */
export type ApprovalRule =
  | 'not_awaiting_approval'
  | 'approver_role_required'
  | 'approver_is_requester'
  | 'approver_is_scanner'
  | 'approver_already_decided'
  | 'approval_limit_below_amount'
  | 'role_limit_below_amount'
  // A signed decision that does not verify (workflows/statements), or one already acted on.
  | Exclude<StatementRule, 'role_missing' | 'limit_exceeded'>
  | 'statement_replayed';

export interface ApprovalRefusal {
  rule: ApprovalRule;
  message: string;
}
