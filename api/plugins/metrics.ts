/**
 * Prometheus metrics for /metrics: API traffic, decisions and refusals as they happen, and refunds
 * by state counted from the read model at scrape time (so every API replica reports the same).
 */
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Pool } from '../../store/pool';
import { refundStates } from '../../workflows/refund-model';

export interface ApiMetrics {
  registry: client.Registry;
  requests: client.Counter<'method' | 'route' | 'status'>;
  requestSeconds: client.Histogram<'method' | 'route'>;
  approvals: client.Counter<'decision'>;
  refusals: client.Counter<'type' | 'rule'>;
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
  return { registry, requests, requestSeconds, approvals, refusals };
}

/** Counts and times every answer, by the route's pattern (not its URL) so the label set stays small. */
export function countRequests(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}
