/**
 * Every fact the risk check reads, in one statement (one round trip): the customer's refund
 * history, the orders they had refunded, the other refunds on the return parcel, the linked
 * customers and their refunds, the initiator's activity, each scanner's receipts without a carrier
 * delivery, each approver's approvals, and the tripped breakers of the employees on the refund.
 * One row, one jsonb column per family; a family not asked for is not read and comes back empty.
 * A refund the refund service cancelled was withdrawn, not granted or attempted, so it is left out
 * of every refund count; values are summed in the currency asked for (minor units), counts span
 * all currencies. The insider parts read `insider_actions` as store/insider-activity does (the
 * breakers' windows read it there). docs/performance.md names the index each part is served by.
 */
import { canonicalPrincipalId } from '../workflows/schemas';
import { toBreaker, type Breaker } from './breakers';
import type { ApprovalOnRecord, InitiatorActivity } from './insider-activity';
import type { Db } from './pool';

/** The customer's other refunds over the last 30 and 90 days, and their value. */
export interface CustomerRefundHistory {
  refunds30d: number;
  refunds90d: number;
  value30d: number;
  value90d: number;
}

/** Another refund whose return parcel has the same carrier and tracking number. */
export interface RefundOnParcel {
  refundId: string;
  customerId: string;
}

/** Another customer sharing identity with this one, and the kinds of identity they share. */
export interface LinkedCustomer {
  customerId: string;
  kinds: string[];
}

export interface RefundTotals {
  refunds: number;
  value: number;
}

export interface RiskFactsQuery {
  /** Values are summed in this currency (the families that sum values need it). */
  currency?: string;
  /** The customer's other refunds since `since30d` and `since90d`; with `orderId`, the orders they had refunded, counting it. */
  customer?: { customerId: string; exceptRefundId: string; since30d: Date; since90d: Date; orderId?: string };
  /** Other refunds (up to 20, oldest first) whose return parcel has this carrier and tracking number. */
  parcel?: { carrier: string; trackingNumber: string; exceptRefundId: string };
  /** Other customers (up to 200) recorded with any of these identity values, and their refunds since `since`. */
  linked?: { identity: ReadonlyArray<{ kind: string; value: string }>; customerId: string; since: Date };
  /** Refunds the employee initiated since `daySince` and since `weekSince` (the earlier). */
  initiator?: { employeeId: string; daySince: Date; weekSince: Date };
  /** Each scanner's receipts since `since` (not on `exceptRefundId`) with no carrier delivery at or before the scan. */
  scanners?: { employeeIds: readonly string[]; since: Date; exceptRefundId?: string };
  /** Each approver's approvals since `since`. */
  approvers?: { employeeIds: readonly string[]; since: Date };
  /** Whose tripped (not lifted) breakers to read. */
  breakersOf?: readonly string[];
}

export interface RiskFacts {
  customer?: CustomerRefundHistory;
  /** Known when `customer.orderId` was given. */
  ordersRefunded?: number;
  parcelRefunds?: RefundOnParcel[];
  /** `history` is known when there are linked customers. */
  linked?: { linked: LinkedCustomer[]; history?: RefundTotals };
  initiator?: { day: InitiatorActivity; week: InitiatorActivity };
  /** The refunds of each scanner's receipts without delivery, by refund id, in the order of `scanners.employeeIds`. */
  scanners: string[][];
  /** Each approver's approvals, oldest first, in the order of `approvers.employeeIds`. */
  approvers: ApprovalOnRecord[][];
  breakers: Breaker[];
}

/*
 * Parameters: $1 currency; customer $2 id, $3 except refund, $4 since 30 days, $5 since 90 days,
 * $6 order id; parcel $7 carrier, $8 tracking number, $9 except refund; linked $10 kinds,
 * $11 values, $12 customer id, $13 since; initiator $14 id, $15 day since, $16 week since;
 * scanners $17 ids, $18 since, $19 except refund; approvers $20 ids, $21 since; breakers $22 ids.
 * A family not asked for gets NULL (or no ids) and folds away when the statement is planned.
 */
