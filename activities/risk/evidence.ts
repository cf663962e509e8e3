/**
 * Evidence signals: what the carrier and the warehouse reported, and whether the return parcel's
 * tracking number already served another refund (read model). Pure.
 */
import type { EvidenceFinding, RiskReasonCode } from '../../workflows/policy';
import { delivery } from '../../workflows/refund-model';
import { hasCarrierReturn } from '../../workflows/schemas';
import type { RefundOnParcel } from '../../store/risk-facts';
import type { RiskInput, Signal } from './signal';

/** The signal each evidence finding raises (a missing return parcel is a goods signal). */
const findingSignals: Record<
  Exclude<EvidenceFinding, 'no_return_parcel' | 'carrier_delivery_missing' | 'item_missing' | 'unexpected_item'>,
  RiskReasonCode
> = {
  receipt_before_delivery: 'evidence_receipt_before_delivery',
  serial_mismatch: 'evidence_serial_mismatch',
  wrong_item: 'evidence_wrong_item',
  empty_box: 'evidence_empty_box',
  weight_mismatch: 'evidence_weight_mismatch',
  delivered_elsewhere: 'evidence_delivered_elsewhere',
  scanner_is_requester: 'evidence_scanner_is_requester',
};

/** Signals from the refund's own evidence. Pure. */
export function evidenceSignals(input: Pick<RiskInput, 'request' | 'findings' | 'carrierEvents' | 'receipts'>): Signal[] {
  const { request, findings, carrierEvents, receipts } = input;
  const signals: Signal[] = [];
  const delivered = delivery({ carrierEvents });
  const receipt = receipts.at(-1);
  for (const finding of findings) {
    switch (finding) {
      case 'no_return_parcel':
        break;
      case 'carrier_delivery_missing':
        signals.push(
          carrierEvents.length === 0
            ? {
                code: 'evidence_no_carrier_scan',
                detail: 'the carrier never scanned the return parcel',
                values: { carrierEvents: 0, receipts: receipts.length },
              }
            : {
                code: 'evidence_carrier_delivery_missing',
                detail: 'the carrier has not delivered the return parcel',
                values: { carrierStatuses: carrierEvents.map((e) => e.status) },
              },
        );
        break;
      case 'item_missing':
      case 'unexpected_item':
        if (!signals.some((s) => s.code === 'evidence_sku_mismatch')) {
          signals.push({
            code: 'evidence_sku_mismatch',
            detail: 'the items received are not the items refunded',
            values: {
              requested: request.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
              received: receipt?.receipt.items.map((i) => i.sku) ?? [],
            },
          });
        }
        break;
      default:
        signals.push({
          code: findingSignals[finding],
          detail: finding.replaceAll('_', ' '),
          values: evidenceValues(finding, input, delivered),
        });
    }
  }
  return signals;
}

function evidenceValues(
  finding: EvidenceFinding,
  input: Pick<RiskInput, 'request' | 'carrierEvents' | 'receipts'>,
  delivered: ReturnType<typeof delivery>,
): Record<string, unknown> {
  const receipts = input.receipts;
  const receipt = receipts.at(-1);
  switch (finding) {
    case 'receipt_before_delivery':
      return {
        deliveredAt: delivered?.occurredAt,
        scannedAt: receipts.map((r) => r.receipt.scannedAt),
        scannedBy: receipts.map((r) => r.scannedBy),
      };
    case 'serial_mismatch':
      return {
        expected: input.request.items.flatMap((i) => i.serialNumber ?? []),
        received: receipt?.receipt.items.flatMap((i) => i.serialNumber ?? []) ?? [],
      };
    case 'wrong_item':
    case 'empty_box':
      return {
        items: receipt?.receipt.items.filter((i) => i.condition === finding).map((i) => i.sku) ?? [],
        scannedBy: receipt?.scannedBy,
      };
    case 'weight_mismatch':
      return {
        receivedGrams: receipt?.receipt.weightGrams,
        carrierGrams: [...input.carrierEvents].reverse().find((e) => e.weightGrams !== undefined)?.weightGrams ?? null,
        catalogueGrams: input.request.items.every((i) => i.weightGrams !== undefined)
          ? input.request.items.reduce((sum, i) => sum + i.quantity * i.weightGrams!, 0)
          : null,
      };
    case 'delivered_elsewhere':
      return {
        deliveredTo: delivered?.facilityId,
        returnWarehouse: hasCarrierReturn(input.request.return) ? input.request.return.warehouseId : undefined,
      };
    case 'scanner_is_requester':
      return { employeeId: input.request.initiatedBy };
    default:
      return {};
  }
}

/** Other refunds whose return parcel has the same carrier and tracking number (store/risk-facts). */
export function trackingReuseRules(input: Pick<RiskInput, 'request'>, others: readonly RefundOnParcel[]): Signal[] {
  const parcel = input.request.return;
  if (!hasCarrierReturn(parcel) || others.length === 0) return [];
  return [
    {
      code: 'evidence_tracking_reused',
      detail: `${parcel.carrier} parcel ${parcel.trackingNumber} is also the return of ${others.map((r) => r.refundId).join(', ')}`,
      values: {
        carrier: parcel.carrier,
        trackingNumber: parcel.trackingNumber,
        refundIds: others.map((r) => r.refundId),
        customerIds: [...new Set(others.map((r) => r.customerId))],
      },
    },
  ];
}
