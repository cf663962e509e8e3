/**
 * The read-model history the customer, evidence and linked-account risk signals judge: plain facts,
 * no thresholds. A refund the refund service cancelled was withdrawn, not granted or attempted, so
 * it is left out of every count here. Values are summed in the currency asked for (minor units).
 */
import type { Db } from './pool';

const DAY = 86_400_000;

/** The customer's other refunds over the last 30 and 90 days, and their value. */
export interface CustomerRefundHistory {
  refunds30d: number;
  refunds90d: number;
  value30d: number;
  value90d: number;
}

export async function customerRefundHistory(
  db: Db,
  input: { customerId: string; exceptRefundId: string; currency: string; now: Date },
): Promise<CustomerRefundHistory> {
  const { customerId, exceptRefundId, currency, now } = input;
  const result = await db.query<{ n30: number; n90: number; v30: number; v90: number }>(
    `SELECT
       count(*) FILTER (WHERE refund_id <> $2 AND requested_at > $3)::int AS n30,
       count(*) FILTER (WHERE refund_id <> $2 AND requested_at > $4)::int AS n90,
       coalesce(sum(amount) FILTER (WHERE refund_id <> $2 AND requested_at > $3 AND currency = $5), 0)::bigint AS v30,
       coalesce(sum(amount) FILTER (WHERE refund_id <> $2 AND requested_at > $4 AND currency = $5), 0)::bigint AS v90
     FROM refunds WHERE customer_id = $1 AND state <> 'cancelled'`,
    [customerId, exceptRefundId, new Date(now.getTime() - 30 * DAY), new Date(now.getTime() - 90 * DAY), currency],
  );
  const h = result.rows[0]!;
  return { refunds30d: h.n30, refunds90d: h.n90, value30d: Number(h.v30), value90d: Number(h.v90) };
}

/** How many distinct orders of the customer have a refund, counting `orderId` as one of them. */
export async function ordersRefunded(db: Db, customerId: string, orderId: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT order_id FROM refunds WHERE customer_id = $1 AND state <> 'cancelled' UNION SELECT $2::text) refunded`,
    [customerId, orderId],
  );
  return result.rows[0]!.n;
}

export interface RefundOnParcel {
  refundId: string;
  customerId: string;
}

/** Other refunds (up to 20, oldest first) whose return parcel has this carrier and tracking number. */
export async function refundsWithParcel(
  db: Db,
  parcel: { carrier: string; trackingNumber: string },
  exceptRefundId: string,
): Promise<RefundOnParcel[]> {
  const result = await db.query<{ refund_id: string; customer_id: string }>(
    `SELECT refund_id, customer_id FROM refunds WHERE carrier = $1 AND tracking_number = $2 AND refund_id <> $3 ORDER BY requested_at LIMIT 20`,
    [parcel.carrier, parcel.trackingNumber, exceptRefundId],
  );
  return result.rows.map((r) => ({ refundId: r.refund_id, customerId: r.customer_id }));
}

/** Another customer sharing identity with this one, and the kinds of identity they share. */
export interface LinkedCustomer {
  customerId: string;
  kinds: string[];
}

/** Other customers (up to 200, by id) recorded with any of these identity values. */
export async function linkedCustomers(
  db: Db,
  identity: ReadonlyArray<{ kind: string; value: string }>,
  customerId: string,
): Promise<LinkedCustomer[]> {
  const result = await db.query<{ customer_id: string; kinds: string[] }>(
    `SELECT customer_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds FROM customer_identity_links
     WHERE (kind, value) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND customer_id <> $3
     GROUP BY customer_id ORDER BY customer_id LIMIT 200`,
    [identity.map((i) => i.kind), identity.map((i) => i.value), customerId],
  );
  return result.rows.map((r) => ({ customerId: r.customer_id, kinds: r.kinds }));
}

export interface RefundTotals {
  refunds: number;
  value: number;
}

/** The refunds of these customers requested after `since` (all currencies), and their value in `currency`. */
export async function refundsOfCustomers(db: Db, customerIds: readonly string[], since: Date, currency: string): Promise<RefundTotals> {
  const result = await db.query<{ n: number; value: number }>(
    `SELECT count(*)::int AS n, coalesce(sum(amount) FILTER (WHERE currency = $3), 0)::bigint AS value
     FROM refunds WHERE customer_id = ANY($1::text[]) AND requested_at > $2 AND state <> 'cancelled'`,
    [customerIds, since, currency],
  );
  return { refunds: result.rows[0]!.n, value: Number(result.rows[0]!.value) };
}
