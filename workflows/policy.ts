/**
 * The refund policy: what a refund needs before money moves. Pure functions only; the workflow
 * pins one policy value at start (it is in the refund's history), so a refund keeps the rules it
 * started under even when the service's policy changes.
 */
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { formatMinor, majorToMinor, minorUnitExponent } from './currencies';
import { Currency, Role } from './schemas';

const DurationString = z.string().refine(
  (value) => {
    try {
      return msToNumber(value as Parameters<typeof msToNumber>[0]) > 0;
    } catch {
      return false;
    }
  },
  { error: 'must be a duration such as "30 days", "10d", "2h" or "5s"' },
);
const DecimalAmount = z.string().regex(/^\d{1,11}(\.\d{1,4})?$/, 'must be a decimal amount in major units, e.g. "100.00"');

const Points = z.number().int('must be a whole number of points').min(0).max(100);
const Count = z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000_000);
const Share = z.number().min(0, 'must be a fraction from 0 to 1').max(1, 'must be a fraction from 0 to 1');
const ApprovalCount = z.number().int().min(0, 'must be 0, 1 or 2').max(2, 'must be 0, 1 or 2 (a circuit breaker may add a third)');

/**
 * Every money threshold of the policy, in major units of the refund's own currency ("100.00" is
 * 100.00 USD for a USD refund, 100 JPY for a JPY refund). `amountsByCurrency` overrides any of
 * them for one currency. Digits beyond a currency's precision are cut off.
 */
const MoneyThresholds = z.strictObject({
  /** Tier `small` ends here: low risk and clean evidence are paid with no approval. */
  autoApproveMax: DecimalAmount,
  /** Tier `mid` ends here; above it is tier `large`. */
  singleApprovalMax: DecimalAmount,
  /** Largest refund that may be paid on carrier acceptance (refundTiming "on_carrier_acceptance"). */
  carrierAcceptanceMax: DecimalAmount,
  /** Largest returnless refund; a larger one is rejected. */
  returnlessMax: DecimalAmount,
  /** An item whose unit price is above this is high-value goods. */
  highValueItem: DecimalAmount,
  /** The customer's other refunds of the last 30 / 90 days add up to at least this. */
  customerRefundValue30d: DecimalAmount,
  customerRefundValue90d: DecimalAmount,
  /** Customers linked to this one refunded at least this much in the linked-accounts window. */
  linkedRefundValue: DecimalAmount,
  /** The initiating employee's refunds of the last 24 hours / 7 days add up to at least this. */
  initiatorValuePerDay: DecimalAmount,
  initiatorValuePerWeek: DecimalAmount,
  /** The approver's approvals of the last 24 hours add up to at least this. */
  approverValuePerDay: DecimalAmount,
  /** Circuit breakers: refunds initiated / approved by one employee within the breaker window. */
  initiatorBreakerValue: DecimalAmount,
  approverBreakerValue: DecimalAmount,
  /**
   * The most a person may approve, by role: their limit is the highest among their roles listed
   * here, and never more than their own approval limit. A role not listed adds no authority.
   */
  approverLimits: z.partialRecord(Role, DecimalAmount),
});
export type MoneyThresholds = z.infer<typeof MoneyThresholds>;

const AmountTiers = z.strictObject({ small: ApprovalCount, mid: ApprovalCount, large: ApprovalCount });

/** Reason codes of the risk signals; `weights` gives each its points. */
export const riskReasonCodes = [
  'customer_refunds_30d',
  'customer_refunds_90d',
  'customer_refund_value_30d',
  'customer_refund_value_90d',
  'customer_new_account',
  'customer_refunded_order_share',
  'goods_high_value_item',
  'goods_high_resale',
  'goods_returnless',
  'evidence_receipt_before_delivery',
  'evidence_no_carrier_scan',
  'evidence_carrier_delivery_missing',
  'evidence_weight_mismatch',
  'evidence_serial_mismatch',
  'evidence_sku_mismatch',
  'evidence_wrong_item',
  'evidence_empty_box',
  'evidence_delivered_elsewhere',
  'evidence_tracking_reused',
  'evidence_scanner_is_requester',
  'linked_shared_identity',
  'linked_refund_history',
  'insider_initiator_day',
  'insider_initiator_week',
  'insider_scanner_receipts_without_delivery',
  'insider_approver_volume_day',
  'insider_approver_concentration',
  'insider_breaker_active',
] as const;
export const RiskReasonCode = z.enum(riskReasonCodes);
export type RiskReasonCode = z.infer<typeof RiskReasonCode>;

