/**
 * The risk engine's records under canonical principal ids, against the real PostgreSQL: actions
 * written under one employee's id in different cases count as that one employee's, lookups find
 * them in any case, and the tables refuse an id that is not lowercase.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initiatorSignals } from '../../activities/risk';
import { breakerHistory, trippedBreakers } from '../../store/breakers';
import type { Pool } from '../../store/pool';
import { defaultPolicy, type Policy } from '../../workflows/policy';
import { insiderPolicy, refundOf } from '../support/fixtures';
import { refundHistory } from '../support/refund-history';
import { newPool, uniqueId } from '../support/stack';

let pool: Pool;
beforeAll(() => {
  pool = newPool();
});
afterAll(async () => pool?.end());

/** A breaker trips at an employee's third refund in a day. */
const lowLimits: Policy = { ...defaultPolicy, breakers: { ...defaultPolicy.breakers, initiator: { window: '24 hours', maxRefunds: 2 } } };

describe('insider records under canonical ids', () => {
  it('counts refunds initiated as EMP-X, Emp-X and emp-x as one employee’s, and trips one breaker for them', async () => {
    const employee = uniqueId('emp-x');
    const record = refundHistory(pool, lowLimits);
    const spellings = [employee.toUpperCase(), `${employee[0]!.toUpperCase()}${employee.slice(1)}`, employee];
    for (const [i, initiatedBy] of spellings.entries()) {
      const at = new Date(Date.now() - (3 - i) * 3_600_000);
      await record(refundOf(4_000, { initiatedBy, customerId: uniqueId('cust') }), { at });
    }

    const stored = await pool.query('SELECT DISTINCT employee_id, initiated_by FROM insider_actions WHERE lower(employee_id) = $1', [
      employee,
    ]);
    expect(stored.rows).toEqual([{ employee_id: employee, initiated_by: employee }]);

    const tripped = await trippedBreakers(pool, [employee.toUpperCase()]);
    expect(tripped).toEqual([expect.objectContaining({ employeeId: employee, trippedAs: 'initiator' })]);
    expect((await breakerHistory(pool, spellings[1]!)).map((b) => b.id)).toEqual([tripped[0]!.id]);

    const signals = await initiatorSignals(pool, employee.toUpperCase(), insiderPolicy, 'USD', new Date());
    expect(signals).toContainEqual(
      expect.objectContaining({ code: 'insider_initiator_day', values: expect.objectContaining({ refunds: 3 }) }),
    );
  });

  it.each([
    [
      'insider_actions',
      `INSERT INTO insider_actions (refund_id, refund_seq, employee_id, role, customer_id, initiated_by, amount, currency, acted_at)
      VALUES ($1, 1, 'EMP-Z', 'approver', 'c-1', 'customer', 100, 'USD', now())`,
    ],
    [
      'employee_breakers',
      `INSERT INTO employee_breakers (employee_id, tripped_as, reason, details, refund_id) VALUES ('EMP-Z', 'approver', 'x', '{}', $1)`,
    ],
    [
      'ops_alerts',
      `INSERT INTO ops_alerts (kind, employee_id, details) VALUES ('breaker_tripped', 'EMP-Z', jsonb_build_object('refundId', $1::text))`,
    ],
  ])('%s refuses an employee id that is not lowercase', async (table, sql) => {
    await expect(pool.query(sql, [uniqueId('r')])).rejects.toThrow(`${table}_canonical_ids`);
  });
});
