/** What the carrier and warehouse evidence shows, and which stage it puts a refund in. */
import type { EvidenceFinding } from '../policy';
import { thresholdsFor } from '../policy/rules';
import { CUSTOMER, hasCarrierReturn, type CarrierEvent, type RefundRequest } from '../schemas';
import type { ReceivedCarrierEvent, ReceivedScan, RefundModel, RefundState } from './state';

export function delivery(model: Pick<RefundModel, 'carrierEvents'>): ReceivedCarrierEvent | undefined {
  return model.carrierEvents.find((e) => e.status === 'delivered');
}

export function scannerIds(model: RefundModel): string[] {
  return [...new Set(model.receipts.map((r) => r.scannedBy))];
}

/** Carrier statuses that show the carrier has the parcel. */
const carrierHasParcel: readonly CarrierEvent['status'][] = ['accepted', 'in_transit', 'out_for_delivery', 'delivered'];

/**
 * Refund on carrier acceptance: under refundTiming "on_carrier_acceptance", a refund up to
 * amounts.carrierAcceptanceMax gets one early review as soon as the carrier has the parcel (and
 * has reported no exception). It is paid then only if that review finds low risk, no approval
 * needed and no evidence problem; otherwise it waits for delivery and the receipt as usual.
 */
export function dueForCarrierAcceptanceReview(model: RefundModel): boolean {
  return (
    model.policy.refundTiming === 'on_carrier_acceptance' &&
    model.carrierAcceptance === undefined &&
    hasCarrierReturn(model.request.return) &&
    model.amount <= thresholdsFor(model.policy, model.request.currency).carrierAcceptanceMax &&
    model.carrierEvents.some((e) => carrierHasParcel.includes(e.status)) &&
    !model.carrierEvents.some((e) => !carrierHasParcel.includes(e.status))
  );
}

/** Whether the refund's risk review is the early one on carrier acceptance (the evidence is not complete). */
export function isCarrierAcceptanceReview(model: RefundModel): boolean {
  return collectedEvidenceStage(model) !== 'risk_review' && dueForCarrierAcceptanceReview(model);
}

/** The findings the current risk review weighs: at the early review the delivery is not expected yet. */
export function reviewFindings(model: RefundModel): EvidenceFinding[] {
  const findings = evidenceFindings(model);
  return isCarrierAcceptanceReview(model) ? findings.filter((f) => f !== 'carrier_delivery_missing') : findings;
}

export function evidenceStage(model: RefundModel): RefundState {
  const collected = collectedEvidenceStage(model);
  return collected !== 'risk_review' && dueForCarrierAcceptanceReview(model) ? 'risk_review' : collected;
}

/**
 * Where the evidence alone puts a refund that is still collecting it. Carrier events may come
 * late or out of order (a `delivered` before `in_transit`); only what has been seen counts.
 */
function collectedEvidenceStage(model: RefundModel): RefundState {
  if (!hasCarrierReturn(model.request.return)) return 'risk_review';
  const delivered = delivery(model) !== undefined;
  if (delivered && model.receipts.length > 0) return 'risk_review';
  if (delivered) return 'awaiting_warehouse';
  // A receipt with no carrier scan at all is reviewed once the return window is over.
  if (model.receipts.length > 0 && model.returnWindowElapsed && model.carrierEvents.length === 0) return 'risk_review';
  return 'awaiting_carrier';
}

/**
 * What the evidence shows that a payout must not be made automatically on. The order in which
 * findings are first seen is kept: it is what the audit trail and the approval reasons show.
 */
export function evidenceFindings(model: RefundModel): EvidenceFinding[] {
  const findings = new Set<EvidenceFinding>();
  const { request } = model;
  if (!hasCarrierReturn(request.return)) {
    findings.add('no_return_parcel');
    return [...findings];
  }
  const delivered = delivery(model);
  if (!delivered) findings.add('carrier_delivery_missing');
  const returnWarehouse = request.return.warehouseId;
  if (delivered?.facilityId !== undefined && returnWarehouse !== undefined && delivered.facilityId !== returnWarehouse) {
    findings.add('delivered_elsewhere');
  }
  for (const scan of model.receipts) {
    if (delivered && Date.parse(scan.receipt.scannedAt) < Date.parse(delivered.occurredAt)) {
      findings.add('receipt_before_delivery');
    }
    if (request.initiatedBy !== CUSTOMER && scan.scannedBy === request.initiatedBy) findings.add('scanner_is_requester');
  }
  // The latest receipt is the one compared with the request.
  const receipt = model.receipts.at(-1);
  if (receipt) {
    addItemFindings(request, receipt, findings);
    if (weightIsOff(model, receipt)) findings.add('weight_mismatch');
  }
  return [...findings];
}

/** Matches what was asked for against what the receipt counted, item by item. */
function addItemFindings(request: RefundRequest, receipt: ReceivedScan, findings: Set<EvidenceFinding>): void {
  const received = [...receipt.receipt.items];
  for (const item of request.items) {
    for (let n = 0; n < item.quantity; n++) {
      const index = received.findIndex(
        (r) => r.sku === item.sku && (item.serialNumber === undefined || r.serialNumber === item.serialNumber),
      );
      if (index >= 0) {
        received.splice(index, 1);
      } else if (item.serialNumber !== undefined && received.some((r) => r.sku === item.sku)) {
        findings.add('serial_mismatch');
        received.splice(
          received.findIndex((r) => r.sku === item.sku),
          1,
        );
      } else {
        findings.add('item_missing');
      }
    }
  }
  if (received.some((r) => r.condition !== 'empty_box')) findings.add('unexpected_item');
  for (const item of receipt.receipt.items) {
    if (item.condition === 'wrong_item') findings.add('wrong_item');
    if (item.condition === 'empty_box') findings.add('empty_box');
  }
}

/** The carrier's weighing if there is one, else the catalogue weight of what was asked for. */
function weightIsOff(model: RefundModel, receipt: ReceivedScan): boolean {
  const { request } = model;
  const carrierWeight = [...model.carrierEvents].reverse().find((e) => e.weightGrams !== undefined)?.weightGrams;
  const catalogueWeight = request.items.every((i) => i.weightGrams !== undefined)
    ? request.items.reduce((sum, i) => sum + i.quantity * i.weightGrams!, 0)
    : undefined;
  const expectedWeight = carrierWeight ?? catalogueWeight;
  if (expectedWeight === undefined) return false;
  const off = Math.abs(receipt.receipt.weightGrams - expectedWeight) / expectedWeight;
  return off > model.policy.weightTolerance;
}