export const Policy = z
  .strictObject({
    version: z.string().min(1),
    amounts: MoneyThresholds,
    amountsByCurrency: z.record(Currency, MoneyThresholds.partial()),
    /** Approvals by risk band and amount tier (small ≤ autoApproveMax < mid ≤ singleApprovalMax < large). `block` rejects. */
    approvals: z.strictObject({ low: AmountTiers, medium: AmountTiers, high: AmountTiers }),
    /** The score at which each band starts (0–100). */
    bands: z.strictObject({ medium: Points, high: Points, block: Points }),
    /** Points each risk reason adds to the score (capped at 100); 0 switches a signal off. */
    weights: z.record(RiskReasonCode, Points),
    timers: z.strictObject({
      /** No carrier scan at all within this time after the request: the refund expires. */
      returnWindow: DurationString,
      /** Carrier scanned the parcel but has not delivered it within this time: stuck. */
      carrierDelivery: DurationString,
      /** Delivered to the warehouse but no receipt scan within this time: stuck. */
      warehouseReceipt: DurationString,
      /** Waiting for approvals longer than this: stuck. */
      approval: DurationString,
      /** The payout has not completed within this time (gateway down): stuck. */
      payout: DurationString,
      /** One call to the payment gateway may take this long before it is retried with the same idempotency key. */
      payoutAttempt: DurationString,
    }),
    /**
     * When money may move: `after_receipt` (carrier delivery and a matching warehouse receipt), or
     * `on_carrier_acceptance`: a refund up to amounts.carrierAcceptanceMax whose risk is low is paid
     * as soon as the carrier has the parcel; anything else waits for the receipt as usual.
     */
    refundTiming: z.enum(['after_receipt', 'on_carrier_acceptance']),
    /** Evidence that does not add up (receipt before delivery, mismatch, empty box, …). */
    evidenceIssues: z.enum(['dual_approval', 'reject']),
    /** Refunds that ask for no return parcel at all (up to amounts.returnlessMax; above it they are rejected). */
    returnless: z.strictObject({
      /** At least this many approvals, whatever the risk. */
      minApprovals: ApprovalCount,
      /** Reject returnless refunds of high-resale goods. */
      rejectHighResale: z.boolean(),
    }),
    /** How far the warehouse's weight may be from the expected weight, as a fraction (0.2 = 20 %). */
    weightTolerance: z.number().min(0).max(10),
    /** Categories that ring fraud targets because they resell well. */
    highResaleCategories: z.array(z.string().min(1)),
    /** When each risk signal fires (money thresholds are in `amounts`). */
    signals: z.strictObject({
      customer: z.strictObject({
        /** The customer's other refunds in the last 30 / 90 days. */
        refunds30d: Count,
        refunds90d: Count,
        /** An account younger than this many days (from the request's customer.accountCreatedAt). */
        newAccountDays: z.number().int().min(0).max(36_500),
        /** Refunded orders as a share of orders placed, once at least minRefundedOrders orders were refunded. */
        refundedOrderShare: Share,
        minRefundedOrders: Count,
      }),
      linkedAccounts: z.strictObject({
        /** How far back the linked customers' refunds count. */
        window: DurationString,
        /** Linked customers' refunds in the window. */
        refunds: Count,
      }),
      initiator: z.strictObject({ refundsPerDay: Count, refundsPerWeek: Count }),
      scanner: z.strictObject({
        window: DurationString,
        /** The scanner's receipts (on other refunds) with no carrier delivery before them. */
        receiptsWithoutDelivery: Count,
      }),
      approver: z.strictObject({
        approvalsPerDay: Count,
        /** Approvals in the last 24 hours for one customer, initiator or scanner: at least this many… */
        concentrationMin: Count,
        /** …and at least this share of all the approver's approvals. */
        concentrationShare: Share,
      }),
    }),
    /**
     * Circuit breakers: an employee who crosses a limit within the window trips their breaker;
     * every refund they touch from then on needs one more approver, and operations are alerted.
     */
    breakers: z.strictObject({
      initiator: z.strictObject({ window: DurationString, maxRefunds: Count }),
      scanner: z.strictObject({ window: DurationString, maxReceiptsWithoutDelivery: Count }),
      approver: z.strictObject({ window: DurationString, maxApprovals: Count, maxForSameCounterparty: Count }),
    }),
  })
  .superRefine((policy, ctx) => {
    const tiers = ['small', 'mid', 'large'] as const;
    const bands = ['low', 'medium', 'high'] as const;
    bands.forEach((band, b) => {
      tiers.forEach((tier, t) => {
        const n = policy.approvals[band][tier];
        const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['approvals', band, tier], message });
        if (band === 'high' && n < 2) issue('high risk always needs two approvers');
        if (t > 0 && n < policy.approvals[band][tiers[t - 1]!]) issue(`must not be fewer than ${band}.${tiers[t - 1]} (more money never needs fewer approvals)`);
        if (b > 0 && n < policy.approvals[bands[b - 1]!][tier]) issue(`must not be fewer than ${bands[b - 1]}.${tier} (more risk never needs fewer approvals)`);
      });
    });
    if (!(policy.bands.medium < policy.bands.high && policy.bands.high < policy.bands.block)) {
      ctx.addIssue({ code: 'custom', path: ['bands'], message: 'must rise: medium < high < block' });
    }
    const auto = Number(policy.amounts.autoApproveMax);
    if (auto > Number(policy.amounts.singleApprovalMax)) {
      ctx.addIssue({ code: 'custom', path: ['amounts', 'singleApprovalMax'], message: 'must not be below autoApproveMax' });
    }
  });
