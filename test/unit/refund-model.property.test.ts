/**
 * Property tests: random sequences of evidence, approvals, cancels, timers, risk results and
 * payout outcomes, driven through the same state machine the workflow runs, the way the
 * workflow does (approvals only past the validator). Whatever happens, nothing is paid without
 * independent evidence or the approvals standing in for it, no approver is the requester or a
 * scanner, and nothing is paid twice. Employees' circuit breakers (found by the risk check or at
 * an approval) and approvers' own activity add to what is needed; under refund on carrier
 * acceptance only a small, low-risk refund with the parcel in the carrier's hands is paid before
 * the receipt. The oracle below is written independently of the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Policy, type RiskBand } from '../../workflows/policy';
import { applyEvent, checkApproval, isTerminal, newRefund, type RefundEvent, type RefundModel } from '../../workflows/refund-model';
import type { CarrierEvent, RefundRequest, WarehouseReceipt } from '../../workflows/schemas';

const T0 = Date.parse('2026-11-01T00:00:00.000Z');
const iso = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
const people = ['emp-requester', 'emp-scan-1', 'emp-scan-2', 'emp-a', 'emp-b', 'emp-c'];
const receiptVariants = ['exact', 'missing', 'extra', 'wrong_serial', 'empty_box', 'wrong_item'] as const;
type ReceiptVariant = (typeof receiptVariants)[number];

type Action =
  | { kind: 'carrier'; id: number; status: CarrierEvent['status']; minute: number; ownParcel: boolean }
  | { kind: 'scan'; id: number; by: string; variant: ReceiptVariant; minute: number }
  | { kind: 'decide'; by: string; approve: boolean; limit: number; isApprover: boolean; tripped: boolean; activityPoints: number }
  | { kind: 'cancel' }
  | { kind: 'return_window' }
  | { kind: 'overdue' }
  | { kind: 'risk'; band: RiskBand; stale: boolean; breaker: boolean }
  | { kind: 'payout'; ok: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('carrier' as const),
      id: fc.integer({ min: 0, max: 6 }),
      status: fc.constantFrom('accepted', 'in_transit', 'out_for_delivery', 'delivered', 'delivered', 'exception', 'returned_to_sender'),
      minute: fc.integer({ min: 0, max: 600 }),
      ownParcel: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('scan' as const),
      id: fc.integer({ min: 10, max: 14 }),
      by: fc.constantFrom(...people),
      variant: fc.constantFrom(...receiptVariants, 'exact', 'exact'),
      minute: fc.integer({ min: 0, max: 600 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      by: fc.constantFrom(...people),
      approve: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
      limit: fc.constantFrom(0, 10_000, 100_000, 10_000_000),
      isApprover: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
      tripped: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      activityPoints: fc.constantFrom(0, 0, 0, 30, 60),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'cancel' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'return_window' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'overdue' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('risk' as const),
      band: fc.constantFrom<RiskBand>('low', 'low', 'medium', 'high', 'block'),
      stale: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      breaker: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('payout' as const), ok: fc.integer({ min: 0, max: 9 }).map((n) => n < 8) }) },
);

/**
 * Purely random actions rarely get a refund as far as a payout, so each scenario starts from the
 * path a good refund takes, drops some of its steps, and mixes random actions in between.
 */
const approves = (by: string): Action => ({
  kind: 'decide',
  by,
  approve: true,
  limit: 10_000_000,
  isApprover: true,
  tripped: false,
  activityPoints: 0,
});
const happyPath: Action[] = [
  { kind: 'carrier', id: 0, status: 'in_transit', minute: 10, ownParcel: true },
  { kind: 'risk', band: 'low', stale: false, breaker: false },
  { kind: 'carrier', id: 1, status: 'delivered', minute: 20, ownParcel: true },
  { kind: 'scan', id: 10, by: 'emp-scan-1', variant: 'exact', minute: 30 },
  { kind: 'risk', band: 'low', stale: false, breaker: false },
  approves('emp-a'),
  approves('emp-b'),
  { kind: 'risk', band: 'low', stale: false, breaker: false },
  approves('emp-c'),
  { kind: 'payout', ok: true },
];
const actions = fc
  .tuple(
    fc.array(
      fc.integer({ min: 0, max: 19 }).map((n) => n >= 3),
      { minLength: happyPath.length, maxLength: happyPath.length },
    ),
    fc.array(fc.tuple(fc.integer({ min: 0, max: happyPath.length }), action), { maxLength: 20 }),
    // Now and then the path's first approver has a tripped circuit breaker.
    fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  )
  .map(([keep, noise, tripped]) => {
    const steps: Action[] = [];
    happyPath.forEach((step, i) => {
      for (const [at, extra] of noise) if (at === i) steps.push(extra);
      if (keep[i]) steps.push(tripped && step.kind === 'decide' && step.by === 'emp-a' ? { ...step, tripped } : step);
    });
    for (const [at, extra] of noise) if (at === happyPath.length) steps.push(extra);
    return steps;
  });

