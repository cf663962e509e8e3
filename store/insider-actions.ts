/**
 * The records the risk engine counts from, derived from the audit facts a refund writes and in
 * the same transaction: who initiated, scanned and approved which refund (`insider_actions`), and
 * the identity the customer shares with other accounts (`customer_identity_links`). Both are
 * keyed by the fact they come from, so a retried write adds nothing. Each new insider action is
 * checked against its employee's circuit breaker.
 */
import type { InsiderRole, Policy } from '../workflows/policy';
import type { ReadModelSnapshot } from '../workflows/read-model-snapshot';
import type { AuditFact } from '../workflows/refund-model';
import { canonicalPrincipalId, CUSTOMER, type RefundRequest } from '../workflows/schemas';
import { tripBreakerIfCrossed } from './breakers';
import type { PoolClient } from './pool';

export interface InsiderAction {
  refundSeq: number;
  employeeId: string;
  role: InsiderRole;
  actedAt: string;
  scannedAt: string | null;
}

/** The insider action a fact records, if any, under the employee's canonical id. */
function insiderActionOf(fact: AuditFact, refundSeq: number): InsiderAction | undefined {
  const data = fact.data;
  const employee = (value: unknown) => canonicalPrincipalId(String(value));
  switch (fact.kind) {
    case 'refund_requested': {
      // A refused request is nobody's action: its initiatedBy is only what an unverified message said.
      if (data.refused !== undefined) return undefined;
      const initiatedBy = employee((data.request as RefundRequest).initiatedBy);
      return initiatedBy === CUSTOMER
        ? undefined
        : { refundSeq, employeeId: initiatedBy, role: 'initiator', actedAt: fact.at, scannedAt: null };
    }
    case 'warehouse_receipt':
      return { refundSeq, employeeId: employee(data.scannedBy), role: 'scanner', actedAt: fact.at, scannedAt: String(data.scannedAt) };
    case 'approved':
      return { refundSeq, employeeId: employee(data.approverId), role: 'approver', actedAt: fact.at, scannedAt: null };
    default:
      return undefined;
  }
}

/**
 * The insider actions a batch of facts numbered from `firstSeq` records. A transition with none
 * has nothing to write here and no breaker to check, so it can be written in one statement
 * (activities/index.ts).
 */
export function insiderActionsOf(firstSeq: number, facts: readonly AuditFact[]): InsiderAction[] {
  return facts.flatMap((fact, i) => insiderActionOf(fact, firstSeq + i) ?? []);
}

export async function recordInsiderActions(
  client: PoolClient,
  policy: Policy,
  refund: ReadModelSnapshot,
  firstSeq: number,
  facts: readonly AuditFact[],
): Promise<void> {
  for (const action of insiderActionsOf(firstSeq, facts)) {
    const inserted = await client.query(
      `INSERT INTO insider_actions (refund_id, refund_seq, employee_id, role, customer_id, initiated_by, amount, currency, acted_at, scanned_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
      [
        refund.refundId,
        action.refundSeq,
        action.employeeId,
        action.role,
        refund.customerId,
        canonicalPrincipalId(refund.initiatedBy),
        refund.amount,
        refund.currency,
        action.actedAt,
        action.scannedAt,
      ],
    );
    if (inserted.rowCount === 0) continue;
    await tripBreakerIfCrossed(client, policy, {
      employeeId: action.employeeId,
      role: action.role,
      currency: refund.currency,
      refundId: refund.refundId,
      now: new Date(action.actedAt),
    });
  }
}

const identityKinds = {
  shipping_address: 'shippingAddressHash',
  payment_fingerprint: 'paymentFingerprint',
  device_id: 'deviceId',
} as const;
export type IdentityKind = keyof typeof identityKinds;

/** The identity values a request carries, by kind. */
export function identityOf(request: RefundRequest): Array<{ kind: IdentityKind; value: string }> {
  const profile = request.customer;
  if (!profile) return [];
  return (Object.entries(identityKinds) as Array<[IdentityKind, (typeof identityKinds)[IdentityKind]]>).flatMap(([kind, field]) =>
    profile[field] === undefined ? [] : [{ kind, value: profile[field]! }],
  );
}

export async function recordCustomerIdentity(client: PoolClient, request: RefundRequest, requestedAt: string): Promise<void> {
  for (const { kind, value } of identityOf(request)) {
    await client.query(
      `INSERT INTO customer_identity_links (refund_id, customer_id, kind, value, requested_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [request.refundId, request.customerId, kind, value, requestedAt],
    );
  }
}
