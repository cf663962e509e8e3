/**
 * Nothing is paid without evidence and approvals, judged from the audit trail's own facts, not
 * from what the workflow concluded: before each refund's `paid` fact there is the carrier's
 * `delivered`, a warehouse receipt listing what was requested, and at least as many distinct
 * approvers (none of them the requester or the scanner) as the last risk review demanded, and at
 * least two whenever that review had a finding.
 */
import type { Pool } from '../store/pool';
import { type InvariantResult, result, rows } from './invariant-result';

export interface Fact {
  refund_id: string;
  kind: string;
  actor: string;
  data: Record<string, unknown>;
}

interface Review {
  findings?: unknown[];
  requirement?: { approvals?: number };
  review?: string;
}

/** What is wrong with one paid refund's facts (in order, up to its payment), or nothing. */
export function paymentProblems(refundId: string, facts: Fact[]): string[] {
  const request = facts.find((f) => f.kind === 'refund_requested')?.data.request as
    | { initiatedBy: string; items: Array<{ sku: string; quantity: number }> }
    | undefined;
  const delivered = facts.some((f) => f.kind === 'carrier_event' && f.data.status === 'delivered');
  const receipts = facts.filter((f) => f.kind === 'warehouse_receipt');
  const review = facts.filter((f) => f.kind === 'risk_assessed').at(-1)?.data as Review | undefined;
  const scanners = new Set(receipts.map((r) => r.data.scannedBy as string));
  const approvers = new Set(facts.filter((f) => f.kind === 'approved').map((f) => (f.data as { approverId: string }).approverId));
  const problems: string[] = [];
  if (!request) problems.push('no request');
  if (review?.review === 'carrier_acceptance') return problems; // paid early by policy; the run's policy never does
  if (!delivered) problems.push('no carrier delivery');
  const requested = new Set(request?.items.map((i) => i.sku));
  const matching = receipts.some((r) => {
    const skus = new Set((r.data.items as Array<{ sku: string }>).map((i) => i.sku));
    return [...requested].every((sku) => skus.has(sku));
  });
  if (!matching) problems.push(receipts.length ? 'no receipt lists the requested items' : 'no warehouse receipt');
  if (!review) problems.push('no risk review');
  const needed = Math.max(review?.requirement?.approvals ?? 0, review?.findings?.length ? 2 : 0);
  if (approvers.size < needed) problems.push(`${approvers.size} distinct approvals, ${needed} needed`);
  for (const approver of approvers) {
    if (approver === request?.initiatedBy || scanners.has(approver)) problems.push(`${approver} approved their own refund or scan`);
  }
  return problems.map((p) => `${refundId}: ${p}`);
}

export async function paidOnlyOnEvidence(pool: Pool, like: string): Promise<InvariantResult> {
  const facts = await rows<Fact & { paid_seq: number }>(
    pool,
    `SELECT a.refund_id, a.kind, a.actor, a.data FROM audit_log a
       JOIN (SELECT refund_id, min(refund_seq) AS paid_seq FROM audit_log WHERE kind = 'paid' AND refund_id LIKE $1 GROUP BY refund_id) p
         ON p.refund_id = a.refund_id AND a.refund_seq < p.paid_seq
      ORDER BY a.refund_id, a.refund_seq`,
    [like],
  );
  const byRefund = new Map<string, Fact[]>();
  for (const fact of facts) byRefund.set(fact.refund_id, [...(byRefund.get(fact.refund_id) ?? []), fact]);
  const problems = [...byRefund].flatMap(([refundId, list]) => paymentProblems(refundId, list));
  return result(
    'nothing paid without a carrier delivery, a matching receipt and the distinct approvals required',
    problems,
    `${byRefund.size} payments, each with its evidence and approvals`,
  );
}
