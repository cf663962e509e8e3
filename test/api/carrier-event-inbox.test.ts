/**
 * No carrier event is dropped: every verified event is stored first (the inbox), answered 202, and
 * delivered to its refund when that refund exists, whether it exists already, is requested later,
 * or the API process died between storing and signalling (the sweep). The same event again
 * changes nothing; another body under the same event id is kept as a conflict and answered 409.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCarrierEvent, storeCarrierEvent } from '../../store/carrier-inbox';
import type { StoredCarrierEvent } from '../../client/views';
import type { CarrierEvent, RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, refundOf } from '../support/fixtures';
import { signedCarrierEvent } from '../support/carrier-keys';

let api: ApiHarness;
let service: TestPrincipal;
let ops: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, ops] = await Promise.all([api.principal('svc-returns', ['refund_service']), api.principal('emp-ops', ['ops'])]);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

async function requestRefund(request: RefundRequest): Promise<void> {
  const response = await api.call('POST', '/v1/refunds', service, request);
  expect(response.statusCode, response.body).toBe(201);
}

async function listed(status: 'pending' | 'conflict'): Promise<StoredCarrierEvent[]> {
  const response = await api.call('GET', `/v1/ops/carrier-events?status=${status}&limit=1000`, ops);
  expect(response.statusCode, response.body).toBe(200);
  return (json(response) as { events: StoredCarrierEvent[] }).events;
}

const inbox = (event: CarrierEvent) => findCarrierEvent(api.h.pool, event.carrier, event.eventId);

describe('an event before its refund', () => {
  it('is accepted as pending, listed for operations, and reaches the refund once it is requested', async () => {
    const request = refundOf(4_500);
    const event = carrierEvent(request, 'delivered');
    const early = await api.carrierPost(event);
    expect(early.statusCode, early.body).toBe(202);
    expect(json(early)).toEqual({ eventId: event.eventId, refundIds: [], finishedRefundIds: [], pending: true });
    expect((await listed('pending')).find((e) => e.eventId === event.eventId)).toMatchObject({
      carrier: 'ups',
      trackingNumber: event.trackingNumber,
      status: 'delivered',
      conflict: false,
      deliveredTo: [],
      deliveredAt: null,
      expiredAt: null,
    });

    await requestRefund(request);
    const status = await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    expect(status.evidence.carrierEvents.map((e) => e.eventId)).toEqual([event.eventId]);
    expect(await inbox(event)).toMatchObject({ deliveredTo: [request.refundId], deliveredAt: expect.any(String) });
    expect((await listed('pending')).map((e) => e.eventId)).not.toContain(event.eventId);
    // Sent again, it answers with where it went.
    const again = await api.carrierPost(event);
    expect(json(again)).toEqual({ eventId: event.eventId, refundIds: [request.refundId], finishedRefundIds: [], pending: false });
  });

  it('stored but never signalled (the API process died in between), is delivered by the sweep', async () => {
    const request = refundOf(4_500);
    await requestRefund(request);
    const event = carrierEvent(request, 'delivered');
    // What a process that stopped right after storing leaves behind.
    expect(await storeCarrierEvent(api.h.pool, event, signedCarrierEvent(event, { secrets: api.carrierSecrets }))).toMatchObject({
      outcome: 'new',
      entry: { deliveredAt: null },
    });
    await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    expect(await inbox(event)).toMatchObject({ deliveredTo: [request.refundId], deliveredAt: expect.any(String) });
  });

  it('is reported (expired) once past the return window, and no longer delivered', async () => {
    const request = refundOf(4_500);
    const event = carrierEvent(request, 'delivered');
    expect((await api.carrierPost(event)).statusCode).toBe(202);
    // Received longer ago than the default policy's 30-day return window.
    await api.owner.query(`UPDATE carrier_events SET received_at = now() - interval '31 days' WHERE event_id = $1`, [event.eventId]);
    await api.h.sweep!.runOnce();
    expect(await inbox(event)).toMatchObject({ deliveredAt: null, expiredAt: expect.any(String) });
    expect((await listed('pending')).find((e) => e.eventId === event.eventId)?.expiredAt).toEqual(expect.any(String));
    // Reported once: a later round does not expire it again.
    expect((await api.h.refunds.deliverPendingCarrierEvents(1000)).expired.map((e) => e.eventId)).not.toContain(event.eventId);

    await requestRefund(request);
    await api.h.sweep!.runOnce();
    expect(await inbox(event)).toMatchObject({ deliveredTo: [], deliveredAt: null });
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents).toEqual([]);
  });
});

describe('what the inbox keeps', () => {
  it('is the raw body and signature header exactly as the carrier sent them, which is what reaches the refund', async () => {
    const request = refundOf(4_500);
    await requestRefund(request);
    // The carrier's own spacing: the signature covers these bytes, not a re-serialisation.
    const event = carrierEvent(request, 'delivered');
    const raw = JSON.stringify(event, null, 2);
    expect((await api.carrierPost(raw)).statusCode).toBe(202);
    const stored = await inbox(event);
    expect(stored?.rawBody).toBe(raw);
    expect(stored?.signature).toMatch(/^t=\d+,k=[^,]+,v1=[0-9a-f]{64}$/);
    const status = await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    expect(status.evidence.carrierEvents.map((e) => e.eventId)).toEqual([event.eventId]);
  });

  it('stored before the inbox kept the signed body, is never delivered, and says why', async () => {
    const request = refundOf(4_500);
    await requestRefund(request);
    const event = carrierEvent(request, 'delivered');
    // A row as the inbox wrote it before the raw body and signature were kept.
    await api.owner.query(
      `INSERT INTO carrier_events (carrier, event_id, tracking_number, event, body_hash) VALUES ($1, $2, $3, $4, 'legacy')`,
      [event.carrier, event.eventId, event.trackingNumber, JSON.stringify(event)],
    );
    await api.h.sweep!.runOnce();
    expect(await inbox(event)).toMatchObject({ rawBody: null, deliveredTo: [], deliveredAt: null });
    expect((await listed('pending')).find((e) => e.eventId === event.eventId)).toMatchObject({
      undeliverable: expect.stringContaining('no refund can verify it'),
    });
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents).toEqual([]);
  });
});

describe('the same event id again', () => {
  it('with the same body (in any key order) changes nothing and answers as before', async () => {
    const request = refundOf(4_500);
    await requestRefund(request);
    const event = carrierEvent(request, 'in_transit');
    const first = await api.carrierPost(event);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(event).reverse()), null, 2);
    const second = await api.carrierPost(reordered);
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(json(second)).toEqual(json(first));
    expect(json(first)).toEqual({ eventId: event.eventId, refundIds: [request.refundId], finishedRefundIds: [], pending: false });
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents).toHaveLength(1);
    const kinds = (await api.h.refunds.auditTrail(request.refundId)).map((r) => r.kind);
    expect(kinds.filter((k) => k === 'carrier_event')).toHaveLength(1);
    const rows = await api.h.pool.query('SELECT count(*)::int AS n FROM carrier_events WHERE event_id = $1', [event.eventId]);
    expect(rows.rows[0]).toEqual({ n: 1 });
  });

  it('with a different body is kept as a conflict, never delivered, listed, and answered 409 naming the event id', async () => {
    const request = refundOf(4_500);
    await requestRefund(request);
    const event = carrierEvent(request, 'in_transit');
    expect((await api.carrierPost(event)).statusCode).toBe(202);
    const forged = { ...event, status: 'delivered' as const };
    for (let i = 0; i < 2; i++) {
      const conflict = await api.carrierPost(forged);
      expect(conflict.statusCode, conflict.body).toBe(409);
      expect(conflict.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(json(conflict)).toMatchObject({ type: '/problems/carrier-event-conflict', status: 409 });
      expect(json(conflict).detail).toContain(`event ${event.eventId} of ups was already received with a different body`);
    }
    const conflicts = (await listed('conflict')).filter((e) => e.eventId === event.eventId);
    expect(conflicts).toEqual([
      expect.objectContaining({ status: 'delivered', conflict: true, deliveredTo: [], deliveredAt: null, event: forged }),
    ]);
    // The refund has the first body only, and stays waiting for the carrier.
    const status = await api.h.refunds.getRefund(request.refundId);
    expect(status.evidence.carrierEvents.map((e) => e.status)).toEqual(['in_transit']);
    expect(status.state).toBe('awaiting_carrier');
    // The original still answers as before.
    expect(json(await api.carrierPost(event))).toMatchObject({ refundIds: [request.refundId], pending: false });
  });
});

describe('the operations listing', () => {
  it('is for operations only, and names a bad status', async () => {
    expect((await api.call('GET', '/v1/ops/carrier-events?status=pending', service)).statusCode).toBe(403);
    expect((await api.call('GET', '/v1/ops/carrier-events?status=pending')).statusCode).toBe(401);
    const bad = await api.call('GET', '/v1/ops/carrier-events?status=lost', ops);
    expect(bad.statusCode).toBe(422);
    expect(json(bad).errors).toEqual([expect.objectContaining({ path: 'status' })]);
  });
});
