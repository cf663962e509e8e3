/**
 * What an employee did within a window, from `insider_actions`: the numbers the insider risk
 * signals and the circuit breakers compare with their limits. Values are summed per currency
 * (minor units of the currency asked for); counts span all currencies.
 */
import { canonicalPrincipalId } from '../workflows/schemas';
import type { Db } from './pool';

export type { Db } from './pool';

export interface InitiatorActivity {
  refunds: number;
  value: number;
}

/** Refunds the employee initiated since `since`, and their value in `currency`. */
export async function initiatorActivity(db: Db, employeeId: string, since: Date, currency: string): Promise<InitiatorActivity> {
  const result = await db.query<{ refunds: number; value: number }>(
    `SELECT count(*)::int AS refunds, coalesce(sum(amount) FILTER (WHERE currency = $3), 0)::bigint AS value
     FROM insider_actions WHERE employee_id = $1 AND role = 'initiator' AND acted_at > $2`,
    [canonicalPrincipalId(employeeId), since, currency],
  );
  return { refunds: result.rows[0]!.refunds, value: Number(result.rows[0]!.value) };
}

/**
 * The employee's receipt scans since `since` (on refunds other than `exceptRefundId`) with no
 * carrier delivery at or before the scan: the parcel never arrived, or arrived after it was
 * "received". The carrier's deliveries are read from the audit trail.
 */
export async function receiptsWithoutDelivery(db: Db, employeeId: string, since: Date, exceptRefundId?: string): Promise<string[]> {
  const result = await db.query<{ refund_id: string }>(
    `SELECT DISTINCT s.refund_id FROM insider_actions s
     WHERE s.employee_id = $1 AND s.role = 'scanner' AND s.acted_at > $2 AND s.refund_id IS DISTINCT FROM $3::text
       AND NOT EXISTS (
         SELECT 1 FROM audit_log a
         WHERE a.refund_id = s.refund_id AND a.kind = 'carrier_event' AND a.data->>'status' = 'delivered'
           AND (a.data->>'occurredAt')::timestamptz <= s.scanned_at)
     ORDER BY s.refund_id`,
    [canonicalPrincipalId(employeeId), since, exceptRefundId ?? null],
  );
  return result.rows.map((r) => r.refund_id);
}

/** One approval, with the people it was for: its customer, its initiator and its scanners. */
export interface ApprovalOnRecord {
  refundId: string;
  customerId: string;
  initiatedBy: string;
  scanners: string[];
  amount: number;
  currency: string;
  at: Date;
}

export async function approvalsSince(db: Db, employeeId: string, since: Date): Promise<ApprovalOnRecord[]> {
  const result = await db.query<{
    refund_id: string;
    customer_id: string;
    initiated_by: string;
    scanners: string[];
    amount: number;
    currency: string;
    acted_at: Date;
  }>(
    `SELECT p.refund_id, p.customer_id, p.initiated_by, p.amount, p.currency, p.acted_at,
       coalesce((SELECT array_agg(DISTINCT s.employee_id) FROM insider_actions s WHERE s.refund_id = p.refund_id AND s.role = 'scanner'), '{}') AS scanners
     FROM insider_actions p
     WHERE p.employee_id = $1 AND p.role = 'approver' AND p.acted_at > $2
     ORDER BY p.acted_at`,
    [canonicalPrincipalId(employeeId), since],
  );
  return result.rows.map((r) => ({
    refundId: r.refund_id,
    customerId: r.customer_id,
    initiatedBy: r.initiated_by,
    scanners: r.scanners,
    amount: Number(r.amount),
    currency: r.currency.trim(),
    at: r.acted_at,
  }));
}

export interface ApproverActivity {
  approvals: number;
  /** Value approved in the currency asked for. */
  value: number;
  /** The customer, initiator or scanner the approver approved most refunds for. */
  topCounterparty: { kind: 'customer' | 'initiator' | 'scanner'; id: string; approvals: number } | null;
}

/**
 * Sums an approver's approvals (one per refund: a refund approved twice by the same person cannot
 * happen, but a pending approval may already be on record after a retry).
 */
export function approverActivity(approvals: readonly ApprovalOnRecord[], currency: string): ApproverActivity {
  const byRefund = new Map(approvals.map((a) => [a.refundId, a]));
  const counts = new Map<string, { kind: 'customer' | 'initiator' | 'scanner'; id: string; approvals: number }>();
  const count = (kind: 'customer' | 'initiator' | 'scanner', id: string) => {
    const key = `${kind}\u0000${id}`;
    const entry = counts.get(key) ?? { kind, id, approvals: 0 };
    entry.approvals += 1;
    counts.set(key, entry);
  };
  let value = 0;
  for (const approval of byRefund.values()) {
    if (approval.currency === currency) value += approval.amount;
    count('customer', approval.customerId);
    // Self-service refunds have no initiating employee to be concentrated on.
    if (approval.initiatedBy !== 'customer') count('initiator', approval.initiatedBy);
    for (const scanner of new Set(approval.scanners)) count('scanner', scanner);
  }
  const top = [...counts.values()].sort((a, b) => b.approvals - a.approvals)[0] ?? null;
  return { approvals: byRefund.size, value, topCounterparty: top };
}
