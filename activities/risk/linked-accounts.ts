/**
 * Linked-account signals: other customers who share this request's shipping address, payment
 * fingerprint or device id (optional request fields, recorded with every refund), and what those
 * linked customers have refunded together within the policy's window. Pure: the facts come from
 * store/risk-facts.
 */
import { msToNumber } from '@temporalio/common';
import { formatMinor } from '../../workflows/currencies';
import { thresholdsFor, type Policy } from '../../workflows/policy';
import type { LinkedCustomer, RefundTotals } from '../../store/risk-facts';
import type { RiskInput, Signal } from './signal';

export interface LinkedAccountFacts {
  /** The kinds of identity the request carries (shipping_address, payment_fingerprint, device_id). */
  identityKinds: string[];
  linked: LinkedCustomer[];
  /** The linked customers' refunds in the policy's window; known when there are linked customers. */
  history?: RefundTotals;
}

/** Where the linked customers' refund history starts. */
export function linkedWindowStart(policy: Policy, now: Date): Date {
  return new Date(now.getTime() - msToNumber(policy.signals.linkedAccounts.window as never));
}

export function linkedAccountRules(facts: LinkedAccountFacts, input: Pick<RiskInput, 'request' | 'policy'>): Signal[] {
  const { request, policy } = input;
  if (facts.identityKinds.length === 0 || facts.linked.length === 0) return [];
  const linked = facts.linked.map((r) => r.customerId);
  const sharedBy = Object.fromEntries(facts.identityKinds.map((kind) => [kind, facts.linked.filter((r) => r.kinds.includes(kind)).length]));
  const signals: Signal[] = [
    {
      code: 'linked_shared_identity',
      detail: `${linked.length} other customer${linked.length === 1 ? '' : 's'} share${linked.length === 1 ? 's' : ''} ${Object.keys(
        sharedBy,
      )
        .filter((k) => sharedBy[k]! > 0)
        .join(', ')
        .replaceAll('_', ' ')}`,
      values: { linkedCustomers: linked, sharedBy },
    },
  ];
  if (!facts.history) return signals;

  const { window, refunds: refundThreshold } = policy.signals.linkedAccounts;
  const { refunds: n, value } = facts.history;
  const valueThreshold = thresholdsFor(policy, request.currency).linkedRefundValue;
  if (n >= refundThreshold || value >= valueThreshold) {
    signals.push({
      code: 'linked_refund_history',
      detail: `linked customers had ${n} refunds worth ${formatMinor(value, request.currency)} in ${window}`,
      values: {
        linkedCustomers: linked,
        refunds: n,
        amount: value,
        currency: request.currency,
        window,
        thresholds: { refunds: refundThreshold, amount: valueThreshold },
      },
    });
  }
  return signals;
}
