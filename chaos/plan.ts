/**
 * What each refund of the run does, drawn from the seed: its tier (paid automatically, one
 * approval, two), whether it is cancelled or rejected, and the ways its messages arrive: the
 * request sent twice, the carrier's events duplicated, out of order or before the request, the
 * scan repeated or before the delivery.
 */
import type { CarrierEvent, RefundRequest, WarehouseReceipt } from '../workflows/schemas';
import { seededRandom } from './settings';

export interface RefundPlan {
  index: number;
  request: RefundRequest;
  /** The approvals the default policy asks for a low-risk refund of this amount. */
  tier: 0 | 1 | 2;
  cancel?: 'after_request' | 'after_delivery';
  /** The first approver rejects (only where an approval is needed). */
  reject: boolean;
  duplicateRequest: boolean;
  carrierBeforeRequest: boolean;
  deliveredBeforeTransit: boolean;
  duplicateCarrierEvents: boolean;
  repeatScan: boolean;
  /** The scan arrives before the carrier's delivery: a finding that needs two approvals. */
  scanBeforeDelivery: boolean;
}

const amounts = { 0: 4_500, 1: 45_000, 2: 249_900 } as const;

function tierOf(roll: number): 0 | 1 | 2 {
  if (roll < 0.6) return 0;
  return roll < 0.85 ? 1 : 2;
}

export function planRefunds(count: number, seed: number, runId: string, agents: number): RefundPlan[] {
  const random = seededRandom(seed);
  const chance = (p: number) => random() < p;
  return Array.from({ length: count }, (_, index) => {
    const tier = tierOf(random());
    const refundId = `r-${runId}-${index}`;
    const cancelRoll = random();
    const cancel = cancelRoll < 0.05 ? 'after_request' : cancelRoll < 0.1 ? 'after_delivery' : undefined;
    return {
      index,
      tier,
      request: {
        refundId,
        orderId: `o-${refundId}`,
        customerId: `c-${refundId}`,
        currency: 'USD',
        items: [{ sku: 'ITEM-1', quantity: 1, unitAmount: amounts[tier], category: 'accessories' }],
        initiatedBy: `chaos-agent-${index % agents}`,
        reason: 'damaged on arrival',
        return: { carrier: 'ups', trackingNumber: `1Z${refundId}` },
      },
      ...(cancel ? { cancel } : {}),
      reject: !cancel && tier > 0 && chance(0.15),
      duplicateRequest: chance(0.2),
      carrierBeforeRequest: chance(0.1),
      deliveredBeforeTransit: chance(0.25),
      duplicateCarrierEvents: chance(0.3),
      repeatScan: chance(0.25),
      scanBeforeDelivery: chance(0.05),
    };
  });
}

/** The carrier's events for the refund's parcel: in transit, then delivered (facility wh-1). */
export function carrierEvents(plan: RefundPlan): { transit: CarrierEvent; delivered: CarrierEvent } {
  const { refundId, return: parcel } = plan.request;
  if (parcel.method === 'none') throw new Error('the run sends no returnless refunds');
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const base = { carrier: parcel.carrier, trackingNumber: parcel.trackingNumber };
  return {
    transit: { ...base, eventId: `ce-${refundId}-t`, status: 'in_transit', occurredAt: at(30) },
    delivered: { ...base, eventId: `ce-${refundId}-d`, status: 'delivered', occurredAt: at(1) },
  };
}

/** A receipt matching the request exactly; the same event id each time it is sent. */
export function receiptFor(plan: RefundPlan, scannedAt: string): WarehouseReceipt {
  return {
    eventId: `wr-${plan.request.refundId}`,
    warehouseId: 'wh-1',
    items: plan.request.items.map((item) => ({ sku: item.sku, condition: 'used' as const })),
    weightGrams: 1_000,
    scannedAt,
  };
}

/** The final state the refund should reach. */
export function expectedOutcome(plan: RefundPlan): 'cancelled' | 'rejected' | 'refunded' {
  if (plan.cancel) return 'cancelled';
  return plan.reject ? 'rejected' : 'refunded';
}
