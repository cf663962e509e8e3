/**
 * The service's metrics move with what happens: a laptop refund driven to its payout through one
 * forged decision and two real approvals, on the real Temporal server and PostgreSQL. The worker's
 * counters (payouts, rejected statements, approval latency) are read from its /metrics listener,
 * the read-model gauges (stuck refunds by what they wait for, oldest in state) from the API's
 * registry.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createWorkerMetrics, type WorkerMetrics } from '../../activities/metrics';
import { createApiMetrics, type ApiMetrics } from '../../api/plugins/metrics';
import { generateKeyPair } from '../../workflows/statements';
import { startHealthServer, type HealthServer } from '../../worker/health-server';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

let h: RefundHarness;
let workerMetrics: WorkerMetrics;
let apiMetrics: ApiMetrics;
let health: HealthServer;

beforeAll(async () => {
  workerMetrics = createWorkerMetrics();
  h = await startRefundHarness({ metrics: workerMetrics });
  apiMetrics = createApiMetrics(h.pool);
  health = await startHealthServer({ host: '127.0.0.1', port: 0, checks: {}, metrics: workerMetrics.registry });
});
afterAll(async () => {
  await health?.close();
  await h?.close();
});

/** One sample's value from Prometheus text, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[3] ?? '').split(',');
    if (wanted.every((w) => present.includes(w))) return Number(match[4]);
  }
  return undefined;
}

async function scrapeWorker(): Promise<string> {
  const response = await fetch(`${health.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

it('counts a paid payout, a forged decision and the approval latency, and reports the refund stuck while it waited', async () => {
  const before = await scrapeWorker();
  const paidBefore = sample(before, 'refund_payouts_total', { outcome: 'paid' });
  const forgedBefore = sample(before, 'refund_rejected_messages_total', { kind: 'statement_rejected' });
  const latenciesBefore = sample(before, 'refund_approval_latency_seconds_count', { outcome: 'approved' }) ?? 0;
  expect(paidBefore).toBe(0);
  expect(forgedBefore).toBe(0);

  // 2,499.00 USD: two approvals; the fast test policy makes it stuck after 2 s awaiting them.
  const request = refundRequest({
    items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
  });
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);

  // Its own refund stuck (other test files share the database, so the gauge alone says nothing of this one).
  await vi.waitFor(async () => expect((await h.refunds.getRefund(request.refundId)).stuck).toBe(true), {
    timeout: 15_000,
    interval: 200,
  });
  await vi.waitFor(
    async () => {
      const api = await apiMetrics.registry.metrics();
      expect(sample(api, 'refunds_stuck', { waiting_for: 'approval' })).toBeGreaterThanOrEqual(1);
      expect(sample(api, 'refunds_oldest_in_state_seconds', { state: 'awaiting_approval' })).toBeGreaterThanOrEqual(2);
    },
    { timeout: 15_000, interval: 200 },
  );

  // A decision under the approver's key id, signed with another secret key: refused, and audited as statement_rejected.
  await h.registry.approval(request, 'emp-approver-1'); // registers the approver (not sent)
  const { keyId } = h.registry.keyOf('emp-approver-1');
  const forged = await h.registry.approval(request, 'emp-approver-1', { key: { keyId, secretKey: generateKeyPair(keyId).secretKey } });
  await expect(h.refunds.decide(request.refundId, forged)).rejects.toMatchObject({ rule: expect.any(String) });
  const afterForgery = await scrapeWorker();
  expect(sample(afterForgery, 'refund_rejected_messages_total', { kind: 'statement_rejected' })).toBe(1);
  expect(sample(afterForgery, 'refund_payouts_total', { outcome: 'paid' })).toBe(0);

  await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-1'));
  await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-2'));
  await h.refunds.waitForState(request.refundId, ['refunded']);

  const after = await scrapeWorker();
  expect(sample(after, 'refund_payouts_total', { outcome: 'paid' })).toBe(1);
  expect(sample(after, 'refund_payouts_total', { outcome: 'declined' })).toBe(0);
  expect(sample(after, 'refund_approval_latency_seconds_count', { outcome: 'approved' })).toBe(latenciesBefore + 1);
  // It waited at least the 2 s that made it stuck, and far less than a minute.
  expect(sample(after, 'refund_approval_latency_seconds_bucket', { outcome: 'approved', le: '1' })).toBe(0);
  expect(sample(after, 'refund_approval_latency_seconds_bucket', { outcome: 'approved', le: '60' })).toBe(1);
  expect(sample(after, 'refund_worker_process_cpu_seconds_total')).toBeGreaterThan(0);
});

it('reports breakers and the last audit verification from the API', async () => {
  const text = await apiMetrics.registry.metrics();
  expect(sample(text, 'refund_breaker_trips_total')).toBeGreaterThanOrEqual(0);
  expect(sample(text, 'refund_breakers_tripped')).toBeGreaterThanOrEqual(0);
  expect(sample(text, 'refund_audit_verification_ok')).toBeUndefined();
  apiMetrics.auditVerified(await h.refunds.verifyAudit());
  const verified = await apiMetrics.registry.metrics();
  expect(sample(verified, 'refund_audit_verification_ok', { scope: 'chains' })).toBe(1);
  expect(sample(verified, 'refund_audit_verification_timestamp_seconds', { scope: 'chains' })).toBeGreaterThan(Date.now() / 1000 - 60);
  apiMetrics.auditVerified({ ok: false });
  expect(sample(await apiMetrics.registry.metrics(), 'refund_audit_verification_ok', { scope: 'chains' })).toBe(0);
});
