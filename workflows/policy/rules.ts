/** The policy's rules: money thresholds per currency, bands, approvals required, circuit-breaker limits. */
import { formatMinor, majorToMinor, minorUnitExponent } from '../currencies';
import type { Role } from '../schemas';
import { defaultPolicy } from './defaults';
import type { ApprovalRequirement, EvidenceFinding, RiskBand, RiskReason } from './risk';
import type { MoneyThresholds, Policy } from './schema';

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

/** The largest refund a policy accepts when it names no limit, in major units of the refund's currency. */
export const DEFAULT_MAX_REFUND_AMOUNT = '1000000.00';

/** The largest refund the policy accepts in `currency`, in its minor units. */
export function maxRefundAmount(policy: Policy, currency: string): number {
  const limits = policy.limits;
  return thresholdMinor(limits?.maxRefundAmountByCurrency?.[currency] ?? limits?.maxRefundAmount ?? DEFAULT_MAX_REFUND_AMOUNT, currency);
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
  return Math.min(
    100,
    reasons.reduce((sum, reason) => sum + reason.points, 0),
  );
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
export function approvalsRequired(input: RequirementInput): ApprovalRequirement {
  const { band } = input;
  if (band === 'block') return { outcome: 'reject', reason: 'risk band is block' };
  const limits = thresholdsFor(input.policy, input.currency);
  return rejectionFor(input, limits) ?? approvalsFor(input, band, limits);
}

interface RequirementInput {
  amount: number;
  currency: string;
  band: RiskBand;
  findings: readonly EvidenceFinding[];
  policy: Policy;
  /** Someone who touched the refund (initiator, scanner, approver) has a tripped circuit breaker. */
  breaker?: boolean;
  /** The refund includes goods of a high-resale category. */
  highResale?: boolean;
}

/** What the policy rejects whatever the approvals: too much or high-resale goods without a return, or evidence problems. */
function rejectionFor(input: RequirementInput, limits: Thresholds): ApprovalRequirement | undefined {
  const { amount, currency, findings, policy } = input;
  const returnless = findings.includes('no_return_parcel');
  if (returnless && amount > limits.returnlessMax) {
    return {
      outcome: 'reject',
      reason: `policy rejects refunds without a return parcel above ${formatMinor(limits.returnlessMax, currency)}`,
    };
  }
  if (returnless && input.highResale && policy.returnless.rejectHighResale) {
    return { outcome: 'reject', reason: 'policy rejects refunds of high-resale goods without a return parcel' };
  }
  const evidenceProblems = findings.filter((f) => f !== 'no_return_parcel');
  if (evidenceProblems.length > 0 && policy.evidenceIssues === 'reject') {
    return { outcome: 'reject', reason: `evidence does not support the refund: ${evidenceProblems.join(', ')}` };
  }
  return undefined;
}

/** The approvals by band and amount tier, raised for a missing return parcel, evidence problems and a tripped breaker. */
function approvalsFor(input: RequirementInput, band: Exclude<RiskBand, 'block'>, limits: Thresholds): ApprovalRequirement {
  const { amount, currency, findings, policy } = input;
  const returnless = findings.includes('no_return_parcel');
  const evidenceProblems = findings.filter((f) => f !== 'no_return_parcel');
  const tier = amount > limits.singleApprovalMax ? 'large' : amount > limits.autoApproveMax ? 'mid' : 'small';
  let approvals = policy.approvals[band][tier];
  const reasons: string[] = [];
  if (approvals > 0) {
    const bounds = {
      small: `up to ${formatMinor(limits.autoApproveMax, currency)}`,
      mid: `up to ${formatMinor(limits.singleApprovalMax, currency)}`,
      large: `above ${formatMinor(limits.singleApprovalMax, currency)}`,
    };
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
      if (activity.value > maxValue)
        crossed.push(
          `${formatMinor(activity.value, activity.currency)} initiated in ${window} (limit ${formatMinor(maxValue, activity.currency)})`,
        );
      break;
    }
    case 'scanner': {
      const { window, maxReceiptsWithoutDelivery } = policy.breakers.scanner;
      if (activity.receiptsWithoutDelivery > maxReceiptsWithoutDelivery) {
        crossed.push(
          `${activity.receiptsWithoutDelivery} receipts without a carrier delivery in ${window} (limit ${maxReceiptsWithoutDelivery})`,
        );
      }
      break;
    }
    case 'approver': {
      const { window, maxApprovals, maxForSameCounterparty } = policy.breakers.approver;
      const maxValue = thresholdsFor(policy, activity.currency).approverBreakerValue;
      if (activity.approvals > maxApprovals) crossed.push(`${activity.approvals} approvals in ${window} (limit ${maxApprovals})`);
      if (activity.value > maxValue)
        crossed.push(
          `${formatMinor(activity.value, activity.currency)} approved in ${window} (limit ${formatMinor(maxValue, activity.currency)})`,
        );
      if (activity.maxForSameCounterparty > maxForSameCounterparty) {
        crossed.push(
          `${activity.maxForSameCounterparty} approvals for the same customer, initiator or scanner in ${window} (limit ${maxForSameCounterparty})`,
        );
      }
      break;
    }
  }
  return crossed;
}
