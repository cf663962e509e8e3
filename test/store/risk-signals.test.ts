/**
 * The risk signals that read history, against the real PostgreSQL of the test stack: each one
 * fires on the history that should make it fire, with the values that did, and stays quiet
 * otherwise. Histories are written through the real recordProgress activity; every test uses
 * its own customers and employees, since other test files share the database. The whole
 * assessment reads all its facts in one statement.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../store/audit-trail';
import { trippedBreakers, undeliveredAlerts } from '../../store/breakers';
import type { Db, Pool } from '../../store/pool';
import {
  approverSignals,
  approverStanding,
  assessRisk,
  customerSignals,
  initiatorSignals,
  insiderSignals,
  linkedAccountSignals,
  scannerSignals,
  trackingReuseSignals,
  weigh,
  type RiskInput,
} from '../../activities/risk';
import { evidenceSignals } from '../../activities/risk/evidence';
import { goodsSignals } from '../../activities/risk/goods';
import { RefundsService } from '../../api/refunds-service';
import { BreakerLiftError } from '../../store/breakers';
import { bandOf, defaultPolicy, scoreOf, type Policy } from '../../workflows/policy';
import { evidenceFindings } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { tripBreaker } from '../support/breakers';
import { insiderPolicy, refundOf } from '../support/fixtures';
import { refundHistory } from '../support/refund-history';
import { connectClient, newPool, uniqueId } from '../support/stack';

let pool: Pool;
let temporal: Client;
let record: ReturnType<typeof refundHistory>;
beforeAll(async () => {
  pool = newPool();
  temporal = await connectClient();
  record = refundHistory(pool);
});
afterAll(async () => {
  await pool?.end();
  await temporal?.connection.close();
});

const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
const daysAgo = (d: number) => hoursAgo(d * 24);
const codes = (signals: Array<{ code: string }>) => signals.map((s) => s.code);
const now = () => new Date();

describe('customer signals', () => {
  it('refunds and amounts over 30 and 90 days fire from the read model', async () => {
    const customerId = uniqueId('cust');
    for (const d of [2, 10, 25]) await record(refundOf(20_000, { customerId }), { at: daysAgo(d) });
    for (const d of [40, 60, 80]) await record(refundOf(30_000, { customerId }), { at: daysAgo(d) });
    const current = refundOf(4_000, { customerId });
    const signals = await customerSignals(pool, { refundId: current.refundId, request: current, policy: defaultPolicy }, now());
    expect(signals).toEqual([
      expect.objectContaining({ code: 'customer_refunds_30d', values: { refunds: 3, threshold: 3 } }),
      expect.objectContaining({ code: 'customer_refunds_90d', values: { refunds: 6, threshold: 6 } }),
      expect.objectContaining({ code: 'customer_refund_value_30d', values: { amount: 60_000, currency: 'USD', threshold: 50_000 } }),
      expect.objectContaining({ code: 'customer_refund_value_90d', values: { amount: 150_000, currency: 'USD', threshold: 150_000 } }),
    ]);
  });

  it('stays quiet for fewer refunds, older ones, cancelled ones and other customers’ refunds', async () => {
    const customerId = uniqueId('cust');
    await record(refundOf(20_000, { customerId }), { at: daysAgo(3) });
    await record(refundOf(20_000, { customerId }), { at: daysAgo(5) });
    await record(refundOf(90_000, { customerId }), { at: daysAgo(1), cancelled: true });
    await record(refundOf(90_000, { customerId }), { at: daysAgo(120) });
    await record(refundOf(90_000, { customerId: uniqueId('someone-else') }), { at: daysAgo(1) });
    const current = refundOf(4_000, { customerId });
    expect(await customerSignals(pool, { refundId: current.refundId, request: current, policy: defaultPolicy }, now())).toEqual([]);
  });

  it('a young account fires from the request’s accountCreatedAt; an old one does not', async () => {
    const young = refundOf(4_000, { customerId: uniqueId('cust'), customer: { accountCreatedAt: daysAgo(10).toISOString() } });
    expect(await customerSignals(pool, { refundId: young.refundId, request: young, policy: defaultPolicy }, now())).toEqual([
      expect.objectContaining({ code: 'customer_new_account', values: expect.objectContaining({ ageDays: 10, threshold: 30 }) }),
    ]);
    const old = refundOf(4_000, { customerId: uniqueId('cust'), customer: { accountCreatedAt: daysAgo(400).toISOString() } });
    expect(await customerSignals(pool, { refundId: old.refundId, request: old, policy: defaultPolicy }, now())).toEqual([]);
  });

  it('a high share of orders refunded fires, counting this refund’s order; a low share does not', async () => {
    const customerId = uniqueId('cust');
    await record(refundOf(4_000, { customerId }), { at: daysAgo(200) });
    await record(refundOf(4_000, { customerId }), { at: daysAgo(300) });
    const current = refundOf(4_000, { customerId, customer: { ordersPlaced: 4 } });
    expect(await customerSignals(pool, { refundId: current.refundId, request: current, policy: defaultPolicy }, now())).toEqual([
      expect.objectContaining({
        code: 'customer_refunded_order_share',
        values: { ordersRefunded: 3, ordersPlaced: 4, share: 0.75, threshold: 0.5 },
      }),
    ]);
    const loyal = { ...current, customer: { ordersPlaced: 40 } };
    expect(await customerSignals(pool, { refundId: loyal.refundId, request: loyal, policy: defaultPolicy }, now())).toEqual([]);
  });
});

describe('evidence: a tracking number already used', () => {
  it('fires when another refund has the same carrier and tracking number, naming it; not for a fresh one', async () => {
    const trackingNumber = uniqueId('1Z');
    const first = refundOf(4_000, { return: { carrier: 'ups', trackingNumber } });
    await record(first, { at: daysAgo(20) });
    const second = refundOf(4_000, { return: { carrier: 'ups', trackingNumber } });
    expect(await trackingReuseSignals(pool, { refundId: second.refundId, request: second })).toEqual([
      expect.objectContaining({
        code: 'evidence_tracking_reused',
        values: { carrier: 'ups', trackingNumber, refundIds: [first.refundId], customerIds: [first.customerId] },
      }),
    ]);
    expect(await trackingReuseSignals(pool, { refundId: first.refundId, request: first })).toEqual([]);
    const fresh = refundOf(4_000);
    expect(await trackingReuseSignals(pool, { refundId: fresh.refundId, request: fresh })).toEqual([]);
  });
});

describe('linked accounts', () => {
  it('customers sharing a payment fingerprint are linked, and their combined refunds fire', async () => {
    const fingerprint = uniqueId('fp');
    const other = uniqueId('cust');
    for (const d of [5, 15, 30])
      await record(refundOf(20_000, { customerId: other, customer: { paymentFingerprint: fingerprint } }), { at: daysAgo(d) });
    const current = refundOf(4_000, {
      customerId: uniqueId('cust'),
      customer: { paymentFingerprint: fingerprint, deviceId: uniqueId('dev') },
    });
    const signals = await linkedAccountSignals(pool, { request: current, policy: defaultPolicy }, now());
    expect(signals).toEqual([
      expect.objectContaining({
        code: 'linked_shared_identity',
        values: { linkedCustomers: [other], sharedBy: { payment_fingerprint: 1, device_id: 0 } },
      }),
      expect.objectContaining({
        code: 'linked_refund_history',
        values: expect.objectContaining({ linkedCustomers: [other], refunds: 3, amount: 60_000 }),
      }),
    ]);
  });

  it('a shared device with little history links without a history signal; unshared identity links nobody', async () => {
    const device = uniqueId('dev');
    const other = uniqueId('cust');
    await record(refundOf(4_000, { customerId: other, customer: { deviceId: device } }), { at: daysAgo(2) });
    const current = refundOf(4_000, { customerId: uniqueId('cust'), customer: { deviceId: device } });
    expect(codes(await linkedAccountSignals(pool, { request: current, policy: defaultPolicy }, now()))).toEqual(['linked_shared_identity']);
    const alone = refundOf(4_000, {
      customerId: uniqueId('cust'),
      customer: { shippingAddressHash: uniqueId('addr'), paymentFingerprint: uniqueId('fp') },
    });
    expect(await linkedAccountSignals(pool, { request: alone, policy: defaultPolicy }, now())).toEqual([]);
    // The same customer under the same fingerprint is not a link.
    const same = refundOf(4_000, { customerId: other, customer: { deviceId: device } });
    expect(await linkedAccountSignals(pool, { request: same, policy: defaultPolicy }, now())).toEqual([]);
  });
});

describe('insider signals', () => {
  it('the initiator’s refunds today and this week fire; a quieter initiator does not', async () => {
    const agent = uniqueId('emp-agent');
    for (const h of [2, 3, 4]) await record(refundOf(4_000, { initiatedBy: agent }), { at: hoursAgo(h) });
    for (const d of [3, 4]) await record(refundOf(4_000, { initiatedBy: agent }), { at: daysAgo(d) });
    const signals = await initiatorSignals(pool, agent, insiderPolicy, 'USD', now());
    expect(signals).toEqual([
      expect.objectContaining({
        code: 'insider_initiator_day',
        values: expect.objectContaining({ employeeId: agent, refunds: 3, amount: 12_000 }),
      }),
      expect.objectContaining({
        code: 'insider_initiator_week',
        values: expect.objectContaining({ employeeId: agent, refunds: 5, amount: 20_000 }),
      }),
    ]);
    const quiet = uniqueId('emp-agent');
    for (const h of [2, 3]) await record(refundOf(4_000, { initiatedBy: quiet }), { at: hoursAgo(h) });
    expect(await initiatorSignals(pool, quiet, insiderPolicy, 'USD', now())).toEqual([]);
  });

  it('a scanner’s receipts without a carrier delivery before them fire; receipts after deliveries do not', async () => {
    const scanner = uniqueId('emp-scan');
    const never1 = refundOf(4_000);
    const never2 = refundOf(4_000);
    const early = refundOf(4_000);
    await record(never1, { at: hoursAgo(30), deliveredAfter: false, scans: [{ by: scanner }] });
    await record(never2, { at: hoursAgo(20), deliveredAfter: false, scans: [{ by: scanner }] });
    await record(early, { at: hoursAgo(10), deliveredAfter: 90, scans: [{ by: scanner, scannedAfter: 30 }] });
    const current = refundOf(4_000);
    const [signal] = await scannerSignals(pool, scanner, insiderPolicy, current.refundId, now());
    expect(signal).toMatchObject({ code: 'insider_scanner_receipts_without_delivery', values: { employeeId: scanner, receipts: 3 } });
    expect((signal!.values.refundIds as string[]).sort()).toEqual([never1, never2, early].map((r) => r.refundId).sort());
    // The refund being assessed is judged by its own evidence, not counted against its scanner.
    expect(await scannerSignals(pool, scanner, insiderPolicy, early.refundId, now())).toEqual([]);

    const honest = uniqueId('emp-scan');
    for (const h of [5, 6, 7, 8]) await record(refundOf(4_000), { at: hoursAgo(h), scans: [{ by: honest }] });
    expect(await scannerSignals(pool, honest, insiderPolicy, current.refundId, now())).toEqual([]);
  });

  it('an approver’s volume today and concentration on one scanner fire; spread-out approvals do not', async () => {
    const approverId = uniqueId('emp-appr');
    const ringScanner = uniqueId('emp-scan');
    for (const h of [2, 3, 4]) {
      await record(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), {
        at: hoursAgo(h),
        scans: [{ by: ringScanner }],
        approvers: [approverId],
      });
    }
    await record(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), {
      at: hoursAgo(5),
      scans: [{ by: uniqueId('emp-scan') }],
      approvers: [approverId],
    });
    const signals = await approverSignals(pool, approverId, insiderPolicy, 'USD', now());
    expect(signals).toEqual([
      expect.objectContaining({
        code: 'insider_approver_volume_day',
        values: expect.objectContaining({ employeeId: approverId, approvals: 4, amount: 120_000 }),
      }),
      expect.objectContaining({
        code: 'insider_approver_concentration',
        values: expect.objectContaining({
          employeeId: approverId,
          counterparty: { kind: 'scanner', id: ringScanner, approvals: 3 },
          approvals: 4,
          share: 0.75,
        }),
      }),
    ]);

    const careful = uniqueId('emp-appr');
    for (const h of [2, 3]) {
      await record(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), {
        at: hoursAgo(h),
        scans: [{ by: uniqueId('emp-scan') }],
        approvers: [careful],
      });
    }
    expect(await approverSignals(pool, careful, insiderPolicy, 'USD', now())).toEqual([]);
  });
});

describe('circuit breakers', () => {
  const strict: Policy = {
    ...defaultPolicy,
    breakers: {
      initiator: { window: '24 hours', maxRefunds: 2 },
      scanner: { window: '7 days', maxReceiptsWithoutDelivery: 1 },
      approver: { window: '24 hours', maxApprovals: 2, maxForSameCounterparty: 100 },
    },
  };
  const admin = { id: 'emp-admin-1', roles: ['admin' as const] };

  it('an approver crossing the limit trips the breaker once, with an alert and an audit row; an admin lifts it, audited', async () => {
    const recordStrict = refundHistory(pool, strict);
    const approverId = uniqueId('emp-appr');
    const approve = (hours: number) =>
      recordStrict(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), {
        at: hoursAgo(hours),
        scans: [{ by: uniqueId('emp-scan') }],
        approvers: [approverId],
      });
    await approve(5);
    await approve(4);
    expect(await trippedBreakers(pool, [approverId])).toEqual([]);
    await approve(3);
    const [breaker] = await trippedBreakers(pool, [approverId]);
    expect(breaker).toMatchObject({
      employeeId: approverId,
      trippedAs: 'approver',
      reason: '3 approvals in 24 hours (limit 2)',
      liftedAt: null,
    });
    await approve(2);
    expect(await trippedBreakers(pool, [approverId])).toHaveLength(1);

    const alerts = (await undeliveredAlerts(pool, 1000)).filter((a) => a.employeeId === approverId);
    expect(alerts).toEqual([
      expect.objectContaining({
        kind: 'breaker_tripped',
        details: expect.objectContaining({ breakerId: breaker!.id, limits: [breaker!.reason] }),
      }),
    ]);

    // Every refund the approver now touches is flagged by the risk check and by the workflow's check before an approval.
    const touched = refundOf(4_000);
    const insiders = await insiderSignals(
      pool,
      { refundId: touched.refundId, request: touched, receipts: [], approvers: [approverId], policy: strict },
      now(),
    );
    expect(insiders.breakers).toEqual([
      { employeeId: approverId, touchedAs: 'approver', trippedAt: breaker!.trippedAt, reason: breaker!.reason },
    ]);
    expect(codes(insiders.signals)).toContain('insider_breaker_active');
    const standing = await approverStanding(pool, strict, {
      refundId: touched.refundId,
      approverId,
      policy: strict,
      customerId: touched.customerId,
      initiatedBy: touched.initiatedBy,
      scanners: [],
      amount: 4_000,
      currency: 'USD',
    });
    expect(standing.breaker).toMatchObject({ employeeId: approverId, reason: breaker!.reason });

    const refunds = new RefundsService({ temporal, pool });
    await expect(refunds.liftBreaker(approverId, { id: 'emp-ops-1', roles: ['ops'] }, 'looked fine')).rejects.toMatchObject({
      code: 'breaker_lift_refused',
    });
    await expect(refunds.liftBreaker(approverId, { id: approverId, roles: ['admin'] }, 'it was me')).rejects.toBeInstanceOf(
      BreakerLiftError,
    );
    await expect(refunds.liftBreaker(approverId, admin, '')).rejects.toMatchObject({ code: 'invalid_input', issues: [{ path: 'reason' }] });
    const lifted = await refunds.liftBreaker(approverId, admin, 'end-of-quarter backlog, checked with the team lead');
    expect(lifted).toMatchObject({ liftedBy: 'emp-admin-1', liftReason: 'end-of-quarter backlog, checked with the team lead' });
    await expect(refunds.liftBreaker(approverId, admin, 'again')).rejects.toMatchObject({ code: 'breaker_not_tripped' });

    const trail = await refunds.employeeAuditTrail(approverId);
    expect(trail.map((r) => [r.kind, r.actor])).toEqual([
      ['breaker_tripped', 'system'],
      ['breaker_lifted', 'employee:emp-admin-1'],
    ]);
    expect(trail[1]!.data).toMatchObject({ employeeId: approverId, liftedBy: 'emp-admin-1', roles: ['admin'] });
    expect(await verifyAuditChain(pool)).toMatchObject({ ok: true });

    // Counting restarts at the lift: the next approval does not trip it again.
    await approve(0);
    expect(await trippedBreakers(pool, [approverId])).toEqual([]);
    expect((await refunds.breakers(approverId)).map((b) => b.liftedBy)).toEqual(['emp-admin-1']);
  });

  it('an initiator over the refund limit and a scanner with receipts but no deliveries trip theirs; others do not', async () => {
    const recordStrict = refundHistory(pool, strict);
    const agent = uniqueId('emp-agent');
    const scanner = uniqueId('emp-scan');
    const honest = uniqueId('emp-scan');
    for (const h of [3, 2, 1])
      await recordStrict(refundOf(4_000, { initiatedBy: agent }), { at: hoursAgo(h), deliveredAfter: false, scans: [{ by: scanner }] });
    await recordStrict(refundOf(4_000), { at: hoursAgo(1), scans: [{ by: honest }] });
    const tripped = await trippedBreakers(pool, [agent, scanner, honest]);
    expect(tripped.map((b) => [b.employeeId, b.trippedAs, b.reason]).sort()).toEqual(
      [
        [agent, 'initiator', '3 refunds initiated in 24 hours (limit 2)'],
        [scanner, 'scanner', '2 receipts without a carrier delivery in 7 days (limit 1)'],
      ].sort(),
    );
  });
});

describe('the whole assessment', () => {
  it('weighs every signal that fired with the pinned policy’s points, scores and bands it', async () => {
    const customerId = uniqueId('cust');
    for (const d of [1, 2, 3]) await record(refundOf(4_000, { customerId }), { at: daysAgo(d) });
    const request: RefundRequest = {
      ...refundOf(120_000),
      customerId,
      initiatedBy: uniqueId('emp-agent'),
      items: [{ sku: 'IPHONE', quantity: 1, unitAmount: 120_000, category: 'phones' }],
      customer: { accountCreatedAt: daysAgo(3).toISOString() },
    };
    const model = await record(request, { at: hoursAgo(1), scans: [{ by: uniqueId('emp-scan') }] });
    const input: RiskInput = {
      refundId: request.refundId,
      policy: defaultPolicy,
      request,
      amount: model.amount,
      findings: evidenceFindings(model),
      carrierEvents: model.carrierEvents,
      receipts: model.receipts,
      approvers: [],
    };
    const risk = await assessRisk(pool, input);
    expect(risk.reasons.map((r) => [r.code, r.points])).toEqual([
      ['customer_refunds_30d', 15],
      ['customer_new_account', 15],
      ['goods_high_value_item', 15],
      ['goods_high_resale', 20],
    ]);
    expect(risk).toMatchObject({ score: 65, band: 'high', breakers: [] });

    // A weight of 0 switches a signal off; the bands come from the policy too.
    const lenient: Policy = {
      ...defaultPolicy,
      weights: { ...defaultPolicy.weights, goods_high_resale: 0 },
      bands: { medium: 30, high: 70, block: 90 },
    };
    expect(await assessRisk(pool, { ...input, policy: lenient })).toMatchObject({ score: 45, band: 'medium' });
  });
});

describe('the whole assessment in one statement', () => {
  /** The pool, counting the statements sent through it. */
  const counting = () => {
    const statements: string[] = [];
    const db = {
      query: (...args: Parameters<Pool['query']>) => {
        statements.push(String(args[0]));
        return (pool.query as (...a: unknown[]) => unknown)(...args);
      },
    } as unknown as Db;
    return { db, statements };
  };

  it('reads every family’s facts in one statement, and scores what each family’s rules give for them', async () => {
    const customerId = uniqueId('cust');
    const agent = uniqueId('emp-agent');
    const scanner = uniqueId('emp-scan');
    const approverId = uniqueId('emp-appr');
    const ringScanner = uniqueId('emp-scan');
    const fingerprint = uniqueId('fp');
    const trackingNumber = uniqueId('1Z');
    // The customer: 3 refunds in 30 days, 6 in 90, one of them on the parcel this refund returns.
    await record(refundOf(20_000, { customerId, return: { carrier: 'ups', trackingNumber } }), { at: daysAgo(2) });
    for (const d of [10, 25]) await record(refundOf(20_000, { customerId }), { at: daysAgo(d) });
    for (const d of [40, 60, 80]) await record(refundOf(30_000, { customerId }), { at: daysAgo(d) });
    // A linked customer (same payment fingerprint) with 3 refunds in the window.
    const other = uniqueId('cust');
    for (const d of [5, 15, 30])
      await record(refundOf(20_000, { customerId: other, customer: { paymentFingerprint: fingerprint } }), { at: daysAgo(d) });
    // The initiator: 3 other refunds today, 2 more this week.
    for (const h of [2, 3, 4]) await record(refundOf(4_000, { initiatedBy: agent }), { at: hoursAgo(h) });
    for (const d of [3, 4]) await record(refundOf(4_000, { initiatedBy: agent }), { at: daysAgo(d) });
    // The scanner: 3 receipts of parcels the carrier never delivered.
    for (const h of [30, 20, 10]) await record(refundOf(4_000), { at: hoursAgo(h), deliveredAfter: false, scans: [{ by: scanner }] });
    // An approver: 3 approvals today, all on one scanner's receipts; a second approver with a tripped breaker.
    for (const h of [2, 3, 4]) {
      await record(refundOf(30_000, { initiatedBy: 'customer', customerId: uniqueId('cust') }), {
        at: hoursAgo(h),
        scans: [{ by: ringScanner }],
        approvers: [approverId],
      });
    }
    const trippedApprover = uniqueId('emp-appr');
    const breaker = await tripBreaker(pool, trippedApprover, 'approver');

    const request: RefundRequest = {
      ...refundOf(120_000, { customerId, initiatedBy: agent, return: { carrier: 'ups', trackingNumber } }),
      items: [{ sku: 'IPHONE', quantity: 1, unitAmount: 120_000, category: 'phones' }],
      customer: { accountCreatedAt: daysAgo(3).toISOString(), ordersPlaced: 8, paymentFingerprint: fingerprint },
    };
    const model = await record(request, { at: hoursAgo(1), scans: [{ by: scanner }] });
    const input: RiskInput = {
      refundId: request.refundId,
      policy: insiderPolicy,
      request,
      amount: model.amount,
      findings: evidenceFindings(model),
      carrierEvents: model.carrierEvents,
      receipts: model.receipts,
      approvers: [approverId, trippedApprover],
    };

    const at = now();
    const { db, statements } = counting();
    const risk = await assessRisk(db, input, at);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^\s*WITH /);

    // Every family fired.
    expect(new Set(risk.reasons.map((r) => r.code))).toEqual(
      new Set([
        'customer_refunds_30d',
        'customer_refunds_90d',
        'customer_refund_value_30d',
        'customer_refund_value_90d',
        'customer_new_account',
        'customer_refunded_order_share',
        'goods_high_value_item',
        'goods_high_resale',
        'evidence_tracking_reused',
        'linked_shared_identity',
        'linked_refund_history',
        'insider_initiator_day',
        'insider_initiator_week',
        'insider_scanner_receipts_without_delivery',
        'insider_approver_volume_day',
        'insider_approver_concentration',
        'insider_breaker_active',
      ]),
    );
    expect(risk.breakers).toEqual([
      { employeeId: trippedApprover, touchedAs: 'approver', trippedAt: breaker.trippedAt, reason: breaker.reason },
    ]);

    // The same as each family's rules give for its facts read on their own.
    const insiders = await insiderSignals(pool, input, at);
    const signals = [
      ...(await customerSignals(pool, input, at)),
      ...goodsSignals(input),
      ...evidenceSignals(input),
      ...(await trackingReuseSignals(pool, input)),
      ...(await linkedAccountSignals(pool, input, at)),
      ...insiders.signals,
    ];
    const reasons = weigh(signals, insiderPolicy);
    const score = scoreOf(reasons);
    expect(risk).toEqual({ score, band: bandOf(score, insiderPolicy.bands), reasons, breakers: insiders.breakers });
    expect(risk.reasons.find((r) => r.code === 'insider_initiator_week')!.values).toMatchObject({ employeeId: agent, refunds: 6 });
    expect(risk.reasons.find((r) => r.code === 'customer_refunded_order_share')!.values).toMatchObject({ ordersRefunded: 7 });
  });

  it('a refund with nothing but its customer to look up is one statement too', async () => {
    const request = refundOf(4_000, { customerId: uniqueId('cust'), initiatedBy: 'customer', return: { method: 'none' } });
    const { db, statements } = counting();
    const risk = await assessRisk(
      db,
      {
        refundId: request.refundId,
        policy: defaultPolicy,
        request,
        amount: 4_000,
        findings: [],
        carrierEvents: [],
        receipts: [],
        approvers: [],
      },
      now(),
    );
    expect(statements).toHaveLength(1);
    // No history fires; only the refund's own goods do.
    expect(codes(risk.reasons)).toEqual(['goods_returnless']);
    expect(risk.breakers).toEqual([]);
  });
});