const RISK_FACTS = `
WITH linked AS (
  SELECT customer_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds FROM customer_identity_links
  WHERE (kind, value) IN (SELECT * FROM unnest($10::text[], $11::text[])) AND customer_id <> $12::text
  GROUP BY customer_id ORDER BY customer_id LIMIT 200
)
SELECT
  CASE WHEN $2::text IS NOT NULL THEN (
    SELECT jsonb_build_object(
      'refunds30d', count(*) FILTER (WHERE requested_at > $4::timestamptz),
      'refunds90d', count(*),
      'value30d', coalesce(sum(amount) FILTER (WHERE requested_at > $4::timestamptz AND currency = $1), 0),
      'value90d', coalesce(sum(amount) FILTER (WHERE currency = $1), 0))
    FROM refunds
    WHERE customer_id = $2::text AND state <> 'cancelled' AND refund_id <> $3::text AND requested_at > $5::timestamptz)
  END AS customer,
  CASE WHEN $2::text IS NOT NULL AND $6::text IS NOT NULL THEN (
    SELECT count(*)::int FROM (
      SELECT order_id FROM refunds WHERE customer_id = $2::text AND state <> 'cancelled' UNION SELECT $6::text) refunded)
  END AS orders_refunded,
  CASE WHEN $7::text IS NOT NULL THEN (
    SELECT coalesce(jsonb_agg(jsonb_build_object('refundId', refund_id, 'customerId', customer_id) ORDER BY requested_at), '[]'::jsonb)
    FROM (
      SELECT refund_id, customer_id, requested_at FROM refunds
      WHERE carrier = $7::text AND tracking_number = $8::text AND refund_id <> $9::text
      ORDER BY requested_at LIMIT 20) on_parcel)
  END AS parcel_refunds,
  CASE WHEN cardinality($10::text[]) > 0 THEN jsonb_build_object(
    'linked', (SELECT coalesce(jsonb_agg(jsonb_build_object('customerId', customer_id, 'kinds', kinds) ORDER BY customer_id), '[]'::jsonb) FROM linked),
    'history', CASE WHEN EXISTS (SELECT FROM linked) THEN (
      SELECT jsonb_build_object('refunds', count(*), 'value', coalesce(sum(amount) FILTER (WHERE currency = $1), 0))
      FROM refunds
      WHERE customer_id = ANY (ARRAY(SELECT customer_id FROM linked)) AND requested_at > $13::timestamptz AND state <> 'cancelled')
    END)
  END AS linked,
  CASE WHEN $14::text IS NOT NULL THEN (
    SELECT jsonb_build_object(
      'day', jsonb_build_object(
        'refunds', count(*) FILTER (WHERE acted_at > $15::timestamptz),
        'value', coalesce(sum(amount) FILTER (WHERE acted_at > $15::timestamptz AND currency = $1), 0)),
      'week', jsonb_build_object('refunds', count(*), 'value', coalesce(sum(amount) FILTER (WHERE currency = $1), 0)))
    FROM insider_actions WHERE employee_id = $14::text AND role = 'initiator' AND acted_at > $16::timestamptz)
  END AS initiator,
  (SELECT coalesce(jsonb_agg((
     SELECT coalesce(jsonb_agg(receipt.refund_id ORDER BY receipt.refund_id), '[]'::jsonb) FROM (
       SELECT DISTINCT s.refund_id FROM insider_actions s
       WHERE s.employee_id = scanner.id AND s.role = 'scanner' AND s.acted_at > $18::timestamptz
         AND s.refund_id IS DISTINCT FROM $19::text
         AND NOT EXISTS (
           SELECT 1 FROM audit_log a
           WHERE a.refund_id = s.refund_id AND a.kind = 'carrier_event' AND a.data->>'status' = 'delivered'
             AND (a.data->>'occurredAt')::timestamptz <= s.scanned_at)) receipt
   ) ORDER BY scanner.n), '[]'::jsonb)
   FROM unnest($17::text[]) WITH ORDINALITY AS scanner(id, n)) AS scanners,
  (SELECT coalesce(jsonb_agg((
     SELECT coalesce(jsonb_agg(jsonb_build_object(
       'refundId', p.refund_id, 'customerId', p.customer_id, 'initiatedBy', p.initiated_by, 'amount', p.amount,
       'currency', p.currency, 'at', p.acted_at,
       'scanners', coalesce((SELECT array_agg(DISTINCT s.employee_id) FROM insider_actions s WHERE s.refund_id = p.refund_id AND s.role = 'scanner'), '{}')
     ) ORDER BY p.acted_at), '[]'::jsonb)
     FROM insider_actions p
     WHERE p.employee_id = approver.id AND p.role = 'approver' AND p.acted_at > $21::timestamptz
   ) ORDER BY approver.n), '[]'::jsonb)
   FROM unnest($20::text[]) WITH ORDINALITY AS approver(id, n)) AS approvers,
  (SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.id), '[]'::jsonb)
   FROM employee_breakers b WHERE b.employee_id = ANY ($22::text[]) AND b.lifted_at IS NULL) AS breakers`;

