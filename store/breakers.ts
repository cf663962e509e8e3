/**
 * Circuit breakers on employees. A breaker trips when an employee's recorded actions cross a limit
 * of the service's current policy within its window; while it is tripped, every refund they touch
 * needs one more approver. Tripping writes an alert to the `ops_alerts` outbox and a row to the
 * audit trail, in the same transaction; an admin lifts it, and the lift is audited too. Counting
 * restarts at the lift, so a lifted breaker does not trip again on the same actions.
 */
import { msToNumber } from '@temporalio/common';
import { breakerLimitsCrossed, type ActiveBreaker, type InsiderActivity, type InsiderRole, type Policy } from '../workflows/policy';
import type { AuditFact } from '../workflows/refund-model';
import { canonicalPrincipalId, type BreakerLift } from '../workflows/schemas';
import { appendSubjectFacts } from './audit-trail';
import { withTransaction, type Pool, type PoolClient } from './pool';
import {
  approverActivity,
  approvalsSince,
  initiatorActivity,
  receiptsWithoutDelivery,
  type ApprovalOnRecord,
  type Db,
} from './insider-activity';

/**
 * The audit-trail subject under which an employee's breaker rows are written. Refund ids are
 * printable ASCII without spaces, so this can never be a refund's id.
 */
export function employeeAuditSubject(employeeId: string): string {
  return `employee ${canonicalPrincipalId(employeeId)}`;
}

export interface Breaker {
  id: number;
  employeeId: string;
  trippedAs: InsiderRole;
  reason: string;
  details: Record<string, unknown>;
  refundId: string | null;
  trippedAt: string;
  liftedAt: string | null;
  liftedBy: string | null;
  liftReason: string | null;
}

/** A row of employee_breakers as a breaker. */
export function toBreaker(r: Record<string, unknown>): Breaker {
  return {
    id: Number(r.id),
    employeeId: String(r.employee_id),
    trippedAs: r.tripped_as as InsiderRole,
    reason: String(r.reason),
    details: r.details as Record<string, unknown>,
    refundId: (r.refund_id as string | null) ?? null,
    trippedAt: (r.tripped_at as Date).toISOString(),
    liftedAt: r.lifted_at ? (r.lifted_at as Date).toISOString() : null,
    liftedBy: (r.lifted_by as string | null) ?? null,
    liftReason: (r.lift_reason as string | null) ?? null,
  };
}

export function activeBreakerOf(breaker: Breaker, touchedAs: InsiderRole): ActiveBreaker {
  return { employeeId: breaker.employeeId, touchedAs, trippedAt: breaker.trippedAt, reason: breaker.reason };
}

/** The tripped (not lifted) breakers of these employees. */
export async function trippedBreakers(db: Db, employeeIds: readonly string[]): Promise<Breaker[]> {
  if (employeeIds.length === 0) return [];
  const result = await db.query('SELECT * FROM employee_breakers WHERE employee_id = ANY($1::text[]) AND lifted_at IS NULL', [
    [...new Set(employeeIds.map(canonicalPrincipalId))],
  ]);
  return result.rows.map(toBreaker);
}

/** Every breaker an employee has had, newest first. */
export async function breakerHistory(db: Db, employeeId: string): Promise<Breaker[]> {
  const result = await db.query('SELECT * FROM employee_breakers WHERE employee_id = $1 ORDER BY tripped_at DESC, id DESC', [
    canonicalPrincipalId(employeeId),
  ]);
  return result.rows.map(toBreaker);
}

/** Where a breaker window starts: `window` ago, or at the employee's last lift if that is later. */
export async function breakerWindowStart(db: Db, employeeId: string, window: string, now: Date): Promise<Date> {
  const lifted = await db.query<{ at: Date | null }>('SELECT max(lifted_at) AS at FROM employee_breakers WHERE employee_id = $1', [
    canonicalPrincipalId(employeeId),
  ]);
  const windowStart = now.getTime() - msToNumber(window as never);
  return new Date(Math.max(windowStart, lifted.rows[0]?.at?.getTime() ?? 0));
}

/**
 * The employee's activity in their breaker window for `role`. `pendingApproval` counts an
 * approval that is about to be applied, so the approval that crosses a limit is itself caught.
 */
export async function breakerActivity(
  db: Db,
  policy: Policy,
  employeeId: string,
  role: InsiderRole,
  currency: string,
  now: Date,
  pendingApproval?: ApprovalOnRecord,
): Promise<InsiderActivity> {
  const since = await breakerWindowStart(db, employeeId, policy.breakers[role].window, now);
  switch (role) {
    case 'initiator':
      return { role, currency, ...(await initiatorActivity(db, employeeId, since, currency)) };
    case 'scanner':
      return { role, receiptsWithoutDelivery: (await receiptsWithoutDelivery(db, employeeId, since)).length };
    case 'approver': {
      const approvals = await approvalsSince(db, employeeId, since);
      const activity = approverActivity(pendingApproval ? [...approvals, pendingApproval] : approvals, currency);
      return {
        role,
        currency,
        approvals: activity.approvals,
        value: activity.value,
        maxForSameCounterparty: activity.topCounterparty?.approvals ?? 0,
      };
    }
  }
}

