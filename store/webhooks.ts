/**
 * Outgoing webhook subscriptions and their deliveries. Admins add and disable subscriptions
 * (each change on the subscription's own audit chain, `webhook <id>`, like principal changes);
 * the dispatcher (store/webhook-outbox.ts, workflows/webhook-dispatcher.ts) records one delivery
 * per event and subscription and every attempt at it.
 */
import { randomBytes } from 'node:crypto';
import { appendSubjectFacts } from './audit-trail';
import { type Db, type Pool, withTransaction } from './pool';

// The event types are the API's contract; the store derives and delivers exactly those.
import type { WebhookEventType } from '../client/webhook-views';

export { webhookEventTypes, type WebhookEventType } from '../client/webhook-views';

export const webhookFormats = ['standard', 'slack'] as const;
export type WebhookFormat = (typeof webhookFormats)[number];

export const deliveryStatuses = ['pending', 'delivered', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export interface WebhookSubscription {
  id: string;
  url: string;
  /** null: every event type. */
  eventTypes: WebhookEventType[] | null;
  format: WebhookFormat;
  /** Escalations (`refund.escalated`) only for this approver group; other types are not filtered. */
  approverGroup: string | null;
  description: string | null;
  createdBy: string;
  createdAt: string;
  disabledAt: string | null;
  disabledBy: string | null;
}

export interface NewWebhookSubscription {
  url: string;
  eventTypes?: WebhookEventType[] | undefined;
  format?: WebhookFormat | undefined;
  approverGroup?: string | undefined;
  description?: string | undefined;
  createdBy: string;
}

export interface WebhookDelivery {
  id: number;
  subscriptionId: string;
  /** The delivery's `webhook-id`, the same on every attempt. */
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

/** The audit subject of a subscription's administration. Subscription ids have no spaces, so this is never a refund's id. */
export function webhookAuditSubject(subscriptionId: string): string {
  return `webhook ${subscriptionId}`;
}

/** A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export class WebhookSubscriptionError extends Error {
  override name = 'WebhookSubscriptionError';
  constructor(
    readonly code: 'webhook_subscription_not_found',
    message: string,
  ) {
    super(message);
  }
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);

function toSubscription(r: Record<string, unknown>): WebhookSubscription {
  return {
    id: String(r.id),
    url: String(r.url),
    eventTypes: (r.event_types as WebhookEventType[] | null) ?? null,
    format: r.format as WebhookFormat,
    approverGroup: (r.approver_group as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    createdBy: String(r.created_by),
    createdAt: (r.created_at as Date).toISOString(),
    disabledAt: iso(r.disabled_at),
    disabledBy: (r.disabled_by as string | null) ?? null,
  };
}

/** Adds a subscription and answers it with its signing secret, which is never read back through the API again. */
export async function addWebhookSubscription(
  pool: Pool,
  input: NewWebhookSubscription,
): Promise<{ subscription: WebhookSubscription; secret: string }> {
  const id = `whsub_${randomBytes(12).toString('hex')}`;
  const secret = newWebhookSecret();
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query(
      `INSERT INTO webhook_subscriptions (id, url, event_types, format, approver_group, secret, description, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [
        id,
        input.url,
        input.eventTypes && input.eventTypes.length > 0 ? [...new Set(input.eventTypes)] : null,
        input.format ?? 'standard',
        input.approverGroup ?? null,
        secret,
        input.description ?? null,
        input.createdBy,
      ],
    );
    const subscription = toSubscription(rows[0]);
    await appendSubjectFacts(client, webhookAuditSubject(id), [
      {
        kind: 'webhook_subscription_added',
        actor: `employee:${input.createdBy}`,
        at: subscription.createdAt,
        // Never the secret: only where it goes and what it gets.
        data: {
          subscriptionId: id,
          url: subscription.url,
          eventTypes: subscription.eventTypes,
          format: subscription.format,
          approverGroup: subscription.approverGroup,
        },
      },
    ]);
    return { subscription, secret };
  });
}

export async function listWebhookSubscriptions(db: Db): Promise<WebhookSubscription[]> {
  const { rows } = await db.query('SELECT * FROM webhook_subscriptions ORDER BY created_at DESC, id');
  return rows.map(toSubscription);
}

export async function getWebhookSubscription(db: Db, id: string): Promise<WebhookSubscription | undefined> {
  const { rows } = await db.query('SELECT * FROM webhook_subscriptions WHERE id = $1', [id]);
  return rows[0] ? toSubscription(rows[0]) : undefined;
}

/**
 * Disables a subscription: nothing more is delivered to it, and its pending deliveries are
 * cancelled (an attempt already on the wire may still arrive). Disabling twice answers the
 * subscription as it was first disabled.
 */
export async function disableWebhookSubscription(pool: Pool, id: string, by: string, reason?: string): Promise<WebhookSubscription> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query(
      `UPDATE webhook_subscriptions SET disabled_at = now(), disabled_by = $2
        WHERE id = $1 AND disabled_at IS NULL RETURNING *`,
      [id, by],
    );
    if (rows.length === 0) {
      const existing = await getWebhookSubscription(client, id);
      if (!existing) throw new WebhookSubscriptionError('webhook_subscription_not_found', `no webhook subscription ${id}`);
      return existing;
    }
    const subscription = toSubscription(rows[0]);
    await client.query(
      `UPDATE webhook_deliveries SET status = 'cancelled', lease_until = NULL WHERE subscription_id = $1 AND status = 'pending'`,
      [id],
    );
    await appendSubjectFacts(client, webhookAuditSubject(id), [
      {
        kind: 'webhook_subscription_disabled',
        actor: `employee:${by}`,
        at: subscription.disabledAt!,
        data: { subscriptionId: id, ...(reason ? { reason } : {}) },
      },
    ]);
    return subscription;
  });
}

function toDelivery(r: Record<string, unknown>): WebhookDelivery {
  return {
    id: Number(r.id),
    subscriptionId: String(r.subscription_id),
    eventId: String(r.event_id),
    eventType: String(r.type),
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    lastAttemptAt: iso(r.last_attempt_at),
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastError: (r.last_error as string | null) ?? null,
    deliveredAt: iso(r.delivered_at),
    createdAt: (r.created_at as Date).toISOString(),
  };
}

/** A subscription's deliveries, newest first; undefined when there is no such subscription. */
export async function webhookDeliveries(db: Db, subscriptionId: string, limit = 100): Promise<WebhookDelivery[] | undefined> {
  if (!(await getWebhookSubscription(db, subscriptionId))) return undefined;
  const { rows } = await db.query(
    `SELECT d.*, e.type FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
      WHERE d.subscription_id = $1 ORDER BY d.id DESC LIMIT $2`,
    [subscriptionId, limit],
  );
  return rows.map(toDelivery);
}

/** What an attempt needs to send a delivery: the subscriber, its secret and the event. */
export interface ClaimedDelivery {
  id: number;
  attempt: number;
  eventId: string;
  subscription: { id: string; url: string; format: WebhookFormat; secret: string };
  event: { type: WebhookEventType; occurredAt: string; data: Record<string, unknown> };
}

export type Claim =
  | { outcome: 'claimed'; delivery: ClaimedDelivery }
  /** Nothing to do: delivered, given up on, or cancelled (the subscription was disabled). */
  | { outcome: 'settled'; status: Exclude<DeliveryStatus, 'pending'> }
  /** Another attempt holds the lease (a worker that lost its task may still be sending). */
  | { outcome: 'leased' };

/**
 * Claims a pending delivery for one attempt: counts the attempt and takes a lease for
 * `leaseSeconds`, so no two attempts send at once, even after a worker lost its task.
 */
export async function claimWebhookDelivery(pool: Pool, deliveryId: number, leaseSeconds: number): Promise<Claim> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query(
      `SELECT d.id, d.status, d.event_id, d.lease_until > now() AS leased, s.id AS subscription_id, s.url, s.format, s.secret,
              s.disabled_at, e.type, e.occurred_at, e.data
         FROM webhook_deliveries d
         JOIN webhook_subscriptions s ON s.id = d.subscription_id
         JOIN webhook_events e ON e.id = d.event_id
        WHERE d.id = $1 FOR UPDATE OF d`,
      [deliveryId],
    );
    const row = rows[0];
    if (!row) throw new Error(`no webhook delivery ${deliveryId}`);
    if (row.status !== 'pending') return { outcome: 'settled', status: row.status };
    if (row.disabled_at) {
      await client.query(`UPDATE webhook_deliveries SET status = 'cancelled', lease_until = NULL WHERE id = $1`, [deliveryId]);
      return { outcome: 'settled', status: 'cancelled' };
    }
    if (row.leased) return { outcome: 'leased' };
    const claimed = await client.query<{ attempts: number }>(
      `UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = now(), lease_until = now() + make_interval(secs => $2)
        WHERE id = $1 RETURNING attempts`,
      [deliveryId, leaseSeconds],
    );
    return {
      outcome: 'claimed',
      delivery: {
        id: deliveryId,
        attempt: Number(claimed.rows[0]!.attempts),
        eventId: String(row.event_id),
        subscription: { id: String(row.subscription_id), url: String(row.url), format: row.format, secret: String(row.secret) },
        event: { type: row.type, occurredAt: (row.occurred_at as Date).toISOString(), data: row.data as Record<string, unknown> },
      },
    };
  });
}

/** Records how an attempt ended and releases its lease: delivered, still pending (to be retried) or failed for good. */
export async function recordWebhookAttempt(
  db: Db,
  deliveryId: number,
  result: { status: 'delivered' | 'pending' | 'failed'; httpStatus?: number | undefined; error?: string | undefined },
): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries
        SET status = $2, last_status = $3, last_error = $4, lease_until = NULL,
            delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END
      WHERE id = $1 AND status = 'pending'`,
    [deliveryId, result.status, result.httpStatus ?? null, result.error?.slice(0, 1000) ?? null],
  );
}
