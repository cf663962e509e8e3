/**
 * The risk engine: a score from 0 to 100, a band and the reasons behind it. Each signal family
 * (customer, goods, evidence, linked accounts, insiders) reports the signals that fired with the
 * values that made them fire; the refund's pinned policy gives each its points and sets the bands.
 */
import { bandOf, scoreOf, type Policy, type RiskAssessment, type RiskReason } from '../../workflows/policy';
import type { ApproverStanding } from '../../workflows/refund-model';
import type { Db } from '../../store/insider-activity';
import { customerSignals } from './customer';
import { evidenceSignals, trackingReuseSignals } from './evidence';
import { goodsSignals } from './goods';
import { approverStandingOf, insiderSignals } from './insiders';
import { linkedAccountSignals } from './linked-accounts';
import type { RiskInput, Signal } from './signal';

export type { RiskInput, Signal } from './signal';

/** Signals with their points; a signal whose weight is 0 is switched off and left out. */
export function weigh(signals: readonly Signal[], policy: Policy): RiskReason[] {
  return signals.map((s) => ({ ...s, points: policy.weights[s.code] })).filter((r) => r.points > 0);
}

export async function assessRisk(db: Db, input: RiskInput, now = new Date()): Promise<RiskAssessment> {
  const [customer, tracking, linked, insiders] = await Promise.all([
    customerSignals(db, input, now),
    trackingReuseSignals(db, input),
    linkedAccountSignals(db, input, now),
    insiderSignals(db, input, now),
  ]);
  const signals = [...customer, ...goodsSignals(input), ...evidenceSignals(input), ...tracking, ...linked, ...insiders.signals];
  const reasons = weigh(signals, input.policy);
  const score = scoreOf(reasons);
  return { score, band: bandOf(score, input.policy.bands), reasons, breakers: insiders.breakers };
}

export interface ApproverStandingInput {
  refundId: string;
  approverId: string;
  /** The refund's pinned policy (signal thresholds and weights). */
  policy: Policy;
  customerId: string;
  initiatedBy: string;
  scanners: string[];
  amount: number;
  currency: string;
}

/** What the workflow asks about an approver before applying their approval (see ApproverStanding). */
export async function approverStanding(db: Db, servicePolicy: Policy, input: ApproverStandingInput, now = new Date()): Promise<ApproverStanding> {
  const pending = {
    refundId: input.refundId,
    customerId: input.customerId,
    initiatedBy: input.initiatedBy,
    scanners: input.scanners,
    amount: input.amount,
    currency: input.currency,
    at: now,
  };
  const standing = await approverStandingOf(db, { approverId: input.approverId, pinnedPolicy: input.policy, servicePolicy, pending, now });
  return { reasons: weigh(standing.signals, input.policy), ...(standing.breaker ? { breaker: standing.breaker } : {}) };
}
