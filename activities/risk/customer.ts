/**
 * Customer signals: the customer's refund history in the read model (refunds and amounts over the
 * last 30 and 90 days, the share of their orders refunded) and their account's age from the request.
 * Pure: the facts come from store/risk-facts.
 */
import { formatMinor } from '../../workflows/currencies';
import { thresholdsFor } from '../../workflows/policy';
import type { CustomerRefundHistory } from '../../store/risk-facts';
import type { RiskInput, Signal } from './signal';

const DAY = 86_400_000;

export interface CustomerFacts {
  history: CustomerRefundHistory;
  /** Orders with a refund, this refund's order included; known when the request says how many orders were placed. */
  ordersRefunded?: number;
}

export function customerRules(facts: CustomerFacts, input: Pick<RiskInput, 'request' | 'policy'>, now: Date): Signal[] {
  const { request, policy } = input;
  const rules = policy.signals.customer;
  const limits = thresholdsFor(policy, request.currency);
  const { refunds30d: n30, refunds90d: n90, value30d: v30, value90d: v90 } = facts.history;
  const signals: Signal[] = [];

  const money = (minor: number) => formatMinor(minor, request.currency);
  if (n30 >= rules.refunds30d) {
    signals.push({
      code: 'customer_refunds_30d',
      detail: `${n30} other refunds in 30 days (from ${rules.refunds30d})`,
      values: { refunds: n30, threshold: rules.refunds30d },
    });
  }
  if (n90 >= rules.refunds90d) {
    signals.push({
      code: 'customer_refunds_90d',
      detail: `${n90} other refunds in 90 days (from ${rules.refunds90d})`,
      values: { refunds: n90, threshold: rules.refunds90d },
    });
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
  if (profile?.ordersPlaced !== undefined && facts.ordersRefunded !== undefined) {
    const ordersRefunded = Math.min(facts.ordersRefunded, profile.ordersPlaced);
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
