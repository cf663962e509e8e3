/**
 * The basic risk check: a score from 0 to 100 with the reasons behind it. It looks at the
 * refund's own amount, goods and evidence, and at the customer's recent refunds in the read model.
 */
import { majorToMinor } from '../workflows/currencies';
import type { EvidenceFinding, Policy, RiskAssessment, RiskBand, RiskReason } from '../workflows/policy';
import type { RefundRequest } from '../workflows/schemas';
import type { Pool } from './db';

export interface RiskInput {
  refundId: string;
  /** The policy the refund pinned when it started. */
  policy: Policy;
  request: RefundRequest;
  amount: number;
  findings: EvidenceFinding[];
  scanners: string[];
}

const findingPoints: Record<EvidenceFinding, number> = {
  no_return_parcel: 30,
  carrier_delivery_missing: 30,
  receipt_before_delivery: 40,
  item_missing: 30,
  serial_mismatch: 35,
  unexpected_item: 15,
  wrong_item: 40,
  empty_box: 50,
  weight_mismatch: 25,
  scanner_is_requester: 40,
};

export function bandOf(score: number): RiskBand {
  if (score >= 80) return 'block';
  if (score >= 50) return 'high';
  if (score >= 25) return 'medium';
  return 'low';
}

/** Refunds by the same customer in the last 30 days before this one. */
async function recentRefunds(pool: Pool, input: RiskInput): Promise<number> {
  const result = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM refunds
     WHERE customer_id = $1 AND refund_id <> $2 AND requested_at > now() - interval '30 days'`,
    [input.request.customerId, input.refundId],
  );
  return result.rows[0]?.n ?? 0;
}

export async function assessRisk(pool: Pool, input: RiskInput): Promise<RiskAssessment> {
  const { policy } = input;
  const reasons: RiskReason[] = [];
  const { request, amount } = input;
  if (amount > majorToMinor(policy.amounts.singleApprovalMax, request.currency)) {
    reasons.push({ code: 'high_value', detail: `amount ${amount} above ${policy.amounts.singleApprovalMax} ${request.currency}`, points: 15 });
  }
  const resale = [...new Set(request.items.map((i) => i.category).filter((c) => policy.highResaleCategories.includes(c)))];
  if (resale.length > 0) reasons.push({ code: 'high_resale_goods', detail: resale.join(', '), points: 20 });
  for (const finding of input.findings) {
    reasons.push({ code: `evidence_${finding}`, detail: finding.replaceAll('_', ' '), points: findingPoints[finding] });
  }
  const recent = await recentRefunds(pool, input);
  if (recent >= 3) reasons.push({ code: 'customer_refund_velocity', detail: `${recent} other refunds in 30 days`, points: 10 * Math.min(recent - 2, 4) });
  const score = Math.min(100, reasons.reduce((sum, r) => sum + r.points, 0));
  return { score, band: bandOf(score), reasons };
}