const scenario = fc.record({
  amount: fc.constantFrom(5_000, 5_001, 10_000, 10_001, 99_999, 100_000, 100_001, 1_000_001, 2_500_000),
  timing: fc.constantFrom<Policy['refundTiming']>('after_receipt', 'on_carrier_acceptance'),
  initiatedBy: fc.constantFrom('emp-requester', 'customer'),
  returnless: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  withSerial: fc.boolean(),
  actions,
});

/**
 * A small refund on carrier acceptance that one approver approved while its evidence still lacked
 * the carrier: the carrier's acceptance then pays it as it would have paid it with no approval.
 */
const approvedBeforeAcceptance = {
  amount: 5_000 as const,
  timing: 'on_carrier_acceptance' as const,
  initiatedBy: 'emp-requester' as const,
  returnless: false,
  withSerial: false,
  actions: [
    { kind: 'scan', id: 10, by: 'emp-scan-1', variant: 'exact', minute: 30 },
    { kind: 'return_window' },
    { kind: 'risk', band: 'low', stale: false, breaker: false },
    approves('emp-a'),
    { kind: 'carrier', id: 0, status: 'accepted', minute: 0, ownParcel: true },
    { kind: 'risk', band: 'low', stale: false, breaker: false },
  ] as Action[],
};

function requestFor(s: { amount: number; initiatedBy: string; returnless: boolean; withSerial: boolean }): RefundRequest {
  return {
    refundId: 'r-prop',
    orderId: 'o-prop',
    customerId: 'c-prop',
    currency: 'USD',
    items: [{ sku: 'TAB-1', quantity: 1, unitAmount: s.amount, category: 'tablets', ...(s.withSerial ? { serialNumber: 'SER-1' } : {}) }],
    initiatedBy: s.initiatedBy,
    reason: 'not as described',
    return: s.returnless ? { method: 'none' } : { carrier: 'dhl', trackingNumber: 'JD0001' },
  };
}

function receiptFor(variant: ReceiptVariant, id: number, minute: number): WarehouseReceipt {
  const items: WarehouseReceipt['items'] = {
    exact: [{ sku: 'TAB-1', serialNumber: 'SER-1', condition: 'used' as const }],
    missing: [{ sku: 'CHARGER', condition: 'used' as const }],
    extra: [
      { sku: 'TAB-1', serialNumber: 'SER-1', condition: 'used' as const },
      { sku: 'BRICK', condition: 'used' as const },
    ],
    wrong_serial: [{ sku: 'TAB-1', serialNumber: 'SER-FAKE', condition: 'used' as const }],
    empty_box: [{ sku: 'TAB-1', condition: 'empty_box' as const }],
    wrong_item: [{ sku: 'TAB-1', serialNumber: 'SER-1', condition: 'wrong_item' as const }],
  }[variant];
  return { eventId: `ev-${id}`, warehouseId: 'wh-1', items, weightGrams: 700, scannedAt: iso(minute) };
}

interface Observed {
  scans: Array<{ by: string; variant: ReceiptVariant; minute: number }>;
  deliveredAt?: number;
  /** Statuses of the carrier events the refund recorded for its own parcel. */
  carrierStatuses: string[];
  limits: Map<string, number>;
  /** The band of the latest risk check the refund used, raised by approvers' own activity. */
  band?: RiskBand;
  /** The latest risk check's score plus the points approvers' activity added since. */
  score: number;
  /** The latest risk check found an employee with a tripped breaker. */
  riskBreaker: boolean;
  /** An approver with a tripped breaker approved. */
  approverBreaker: boolean;
}

const bandOrder: RiskBand[] = ['low', 'medium', 'high', 'block'];
/** The default policy's bands (25, 50, 80) and its role limit for approvers (10,000.00 USD). */
const bandForScore = (score: number): RiskBand => (score >= 80 ? 'block' : score >= 50 ? 'high' : score >= 25 ? 'medium' : 'low');
const APPROVER_ROLE_LIMIT = 1_000_000;

