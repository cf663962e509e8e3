/**
 * End to end over HTTP only: the API listens on a real port and three refunds go from request to
 * `refunded` through the typed HTTP client alone (refund service, carrier webhook, warehouse scan,
 * approvers), needing no approval, one, and two; and a carrier client that can sign only for its own carrier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefundView } from '../../client/views';
import { InvalidInputError } from '../../client/errors';
import { RefundApiError, RefundsApiClient, type SigningKey } from '../../client/refunds-api-client';
import type { RefundState } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';

let api: ApiHarness;
let baseUrl: string;
let as: Record<'service' | 'carrier' | 'scanner' | 'approver1' | 'approver2' | 'ops', RefundsApiClient>;

beforeAll(async () => {
  api = await startApiHarness();
  baseUrl = await api.listen();
  const [service, scanner, approver1, approver2, ops] = await Promise.all([
    api.principal('svc-checkout', ['refund_service']),
    api.principal('wh-scanner', ['warehouse']),
    api.principal('emp-approver-1', ['approver'], '5000.00'),
    api.principal('emp-approver-2', ['approver'], '5000.00'),
    api.principal('emp-ops', ['ops']),
  ]);
  const client = (apiKey?: string, signingKey?: SigningKey) =>
    new RefundsApiClient({
      baseUrl,
      ...(apiKey ? { apiKey } : {}),
      ...(signingKey ? { signingKey } : {}),
      carrierKey: api.carrierKey('ups'),
    });
  as = {
    service: client(service.apiKey, service.signingKey),
    carrier: client(),
    scanner: client(scanner.apiKey, scanner.signingKey),
    approver1: client(approver1.apiKey, approver1.signingKey),
    approver2: client(approver2.apiKey, approver2.signingKey),
    ops: client(ops.apiKey),
  };
});
afterAll(async () => api?.close());

/** Polls the refund until it is in one of `states` and its timeline (written just after) has caught up. */
async function until(refundId: string, states: RefundState[]): Promise<RefundView> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const refund = await as.ops.getRefund(refundId);
    const recorded = refund.timeline.some((t) => t.kind === 'state_changed' && (t.data as { to?: string }).to === refund.state);
    if (states.includes(refund.state) && recorded) return refund;
    if (Date.now() > deadline) throw new Error(`refund ${refundId} is ${refund.state}, expected ${states.join(' or ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Request, carrier transit and delivery, warehouse scan: all over HTTP. */
async function returned(request: RefundRequest): Promise<RefundView> {
  const { created, refund } = await as.service.requestRefund(request);
  expect(created).toBe(true);
  expect(refund.state).toBe('awaiting_carrier');
  await as.carrier.sendCarrierEvent(carrierEvent(request, 'in_transit', { occurredAt: new Date(Date.now() - 120_000).toISOString() }));
  const delivered = carrierEvent(request, 'delivered', { weightGrams: 1_000 });
  expect(await as.carrier.sendCarrierEvent(delivered)).toEqual({
    eventId: delivered.eventId,
    refundIds: [request.refundId],
    finishedRefundIds: [],
    pending: false,
  });
  await until(request.refundId, ['awaiting_warehouse']);
  await as.scanner.recordWarehouseScan(request.refundId, matchingReceipt(request));
  return until(request.refundId, ['awaiting_approval', 'refunded']);
}

describe('three refunds, purely over HTTP', () => {
  it('pays 45.00 with no approval, 450.00 after one, 2,499.00 after two distinct approvers', async () => {
    const small = refundOf(4_500);
    const medium = refundOf(45_000);
    const large = refundRequest({
      items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
    });
    const [afterSmall, afterMedium, afterLarge] = await Promise.all([returned(small), returned(medium), returned(large)]);

    expect(afterSmall).toMatchObject({ state: 'refunded', approvalsRequired: 0 });

    expect(afterMedium).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 1 });
    expect((await as.approver1.approve(medium.refundId, 'receipt matches')).state).toBe('paying');

    expect(afterLarge).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2 });
    expect(await as.approver1.approve(large.refundId)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1 });
    const refused = await as.approver1.approve(large.refundId).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefundApiError);
    expect(refused).toMatchObject({ status: 403, problem: { rule: 'approver_already_decided' } });
    expect((await as.approver2.approve(large.refundId, 'serial matches')).state).toBe('paying');

    const [paidSmall, paidMedium, paidLarge] = await Promise.all([small, medium, large].map((r) => until(r.refundId, ['refunded'])));
    for (const [paid, amount, approvers] of [
      [paidSmall!, 4_500, []],
      [paidMedium!, 45_000, ['emp-approver-1']],
      [paidLarge!, 249_900, ['emp-approver-1', 'emp-approver-2']],
    ] as const) {
      expect(paid).toMatchObject({ state: 'refunded', amount, currency: 'USD', payout: { reference: expect.any(String) } });
      expect(paid.approvals.map((a) => a.approverId.replace(/-[^-]+-[^-]+$/, ''))).toEqual(approvers);
      expect(paid.timeline.map((t) => t.kind)).toEqual(
        expect.arrayContaining(['refund_requested', 'carrier_event', 'warehouse_receipt', 'paid']),
      );
      expect(paid.timeline.at(-1)).toMatchObject({ kind: 'state_changed', data: { to: 'refunded' } });
    }
    expect(await as.ops.verifyAudit()).toMatchObject({ ok: true });
  });
});

describe('a carrier through the typed client', () => {
  it("signs only for its own carrier: another carrier's event is refused before sending, and a key posing as another carrier by the API", async () => {
    const request = refundOf(4_500);
    await as.service.requestRefund(request);
    const dhl = new RefundsApiClient({ baseUrl: baseUrl, carrierKey: api.carrierKey('dhl') });
    const local = await dhl.sendCarrierEvent(carrierEvent(request, 'delivered')).catch((e: unknown) => e);
    expect(local).toBeInstanceOf(InvalidInputError);
    expect((local as InvalidInputError).issues).toEqual([{ path: 'carrier', message: expect.stringContaining('signs for dhl') }]);

    const posing = new RefundsApiClient({ baseUrl: baseUrl, carrierKey: { ...api.carrierKey('dhl'), carrier: 'ups' } });
    const refused = await posing.sendCarrierEvent(carrierEvent(request, 'delivered')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefundApiError);
    expect(refused).toMatchObject({ status: 401, problem: { type: '/problems/invalid-signature' } });
    expect((await as.ops.getRefund(request.refundId)).evidence.carrierEvents).toEqual([]);

    const keyless = await new RefundsApiClient({ baseUrl: baseUrl })
      .sendCarrierEvent(carrierEvent(request, 'delivered'))
      .catch((e: unknown) => e);
    expect(keyless).toBeInstanceOf(InvalidInputError);
    expect((keyless as InvalidInputError).issues.map((i) => i.path)).toEqual([
      'carrierKey.carrier',
      'carrierKey.keyId',
      'carrierKey.secret',
    ]);
  });
});
