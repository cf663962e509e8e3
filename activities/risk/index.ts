/**
 * The risk engine: a score from 0 to 100, a band and the reasons behind it. Each signal family
 * (customer, goods, evidence, linked accounts, insiders) reports the signals that fired with the
 * values that made them fire; the refund's pinned policy gives each its points and sets the bands.
 * The families that read history fetch their facts from store/ here and judge them with their
 * pure rules; only the facts a rule can use are fetched.
 */
import { bandOf, scoreOf, type ActiveBreaker, type Policy, type RiskAssessment, type RiskReason } from '../../workflows/policy';
import type { ApproverStanding } from '../../workflows/refund-model';
import { hasCarrierReturn } from '../../workflows/schemas';
import { breakerActivity, trippedBreakers } from '../../store/breakers';
import { identityOf } from '../../store/insider-actions';
import {
  approverActivity,
  approvalsSince,
  initiatorActivity,
  receiptsWithoutDelivery,
  type ApprovalOnRecord,
} from '../../store/insider-activity';
import type { Db } from '../../store/pool';
import { customerRefundHistory, linkedCustomers, ordersRefunded, refundsOfCustomers, refundsWithParcel } from '../../store/risk-history';
import { customerRules } from './customer';
import { evidenceSignals, trackingReuseRules } from './evidence';
import { goodsSignals } from './goods';
import {
  approverBreakerRules,
  approverRules,
  approverWindowStart,
  breakerRules,
  breakerSignal,
  initiatorRules,
  initiatorWindowStarts,
  insidersOf,
  scannerRules,
  scannerWindowStart,
} from './insiders';
import { linkedAccountRules, linkedWindowStart } from './linked-accounts';
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

export async function customerSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const { request } = input;
  const [history, orders] = await Promise.all([
    customerRefundHistory(db, { customerId: request.customerId, exceptRefundId: input.refundId, currency: request.currency, now }),
    // The refunded-order share needs the orders placed, which only the request can say.
    request.customer?.ordersPlaced === undefined ? undefined : ordersRefunded(db, request.customerId, request.orderId),
  ]);
  return customerRules({ history, ordersRefunded: orders }, input, now);
}

export async function trackingReuseSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request'>): Promise<Signal[]> {
  const parcel = input.request.return;
  if (!hasCarrierReturn(parcel)) return [];
  return trackingReuseRules(input, await refundsWithParcel(db, parcel, input.refundId));
}

export async function linkedAccountSignals(db: Db, input: Pick<RiskInput, 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const { request, policy } = input;
  const identity = identityOf(request);
  if (identity.length === 0) return [];
  const linked = await linkedCustomers(db, identity, request.customerId);
  const customerIds = linked.map((l) => l.customerId);
  const history =
    linked.length === 0 ? undefined : await refundsOfCustomers(db, customerIds, linkedWindowStart(policy, now), request.currency);
  return linkedAccountRules({ identityKinds: identity.map((i) => i.kind), linked, history }, input);
}

export async function initiatorSignals(db: Db, employeeId: string, policy: Policy, currency: string, now: Date): Promise<Signal[]> {
  const starts = initiatorWindowStarts(now);
  const [day, week] = await Promise.all([
    initiatorActivity(db, employeeId, starts.day, currency),
    initiatorActivity(db, employeeId, starts.week, currency),
  ]);
  return initiatorRules(employeeId, { day, week }, policy, currency);
}

export async function scannerSignals(db: Db, employeeId: string, policy: Policy, refundId: string, now: Date): Promise<Signal[]> {
  return scannerRules(employeeId, await receiptsWithoutDelivery(db, employeeId, scannerWindowStart(policy, now), refundId), policy);
}

/** Signals from an approver's last 24 hours; `pending` is an approval about to be applied. */
export async function approverSignals(
  db: Db,
  employeeId: string,
  policy: Policy,
  currency: string,
  now: Date,
  pending?: ApprovalOnRecord,
): Promise<Signal[]> {
  const approvals = await approvalsSince(db, employeeId, approverWindowStart(now));
  return approverRules(employeeId, approverActivity(pending ? [...approvals, pending] : approvals, currency), policy, currency);
}

export async function insiderSignals(
  db: Db,
  input: Pick<RiskInput, 'refundId' | 'request' | 'receipts' | 'approvers' | 'policy'>,
  now: Date,
): Promise<{ signals: Signal[]; breakers: ActiveBreaker[] }> {
  const { policy, request } = input;
  const people = insidersOf(input);
  const perPerson = await Promise.all(
    people.map(({ employeeId, role }) => {
      if (role === 'initiator') return initiatorSignals(db, employeeId, policy, request.currency, now);
      if (role === 'scanner') return scannerSignals(db, employeeId, policy, input.refundId, now);
      return approverSignals(db, employeeId, policy, request.currency, now);
    }),
  );
  const breakers = breakerRules(
    people,
    await trippedBreakers(
      db,
      people.map((p) => p.employeeId),
    ),
  );
  return { signals: [...perPerson.flat(), ...breakers.signals], breakers: breakers.breakers };
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

/**
 * What the workflow asks about an approver before applying their approval (see ApproverStanding):
 * their activity signals under the refund's pinned policy, and their circuit breaker, tripped
 * already or tripped by this approval under the service's current policy (the approval's record
 * trips it for good).
 */
export async function approverStanding(
  db: Db,
  servicePolicy: Policy,
  input: ApproverStandingInput,
  now = new Date(),
): Promise<ApproverStanding> {
  const { approverId, currency } = input;
  const pending: ApprovalOnRecord = {
    refundId: input.refundId,
    customerId: input.customerId,
    initiatedBy: input.initiatedBy,
    scanners: input.scanners,
    amount: input.amount,
    currency,
    at: now,
  };
  const [signals, [tripped]] = await Promise.all([
    approverSignals(db, approverId, input.policy, currency, now, pending),
    trippedBreakers(db, [approverId]),
  ]);
  // The breaker's activity is only read when it is not tripped already.
  const activity = tripped ? undefined : await breakerActivity(db, servicePolicy, approverId, 'approver', currency, now, pending);
  const breaker = approverBreakerRules(approverId, { tripped, activity }, servicePolicy, now);
  const all = breaker ? [...signals, breakerSignal(breaker)] : signals;
  return { reasons: weigh(all, input.policy), ...(breaker ? { breaker } : {}) };
}
