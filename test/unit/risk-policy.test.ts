/**
 * Pure tests of the risk engine's decisions: the band × amount table, monotonicity (property
 * tests), the policy file and its validation, per-currency thresholds, role limits, the circuit
 * breaker's extra approver, an approver's activity raising a refund's risk, refund on carrier
 * acceptance, and the signals that need no database (goods, evidence).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evidenceSignals } from '../../activities/risk/evidence';
import { goodsSignals } from '../../activities/risk/goods';
import { weigh } from '../../activities/risk';
import { ConfigError, loadPolicyFile } from '../../config/worker';
import {
  approvalsRequired,
  bandOf,
  breakerLimitsCrossed,
  defaultPolicy,
  pinnedPolicy,
  Policy,
  riskReasonCodes,
  thresholdsFor,
  type ActiveBreaker,
  type ApprovalRequirement,
  type EvidenceFinding,
  type RiskAssessment,
  type RiskBand,
} from '../../workflows/policy';
import {
  applyEvent,
  approvalsStillNeeded,
  checkApproval,
  evidenceFindings,
  newRefund,
  type RefundModel,
} from '../../workflows/refund-model';
import { approver, carrierEvent, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { at, drive, T0 } from '../support/model-driver';

const low: RiskAssessment = { score: 0, band: 'low', reasons: [] };
const breaker: ActiveBreaker = { employeeId: 'emp-x', touchedAs: 'approver', trippedAt: T0, reason: '51 approvals in 24 hours (limit 50)' };

/** Approvals needed as a number; a rejection ranks above any number of approvals. */
const rank = (r: ApprovalRequirement) => (r.outcome === 'reject' ? Number.POSITIVE_INFINITY : r.approvals);

describe('approvals by band and amount', () => {
  // USD, default policy: small ≤ 100.00 < mid ≤ 1,000.00 < large.
  const amounts = { small: 10_000, mid: 100_000, large: 100_001 } as const;
  it.each([
    ['low', 'small', 0],
    ['low', 'mid', 1],
    ['low', 'large', 2],
    ['medium', 'small', 1],
    ['medium', 'mid', 1],
    ['medium', 'large', 2],
    ['high', 'small', 2],
    ['high', 'mid', 2],
    ['high', 'large', 2],
  ] as const)('%s risk, %s amount: %i approvals; 3 with a tripped circuit breaker', (band, tier, approvals) => {
    const input = { amount: amounts[tier], currency: 'USD', band, findings: [], policy: defaultPolicy };
    expect(approvalsRequired(input)).toMatchObject({ outcome: 'approve', approvals });
    expect(approvalsRequired({ ...input, breaker: true })).toMatchObject({ outcome: 'approve', approvals: approvals + 1 });
  });

  it.each(['small', 'mid', 'large'] as const)('block rejects at any amount (%s)', (tier) => {
    expect(approvalsRequired({ amount: amounts[tier], currency: 'USD', band: 'block', findings: [], policy: defaultPolicy })).toEqual({
      outcome: 'reject',
      reason: 'risk band is block',
    });
  });

  it('rejects returnless refunds above the returnless limit and of high-resale goods; below it they need two approvals', () => {
    const returnless = { currency: 'USD', band: 'low' as const, findings: ['no_return_parcel' as const], policy: defaultPolicy };
    expect(approvalsRequired({ ...returnless, amount: 20_000 })).toMatchObject({ outcome: 'approve', approvals: 2 });
    expect(approvalsRequired({ ...returnless, amount: 20_001 })).toMatchObject({
      outcome: 'reject',
      reason: expect.stringContaining('above 200.00 USD'),
    });
    expect(approvalsRequired({ ...returnless, amount: 5_000, highResale: true })).toMatchObject({
      outcome: 'reject',
      reason: expect.stringContaining('high-resale'),
    });
  });

  it('uses per-currency thresholds, with the default for every other currency, cutting digits a currency does not have', () => {
    const policy: Policy = { ...defaultPolicy, amountsByCurrency: { JPY: { autoApproveMax: '15000', singleApprovalMax: '150000' } } };
    const jpy = (amount: number) => approvalsRequired({ amount, currency: 'JPY', band: 'low', findings: [], policy });
    expect([jpy(15_000), jpy(15_001), jpy(150_001)].map(rank)).toEqual([0, 1, 2]);
    expect(thresholdsFor(policy, 'EUR').autoApproveMax).toBe(10_000);
    // "100.00" is 100 JPY in the default; "50.55" is 50 JPY.
    expect(thresholdsFor(defaultPolicy, 'JPY').autoApproveMax).toBe(100);
    expect(
      thresholdsFor({ ...defaultPolicy, amounts: { ...defaultPolicy.amounts, carrierAcceptanceMax: '50.55' } }, 'JPY').carrierAcceptanceMax,
    ).toBe(50);
    expect(thresholdsFor(defaultPolicy, 'KWD').singleApprovalMax).toBe(1_000_000);
  });
});

