/**
 * Prometheus metrics for /metrics: API traffic, decisions and refusals as they happen, and refunds
 * by state counted from the read model at scrape time (so every API replica reports the same).
 */
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { AuditVerification } from '../../store/audit-trail';
import type { Pool } from '../../store/pool';
import { breakerCounts, oldestInState, stuckRefundCounts } from '../../store/service-metrics';
import { refundStates, waitingParties, waitingParty, type RefundState } from '../../workflows/refund-model';

export interface ApiMetrics {
  registry: client.Registry;
  requests: client.Counter<'method' | 'route' | 'status'>;
  requestSeconds: client.Histogram<'method' | 'route'>;
  approvals: client.Counter<'decision'>;
  refusals: client.Counter<'type' | 'rule'>;
  /** Sets the last audit verification's result (1 verified, 0 findings) and time. */
  auditVerified(result: Pick<AuditVerification, 'ok'>, workflows?: boolean): void;
}

export function createApiMetrics(pool: Pool): ApiMetrics {
  // A registry per app, so several apps in one process (tests) keep their own counts.
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'refund_api_' });
  const requests = new client.Counter({
    name: 'refund_api_requests_total',
    help: 'HTTP requests answered, by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const requestSeconds = new client.Histogram({
    name: 'refund_api_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const approvals = new client.Counter({
    name: 'refund_approval_decisions_total',
    help: 'Approval decisions the workflow accepted, by decision',
    labelNames: ['decision'] as const,
    registers: [registry],
  });
  const refusals = new client.Counter({
    name: 'refund_api_refusals_total',
    help: 'Requests refused, by problem type and (for approvals) the separation-of-duties rule',
    labelNames: ['type', 'rule'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'refunds_by_state',
    help: 'Refunds in the read model, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const result = await pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM refunds GROUP BY state');
      const counts = new Map(result.rows.map((r) => [r.state, r.n]));
      for (const state of refundStates) this.set({ state }, counts.get(state) ?? 0);
    },
  });
  readModelGauges(registry, pool);
  const auditVerified = auditVerificationGauges(registry);
  return { registry, requests, requestSeconds, approvals, refusals, auditVerified };
}

/** Stuck refunds, the oldest per state and the breakers, read from PostgreSQL at scrape time. */
function readModelGauges(registry: client.Registry, pool: Pool): void {
  new client.Gauge({
    name: 'refunds_stuck',
    help: 'Refunds past their state limit, by what they wait for (carrier, warehouse, risk, approval, payout), from the read model',
    labelNames: ['waiting_for'] as const,
    registers: [registry],
    async collect() {
      const counts = new Map<string, number>(waitingParties.map((party) => [party, 0]));
      for (const row of await stuckRefundCounts(pool)) {
        const party = waitingParty(row.state as RefundState);
        if (party) counts.set(party, (counts.get(party) ?? 0) + row.n);
      }
      for (const [waiting_for, n] of counts) this.set({ waiting_for }, n);
    },
  });
  new client.Gauge({
    name: 'refunds_oldest_in_state_seconds',
    help: 'Seconds the longest-waiting refund has been in each state still in flight (0 when none is), from the read model',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const oldest = new Map((await oldestInState(pool)).map((r) => [r.state, r.seconds]));
      for (const state of ['awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying'])
        this.set({ state }, Math.max(0, oldest.get(state) ?? 0));
    },
  });
  // Counted from employee_breakers, whose rows are never deleted: a counter every replica agrees on.
  let breakers: Promise<{ trips: number; tripped: number }> | undefined;
  const readBreakers = () => {
    breakers ??= breakerCounts(pool).finally(() => {
      breakers = undefined;
    });
    return breakers;
  };
  new client.Counter({
    name: 'refund_breaker_trips_total',
    help: 'Employee circuit breakers ever tripped',
    registers: [registry],
    async collect() {
      const { trips } = await readBreakers();
      this.reset();
      this.inc(trips);
    },
  });
  new client.Gauge({
    name: 'refund_breakers_tripped',
    help: 'Employee circuit breakers tripped and not lifted',
    registers: [registry],
    async collect() {
      this.set((await readBreakers()).tripped);
    },
  });
}

/** The last audit verification this process ran; set by the audit verification route. */
function auditVerificationGauges(registry: client.Registry): ApiMetrics['auditVerified'] {
  // Labelled so that both stay absent until this process ran a verification (an unlabelled gauge reads 0).
  const verificationOk = new client.Gauge({
    name: 'refund_audit_verification_ok',
    help: 'The last audit verification this process ran: 1 verified, 0 findings; scope chains, or chains_and_workflows with ?workflows=true',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  const verificationTime = new client.Gauge({
    name: 'refund_audit_verification_timestamp_seconds',
    help: 'When this process last ran an audit verification (Unix seconds)',
    labelNames: ['scope'] as const,
    registers: [registry],
  });
  return (result: Pick<AuditVerification, 'ok'>, workflows = false) => {
    const scope = workflows ? 'chains_and_workflows' : 'chains';
    verificationOk.set({ scope }, result.ok ? 1 : 0);
    verificationTime.set({ scope }, Date.now() / 1000);
  };
}

/** Counts and times every answer, by the route's pattern (not its URL) so the label set stays small. */
export function countRequests(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}
