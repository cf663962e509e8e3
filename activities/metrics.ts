/**
 * The worker's own Prometheus metrics, counted where things happen: payouts by outcome in the
 * payout activity, rejected statements and messages and approval latency in recordProgress, each
 * only for audit facts that transaction newly wrote (a retried write counts nothing twice). The
 * worker serves them at /metrics on REFUNDS_WORKER_HTTP_PORT (docs/observability.md).
 */
import client from 'prom-client';

export type PayoutOutcome = 'paid' | 'declined' | 'error';

export interface WorkerMetrics {
  registry: client.Registry;
  payouts: client.Counter<'outcome'>;
  rejectedMessages: client.Counter<'kind'>;
  approvalLatency: client.Histogram<'outcome'>;
}

export function createWorkerMetrics(): WorkerMetrics {
  // A registry per worker, so several workers in one process (tests) keep their own counts.
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'refund_worker_' });
  const payouts = new client.Counter({
    name: 'refund_payouts_total',
    help: 'Payout attempts by outcome: paid (recorded in the ledger), declined (for good), error (gateway failed or timed out; retried)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const rejectedMessages = new client.Counter({
    name: 'refund_rejected_messages_total',
    help: 'Audit facts of refused messages: statement_rejected (a signature or signer that does not verify), message_rejected (malformed)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const approvalLatency = new client.Histogram({
    name: 'refund_approval_latency_seconds',
    help: 'From entering awaiting_approval to the decision that left it: approved (to paying) or rejected',
    labelNames: ['outcome'] as const,
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400],
    registers: [registry],
  });
  for (const outcome of ['paid', 'declined', 'error'] as const) payouts.inc({ outcome }, 0);
  for (const kind of ['statement_rejected', 'message_rejected']) rejectedMessages.inc({ kind }, 0);
  return { registry, payouts, rejectedMessages, approvalLatency };
}