describe('monotonicity (property tests)', () => {
  const bands: RiskBand[] = ['low', 'medium', 'high', 'block'];
  const findings: EvidenceFinding[] = [
    'no_return_parcel',
    'carrier_delivery_missing',
    'receipt_before_delivery',
    'serial_mismatch',
    'empty_box',
    'delivered_elsewhere',
  ];
  const input = fc.record({
    amount: fc.integer({ min: 1, max: 5_000_000 }),
    currency: fc.constantFrom('USD', 'JPY', 'KWD', 'EUR'),
    band: fc.constantFrom(...bands),
    findings: fc.subarray(findings),
    breaker: fc.boolean(),
    highResale: fc.boolean(),
  });
  /** A random valid approvals table: monotone in band and amount, high always 2. */
  const table = fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
    )
    .map(([a, b, c, d, e, f]) => {
      const [ls, lm, ll] = [a, b, c].sort();
      const ms = Math.max(ls!, d),
        mm = Math.max(lm!, ms, e),
        ml = Math.max(ll!, mm, f);
      return { low: { small: ls!, mid: lm!, large: ll! }, medium: { small: ms, mid: mm, large: ml }, high: { small: 2, mid: 2, large: 2 } };
    });
  const policy = fc
    .record({ approvals: table, evidenceIssues: fc.constantFrom('dual_approval' as const, 'reject' as const) })
    .map((p) => ({ ...defaultPolicy, ...p }));

  it('every generated table is a valid policy', () => {
    fc.assert(fc.property(policy, (p) => Policy.safeParse(p).success));
  });

  it('a higher risk band never needs fewer approvals', () => {
    fc.assert(
      fc.property(input, policy, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), (i, p, a, b) => {
        const [lower, higher] = [Math.min(a, b), Math.max(a, b)].map((n) => bands[n]!);
        expect(rank(approvalsRequired({ ...i, band: higher!, policy: p }))).toBeGreaterThanOrEqual(
          rank(approvalsRequired({ ...i, band: lower!, policy: p })),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('more money, more evidence findings, a high-resale item or a tripped breaker never needs fewer approvals', () => {
    fc.assert(
      fc.property(input, policy, fc.integer({ min: 0, max: 5_000_000 }), fc.subarray(findings), (i, p, more, extraFindings) => {
        const base = rank(approvalsRequired({ ...i, policy: p }));
        expect(rank(approvalsRequired({ ...i, policy: p, amount: i.amount + more }))).toBeGreaterThanOrEqual(base);
        expect(
          rank(approvalsRequired({ ...i, policy: p, findings: [...new Set([...i.findings, ...extraFindings])] })),
        ).toBeGreaterThanOrEqual(base);
        expect(rank(approvalsRequired({ ...i, policy: p, highResale: true }))).toBeGreaterThanOrEqual(base);
        expect(rank(approvalsRequired({ ...i, policy: p, breaker: true }))).toBeGreaterThanOrEqual(base);
      }),
      { numRuns: 2000 },
    );
  });

  it('a higher score never gives a lower band', () => {
    const order = (b: RiskBand) => bands.indexOf(b);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (a, b) => {
        expect(order(bandOf(Math.max(a, b), defaultPolicy.bands))).toBeGreaterThanOrEqual(
          order(bandOf(Math.min(a, b), defaultPolicy.bands)),
        );
      }),
    );
  });

  it('more evidence and more approver activity never lower a refund’s requirement in the state machine', () => {
    // An approver whose activity adds reasons: the refund may need more approvals, never fewer.
    fc.assert(
      fc.property(fc.integer({ min: 10_001, max: 900_000 }), fc.integer({ min: 0, max: 100 }), fc.boolean(), (amount, points, tripped) => {
        const request = refundOf(amount);
        const model = awaitingApproval(request, low);
        const before = approvalsStillNeeded(model) + 0;
        const after = drive(model, {
          type: 'approval',
          command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
          standing: {
            reasons: [{ code: 'insider_approver_volume_day', detail: 'busy', points, values: { employeeId: 'emp-a' } }],
            ...(tripped ? { breaker } : {}),
          },
          at: at(200),
        });
        // The approval itself counts one; what remains plus one is never below what was needed.
        if (after.state === 'rejected') return;
        expect(approvalsStillNeeded(after) + 1).toBeGreaterThanOrEqual(before);
      }),
    );
  });
});

function awaitingApproval(request = refundOf(50_000), risk: RiskAssessment = low, policy: Policy = defaultPolicy): RefundModel {
  const { model } = newRefund(request, policy, T0);
  const evidence = drive(
    model,
    { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(60) }), at: at(60) },
    { type: 'warehouse_scan', scan: { receipt: matchingReceipt(request, { scannedAt: at(120) }), scannedBy: 'emp-scan-1' }, at: at(120) },
  );
  return drive(evidence, { type: 'risk_assessed', risk, evidenceVersion: evidence.evidenceVersion, at: at(130) });
}