export type Policy = z.infer<typeof Policy>;

export const defaultPolicy: Policy = {
  version: '2026-11-21.2',
  amounts: {
    autoApproveMax: '100.00',
    singleApprovalMax: '1000.00',
    carrierAcceptanceMax: '50.00',
    returnlessMax: '200.00',
    highValueItem: '500.00',
    customerRefundValue30d: '500.00',
    customerRefundValue90d: '1500.00',
    linkedRefundValue: '1000.00',
    initiatorValuePerDay: '10000.00',
    initiatorValuePerWeek: '40000.00',
    approverValuePerDay: '25000.00',
    initiatorBreakerValue: '50000.00',
    approverBreakerValue: '60000.00',
    approverLimits: { approver: '10000.00' },
  },
  amountsByCurrency: {},
  approvals: {
    low: { small: 0, mid: 1, large: 2 },
    medium: { small: 1, mid: 1, large: 2 },
    high: { small: 2, mid: 2, large: 2 },
  },
  bands: { medium: 25, high: 50, block: 80 },
  weights: {
    customer_refunds_30d: 15,
    customer_refunds_90d: 10,
    customer_refund_value_30d: 15,
    customer_refund_value_90d: 10,
    customer_new_account: 15,
    customer_refunded_order_share: 20,
    goods_high_value_item: 15,
    goods_high_resale: 20,
    goods_returnless: 30,
    evidence_receipt_before_delivery: 40,
    evidence_no_carrier_scan: 40,
    evidence_carrier_delivery_missing: 30,
    evidence_weight_mismatch: 25,
    evidence_serial_mismatch: 35,
    evidence_sku_mismatch: 30,
    evidence_wrong_item: 40,
    evidence_empty_box: 50,
    evidence_delivered_elsewhere: 30,
    evidence_tracking_reused: 50,
    evidence_scanner_is_requester: 40,
    linked_shared_identity: 15,
    linked_refund_history: 25,
    insider_initiator_day: 15,
    insider_initiator_week: 10,
    insider_scanner_receipts_without_delivery: 30,
    insider_approver_volume_day: 20,
    insider_approver_concentration: 25,
    insider_breaker_active: 20,
  },
  timers: {
    returnWindow: '30 days',
    carrierDelivery: '14 days',
    warehouseReceipt: '10 days',
    approval: '2 days',
    payout: '1 hour',
    payoutAttempt: '30 seconds',
  },
  refundTiming: 'after_receipt',
  evidenceIssues: 'dual_approval',
  returnless: { minApprovals: 2, rejectHighResale: true },
  weightTolerance: 0.2,
  highResaleCategories: ['laptops', 'phones', 'tablets', 'consoles', 'jewellery', 'precious_metals', 'tyres'],
  signals: {
    customer: { refunds30d: 3, refunds90d: 6, newAccountDays: 30, refundedOrderShare: 0.5, minRefundedOrders: 3 },
    linkedAccounts: { window: '90 days', refunds: 3 },
    initiator: { refundsPerDay: 60, refundsPerWeek: 250 },
    scanner: { window: '7 days', receiptsWithoutDelivery: 3 },
    approver: { approvalsPerDay: 40, concentrationMin: 10, concentrationShare: 0.5 },
  },
  breakers: {
    initiator: { window: '24 hours', maxRefunds: 120 },
    scanner: { window: '7 days', maxReceiptsWithoutDelivery: 10 },
    approver: { window: '24 hours', maxApprovals: 50, maxForSameCounterparty: 25 },
  },
};