/**
 * Trips the employee's breaker if their activity as `role` crosses a limit and it is not tripped
 * already. Runs inside the transaction that recorded the action; returns the new breaker.
 */
export async function tripBreakerIfCrossed(
  client: PoolClient,
  policy: Policy,
  input: { employeeId: string; role: InsiderRole; currency: string; refundId: string; now: Date },
): Promise<Breaker | undefined> {
  const { role, currency, refundId, now } = input;
  const employeeId = canonicalPrincipalId(input.employeeId);
  if ((await trippedBreakers(client, [employeeId])).length > 0) return undefined;
  const activity = await breakerActivity(client, policy, employeeId, role, currency, now);
  const crossed = breakerLimitsCrossed(policy, activity);
  if (crossed.length === 0) return undefined;
  const details = { activity, limits: crossed, policyVersion: policy.version };
  const inserted = await client.query(
    `INSERT INTO employee_breakers (employee_id, tripped_as, reason, details, refund_id, tripped_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (employee_id) WHERE lifted_at IS NULL DO NOTHING
     RETURNING *`,
    [employeeId, role, crossed.join('; '), JSON.stringify(details), refundId, now],
  );
  if (inserted.rowCount === 0) return undefined;
  const breaker = toBreaker(inserted.rows[0]);
  await client.query('INSERT INTO ops_alerts (kind, employee_id, details) VALUES ($1, $2, $3)', [
    'breaker_tripped',
    employeeId,
    JSON.stringify({ breakerId: breaker.id, trippedAs: role, reason: breaker.reason, refundId, ...details }),
  ]);
  const fact: AuditFact = {
    kind: 'breaker_tripped',
    actor: 'system',
    at: breaker.trippedAt,
    data: { breakerId: breaker.id, employeeId, trippedAs: role, reason: breaker.reason, refundId, ...details },
  };
  await appendSubjectFacts(client, employeeAuditSubject(employeeId), [fact]);
  return breaker;
}

export class BreakerLiftError extends Error {
  override name = 'BreakerLiftError';
  constructor(
    readonly code: 'breaker_lift_refused' | 'breaker_not_tripped',
    message: string,
  ) {
    super(message);
  }
}

/** An admin lifts an employee's tripped breaker; the lift is written to the audit trail with the admin's id. */
export async function liftBreaker(pool: Pool, requested: BreakerLift): Promise<Breaker> {
  const lift = { ...requested, employeeId: canonicalPrincipalId(requested.employeeId), liftedBy: canonicalPrincipalId(requested.liftedBy) };
  if (!lift.roles.includes('admin')) {
    throw new BreakerLiftError('breaker_lift_refused', `${lift.liftedBy} does not have the admin role`);
  }
  if (lift.liftedBy === lift.employeeId) {
    throw new BreakerLiftError('breaker_lift_refused', `${lift.liftedBy} cannot lift their own breaker`);
  }
  return withTransaction(pool, async (client) => {
    const lifted = await client.query(
      `UPDATE employee_breakers SET lifted_at = now(), lifted_by = $2, lift_reason = $3
       WHERE employee_id = $1 AND lifted_at IS NULL RETURNING *`,
      [lift.employeeId, lift.liftedBy, lift.reason],
    );
    if (lifted.rowCount === 0) throw new BreakerLiftError('breaker_not_tripped', `${lift.employeeId} has no tripped breaker`);
    const breaker = toBreaker(lifted.rows[0]);
    await appendSubjectFacts(client, employeeAuditSubject(lift.employeeId), [
      {
        kind: 'breaker_lifted',
        actor: `employee:${lift.liftedBy}`,
        at: breaker.liftedAt!,
        data: { breakerId: breaker.id, employeeId: lift.employeeId, liftedBy: lift.liftedBy, roles: lift.roles, reason: lift.reason },
      },
    ]);
    return breaker;
  });
}

export interface OpsAlert {
  id: number;
  kind: string;
  employeeId: string | null;
  details: Record<string, unknown>;
  createdAt: string;
  /** Set once an operator acknowledged the alert (store/ops-alerts.ts). */
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  acknowledgeNote: string | null;
}

/** An ops_alerts row as an alert. */
export function toOpsAlert(r: Record<string, unknown>): OpsAlert {
  return {
    id: Number(r.id),
    kind: String(r.kind),
    employeeId: (r.employee_id as string | null) ?? null,
    details: r.details as Record<string, unknown>,
    createdAt: (r.created_at as Date).toISOString(),
    acknowledgedAt: r.acknowledged_at instanceof Date ? r.acknowledged_at.toISOString() : null,
    acknowledgedBy: (r.acknowledged_by as string | null | undefined) ?? null,
    acknowledgeNote: (r.acknowledge_note as string | null | undefined) ?? null,
  };
}

/** Alerts not yet delivered, oldest first, for a notifier; it marks them with `markAlertsDelivered`. */
export async function undeliveredAlerts(db: Db, limit = 100): Promise<OpsAlert[]> {
  const result = await db.query('SELECT * FROM ops_alerts WHERE delivered_at IS NULL ORDER BY id LIMIT $1', [limit]);
  return result.rows.map(toOpsAlert);
}

export async function markAlertsDelivered(db: Db, ids: readonly number[]): Promise<void> {
  await db.query('UPDATE ops_alerts SET delivered_at = now() WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL', [[...ids]]);
}