/** The oracle: the approvals a payout must have had, computed without the model's helpers. */
function assertPayoutWasEarned(model: RefundModel, request: RefundRequest, seen: Observed, timing: Policy['refundTiming']) {
  const scanners = new Set(seen.scans.map((s) => s.by));
  const counted = model.approvals.filter((a) => a.decision === 'approve' && !scanners.has(a.approverId));
  const ids = counted.map((a) => a.approverId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) {
    expect(id).not.toBe(request.initiatedBy);
    expect(Math.min(seen.limits.get(id)!, APPROVER_ROLE_LIMIT)).toBeGreaterThanOrEqual(model.amount);
  }
  // Returnless refunds of tablets (a high-resale category) are always rejected.
  expect(request.return.method).not.toBe('none');
  const latest = seen.scans.at(-1);
  const evidenceClean =
    seen.deliveredAt !== undefined &&
    latest !== undefined &&
    (latest.variant === 'exact' || (latest.variant === 'wrong_serial' && !request.items[0]!.serialNumber)) &&
    seen.scans.every((s) => s.minute >= seen.deliveredAt! && s.by !== request.initiatedBy);
  expect(seen.band).toBeDefined();
  expect(seen.band).not.toBe('block');
  const breaker = seen.riskBreaker || seen.approverBreaker;
  // Refund on carrier acceptance: before the evidence is complete (delivery and receipt), at most
  // 50.00, low risk, no breaker, the carrier has the parcel and reported no trouble, and no
  // receipt that says otherwise.
  const carrierHasParcel = ['accepted', 'in_transit', 'out_for_delivery', 'delivered'];
  const paidOnAcceptance =
    timing === 'on_carrier_acceptance' &&
    !(seen.deliveredAt !== undefined && seen.scans.length > 0) &&
    model.amount <= 5_000 &&
    seen.band === 'low' &&
    !breaker &&
    seen.carrierStatuses.length > 0 &&
    seen.carrierStatuses.every((s) => carrierHasParcel.includes(s)) &&
    // As on the usual path, the latest receipt is the one compared with the request.
    (latest === undefined || latest.variant === 'exact' || (latest.variant === 'wrong_serial' && !request.items[0]!.serialNumber)) &&
    seen.scans.every((s) => s.by !== request.initiatedBy);
  // Approvals already given never make the early payout harder to earn than none would.
  if (paidOnAcceptance) return;
  let needed = model.amount > 100_000 ? 2 : model.amount > 10_000 ? 1 : 0;
  if (seen.band === 'medium') needed = Math.max(needed, 1);
  if (seen.band === 'high' || !evidenceClean) needed = 2;
  if (breaker) needed += 1;
  expect(counted.length).toBeGreaterThanOrEqual(needed);
}

