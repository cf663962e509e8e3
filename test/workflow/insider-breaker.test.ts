/**
 * The pattern from the threat model, end to end on the real Temporal server and PostgreSQL: one
 * approver approves 76 refunds in a few minutes. Past the policy's limit (50 approvals in 24 hours)
 * the approver's circuit breaker trips inside the workflow's own check: from that approval on,
 * every refund they touch needs one more approver, and operations get one alert. An admin lifts
 * the breaker; the lift is audited and the approver's next refund needs the usual approvals.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { trippedBreakers, undeliveredAlerts } from '../../store/breakers';
import type { RefundStatus } from '../../workflows/messages';
import type { RefundRequest } from '../../workflows/schemas';
import { carrierEvent, fastPolicy, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

let h: RefundHarness;
beforeAll(async () => {
  h = await startRefundHarness({ policy: fastPolicy });
});
afterAll(async () => h?.close());

const scanners = Array.from({ length: 8 }, () => uniqueId('emp-scan'));

/** A 450.00 refund (one approval at low risk) with matching evidence, self-service, for its own customer. */
async function awaitingApproval(n: number): Promise<RefundRequest> {
  const request = refundOf(45_000, { initiatedBy: 'customer', customerId: uniqueId('cust') });
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered', { occurredAt: new Date(Date.now() - 60_000).toISOString() }));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), scanners[n % scanners.length]!);
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  return request;
}

async function inBatches<T>(count: number, size: number, make: (n: number) => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let start = 0; start < count; start += size) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(size, count - start) }, (_, i) => make(start + i)))));
  }
  return all;
}

it('one approver approving 76 refunds trips the breaker at the 51st; each refund from then on needs another approver', async () => {
  const insider = { approverId: uniqueId('emp-approver') };
  let t0 = Date.now();
  const refunds = await inBatches(76, 19, awaitingApproval);
  console.log(`76 refunds with evidence, awaiting approval: ${Date.now() - t0} ms`);

  t0 = Date.now();
  const results: RefundStatus[] = [];
  for (const request of refunds)
    results.push(await h.refunds.decide(request.refundId, await h.registry.approval(request, insider.approverId)));
  console.log(`76 approvals one after another: ${Date.now() - t0} ms`);

  // The first 50 approvals each complete their refund (paying, or already paid by the time the approval answers).
  const paid = ['paying', 'refunded'];
  for (const status of results.slice(0, 50)) {
    expect(paid).toContain(status.state);
    expect(status).toMatchObject({ approvalsRequired: 1, approvals: [{ approverId: insider.approverId }] });
  }
  expect(results[0]!.approvals[0]!.breaker).toBeUndefined();

  // From the 51st on, the approval counts but one more approver is needed.
  for (const status of results.slice(50)) {
    expect(status).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2, approvalsStillNeeded: 1 });
    expect(status.approvals[0]!.breaker).toMatchObject({ employeeId: insider.approverId, touchedAs: 'approver' });
    expect(status.risk?.breakers).toEqual([expect.objectContaining({ employeeId: insider.approverId })]);
    expect(status.risk?.reasons.map((r) => r.code)).toEqual(
      expect.arrayContaining(['insider_approver_volume_day', 'insider_breaker_active']),
    );
  }
  expect(results[50]!.approvals[0]!.breaker?.reason).toBe('51 approvals in 24 hours (limit 50)');

  const [breaker] = await trippedBreakers(h.pool, [insider.approverId]);
  expect(breaker).toMatchObject({ trippedAs: 'approver', reason: '51 approvals in 24 hours (limit 50)', refundId: refunds[50]!.refundId });
  const alerts = (await undeliveredAlerts(h.pool, 10_000)).filter((a) => a.employeeId === insider.approverId);
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ kind: 'breaker_tripped', details: { trippedAs: 'approver', refundId: refunds[50]!.refundId } });
  await h.refunds.markAlertsDelivered(alerts.map((a) => a.id));
  expect((await undeliveredAlerts(h.pool, 10_000)).some((a) => a.employeeId === insider.approverId)).toBe(false);

  // The refund's audit trail says why it needs another approver; a second, independent approver completes it.
  const trail = await h.refunds.auditTrail(refunds[50]!.refundId);
  expect(trail.find((r) => r.kind === 'risk_raised')?.data).toMatchObject({
    approverId: insider.approverId,
    requirement: { approvals: 2 },
  });
  expect(paid).toContain(
    (await h.refunds.decide(refunds[50]!.refundId, await h.registry.approval(refunds[50]!, uniqueId('emp-approver')))).state,
  );
  await h.refunds.waitForState(refunds[50]!.refundId, ['refunded']);

  // An admin lifts the breaker: audited with the admin's id; the approver's next refund needs one approval again.
  await h.refunds.liftBreaker(insider.approverId, { id: 'emp-admin-7', roles: ['admin'] }, 'reviewed all 76 with the fraud team');
  expect((await h.refunds.employeeAuditTrail(insider.approverId)).map((r) => [r.kind, r.actor])).toEqual([
    ['breaker_tripped', 'system'],
    ['breaker_lifted', 'employee:emp-admin-7'],
  ]);
  const next = await awaitingApproval(0);
  const after = await h.refunds.decide(next.refundId, await h.registry.approval(next, insider.approverId));
  expect(paid).toContain(after.state);
  expect(after).toMatchObject({ approvalsRequired: 1 });
  expect(after.approvals[0]!.breaker).toBeUndefined();
  expect(await h.refunds.verifyAudit()).toMatchObject({ ok: true });
}, 180_000);
