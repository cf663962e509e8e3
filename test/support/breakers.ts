/**
 * Trips an employee's circuit breaker the cheap way: a few past refunds written through the real
 * recordProgress activity under a policy whose limits are two, so the third action trips it in
 * PostgreSQL exactly as it would in production (alert, audit row). No workflows run.
 */
import { trippedBreakers, type Breaker } from '../../store/breakers';
import type { Pool } from '../../store/pool';
import { defaultPolicy, type InsiderRole, type Policy } from '../../workflows/policy';
import { refundOf } from './fixtures';
import { refundHistory } from './refund-history';
import { uniqueId } from './stack';

const lowLimits: Policy = {
  ...defaultPolicy,
  breakers: {
    initiator: { window: '24 hours', maxRefunds: 2 },
    scanner: { window: '7 days', maxReceiptsWithoutDelivery: 1 },
    approver: { window: '24 hours', maxApprovals: 2, maxForSameCounterparty: 100 },
  },
};

/** Trips `employeeId`'s breaker as an initiator (three refunds they asked for) or an approver (three approvals). */
export async function tripBreaker(pool: Pool, employeeId: string, as: Exclude<InsiderRole, 'scanner'>): Promise<Breaker> {
  const record = refundHistory(pool, lowLimits);
  for (const hoursAgo of [3, 2, 1]) {
    const at = new Date(Date.now() - hoursAgo * 3_600_000);
    const scans = [{ by: uniqueId('emp-scan') }];
    if (as === 'initiator') await record(refundOf(4_000, { initiatedBy: employeeId, customerId: uniqueId('cust') }), { at, scans });
    else await record(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), { at, scans, approvers: [employeeId] });
  }
  const [breaker] = await trippedBreakers(pool, [employeeId]);
  if (!breaker) throw new Error(`${employeeId}'s breaker did not trip`);
  return breaker;
}