describe('refund state machine under random event sequences', () => {
  it('never pays without the evidence and distinct approvals the policy demands, and never twice', () => {
    const reached = { paying: 0, refunded: 0, viaApprovals: 0, withBreaker: 0, onAcceptance: 0 };
    fc.assert(
      fc.property(scenario, (s) => {
        const request = requestFor(s);
        let { model } = newRefund(request, { ...defaultPolicy, refundTiming: s.timing }, iso(0));
        const seen: Observed = { scans: [], carrierStatuses: [], limits: new Map(), score: 0, riskBreaker: false, approverBreaker: false };
        let minute = 0;
        let payouts = 0;
        let enteredPaying = 0;

        const apply = (event: RefundEvent) => {
          const before = model;
          model = applyEvent(model, event).model;
          if (isTerminal(before.state)) expect(model).toBe(before);
          if (model.state === 'paying' && before.state !== 'paying') {
            enteredPaying++;
            assertPayoutWasEarned(model, request, seen, s.timing);
          }
          if (model.state === 'refunded' && before.state !== 'refunded') {
            expect(before.state).toBe('paying');
            payouts++;
          }
        };

        for (const a of s.actions) {
          const at = iso(++minute);
          switch (a.kind) {
            case 'carrier': {
              const event: CarrierEvent = {
                eventId: `ev-${a.id}`,
                carrier: 'dhl',
                trackingNumber: a.ownParcel ? 'JD0001' : 'OTHER',
                status: a.status,
                occurredAt: iso(a.minute),
              };
              const firstUse = !model.seenEventIds.includes(event.eventId);
              const recorded = firstUse && a.ownParcel && request.return.method !== 'none' && !isTerminal(model.state);
              if (recorded && a.status === 'delivered' && seen.deliveredAt === undefined) seen.deliveredAt = a.minute;
              if (recorded) seen.carrierStatuses.push(a.status);
              apply({ type: 'carrier_event', event, at });
              break;
            }
            case 'scan': {
              const accepted =
                !model.seenEventIds.includes(`ev-${a.id}`) &&
                !['paying', ...['refunded', 'rejected', 'cancelled', 'expired', 'failed']].includes(model.state);
              if (accepted) seen.scans.push({ by: a.by, variant: a.variant, minute: a.minute });
              apply({ type: 'warehouse_scan', scan: { receipt: receiptFor(a.variant, a.id, a.minute), scannedBy: a.by }, at });
              break;
            }
            case 'decide': {
              const command = {
                approver: { approverId: a.by, roles: a.isApprover ? (['approver'] as const) : (['ops'] as const), approvalLimit: a.limit },
                decision: { decision: a.approve ? ('approve' as const) : ('reject' as const) },
              };
              const cmd = { ...command, approver: { ...command.approver, roles: [...command.approver.roles] } };
              if (checkApproval(model, cmd)) break; // the update validator refuses it
              seen.limits.set(a.by, a.limit);
              // What the workflow's check found about the approver: their activity's points, their breaker.
              const standing = {
                reasons: a.activityPoints
                  ? [{ code: 'insider_approver_volume_day', detail: 'busy', points: a.activityPoints, values: { employeeId: a.by } }]
                  : [],
                ...(a.tripped
                  ? { breaker: { employeeId: a.by, touchedAs: 'approver' as const, trippedAt: at, reason: 'limit crossed' } }
                  : {}),
              };
              if (a.approve) {
                if (a.tripped) seen.approverBreaker = true;
                const known = model.risk?.reasons.some((r) => r.code === 'insider_approver_volume_day' && r.values.employeeId === a.by);
                if (a.activityPoints && !known) {
                  seen.score = Math.min(100, seen.score + a.activityPoints);
                  const raised = bandForScore(seen.score);
                  if (seen.band && bandOrder.indexOf(raised) > bandOrder.indexOf(seen.band)) seen.band = raised;
                }
              }
              apply({ type: 'approval', command: cmd, standing, at });
              break;
            }
            case 'cancel':
              apply({ type: 'cancel', command: { cancelledBy: 'svc', reason: 'withdrawn' }, at });
              break;
            case 'return_window':
              apply({ type: 'return_window_elapsed', at });
              break;
            case 'overdue':
              apply({ type: 'stage_overdue', state: model.state, at });
              break;
            case 'risk': {
              // A score consistent with the band, as the risk check gives.
              const score = { low: 0, medium: 25, high: 50, block: 80 }[a.band];
              if (model.state === 'risk_review' && !a.stale) {
                seen.band = a.band;
                seen.score = score;
                seen.riskBreaker = a.breaker;
              }
              const breakers = a.breaker
                ? [{ employeeId: 'emp-scan-1', touchedAs: 'scanner' as const, trippedAt: at, reason: 'limit crossed' }]
                : [];
              apply({
                type: 'risk_assessed',
                risk: { score, band: a.band, reasons: [], breakers },
                evidenceVersion: model.evidenceVersion - (a.stale ? 1 : 0),
                at,
              });
              break;
            }
            case 'payout':
              apply(
                a.ok
                  ? { type: 'payout_succeeded', reference: 'ref-1', at }
                  : { type: 'payout_failed', code: 'PaymentDeclined', message: 'declined', at },
              );
              break;
          }
        }
        if (enteredPaying) reached.paying++;
        if (payouts) reached.refunded++;
        if (enteredPaying && model.approvals.length > 0) reached.viaApprovals++;
        if (enteredPaying && model.approvals.some((a) => a.breaker)) reached.withBreaker++;
        if (enteredPaying && model.carrierAcceptance === 'paid') reached.onAcceptance++;
        expect(payouts).toBeLessThanOrEqual(1);
        expect(enteredPaying).toBeLessThanOrEqual(1);
        if (model.state === 'refunded') expect(model.payout).toBeDefined();
      }),
      { numRuns: 3000, examples: [[approvedBeforeAcceptance]] },
    );
    // The generator must reach the interesting states often enough for the property to bite.
    expect(reached.paying).toBeGreaterThan(150);
    expect(reached.refunded).toBeGreaterThan(100);
    expect(reached.viaApprovals).toBeGreaterThan(50);
    expect(reached.withBreaker).toBeGreaterThan(10);
    expect(reached.onAcceptance).toBeGreaterThan(10);
  });
});
