/**
 * Linked-account signals: other customers who share this request's shipping address, payment
 * fingerprint or device id (optional request fields, recorded with every refund), and what those
 * linked customers have refunded together within the policy's window.
 */
import { msToNumber } from '@temporalio/common';
import { formatMinor } from '../../workflows/currencies';
import { thresholdsFor } from '../../workflows/policy';
import type { Db } from '../../store/insider-activity';
import { identityOf } from '../../store/insider-actions';
import type { RiskInput, Signal } from './signal';

export async function linkedAccountSignals(db: Db, input: Pick<RiskInput, 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const { request, policy } = input;
  const identity = identityOf(request);
  if (identity.length === 0) return [];
  const links = await db.query<{ customer_id: string; kinds: string[] }>(
    `SELECT customer_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds FROM customer_identity_links
     WHERE (kind, value) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND customer_id <> $3
     GROUP BY customer_id ORDER BY customer_id LIMIT 200`,
    [identity.map((i) => i.kind), identity.map((i) => i.value), request.customerId],
  );
  if (links.rows.length === 0) return [];
  const linked = links.rows.map((r) => r.customer_id);
  const sharedBy = Object.fromEntries(identity.map(({ kind }) => [kind, links.rows.filter((r) => r.kinds.includes(kind)).length]));
  const signals: Signal[] = [
    {
      code: 'linked_shared_identity',
      detail: `${linked.length} other customer${linked.length === 1 ? '' : 's'} share${linked.length === 1 ? 's' : ''} ${Object.keys(sharedBy).filter((k) => sharedBy[k]! > 0).join(', ').replaceAll('_', ' ')}`,
      values: { linkedCustomers: linked, sharedBy },
    },
  ];

  const { window, refunds: refundThreshold } = policy.signals.linkedAccounts;
  const since = new Date(now.getTime() - msToNumber(window as never));
  const history = await db.query<{ n: number; value: number }>(
    `SELECT count(*)::int AS n, coalesce(sum(amount) FILTER (WHERE currency = $3), 0)::bigint AS value
     FROM refunds WHERE customer_id = ANY($1::text[]) AND requested_at > $2 AND state <> 'cancelled'`,
    [linked, since, request.currency],
  );
  const { n } = history.rows[0]!;
  const value = Number(history.rows[0]!.value);
  const valueThreshold = thresholdsFor(policy, request.currency).linkedRefundValue;
  if (n >= refundThreshold || value >= valueThreshold) {
    signals.push({
      code: 'linked_refund_history',
      detail: `linked customers had ${n} refunds worth ${formatMinor(value, request.currency)} in ${window}`,
      values: { linkedCustomers: linked, refunds: n, amount: value, currency: request.currency, window, thresholds: { refunds: refundThreshold, amount: valueThreshold } },
    });
  }
  return signals;
}