/**
 * The policy a refund pinned, in the current shape. Refunds started before the risk engine pinned
 * a policy without its keys (and with `returnless` as a single word); they keep the rules they
 * started under: the fixed approval tiers, no role limits, no returnless amount limit.
 */
export function pinnedPolicy(pinned: Policy): Policy {
  const legacy = pinned as unknown as { approvals?: unknown; returnless: unknown; amounts: Record<string, unknown> };
  if (legacy.approvals !== undefined) return pinned;
  const noLimit = '1000000000';
  return {
    ...defaultPolicy,
    ...pinned,
    amounts: {
      ...defaultPolicy.amounts,
      approverLimits: {},
      returnlessMax: legacy.returnless === 'reject' ? '0' : noLimit,
      ...(legacy.amounts as object),
    },
    amountsByCurrency: {},
    approvals: defaultPolicy.approvals,
    refundTiming: 'after_receipt',
    returnless: { minApprovals: 2, rejectHighResale: false },
  } as Policy;
}

// The risk types are zod schemas so the HTTP API serializes and documents exactly these shapes.
export const riskBands = ['low', 'medium', 'high', 'block'] as const;
export type RiskBand = (typeof riskBands)[number];

/** One reason behind a risk score: what fired, in words, its points and the values that made it fire. */
export const RiskReason = z.object({
  code: z.string().describe('the signal that fired, e.g. customer_refunds_30d'),
  detail: z.string().describe('what fired, in words'),
  points: z.number().describe('what it added to the score'),
  values: z.record(z.string(), z.unknown()).describe('the values that made it fire, e.g. counts, amounts, limits'),
});
export type RiskReason = z.infer<typeof RiskReason>;

/** The roles in which an employee touches a refund. */
export const insiderRoles = ['initiator', 'scanner', 'approver'] as const;
export type InsiderRole = (typeof insiderRoles)[number];

/** An employee who touched the refund while their circuit breaker was tripped. */
export const ActiveBreaker = z.object({
  employeeId: z.string(),
  touchedAs: z.enum(insiderRoles).describe('how they touched this refund'),
  trippedAt: z.string().meta({ format: 'date-time' }),
  reason: z.string().describe('which limit they crossed'),
});
export type ActiveBreaker = z.infer<typeof ActiveBreaker>;

export const RiskAssessment = z.object({
  score: z.number().int().min(0).max(100),
  band: z.enum(riskBands),
  reasons: z.array(RiskReason),
  breakers: z
    .array(ActiveBreaker)
    .optional()
    .describe('employees on this refund whose circuit breaker is tripped (absent in assessments made before breakers existed)'),
});
export type RiskAssessment = z.infer<typeof RiskAssessment>;