describe('circuit breaker and approver activity in the state machine', () => {
  it('an approver with a tripped breaker counts, but the refund needs one more approver', () => {
    const model = awaitingApproval(refundOf(50_000));
    expect(approvalsStillNeeded(model)).toBe(1);
    const approved = drive(model, {
      type: 'approval',
      command: { approver: approver('emp-x'), decision: { decision: 'approve' } },
      standing: { reasons: [], breaker },
      at: at(200),
    });
    expect(approved).toMatchObject({ state: 'awaiting_approval', requirement: { approvals: 2 } });
    expect(approved.approvals[0]).toMatchObject({ approverId: 'emp-x', breaker });
    const second = drive(approved, {
      type: 'approval',
      command: { approver: approver('emp-y'), decision: { decision: 'approve' } },
      standing: { reasons: [] },
      at: at(210),
    });
    expect(second.state).toBe('paying');
  });

  it('a breaker found by the risk check adds one approver to a refund that would need none', () => {
    const model = awaitingApproval(refundOf(5_000), { ...low, breakers: [{ ...breaker, touchedAs: 'scanner' }] });
    expect(model).toMatchObject({ state: 'awaiting_approval', requirement: { approvals: 1 } });
    expect(awaitingApproval(refundOf(5_000)).state).toBe('paying');
  });

  it('an approver’s activity raises the refund’s score, band and approvals, and is written to the audit trail', () => {
    const model = awaitingApproval(refundOf(50_000));
    const reasons = [
      { code: 'insider_approver_volume_day', detail: '41 approvals', points: 20, values: { employeeId: 'emp-a', approvals: 41 } },
      { code: 'insider_approver_concentration', detail: '12 for scanner s', points: 25, values: { employeeId: 'emp-a' } },
    ];
    const result = applyEvent(model, {
      type: 'approval',
      command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
      standing: { reasons },
      at: at(200),
    });
    expect(result.model.risk).toMatchObject({ score: 45, band: 'medium' });
    // Mid amount at medium risk still needs one: paid on this approval.
    expect(result.model.state).toBe('paying');
    expect(result.facts.map((f) => f.kind)).toEqual(['approved', 'risk_raised', 'state_changed']);
    const high = applyEvent(model, {
      type: 'approval',
      command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
      standing: {
        reasons: [...reasons, { code: 'insider_breaker_active', detail: 'tripped', points: 20, values: { employeeId: 'emp-a' } }],
      },
      at: at(200),
    });
    expect(high.model).toMatchObject({ state: 'awaiting_approval', risk: { band: 'high' }, requirement: { approvals: 2 } });
  });

  it('an approver’s activity that pushes a refund into block rejects it', () => {
    const model = awaitingApproval(refundOf(50_000));
    const blocked = drive(model, {
      type: 'approval',
      command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
      standing: {
        reasons: [{ code: 'insider_approver_concentration', detail: 'all for one customer', points: 90, values: { employeeId: 'emp-a' } }],
      },
      at: at(200),
    });
    expect(blocked).toMatchObject({ state: 'rejected', outcome: { code: 'policy', message: 'risk band is block' } });
  });

  it('the policy’s role limit caps what an approver may approve, whatever their own limit', () => {
    const model = awaitingApproval(
      refundOf(1_500_000, { items: [{ sku: 'RING', quantity: 1, unitAmount: 1_500_000, category: 'accessories' }] }),
    );
    expect(checkApproval(model, { approver: approver('emp-a', 10_000_000), decision: { decision: 'approve' } })).toMatchObject({
      rule: 'role_limit_below_amount',
      message: expect.stringContaining('up to 10000.00 USD'),
    });
    const senior = { ...approver('emp-b', 10_000_000, ['approver', 'admin']) };
    const withAdmin: Policy = {
      ...defaultPolicy,
      amounts: { ...defaultPolicy.amounts, approverLimits: { approver: '10000.00', admin: '50000.00' } },
    };
    expect(checkApproval({ ...model, policy: withAdmin }, { approver: senior, decision: { decision: 'approve' } })).toBeUndefined();
    // A rejection needs no authority over the amount.
    expect(checkApproval(model, { approver: approver('emp-a', 10_000_000), decision: { decision: 'reject' } })).toBeUndefined();
  });

  it('breaker limits name what was crossed', () => {
    expect(
      breakerLimitsCrossed(defaultPolicy, { role: 'approver', approvals: 51, value: 100, currency: 'USD', maxForSameCounterparty: 3 }),
    ).toEqual(['51 approvals in 24 hours (limit 50)']);
    expect(
      breakerLimitsCrossed(defaultPolicy, {
        role: 'approver',
        approvals: 50,
        value: 6_000_000,
        currency: 'USD',
        maxForSameCounterparty: 25,
      }),
    ).toEqual([]);
    expect(breakerLimitsCrossed(defaultPolicy, { role: 'initiator', refunds: 3, value: 5_000_001, currency: 'USD' })).toEqual([
      '50000.01 USD initiated in 24 hours (limit 50000.00 USD)',
    ]);
    expect(breakerLimitsCrossed(defaultPolicy, { role: 'scanner', receiptsWithoutDelivery: 11 })).toHaveLength(1);
  });
});