interface RiskFactsRow {
  customer: { refunds30d: number; refunds90d: number; value30d: number; value90d: number } | null;
  orders_refunded: number | null;
  parcel_refunds: RefundOnParcel[] | null;
  linked: { linked: LinkedCustomer[]; history: RefundTotals | null } | null;
  initiator: { day: InitiatorActivity; week: InitiatorActivity } | null;
  scanners: string[][];
  approvers: Array<Array<Omit<ApprovalOnRecord, 'at'> & { at: string }>>;
  breakers: Array<Record<string, unknown>>;
}

/** The parameters of RISK_FACTS for a query, in order. */
function riskFactsParameters(query: RiskFactsQuery): unknown[] {
  const { customer, parcel, linked, initiator, scanners, approvers } = query;
  const canonical = (ids: readonly string[] | undefined) => (ids ?? []).map(canonicalPrincipalId);
  return [
    query.currency ?? null,
    customer?.customerId ?? null,
    customer?.exceptRefundId ?? null,
    customer?.since30d ?? null,
    customer?.since90d ?? null,
    customer?.orderId ?? null,
    parcel?.carrier ?? null,
    parcel?.trackingNumber ?? null,
    parcel?.exceptRefundId ?? null,
    (linked?.identity ?? []).map((i) => i.kind),
    (linked?.identity ?? []).map((i) => i.value),
    linked?.customerId ?? null,
    linked?.since ?? null,
    initiator ? canonicalPrincipalId(initiator.employeeId) : null,
    initiator?.daySince ?? null,
    initiator?.weekSince ?? null,
    canonical(scanners?.employeeIds),
    scanners?.since ?? null,
    scanners?.exceptRefundId ?? null,
    canonical(approvers?.employeeIds),
    approvers?.since ?? null,
    [...new Set(canonical(query.breakersOf))],
  ];
}

export async function riskFacts(db: Db, query: RiskFactsQuery): Promise<RiskFacts> {
  const result = await db.query<RiskFactsRow>(RISK_FACTS, riskFactsParameters(query));
  const row = result.rows[0]!;
  const money = (totals: { refunds: number; value: number }) => ({ refunds: totals.refunds, value: Number(totals.value) });
  return {
    ...(row.customer
      ? {
          customer: {
            refunds30d: row.customer.refunds30d,
            refunds90d: row.customer.refunds90d,
            value30d: Number(row.customer.value30d),
            value90d: Number(row.customer.value90d),
          },
        }
      : {}),
    ...(row.orders_refunded === null ? {} : { ordersRefunded: row.orders_refunded }),
    ...(row.parcel_refunds ? { parcelRefunds: row.parcel_refunds } : {}),
    ...(row.linked ? { linked: { linked: row.linked.linked, ...(row.linked.history ? { history: money(row.linked.history) } : {}) } } : {}),
    ...(row.initiator ? { initiator: { day: money(row.initiator.day), week: money(row.initiator.week) } } : {}),
    scanners: row.scanners,
    approvers: row.approvers.map((approvals) =>
      approvals.map((a) => ({
        refundId: a.refundId,
        customerId: a.customerId,
        initiatedBy: a.initiatedBy,
        scanners: a.scanners,
        amount: Number(a.amount),
        currency: a.currency.trim(),
        at: new Date(a.at),
      })),
    ),
    breakers: row.breakers.map((b) => toBreaker({ ...b, tripped_at: new Date(b.tripped_at as string), lifted_at: null })),
  };
}