/** Why the evidence is not clean enough to pay on. Empty means carrier and warehouse agree. */
export type EvidenceFinding =
  | 'no_return_parcel'
  | 'carrier_delivery_missing'
  | 'receipt_before_delivery'
  | 'item_missing'
  | 'serial_mismatch'
  | 'unexpected_item'
  | 'wrong_item'
  | 'empty_box'
  | 'weight_mismatch'
  | 'delivered_elsewhere'
  | 'scanner_is_requester';

export type ApprovalRequirement =
  | { outcome: 'reject'; reason: string }
  | { outcome: 'approve'; approvals: number; reasons: string[] };

/** Decimal major units to minor units of `currency`, cutting off digits the currency does not have. */
function thresholdMinor(decimal: string, currency: string): number {
  const exponent = minorUnitExponent(currency);
  const [whole, fraction = ''] = decimal.split('.');
  return majorToMinor(exponent === 0 ? whole! : `${whole}.${fraction.slice(0, exponent) || '0'}`, currency);
}

export type Thresholds = Record<Exclude<keyof MoneyThresholds, 'approverLimits'>, number> & {
  approverLimits: Partial<Record<Role, number>>;
};

/** The policy's money thresholds for one currency, in its minor units. */
export function thresholdsFor(policy: Policy, currency: string): Thresholds {
  const { approverLimits, ...amounts } = { ...policy.amounts, ...policy.amountsByCurrency[currency] };
  const result = Object.fromEntries(Object.entries(amounts).map(([key, decimal]) => [key, thresholdMinor(decimal, currency)]));
  const limits = Object.fromEntries(Object.entries(approverLimits).map(([role, decimal]) => [role, thresholdMinor(decimal!, currency)]));
  return { ...(result as Omit<Thresholds, 'approverLimits'>), approverLimits: limits };
}

/** The largest refund the policy lets someone with these roles approve, or undefined for no policy limit. */
export function roleApprovalLimit(policy: Policy, currency: string, roles: readonly Role[]): number | undefined {
  const limits = thresholdsFor(policy, currency).approverLimits;
  const caps = roles.map((role) => limits[role]).filter((cap): cap is number => cap !== undefined);
  if (Object.keys(limits).length === 0) return undefined;
  return caps.length > 0 ? Math.max(...caps) : 0;
}

export function bandOf(score: number, bands: Policy['bands']): RiskBand {
  if (score >= bands.block) return 'block';
  if (score >= bands.high) return 'high';
  if (score >= bands.medium) return 'medium';
  return 'low';
}

/** The score of a list of reasons: the sum of their points, at most 100. */
export function scoreOf(reasons: readonly RiskReason[]): number {
  return Math.min(100, reasons.reduce((sum, reason) => sum + reason.points, 0));
}

export function highResaleCategoriesOf(items: ReadonlyArray<{ category: string }>, policy: Policy): string[] {
  return [...new Set(items.map((i) => i.category).filter((c) => policy.highResaleCategories.includes(c)))];
}

/**
 * How many distinct approvers a refund needs, given its amount, its risk band, what its evidence
 * shows and whether an employee on it has a tripped circuit breaker. Monotone: more risk, more
 * findings, more money or a tripped breaker never needs fewer approvals (a rejection counts as
 * more than any number).
 */