describe('refund on carrier acceptance', () => {
  const early: Policy = { ...defaultPolicy, refundTiming: 'on_carrier_acceptance' };
  const accepted = (request: ReturnType<typeof refundOf>, model: RefundModel) =>
    drive(model, { type: 'carrier_event', event: carrierEvent(request, 'accepted', { occurredAt: at(10) }), at: at(10) });

  it('pays a low-value, low-risk refund as soon as the carrier has the parcel', () => {
    const request = refundOf(4_500);
    const model = accepted(request, newRefund(request, early, T0).model);
    expect(model.state).toBe('risk_review');
    const result = applyEvent(model, { type: 'risk_assessed', risk: low, evidenceVersion: model.evidenceVersion, at: at(11) });
    expect(result.model).toMatchObject({ state: 'paying', carrierAcceptance: 'paid', requirement: { approvals: 0 } });
    expect(result.facts[0]).toMatchObject({ kind: 'risk_assessed', data: { review: 'carrier_acceptance', paysNow: true } });
  });

  it('waits for the receipt as usual when the risk is not low, the amount is above the limit, or the policy says after receipt', () => {
    const request = refundOf(4_500);
    const model = accepted(request, newRefund(request, early, T0).model);
    const medium = drive(model, {
      type: 'risk_assessed',
      risk: { score: 30, band: 'medium', reasons: [] },
      evidenceVersion: model.evidenceVersion,
      at: at(11),
    });
    expect(medium).toMatchObject({ state: 'awaiting_carrier', carrierAcceptance: 'declined' });
    // Declined once, it is not reviewed early again; delivery and receipt lead to the usual review.
    const later = drive(
      medium,
      { type: 'carrier_event', event: carrierEvent(request, 'in_transit', { occurredAt: at(20) }), at: at(20) },
      { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(30) }), at: at(30) },
    );
    expect(later.state).toBe('awaiting_warehouse');

    const dear = refundOf(5_001);
    expect(accepted(dear, newRefund(dear, early, T0).model).state).toBe('awaiting_carrier');
    expect(accepted(request, newRefund(request, defaultPolicy, T0).model).state).toBe('awaiting_carrier');
  });

  it('never pays early after a carrier exception, or for a refund whose breaker adds an approver', () => {
    const request = refundOf(4_500);
    const exception = drive(newRefund(request, early, T0).model, {
      type: 'carrier_event',
      event: carrierEvent(request, 'exception', { occurredAt: at(5) }),
      at: at(5),
    });
    expect(accepted(request, exception).state).toBe('awaiting_carrier');
    const model = accepted(request, newRefund(request, early, T0).model);
    const tripped = drive(model, {
      type: 'risk_assessed',
      risk: { ...low, breakers: [{ ...breaker, touchedAs: 'initiator' }] },
      evidenceVersion: model.evidenceVersion,
      at: at(11),
    });
    expect(tripped).toMatchObject({ state: 'awaiting_carrier', carrierAcceptance: 'declined' });
  });

  it('rejects a blocked refund at the early review', () => {
    const request = refundOf(4_500);
    const model = accepted(request, newRefund(request, early, T0).model);
    expect(
      drive(model, {
        type: 'risk_assessed',
        risk: { score: 90, band: 'block', reasons: [] },
        evidenceVersion: model.evidenceVersion,
        at: at(11),
      }).state,
    ).toBe('rejected');
  });
});

