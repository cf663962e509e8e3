/**
 * Customer signals: the customer's refund history in the read model (refunds and amounts over the
 * last 30 and 90 days, the share of their orders refunded) and their account's age from the request.
 */
import { formatMinor } from '../../workflows/currencies';
import { thresholdsFor } from '../../workflows/policy';
import type { Db } from '../../store/insider-activity';
import type { RiskInput, Signal } from './signal';

const DAY = 86_400_000;

export async function customerSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const { request, policy } = input;
  const rules = policy.signals.customer;
  const limits = thresholdsFor(policy, request.currency);
  const signals: Signal[] = [];

  // A refund the refund service cancelled was withdrawn, not granted or attempted: it does not count.
  const history = await db.query<{ n30: number; n90: number; v30: number; v90: number }>(
    `SELECT
       count(*) FILTER (WHERE refund_id <> $2 AND requested_at > $3)::int AS n30,
       count(*) FILTER (WHERE refund_id <> $2 AND requested_at > $4)::int AS n90,
       coalesce(sum(amount) FILTER (WHERE refund_id <> $2 AND requested_at > $3 AND currency = $5), 0)::bigint AS v30,
       coalesce(sum(amount) FILTER (WHERE refund_id <> $2 AND requested_at > $4 AND currency = $5), 0)::bigint AS v90
     FROM refunds WHERE customer_id = $1 AND state <> 'cancelled'`,
    [request.customerId, input.refundId, new Date(now.getTime() - 30 * DAY), new Date(now.getTime() - 90 * DAY), request.currency],
  );
  const h = history.rows[0]!;
  const [v30, v90] = [Number(h.v30), Number(h.v90)];
  const money = (minor: number) => formatMinor(minor, request.currency);
  if (h.n30 >= rules.refunds30d) {
    signals.push({ code: 'customer_refunds_30d', detail: `${h.n30} other refunds in 30 days (from ${rules.refunds30d})`, values: { refunds: h.n30, threshold: rules.refunds30d } });
  }
  if (h.n90 >= rules.refunds90d) {
    signals.push({ code: 'customer_refunds_90d', detail: `${h.n90} other refunds in 90 days (from ${rules.refunds90d})`, values: { refunds: h.n90, threshold: rules.refunds90d } });
  }
  if (v30 >= limits.customerRefundValue30d) {
    signals.push({
      code: 'customer_refund_value_30d',
      detail: `${money(v30)} refunded in 30 days (from ${money(limits.customerRefundValue30d)})`,
      values: { amount: v30, currency: request.currency, threshold: limits.customerRefundValue30d },
    });
  }
  if (v90 >= limits.customerRefundValue90d) {
    signals.push({
      code: 'customer_refund_value_90d',
      detail: `${money(v90)} refunded in 90 days (from ${money(limits.customerRefundValue90d)})`,
      values: { amount: v90, currency: request.currency, threshold: limits.customerRefundValue90d },
    });
  }

  const profile = request.customer;
  if (profile?.accountCreatedAt !== undefined) {
    const ageDays = Math.floor((now.getTime() - Date.parse(profile.accountCreatedAt)) / DAY);
    if (ageDays < rules.newAccountDays) {
      signals.push({
        code: 'customer_new_account',
        detail: `account opened ${ageDays} days ago (younger than ${rules.newAccountDays})`,
        values: { accountCreatedAt: profile.accountCreatedAt, ageDays, threshold: rules.newAccountDays },
      });
    }
  }
  if (profile?.ordersPlaced !== undefined) {
    // This refund's order counts too: it is the customer's record as of this request.
    const orders = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         SELECT order_id FROM refunds WHERE customer_id = $1 AND state <> 'cancelled' UNION SELECT $2::text) refunded`,
      [request.customerId, request.orderId],
    );
    const ordersRefunded = Math.min(orders.rows[0]!.n, profile.ordersPlaced);
    const share = ordersRefunded / profile.ordersPlaced;
    if (ordersRefunded >= rules.minRefundedOrders && share >= rules.refundedOrderShare) {
      signals.push({
        code: 'customer_refunded_order_share',
        detail: `${ordersRefunded} of ${profile.ordersPlaced} orders refunded (${Math.round(share * 100)} %)`,
        values: { ordersRefunded, ordersPlaced: profile.ordersPlaced, share, threshold: rules.refundedOrderShare },
      });
    }
  }
  return signals;
}
