/**
 * The carrier event inbox: every verified carrier event is stored here first, idempotently by
 * (carrier, event id), with the raw body and signature header the carrier sent, then signalled
 * (those exact bytes, which each refund verifies again) to the refunds waiting for its parcel. An event no refund
 * waits for yet stays pending until its refund appears; the same event id with a different body
 * is kept as a conflict and never delivered.
 */
import type { CarrierEvent } from '../workflows/schemas';
import { canonicalJson, sha256Hex } from './canonical';
import type { Db } from './pool';

export interface InboxEvent {
  id: number;
  carrier: string;
  eventId: string;
  trackingNumber: string;
  event: CarrierEvent;
  /** The webhook body and signature header as received; null on rows stored before the inbox kept them. */
  rawBody: string | null;
  signature: string | null;
  /** Why the event can never be delivered, if it cannot (null: it can). */
  undeliverable: string | null;
  receivedAt: string;
  conflict: boolean;
  deliveredTo: string[];
  deliveredAt: string | null;
  expiredAt: string | null;
}

/** What storing an event found: a new event, the same event again, or another body under a known event id. */
export type Stored = { outcome: 'new' | 'repeat'; entry: InboxEvent } | { outcome: 'conflict'; entry: InboxEvent; conflict: InboxEvent };

/** The signed body as the carrier sent it: what a refund verifies before it believes the event. */
export interface SignedBody {
  rawBody: string;
  signature: string;
}

const UNSIGNED = 'stored before the inbox kept the signed raw body: no refund can verify it';

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : null);

function toInboxEvent(r: Record<string, unknown>): InboxEvent {
  return {
    id: Number(r.id),
    carrier: String(r.carrier),
    eventId: String(r.event_id),
    trackingNumber: String(r.tracking_number),
    event: r.event as CarrierEvent,
    rawBody: (r.raw_body as string | null) ?? null,
    signature: (r.signature as string | null) ?? null,
    undeliverable: r.raw_body == null ? UNSIGNED : null,
    receivedAt: iso(r.received_at)!,
    conflict: Boolean(r.conflict),
    deliveredTo: (r.delivered_to as string[] | null) ?? [],
    deliveredAt: iso(r.delivered_at),
    expiredAt: iso(r.expired_at),
  };
}

/** The fingerprint of an event's content: the same event in any key order or spacing is the same body. */
export function carrierEventHash(event: CarrierEvent): string {
  return sha256Hex(canonicalJson(event));
}

async function insertEvent(db: Db, event: CarrierEvent, signed: SignedBody, conflict: boolean): Promise<InboxEvent | undefined> {
  const inserted = await db.query(
    `INSERT INTO carrier_events (carrier, event_id, tracking_number, event, body_hash, conflict, raw_body, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *`,
    [
      event.carrier,
      event.eventId,
      event.trackingNumber,
      JSON.stringify(event),
      carrierEventHash(event),
      conflict,
      signed.rawBody,
      signed.signature,
    ],
  );
  return inserted.rows[0] ? toInboxEvent(inserted.rows[0]) : undefined;
}

/**
 * Stores a verified event, parsed from `signed.rawBody`, before anything else is done with it. A
 * repeat of a stored event (same content) changes nothing, and keeps the first signed body; another
 * content under a stored event id is kept as a conflict row (once per distinct content) and never
 * delivered.
 */
export async function storeCarrierEvent(db: Db, event: CarrierEvent, signed: SignedBody): Promise<Stored> {
  const fresh = await insertEvent(db, event, signed, false);
  if (fresh) return { outcome: 'new', entry: fresh };
  const original = await db.query('SELECT * FROM carrier_events WHERE carrier = $1 AND event_id = $2 AND NOT conflict', [
    event.carrier,
    event.eventId,
  ]);
  if (!original.rows[0]) throw new Error(`carrier event ${event.carrier}/${event.eventId} was neither stored nor found`);
  const entry = toInboxEvent(original.rows[0]);
  const hash = carrierEventHash(event);
  if (original.rows[0].body_hash === hash) return { outcome: 'repeat', entry };
  const conflict =
    (await insertEvent(db, event, signed, true)) ??
    toInboxEvent(
      (
        await db.query('SELECT * FROM carrier_events WHERE carrier = $1 AND event_id = $2 AND body_hash = $3', [
          event.carrier,
          event.eventId,
          hash,
        ])
      ).rows[0],
    );
  return { outcome: 'conflict', entry, conflict };
}

