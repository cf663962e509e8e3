/**
 * The refunds the benchmark sends: one item, returned by carrier, low risk with clean evidence,
 * in the tier mix below, from staff pooled the way a real operation pools them.
 */
import type { Approver, CarrierEvent, RefundRequest, WarehouseReceipt } from '../workflows/schemas';

let counter = 0;
const nextId = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

/**
 * The tier mix, by iteration: 7 in 10 paid automatically (45.00), 2 in 10 with one approval
 * (450.00), 1 in 10 with two (2,499.00), as the default policy tiers a low-risk refund.
 */
export function tierOf(iteration: number): { amount: number; approvals: 0 | 1 | 2 } {
  const slot = iteration % 10;
  if (slot < 7) return { amount: 4_500, approvals: 0 };
  if (slot < 9) return { amount: 45_000, approvals: 1 };
  return { amount: 249_900, approvals: 2 };
}

/**
 * Each refund gets its requesting agent, scanner and approvers from pools large enough that no
 * one comes near the risk engine's per-employee signals and circuit breakers (tens of refunds or
 * approvals a day), however long the benchmark runs.
 */
let staffCounter = 0;
export function staffFor(): { initiatedBy: string; scanner: string; approvers: [Approver, Approver] } {
  const n = staffCounter++;
  return {
    initiatedBy: `emp-agent-${n % 1000}`,
    scanner: `emp-scanner-${n % 200}`,
    approvers: [approver(`emp-approver-${(2 * n) % 1000}`), approver(`emp-approver-${(2 * n + 1) % 1000}`)],
  };
}

/**
 * The staff of the warm-up's refund `n` (two approvals each): run for every `n` below
 * `warmUpRefunds`, it has every approver approve once and every scanner scan, so that the worker
 * has verified each one's registry entry before the clock starts, as a worker that has run for a
 * while has. Its own agents, so the measured refunds' agents are not counted twice.
 */
export function warmUpStaff(n: number): { initiatedBy: string; scanner: string; approvers: [Approver, Approver] } {
  return {
    initiatedBy: `emp-warmup-agent-${n % 1000}`,
    scanner: benchScanners[n % benchScanners.length]!,
    approvers: [approver(benchApprovers[(2 * n) % benchApprovers.length]!), approver(benchApprovers[(2 * n + 1) % benchApprovers.length]!)],
  };
}

/** Warm-up refunds that take every approver and every scanner once. */
export const warmUpRefunds = 500;

/** Every scanner `staffFor` hands out, to register before the run. */
export const benchScanners = Array.from({ length: 200 }, (_, n) => `emp-scanner-${n}`);

/** Every approver `staffFor` hands out, to register before the run. */
export const benchApprovers = Array.from({ length: 1000 }, (_, n) => `emp-approver-${n}`);

function approver(approverId: string): Approver {
  return { approverId, roles: ['approver'], approvalLimit: 10_000_000 };
}

/** A request for `amount` minor units in one item, returned by UPS. */
export function refundOf(amount: number, initiatedBy: string): RefundRequest {
  const refundId = nextId('r');
  return {
    refundId,
    orderId: `o-${refundId}`,
    customerId: nextId('c'),
    currency: 'USD',
    items: [{ sku: 'ITEM-1', quantity: 1, unitAmount: amount, category: 'accessories' }],
    initiatedBy,
    reason: 'damaged on arrival',
    return: { carrier: 'ups', trackingNumber: `1Z${refundId}` },
  };
}

/** A refund request as a refund service sends one, from one of the pooled agents. */
export function refundForLoad(amount = 4_500): RefundRequest {
  return refundOf(amount, staffFor().initiatedBy);
}

/** The carrier's word that the return parcel was delivered. */
export function deliveredEvent(request: RefundRequest): CarrierEvent {
  if (request.return.method === 'none') throw new Error('returnless refund has no tracking');
  return {
    eventId: nextId('ce'),
    carrier: request.return.carrier,
    trackingNumber: request.return.trackingNumber,
    status: 'delivered',
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
  };
}

/** A receipt that matches the request exactly, scanned now. */
export function matchingReceipt(request: RefundRequest): WarehouseReceipt {
  return {
    eventId: nextId('wr'),
    warehouseId: 'wh-1',
    items: request.items.flatMap((item) => Array.from({ length: item.quantity }, () => ({ sku: item.sku, condition: 'used' as const }))),
    weightGrams: 1_000,
    scannedAt: new Date().toISOString(),
  };
}