describe('policy file', () => {
  const shipped = fileURLToPath(new URL('../../config/default-policy.json', import.meta.url));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'policy-'));
  const write = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  it('ships a documented default identical to the built-in policy, and it loads', () => {
    expect(JSON.parse(readFileSync(shipped, 'utf8'))).toEqual(defaultPolicy);
    expect(loadPolicyFile(shipped)).toEqual(defaultPolicy);
    expect(Policy.safeParse(defaultPolicy).success).toBe(true);
  });

  it('weighs every reason code', () => {
    expect(Object.keys(defaultPolicy.weights).sort()).toEqual([...riskReasonCodes].sort());
  });

  it.each([
    [
      'a high band needing one approver',
      { approvals: { ...defaultPolicy.approvals, high: { small: 1, mid: 2, large: 2 } } },
      'approvals.high.small: high risk always needs two approvers',
    ],
    [
      'fewer approvals for more money',
      { approvals: { ...defaultPolicy.approvals, low: { small: 1, mid: 0, large: 2 } } },
      'approvals.low.mid: must not be fewer than low.small',
    ],
    ['a missing weight', { weights: { ...defaultPolicy.weights, evidence_empty_box: undefined } }, 'weights.evidence_empty_box'],
    ['an unknown signal', { weights: { ...defaultPolicy.weights, horoscope: 5 } }, 'Unrecognized key: "horoscope"'],
    [
      'an amount with a comma',
      { amounts: { ...defaultPolicy.amounts, autoApproveMax: '100,00' } },
      'amounts.autoApproveMax: must be a decimal amount',
    ],
    ['an unknown currency override', { amountsByCurrency: { XYZ: { autoApproveMax: '1' } } }, 'amountsByCurrency.XYZ'],
    [
      'a bad breaker window',
      { breakers: { ...defaultPolicy.breakers, approver: { ...defaultPolicy.breakers.approver, window: 'a while' } } },
      'breakers.approver.window: must be a duration',
    ],
    ['an unknown refund timing', { refundTiming: 'whenever' }, 'refundTiming'],
    ['bands out of order', { bands: { medium: 60, high: 50, block: 80 } }, 'bands: must rise'],
  ])('refuses %s, naming the key', (_what, change, expected) => {
    const file = write('bad.json', { ...defaultPolicy, ...change });
    expect(() => loadPolicyFile(file)).toThrow(ConfigError);
    expect(() => loadPolicyFile(file)).toThrow(expected);
  });

  it('reads a policy pinned before the risk engine with the rules it was started under', () => {
    const legacy = {
      version: '2026-11-21.1',
      amounts: { autoApproveMax: '100.00', singleApprovalMax: '1000.00' },
      timers: defaultPolicy.timers,
      evidenceIssues: 'dual_approval',
      returnless: 'dual_approval',
      weightTolerance: 0.2,
      highResaleCategories: ['tablets'],
    } as unknown as Policy;
    const upgraded = pinnedPolicy(legacy);
    expect(upgraded).toMatchObject({
      version: '2026-11-21.1',
      refundTiming: 'after_receipt',
      returnless: { minApprovals: 2, rejectHighResale: false },
    });
    // No returnless limit, no role limit: a returnless tablet refund of 25,000.00 needs two approvals, as it did.
    expect(
      approvalsRequired({
        amount: 2_500_000,
        currency: 'USD',
        band: 'low',
        findings: ['no_return_parcel'],
        highResale: true,
        policy: upgraded,
      }),
    ).toMatchObject({ approvals: 2 });
    expect(thresholdsFor(upgraded, 'USD').approverLimits).toEqual({});
    expect(pinnedPolicy({ ...legacy, returnless: 'reject' } as unknown as Policy).amounts.returnlessMax).toBe('0');
    expect(pinnedPolicy(defaultPolicy)).toBe(defaultPolicy);
  });
});

