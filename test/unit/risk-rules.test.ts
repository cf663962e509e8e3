/**
 * The risk rules that judge history, on facts given directly (no database): each fires at its
 * threshold, stays quiet just below it, and reports the values that made it fire.
 */
import { describe, expect, it } from 'vitest';
import { customerRules } from '../../activities/risk/customer';
import { trackingReuseRules } from '../../activities/risk/evidence';
import {
  approverBreakerRules,
  approverRules,
  approverWindowStart,
  breakerRules,
  initiatorRules,
  initiatorWindowStarts,
  scannerRules,
  scannerWindowStart,
} from '../../activities/risk/insiders';
import { linkedAccountRules, linkedWindowStart } from '../../activities/risk/linked-accounts';
import type { Breaker } from '../../store/breakers';
import type { ApproverActivity } from '../../store/insider-activity';
import type { CustomerRefundHistory } from '../../store/risk-facts';
import { insiderPolicy, refundOf } from '../support/fixtures';

const DAY = 86_400_000;
const now = new Date('2026-03-01T12:00:00Z');
const codes = (signals: Array<{ code: string }>) => signals.map((s) => s.code);

/** The default amounts (USD) apply: customer 500.00 / 1,500.00, linked 1,000.00. */
const policy = insiderPolicy;

describe('customer rules', () => {
  const quiet: CustomerRefundHistory = { refunds30d: 0, refunds90d: 0, value30d: 0, value90d: 0 };
  const request = refundOf(4_000);

  it('counts and values fire at their thresholds and not one below', () => {
    const atThresholds = { refunds30d: 3, refunds90d: 6, value30d: 50_000, value90d: 150_000 };
    const signals = customerRules({ history: atThresholds }, { request, policy }, now);
    expect(codes(signals)).toEqual([
      'customer_refunds_30d',
      'customer_refunds_90d',
      'customer_refund_value_30d',
      'customer_refund_value_90d',
    ]);
    expect(signals[2]!.values).toEqual({ amount: 50_000, currency: 'USD', threshold: 50_000 });
    const below = { refunds30d: 2, refunds90d: 5, value30d: 49_999, value90d: 149_999 };
    expect(customerRules({ history: below }, { request, policy }, now)).toEqual([]);
  });

  it('an account younger than newAccountDays fires; one exactly that old does not', () => {
    const opened = (days: number) =>
      refundOf(4_000, { customer: { accountCreatedAt: new Date(now.getTime() - days * DAY).toISOString() } });
    expect(customerRules({ history: quiet }, { request: opened(29), policy }, now)).toEqual([
      expect.objectContaining({ code: 'customer_new_account', values: expect.objectContaining({ ageDays: 29, threshold: 30 }) }),
    ]);
    expect(customerRules({ history: quiet }, { request: opened(30), policy }, now)).toEqual([]);
  });

  it('the refunded-order share needs both the minimum count and the share', () => {
    const placed = (ordersPlaced: number) => refundOf(4_000, { customer: { ordersPlaced } });
    const share = (ordersRefunded: number, ordersPlaced: number) =>
      customerRules({ history: quiet, ordersRefunded }, { request: placed(ordersPlaced), policy }, now);
    expect(share(3, 6)).toEqual([
      expect.objectContaining({
        code: 'customer_refunded_order_share',
        values: expect.objectContaining({ ordersRefunded: 3, share: 0.5 }),
      }),
    ]);
    expect(share(3, 7)).toEqual([]); // below half
    expect(share(2, 2)).toEqual([]); // every order, but fewer than minRefundedOrders
    // More refunded orders than the request says were placed: capped at the orders placed.
    expect(share(9, 4)[0]!.values).toMatchObject({ ordersRefunded: 4, ordersPlaced: 4, share: 1 });
    // Without the orders placed there is no share to judge.
    expect(customerRules({ history: quiet, ordersRefunded: 9 }, { request, policy }, now)).toEqual([]);
  });
});

describe('tracking reuse rule', () => {
  it('fires for other refunds on the same parcel, naming each customer once', () => {
    const request = refundOf(4_000);
    const others = [
      { refundId: 'r-1', customerId: 'c-1' },
      { refundId: 'r-2', customerId: 'c-1' },
    ];
    const [signal, ...rest] = trackingReuseRules({ request }, others);
    expect(rest).toEqual([]);
    expect(signal).toMatchObject({ code: 'evidence_tracking_reused', values: { refundIds: ['r-1', 'r-2'], customerIds: ['c-1'] } });
    expect(trackingReuseRules({ request }, [])).toEqual([]);
    expect(trackingReuseRules({ request: refundOf(4_000, { return: { method: 'none' } }) }, others)).toEqual([]);
  });
});

describe('linked-account rules', () => {
  const request = refundOf(4_000);
  const linked = [
    { customerId: 'c-1', kinds: ['device_id', 'payment_fingerprint'] },
    { customerId: 'c-2', kinds: ['device_id'] },
  ];
  const identityKinds = ['payment_fingerprint', 'device_id'];

  it('shared identity fires on any linked customer, counting each kind shared', () => {
    const signals = linkedAccountRules({ identityKinds, linked }, { request, policy });
    expect(signals).toEqual([
      {
        code: 'linked_shared_identity',
        detail: '2 other customers share payment fingerprint, device id',
        values: { linkedCustomers: ['c-1', 'c-2'], sharedBy: { payment_fingerprint: 1, device_id: 2 } },
      },
    ]);
    expect(linkedAccountRules({ identityKinds, linked: [] }, { request, policy })).toEqual([]);
  });

  it('their refund history fires at the refund count or the value threshold', () => {
    const judge = (refunds: number, value: number) =>
      codes(linkedAccountRules({ identityKinds, linked, history: { refunds, value } }, { request, policy }));
    expect(judge(3, 0)).toEqual(['linked_shared_identity', 'linked_refund_history']);
    expect(judge(1, 100_000)).toEqual(['linked_shared_identity', 'linked_refund_history']);
    expect(judge(2, 99_999)).toEqual(['linked_shared_identity']);
  });
});

