/** Builders for refund messages, shared by the pure, workflow and end-to-end tests. */
import { defaultPolicy, type Policy } from '../../workflows/policy';
import type { Approver, CarrierEvent, RefundRequest, WarehouseReceipt } from '../../workflows/schemas';

let counter = 0;
export const nextId = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

/** Seconds-long timers, so workflow tests can cross them. */
export const fastPolicy: Policy = {
  ...defaultPolicy,
  version: 'test-fast',
  timers: { returnWindow: '4s', carrierDelivery: '3s', warehouseReceipt: '2s', approval: '2s', payout: '3s', payoutAttempt: '2s' },
};

/** Lower insider thresholds than the defaults, so a handful of refunds makes an insider signal fire. */
export const insiderPolicy: Policy = {
  ...defaultPolicy,
  signals: {
    ...defaultPolicy.signals,
    initiator: { refundsPerDay: 3, refundsPerWeek: 5 },
    scanner: { window: '7 days', receiptsWithoutDelivery: 3 },
    approver: { approvalsPerDay: 3, concentrationMin: 3, concentrationShare: 0.5 },
  },
};

export function refundRequest(overrides: Partial<RefundRequest> = {}): RefundRequest {
  const refundId = overrides.refundId ?? nextId('r');
  return {
    refundId,
    orderId: `o-${refundId}`,
    customerId: nextId('c'),
    currency: 'USD',
    items: [{ sku: 'CASE-1', quantity: 1, unitAmount: 4_500, category: 'accessories' }],
    // A fresh agent per refund: insider signals and breakers count each employee's refunds across the run.
    initiatedBy: nextId('emp-agent'),
    reason: 'damaged on arrival',
    return: { carrier: 'ups', trackingNumber: `1Z${refundId}` },
    ...overrides,
  };
}

/** A request for `amount` minor units in one item. */
export function refundOf(amount: number, overrides: Partial<RefundRequest> = {}): RefundRequest {
  return refundRequest({ items: [{ sku: 'ITEM-1', quantity: 1, unitAmount: amount, category: 'accessories' }], ...overrides });
}

export function tracking(request: RefundRequest): { carrier: string; trackingNumber: string } {
  if (request.return.method === 'none') throw new Error('returnless refund has no tracking');
  return { carrier: request.return.carrier, trackingNumber: request.return.trackingNumber };
}

export function carrierEvent(request: RefundRequest, status: CarrierEvent['status'], overrides: Partial<CarrierEvent> = {}): CarrierEvent {
  return {
    eventId: nextId('ce'),
    ...tracking(request),
    status,
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
    ...overrides,
  };
}

/** A receipt that matches the request exactly, scanned now. */
export function matchingReceipt(request: RefundRequest, overrides: Partial<WarehouseReceipt> = {}): WarehouseReceipt {
  return {
    eventId: nextId('wr'),
    warehouseId: 'wh-1',
    items: request.items.flatMap((item) =>
      Array.from({ length: item.quantity }, () => ({
        sku: item.sku,
        ...(item.serialNumber ? { serialNumber: item.serialNumber } : {}),
        condition: 'used' as const,
      })),
    ),
    weightGrams: 1_000,
    scannedAt: new Date().toISOString(),
    ...overrides,
  };
}

export function approver(id: string, limit = 10_000_000, roles: Approver['roles'] = ['approver']): Approver {
  return { approverId: id, roles, approvalLimit: limit };
}