/**
 * Records that the event reached `refundIds`; `complete` when every refund of its parcel has it,
 * which takes it off the pending list. Delivery is at-least-once: the workflow ignores an event id
 * it has already seen.
 */
export async function markCarrierEventDelivered(db: Db, id: number, refundIds: readonly string[], complete: boolean): Promise<InboxEvent> {
  const updated = await db.query(
    `UPDATE carrier_events
        SET delivered_to = ARRAY(SELECT DISTINCT unnest(delivered_to || $2::text[]) ORDER BY 1),
            delivered_at = CASE WHEN $3 THEN coalesce(delivered_at, now()) ELSE delivered_at END
      WHERE id = $1 AND NOT conflict RETURNING *`,
    [id, refundIds, complete],
  );
  if (!updated.rows[0]) throw new Error(`carrier event ${id} is not in the inbox (or is a conflict)`);
  return toInboxEvent(updated.rows[0]);
}

/** Pending events of one parcel received within `maxAgeMs`, oldest first: what a new refund for it should get. */
export async function pendingEventsOfParcel(db: Db, carrier: string, trackingNumber: string, maxAgeMs: number): Promise<InboxEvent[]> {
  const result = await db.query(
    `SELECT * FROM carrier_events
      WHERE carrier = $1 AND tracking_number = $2 AND delivered_at IS NULL AND NOT conflict AND expired_at IS NULL
        AND raw_body IS NOT NULL
        AND received_at > now() - make_interval(secs => $3::double precision / 1000)
      ORDER BY received_at, id`,
    [carrier, trackingNumber, maxAgeMs],
  );
  return result.rows.map(toInboxEvent);
}

/** Up to `limit` pending events, received within `maxAgeMs`, whose parcel now has a refund; oldest first. */
export async function deliverableCarrierEvents(db: Db, limit: number, maxAgeMs: number): Promise<InboxEvent[]> {
  const result = await db.query(
    `SELECT e.* FROM carrier_events e
      WHERE e.delivered_at IS NULL AND NOT e.conflict AND e.expired_at IS NULL AND e.raw_body IS NOT NULL
        AND e.received_at > now() - make_interval(secs => $2::double precision / 1000)
        AND EXISTS (SELECT FROM refunds r WHERE r.carrier = e.carrier AND r.tracking_number = e.tracking_number)
      ORDER BY e.received_at, e.id LIMIT $1`,
    [limit, maxAgeMs],
  );
  return result.rows.map(toInboxEvent);
}

/**
 * Marks pending events older than `maxAgeMs` expired and returns them, so each is reported once
 * and then no longer retried: no refund will come for a parcel after its return window.
 */
export async function expireStaleCarrierEvents(db: Db, maxAgeMs: number, limit: number): Promise<InboxEvent[]> {
  const result = await db.query(
    `UPDATE carrier_events SET expired_at = now()
      WHERE id IN (SELECT id FROM carrier_events
                    WHERE delivered_at IS NULL AND NOT conflict AND expired_at IS NULL
                      AND received_at <= now() - make_interval(secs => $1::double precision / 1000)
                    ORDER BY received_at LIMIT $2)
      RETURNING *`,
    [maxAgeMs, limit],
  );
  return result.rows.map(toInboxEvent);
}

export type CarrierEventStatus = 'pending' | 'conflict';

/** Pending (including expired) or conflicting events, oldest first, for operations. */
export async function listCarrierEvents(db: Db, status: CarrierEventStatus, limit = 100): Promise<InboxEvent[]> {
  const where = status === 'pending' ? 'delivered_at IS NULL AND NOT conflict' : 'conflict';
  const result = await db.query(`SELECT * FROM carrier_events WHERE ${where} ORDER BY received_at, id LIMIT $1`, [limit]);
  return result.rows.map(toInboxEvent);
}

/** The stored event (not a conflict) with this carrier and event id, if any. */
export async function findCarrierEvent(db: Db, carrier: string, eventId: string): Promise<InboxEvent | undefined> {
  const result = await db.query('SELECT * FROM carrier_events WHERE carrier = $1 AND event_id = $2 AND NOT conflict', [carrier, eventId]);
  return result.rows[0] ? toInboxEvent(result.rows[0]) : undefined;
}