describe('insider rules', () => {
  const none = { refunds: 0, value: 0 };

  it('windows start where the policy says', () => {
    expect(initiatorWindowStarts(now)).toEqual({ day: new Date(now.getTime() - DAY), week: new Date(now.getTime() - 7 * DAY) });
    expect(scannerWindowStart(policy, now)).toEqual(new Date(now.getTime() - 7 * DAY));
    expect(approverWindowStart(now)).toEqual(new Date(now.getTime() - DAY));
    expect(linkedWindowStart(policy, now)).toEqual(new Date(now.getTime() - 90 * DAY));
  });

  it("an initiator's day and week fire on count or value", () => {
    expect(codes(initiatorRules('emp-1', { day: { refunds: 3, value: 0 }, week: { refunds: 3, value: 0 } }, policy, 'USD'))).toEqual([
      'insider_initiator_day',
    ]);
    expect(codes(initiatorRules('emp-1', { day: none, week: { refunds: 5, value: 0 } }, policy, 'USD'))).toEqual([
      'insider_initiator_week',
    ]);
    expect(
      codes(initiatorRules('emp-1', { day: { refunds: 1, value: 1_000_000 }, week: { refunds: 1, value: 1_000_000 } }, policy, 'USD')),
    ).toEqual(['insider_initiator_day']);
    expect(initiatorRules('emp-1', { day: { refunds: 2, value: 999_999 }, week: { refunds: 4, value: 3_999_999 } }, policy, 'USD')).toEqual(
      [],
    );
  });

  it('a scanner fires at the threshold of receipts without delivery, listing at most 20 refunds', () => {
    expect(scannerRules('emp-s', ['r-1', 'r-2'], policy)).toEqual([]);
    expect(scannerRules('emp-s', ['r-1', 'r-2', 'r-3'], policy)[0]).toMatchObject({
      code: 'insider_scanner_receipts_without_delivery',
      values: { receipts: 3, threshold: 3 },
    });
    const many = Array.from({ length: 25 }, (_, i) => `r-${i}`);
    expect(scannerRules('emp-s', many, policy)[0]!.values).toMatchObject({ receipts: 25, refundIds: many.slice(0, 20) });
  });

  it("an approver's volume and concentration fire at their thresholds", () => {
    const activity = (approvals: number, top: number | null, value = 0): ApproverActivity => ({
      approvals,
      value,
      topCounterparty: top === null ? null : { kind: 'customer', id: 'c-1', approvals: top },
    });
    expect(codes(approverRules('emp-a', activity(2, 1), policy, 'USD'))).toEqual([]);
    expect(codes(approverRules('emp-a', activity(1, 1, 2_500_000), policy, 'USD'))).toEqual(['insider_approver_volume_day']);
    expect(codes(approverRules('emp-a', activity(6, 3), policy, 'USD'))).toEqual([
      'insider_approver_volume_day',
      'insider_approver_concentration',
    ]);
    expect(codes(approverRules('emp-a', activity(7, 3), policy, 'USD'))).toEqual(['insider_approver_volume_day']); // 3 of 7 is below half
    expect(codes(approverRules('emp-a', activity(2, 2), policy, 'USD'))).toEqual([]); // all for one customer, but fewer than concentrationMin
  });
});

describe('breaker rules', () => {
  const tripped = (employeeId: string): Breaker => ({
    id: 1,
    employeeId,
    trippedAs: 'initiator',
    reason: '121 refunds initiated in 24 hours (limit 120)',
    details: {},
    refundId: null,
    trippedAt: '2026-02-28T10:00:00.000Z',
    liftedAt: null,
    liftedBy: null,
    liftReason: null,
  });

  it('lists each tripped employee in every role they had on the refund', () => {
    const people = [
      { employeeId: 'emp-1', role: 'initiator' as const },
      { employeeId: 'emp-2', role: 'scanner' as const },
      { employeeId: 'emp-1', role: 'approver' as const },
    ];
    const { signals, breakers } = breakerRules(people, [tripped('emp-1')]);
    expect(breakers.map((b) => [b.employeeId, b.touchedAs])).toEqual([
      ['emp-1', 'initiator'],
      ['emp-1', 'approver'],
    ]);
    expect(codes(signals)).toEqual(['insider_breaker_active', 'insider_breaker_active']);
    expect(breakerRules(people, [])).toEqual({ signals: [], breakers: [] });
  });

  it("an approver's breaker: already tripped, tripped by this approval past a limit, or none at the limit", () => {
    const approver = (approvals: number) => ({
      role: 'approver' as const,
      approvals,
      value: 0,
      currency: 'USD',
      maxForSameCounterparty: 0,
    });
    expect(approverBreakerRules('emp-a', { tripped: tripped('emp-a') }, policy, now)).toEqual({
      employeeId: 'emp-a',
      touchedAs: 'approver',
      trippedAt: '2026-02-28T10:00:00.000Z',
      reason: '121 refunds initiated in 24 hours (limit 120)',
    });
    expect(approverBreakerRules('emp-a', { activity: approver(50) }, policy, now)).toBeUndefined();
    expect(approverBreakerRules('emp-a', { activity: approver(51) }, policy, now)).toEqual({
      employeeId: 'emp-a',
      touchedAs: 'approver',
      trippedAt: now.toISOString(),
      reason: '51 approvals in 24 hours (limit 50)',
    });
    expect(approverBreakerRules('emp-a', {}, policy, now)).toBeUndefined();
  });
});