describe('goods and evidence signals', () => {
  const reasonsOf = (signals: ReturnType<typeof goodsSignals>) => weigh(signals, defaultPolicy).map((r) => r.code);

  it('high-value items fire above the threshold only, with the items that did', () => {
    const expensive = refundRequest({
      items: [
        { sku: 'MBP', quantity: 1, unitAmount: 50_001, category: 'accessories' },
        { sku: 'CASE', quantity: 1, unitAmount: 100, category: 'accessories' },
      ],
    });
    const [signal] = goodsSignals({ request: expensive, amount: 50_101, policy: defaultPolicy });
    expect(signal).toMatchObject({
      code: 'goods_high_value_item',
      values: { items: [{ sku: 'MBP', unitAmount: 50_001 }], threshold: 50_000 },
    });
    expect(goodsSignals({ request: refundOf(50_000), amount: 50_000, policy: defaultPolicy })).toEqual([]);
  });

  it('high-resale categories fire from the configured list', () => {
    const tyres = refundRequest({ items: [{ sku: 'TYRE', quantity: 4, unitAmount: 9_000, category: 'tyres' }] });
    expect(goodsSignals({ request: tyres, amount: 36_000, policy: defaultPolicy })).toEqual([
      expect.objectContaining({
        code: 'goods_high_resale',
        values: { categories: ['tyres'], items: [{ sku: 'TYRE', category: 'tyres', quantity: 4 }] },
      }),
    ]);
    expect(goodsSignals({ request: tyres, amount: 36_000, policy: { ...defaultPolicy, highResaleCategories: ['laptops'] } })).toEqual([]);
  });

  it('a returnless request fires; one with a parcel does not', () => {
    expect(
      reasonsOf(goodsSignals({ request: refundRequest({ return: { method: 'none' } }), amount: 4_500, policy: defaultPolicy })),
    ).toEqual(['goods_returnless']);
    expect(reasonsOf(goodsSignals({ request: refundRequest(), amount: 4_500, policy: defaultPolicy }))).toEqual([]);
  });

  const evidenceOf = (model: RefundModel) =>
    evidenceSignals({
      request: model.request,
      findings: evidenceFindings(model),
      carrierEvents: model.carrierEvents,
      receipts: model.receipts,
    });
  const codes = (model: RefundModel) => evidenceOf(model).map((s) => s.code);

  function received(
    request = refundRequest(),
    opts: {
      delivered?: Parameters<typeof carrierEvent>[2] | false;
      receipt?: Parameters<typeof matchingReceipt>[1];
      scannedBy?: string;
    } = {},
  ) {
    let model = newRefund(request, defaultPolicy, T0).model;
    if (opts.delivered !== false) {
      model = drive(model, {
        type: 'carrier_event',
        event: carrierEvent(request, 'delivered', { occurredAt: at(60), ...opts.delivered }),
        at: at(60),
      });
    }
    return drive(model, {
      type: 'warehouse_scan',
      scan: { receipt: matchingReceipt(request, { scannedAt: at(120), ...opts.receipt }), scannedBy: opts.scannedBy ?? 'emp-scan-1' },
      at: at(120),
    });
  }

  it('clean evidence raises nothing', () => {
    expect(codes(received())).toEqual([]);
  });

  it('a receipt before the carrier’s delivery fires with both times', () => {
    const [signal] = evidenceOf(received(refundRequest(), { receipt: { scannedAt: at(30) } }));
    expect(signal).toMatchObject({
      code: 'evidence_receipt_before_delivery',
      values: { deliveredAt: at(60), scannedAt: [at(30)], scannedBy: ['emp-scan-1'] },
    });
  });

  it('no carrier scan at all is told apart from a missing delivery', () => {
    const request = refundRequest();
    expect(codes(received(request, { delivered: false }))).toEqual(['evidence_no_carrier_scan']);
    const inTransit = drive(newRefund(request, defaultPolicy, T0).model, {
      type: 'carrier_event',
      event: carrierEvent(request, 'in_transit'),
      at: at(10),
    });
    const scanned = drive(inTransit, { type: 'warehouse_scan', scan: { receipt: matchingReceipt(request), scannedBy: 's' }, at: at(20) });
    expect(codes(scanned)).toEqual(['evidence_carrier_delivery_missing']);
  });

  it('a weight far from the expected weight fires; from the catalogue when the carrier did not weigh it', () => {
    const request = refundRequest({ items: [{ sku: 'PS5', quantity: 1, unitAmount: 49_900, category: 'consoles', weightGrams: 4_500 }] });
    const [signal] = evidenceOf(received(request, { receipt: { weightGrams: 900 } }));
    expect(signal).toMatchObject({
      code: 'evidence_weight_mismatch',
      values: { receivedGrams: 900, carrierGrams: null, catalogueGrams: 4_500 },
    });
    expect(codes(received(request, { receipt: { weightGrams: 4_300 } }))).toEqual([]);
    expect(codes(received(request, { delivered: { weightGrams: 1_000 }, receipt: { weightGrams: 1_050 } }))).toEqual([]);
  });

  it('a serial or SKU mismatch fires with what was expected and received', () => {
    const request = refundRequest({ items: [{ sku: 'IPAD', quantity: 1, unitAmount: 80_000, serialNumber: 'SN-1', category: 'tablets' }] });
    expect(
      evidenceOf(received(request, { receipt: { items: [{ sku: 'IPAD', serialNumber: 'SN-2', condition: 'used' }] } }))[0],
    ).toMatchObject({
      code: 'evidence_serial_mismatch',
      values: { expected: ['SN-1'], received: ['SN-2'] },
    });
    expect(codes(received(request, { receipt: { items: [{ sku: 'BRICK', condition: 'used' }] } }))).toEqual(['evidence_sku_mismatch']);
  });

  it('wrong_item and empty_box fire with the items and the scanner', () => {
    const request = refundRequest();
    expect(evidenceOf(received(request, { receipt: { items: [{ sku: 'CASE-1', condition: 'empty_box' }] } }))).toContainEqual(
      expect.objectContaining({ code: 'evidence_empty_box', values: { items: ['CASE-1'], scannedBy: 'emp-scan-1' } }),
    );
    expect(codes(received(request, { receipt: { items: [{ sku: 'CASE-1', condition: 'wrong_item' }] } }))).toEqual(['evidence_wrong_item']);
  });

  it('a delivery to a facility other than the return warehouse fires; to the return warehouse it does not', () => {
    const request = refundRequest({ return: { carrier: 'ups', trackingNumber: '1ZRET1', warehouseId: 'wh-berlin' } });
    expect(evidenceOf(received(request, { delivered: { facilityId: 'locker-88' } }))[0]).toMatchObject({
      code: 'evidence_delivered_elsewhere',
      values: { deliveredTo: 'locker-88', returnWarehouse: 'wh-berlin' },
    });
    expect(codes(received(request, { delivered: { facilityId: 'wh-berlin' } }))).toEqual([]);
  });
});