export function approvalsRequired(input: {
  amount: number;
  currency: string;
  band: RiskBand;
  findings: readonly EvidenceFinding[];
  policy: Policy;
  /** Someone who touched the refund (initiator, scanner, approver) has a tripped circuit breaker. */
  breaker?: boolean;
  /** The refund includes goods of a high-resale category. */
  highResale?: boolean;
}): ApprovalRequirement {
  const { amount, currency, band, findings, policy } = input;
  if (band === 'block') return { outcome: 'reject', reason: 'risk band is block' };
  const limits = thresholdsFor(policy, currency);
  const returnless = findings.includes('no_return_parcel');
  if (returnless && amount > limits.returnlessMax) {
    return { outcome: 'reject', reason: `policy rejects refunds without a return parcel above ${formatMinor(limits.returnlessMax, currency)}` };
  }
  if (returnless && input.highResale && policy.returnless.rejectHighResale) {
    return { outcome: 'reject', reason: 'policy rejects refunds of high-resale goods without a return parcel' };
  }
  const evidenceProblems = findings.filter((f) => f !== 'no_return_parcel');
  if (evidenceProblems.length > 0 && policy.evidenceIssues === 'reject') {
    return { outcome: 'reject', reason: `evidence does not support the refund: ${evidenceProblems.join(', ')}` };
  }

  const tier = amount > limits.singleApprovalMax ? 'large' : amount > limits.autoApproveMax ? 'mid' : 'small';
  let approvals = policy.approvals[band][tier];
  const reasons: string[] = [];
  if (approvals > 0) {
    const bounds = { small: `up to ${formatMinor(limits.autoApproveMax, currency)}`, mid: `up to ${formatMinor(limits.singleApprovalMax, currency)}`, large: `above ${formatMinor(limits.singleApprovalMax, currency)}` };
    reasons.push(`${band} risk, amount ${bounds[tier]}`);
  }
  if (returnless && approvals < policy.returnless.minApprovals) {
    approvals = policy.returnless.minApprovals;
    reasons.push('no return parcel');
  }
  if (evidenceProblems.length > 0) {
    approvals = Math.max(approvals, 2);
    reasons.push(`evidence: ${evidenceProblems.join(', ')}`);
  }
  if (input.breaker) {
    approvals += 1;
    reasons.push('circuit breaker tripped for an employee on this refund: one more approver');
  }
  return { outcome: 'approve', approvals, reasons };
}

/** What an employee did within a breaker window; values are in minor units of `currency`. */
export type InsiderActivity =
  | { role: 'initiator'; refunds: number; value: number; currency: string }
  | { role: 'scanner'; receiptsWithoutDelivery: number }
  | { role: 'approver'; approvals: number; value: number; currency: string; maxForSameCounterparty: number };

/** The circuit-breaker limits `activity` crosses, in words; empty when it stays within them all. */
export function breakerLimitsCrossed(policy: Policy, activity: InsiderActivity): string[] {
  const crossed: string[] = [];
  switch (activity.role) {
    case 'initiator': {
      const { window, maxRefunds } = policy.breakers.initiator;
      const maxValue = thresholdsFor(policy, activity.currency).initiatorBreakerValue;
      if (activity.refunds > maxRefunds) crossed.push(`${activity.refunds} refunds initiated in ${window} (limit ${maxRefunds})`);
      if (activity.value > maxValue) crossed.push(`${formatMinor(activity.value, activity.currency)} initiated in ${window} (limit ${formatMinor(maxValue, activity.currency)})`);
      break;
    }
    case 'scanner': {
      const { window, maxReceiptsWithoutDelivery } = policy.breakers.scanner;
      if (activity.receiptsWithoutDelivery > maxReceiptsWithoutDelivery) {
        crossed.push(`${activity.receiptsWithoutDelivery} receipts without a carrier delivery in ${window} (limit ${maxReceiptsWithoutDelivery})`);
      }
      break;
    }
    case 'approver': {
      const { window, maxApprovals, maxForSameCounterparty } = policy.breakers.approver;
      const maxValue = thresholdsFor(policy, activity.currency).approverBreakerValue;
      if (activity.approvals > maxApprovals) crossed.push(`${activity.approvals} approvals in ${window} (limit ${maxApprovals})`);
      if (activity.value > maxValue) crossed.push(`${formatMinor(activity.value, activity.currency)} approved in ${window} (limit ${formatMinor(maxValue, activity.currency)})`);
      if (activity.maxForSameCounterparty > maxForSameCounterparty) {
        crossed.push(`${activity.maxForSameCounterparty} approvals for the same customer, initiator or scanner in ${window} (limit ${maxForSameCounterparty})`);
      }
      break;
    }
  }
  return crossed;
}

/** The separation-of-duties and authority rules an approval must pass. */
export type ApprovalRule =
  | 'not_awaiting_approval'
  | 'approver_role_required'
  | 'approver_is_requester'
  | 'approver_is_scanner'
  | 'approver_already_decided'
  | 'approval_limit_below_amount'
  | 'role_limit_below_amount';

export interface ApprovalRefusal {
  rule: ApprovalRule;
  message: string;
}
