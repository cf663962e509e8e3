/**
 * Webhook events, derived from what is already written transactionally: the audit trail
 * (audit_log) and the ops_alerts outbox. Nothing is written on a refund's path for them.
 *
 * Reading by commit, not by id: audit_log's `seq` and ops_alerts' `id` are taken from sequences
 * while the writing transaction is still open, so a row with a lower number can become visible
 * after one with a higher number. Reading "after the last seq seen" would skip it. Instead the
 * dispatcher keeps the snapshot of its last read (webhook_cursor) and takes the rows whose
 * writing transaction (their `xact` column) that snapshot did not see; a transaction still open
 * then is invisible now too, and is picked up by a later read once it commits, whatever its
 * numbers. The read, the events, the deliveries and the new cursor are one REPEATABLE READ
 * transaction, so they all see the same snapshot; concurrent dispatchers take turns on a lock.
 *
 * Each event's id comes from its source row (`evt_audit_<seq>`, `evt_alert_<id>`), so deriving it
 * again gives the same id, and each event is recorded and fanned out once.
 */
import { type Pool, type PoolClient, withTransaction } from './pool';
import type { WebhookEventType } from './webhooks';

const CURSOR = 'dispatcher';
/** Only one reader derives events at a time; another skips the derivation and just lists what is due. */
const OUTBOX_LOCK = 7_001_101;

export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  occurredAt: string;
  refundId: string | null;
  /** The approver group an escalation names, if any. */
  approverGroup: string | null;
  data: Record<string, unknown>;
}

export interface DueDelivery {
  id: number;
  subscriptionId: string;
}

export interface CollectedDeliveries {
  /** Events derived by this read (0 when another reader held the lock). */
  derived: number;
  /** Pending deliveries not in `exclude`, oldest first, at most `perSubscription` of each subscription. */
  due: DueDelivery[];
}

/**
 * Derives the events written since the last read, records them and one delivery per matching
 * active subscription, advances the cursor, and answers the pending deliveries. On its very first
 * read it only sets the cursor: what happened before the dispatcher existed is not announced.
 */
export async function collectWebhookDeliveries(
  pool: Pool,
  options: { perSubscription?: number; exclude?: readonly number[] } = {},
): Promise<CollectedDeliveries> {
  const derived = await withTransaction(
    pool,
    async (client) => {
      const turn = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [OUTBOX_LOCK]);
      if (!turn.rows[0]?.locked) return 0;
      const cursor = await client.query<{ snapshot: string }>('SELECT snapshot::text AS snapshot FROM webhook_cursor WHERE name = $1', [
        CURSOR,
      ]);
      const now = await client.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
      const current = now.rows[0]!.snapshot;
      const since = cursor.rows[0]?.snapshot;
      if (since === undefined) {
        await client.query('INSERT INTO webhook_cursor (name, snapshot) VALUES ($1, $2::pg_snapshot)', [CURSOR, current]);
        return 0;
      }
      // With no one subscribed there is nothing to derive: the cursor moves on alone.
      const subscribed = await client.query('SELECT 1 FROM webhook_subscriptions WHERE disabled_at IS NULL LIMIT 1');
      const events = subscribed.rowCount ? [...(await auditEvents(client, since)), ...(await alertEvents(client, since))] : [];
      await recordEvents(client, events);
      await client.query('UPDATE webhook_cursor SET snapshot = $2::pg_snapshot, updated_at = now() WHERE name = $1', [CURSOR, current]);
      return events.length;
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ',
  );
  // Per subscription, so a receiver that is down (its deliveries all pending) never holds up another's.
  const { rows } = await pool.query<{ id: string; subscription_id: string }>(
    `SELECT id, subscription_id FROM (
       SELECT d.id, d.subscription_id, row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.id) AS n
         FROM webhook_deliveries d WHERE d.status = 'pending' AND NOT (d.id = ANY($2::bigint[]))) p
      WHERE p.n <= $1 ORDER BY id`,
    [options.perSubscription ?? 20, [...(options.exclude ?? [])]],
  );
  return { derived, due: rows.map((r) => ({ id: Number(r.id), subscriptionId: r.subscription_id })) };
}

/** Rows of transactions `since` did not see: new since the last read, whatever their numbers. */
const newSince = (alias: string) =>
  `${alias}.xact >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(${alias}.xact, $1::pg_snapshot)`;

interface AuditEventRow {
  seq: string;
  refund_id: string;
  kind: string;
  actor: string;
  occurred_at: Date;
  data: Record<string, unknown>;
  amount: string | null;
  currency: string | null;
  approvals_required: number | null;
  approvals_given: number | null;
}

async function auditEvents(client: PoolClient, since: string): Promise<WebhookEvent[]> {
  const { rows } = await client.query<AuditEventRow>(
    `SELECT a.seq, a.refund_id, a.kind, a.actor, a.occurred_at, a.data, r.amount, r.currency,
            req.approvals AS approvals_required, given.n AS approvals_given
       FROM audit_log a
       LEFT JOIN refunds r ON r.refund_id = a.refund_id
       LEFT JOIN LATERAL (
         SELECT (p.data->'requirement'->>'approvals')::integer AS approvals FROM audit_log p
          WHERE p.refund_id = a.refund_id AND p.refund_seq < a.refund_seq AND p.kind IN ('risk_assessed', 'risk_raised')
          ORDER BY p.refund_seq DESC LIMIT 1) req ON a.kind = 'state_changed'
       LEFT JOIN LATERAL (
         SELECT count(*)::integer AS n FROM audit_log g
          WHERE g.refund_id = a.refund_id AND g.refund_seq < a.refund_seq AND g.kind = 'approved') given ON a.kind = 'state_changed'
      WHERE ${newSince('a')}
        AND (a.kind IN ('escalated', 'paid')
             OR (a.kind = 'state_changed' AND a.data->>'to' IN ('awaiting_approval', 'rejected', 'failed')))
      ORDER BY a.seq`,
    [since],
  );
  return rows.map((r): WebhookEvent => {
    const money = r.amount === null ? {} : { amount: Number(r.amount), currency: String(r.currency).trim() };
    const base = { id: `evt_audit_${r.seq}`, occurredAt: r.occurred_at.toISOString(), refundId: r.refund_id, approverGroup: null };
    const d = r.data;
    if (r.kind === 'paid') {
      return { ...base, type: 'refund.paid', data: { refundId: r.refund_id, ...money, ...d } };
    }
    if (r.kind === 'escalated') {
      const by = typeof d.by === 'string' ? d.by : undefined;
      const group = typeof d.group === 'string' ? d.group : null;
      // The workflow's own escalations (a stage overdue, a carrier exception) are the system's;
      // an operator's names who escalated it.
      const operator = by !== undefined || r.actor !== 'system';
      return {
        ...base,
        type: operator ? 'refund.escalated' : 'refund.stuck',
        approverGroup: group,
        data: {
          refundId: r.refund_id,
          ...money,
          state: d.state,
          reason: d.reason,
          ...(operator ? { by: by ?? r.actor, group } : {}),
        },
      };
    }
    const to = d.to as string;
    if (to === 'awaiting_approval') {
      const required = r.approvals_required ?? 0;
      return {
        ...base,
        type: 'refund.awaiting_approval',
        data: {
          refundId: r.refund_id,
          ...money,
          approvalsRequired: required,
          approvalsStillNeeded: Math.max(0, required - (r.approvals_given ?? 0)),
        },
      };
    }
    return {
      ...base,
      type: to === 'rejected' ? 'refund.rejected' : 'refund.failed',
      data: { refundId: r.refund_id, ...money, from: d.from, outcome: d.outcome ?? null },
    };
  });
}

async function alertEvents(client: PoolClient, since: string): Promise<WebhookEvent[]> {
  const { rows } = await client.query<{
    id: string;
    kind: string;
    employee_id: string | null;
    details: Record<string, unknown>;
    created_at: Date;
  }>(
    `SELECT a.id, a.kind, a.employee_id, a.details, a.created_at FROM ops_alerts a
      WHERE ${newSince('a')} AND a.kind = 'breaker_tripped' ORDER BY a.id`,
    [since],
  );
  return rows.map((r) => {
    const { breakerId, trippedAs, reason, refundId, limits } = r.details;
    return {
      id: `evt_alert_${r.id}`,
      type: 'breaker.tripped',
      occurredAt: r.created_at.toISOString(),
      refundId: typeof refundId === 'string' ? refundId : null,
      approverGroup: null,
      data: { employeeId: r.employee_id, breakerId, trippedAs, reason, refundId, limits },
    };
  });
}

/** Records the events (once each) and a delivery of each to every active subscription that wants it. */
async function recordEvents(client: PoolClient, events: WebhookEvent[]): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `INSERT INTO webhook_events (id, type, occurred_at, refund_id, approver_group, data)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::jsonb[])
     ON CONFLICT (id) DO NOTHING`,
    [
      events.map((e) => e.id),
      events.map((e) => e.type),
      events.map((e) => e.occurredAt),
      events.map((e) => e.refundId),
      events.map((e) => e.approverGroup),
      events.map((e) => JSON.stringify(e.data)),
    ],
  );
  await client.query(
    `INSERT INTO webhook_deliveries (subscription_id, event_id)
     SELECT s.id, e.id FROM webhook_events e JOIN webhook_subscriptions s ON s.disabled_at IS NULL
      WHERE e.id = ANY($1::text[])
        AND (s.event_types IS NULL OR e.type = ANY(s.event_types))
        AND (s.approver_group IS NULL OR e.type <> 'refund.escalated' OR e.approver_group = s.approver_group)
      ORDER BY e.occurred_at, e.id
     ON CONFLICT (subscription_id, event_id) DO NOTHING`,
    [events.map((e) => e.id)],
  );
}
