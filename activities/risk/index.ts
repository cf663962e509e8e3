/**
 * The risk engine: a score from 0 to 100, a band and the reasons behind it. Each signal family
 * (customer, goods, evidence, linked accounts, insiders) reports the signals that fired with the
 * values that made them fire; the refund's pinned policy gives each its points and sets the bands.
 * The families that read history have their facts fetched from store/ in one statement (one round
 * trip for the whole check) and judge them with their pure rules; only the facts a rule can use
 * are fetched.
 */
import {
  bandOf,
  scoreOf,
  type ActiveBreaker,
  type InsiderRole,
  type Policy,
  type RiskAssessment,
  type RiskReason,
} from '../../workflows/policy';
import type { ApproverStanding } from '../../workflows/refund-model';
import { hasCarrierReturn } from '../../workflows/schemas';
import { breakerActivity, trippedBreakers } from '../../store/breakers';
import { identityOf } from '../../store/insider-actions';
import { approverActivity, approvalsSince, type ApprovalOnRecord } from '../../store/insider-activity';
import type { Db } from '../../store/pool';
import { riskFacts, type RiskFacts, type RiskFactsQuery } from '../../store/risk-facts';
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

const DAY = 86_400_000;

type Insider = { employeeId: string; role: InsiderRole };

/** Signals with their points; a signal whose weight is 0 is switched off and left out. */
export function weigh(signals: readonly Signal[], policy: Policy): RiskReason[] {
  return signals.map((s) => ({ ...s, points: policy.weights[s.code] })).filter((r) => r.points > 0);
}

export async function assessRisk(db: Db, input: RiskInput, now = new Date()): Promise<RiskAssessment> {
  const people = insidersOf(input);
  const facts = await riskFacts(db, {
    currency: input.request.currency,
    ...customerQuery(input, now),
    ...parcelQuery(input),
    ...linkedQuery(input, now),
    ...insiderQuery(input, people, now),
  });
  const insiders = insiderRules(input, people, facts);
  const signals = [
    ...customerFactRules(input, facts, now),
    ...goodsSignals(input),
    ...evidenceSignals(input),
    ...trackingReuseRules(input, facts.parcelRefunds ?? []),
    ...linkedFactRules(input, facts),
    ...insiders.signals,
  ];
  const reasons = weigh(signals, input.policy);
  const score = scoreOf(reasons);
  return { score, band: bandOf(score, input.policy.bands), reasons, breakers: insiders.breakers };
}

/*
 * What each family asks of the store (nothing when its rules could not use the answer), and how it
 * judges the answer. assessRisk asks for them all at once; the functions below ask for one family.
 */

function customerQuery(input: Pick<RiskInput, 'refundId' | 'request'>, now: Date): Pick<RiskFactsQuery, 'customer'> {
  const { request } = input;
  return {
    customer: {
      customerId: request.customerId,
      exceptRefundId: input.refundId,
      since30d: new Date(now.getTime() - 30 * DAY),
      since90d: new Date(now.getTime() - 90 * DAY),
      // The refunded-order share needs the orders placed, which only the request can say.
      ...(request.customer?.ordersPlaced === undefined ? {} : { orderId: request.orderId }),
    },
  };
}

function customerFactRules(input: Pick<RiskInput, 'request' | 'policy'>, facts: RiskFacts, now: Date): Signal[] {
  return customerRules({ history: facts.customer!, ordersRefunded: facts.ordersRefunded }, input, now);
}

function parcelQuery(input: Pick<RiskInput, 'refundId' | 'request'>): Pick<RiskFactsQuery, 'parcel'> {
  const parcel = input.request.return;
  if (!hasCarrierReturn(parcel)) return {};
  return { parcel: { carrier: parcel.carrier, trackingNumber: parcel.trackingNumber, exceptRefundId: input.refundId } };
}

function linkedQuery(input: Pick<RiskInput, 'request' | 'policy'>, now: Date): Pick<RiskFactsQuery, 'linked'> {
  const { request, policy } = input;
  const identity = identityOf(request);
  if (identity.length === 0) return {};
  return { linked: { identity, customerId: request.customerId, since: linkedWindowStart(policy, now) } };
}

function linkedFactRules(input: Pick<RiskInput, 'request' | 'policy'>, facts: RiskFacts): Signal[] {
  if (!facts.linked) return [];
  const identityKinds = identityOf(input.request).map((i) => i.kind);
  return linkedAccountRules({ identityKinds, ...facts.linked }, input);
}

function insiderQuery(
  input: Pick<RiskInput, 'refundId' | 'policy'>,
  people: readonly Insider[],
  now: Date,
): Pick<RiskFactsQuery, 'initiator' | 'scanners' | 'approvers' | 'breakersOf'> {
  const initiator = people.find((p) => p.role === 'initiator');
  const starts = initiatorWindowStarts(now);
  return {
    ...(initiator ? { initiator: { employeeId: initiator.employeeId, daySince: starts.day, weekSince: starts.week } } : {}),
    scanners: {
      employeeIds: people.filter((p) => p.role === 'scanner').map((p) => p.employeeId),
      since: scannerWindowStart(input.policy, now),
      exceptRefundId: input.refundId,
    },
    approvers: { employeeIds: people.filter((p) => p.role === 'approver').map((p) => p.employeeId), since: approverWindowStart(now) },
    breakersOf: people.map((p) => p.employeeId),
  };
}

function insiderRules(
  input: Pick<RiskInput, 'request' | 'policy'>,
  people: readonly Insider[],
  facts: RiskFacts,
): { signals: Signal[]; breakers: ActiveBreaker[] } {
  const { policy, request } = input;
  let scanner = 0;
  let approver = 0;
  const perPerson = people.flatMap(({ employeeId, role }) => {
    if (role === 'initiator') return initiatorRules(employeeId, facts.initiator!, policy, request.currency);
    if (role === 'scanner') return scannerRules(employeeId, facts.scanners[scanner++]!, policy);
    return approverRules(employeeId, approverActivity(facts.approvers[approver++]!, request.currency), policy, request.currency);
  });
  const breakers = breakerRules(people, facts.breakers);
  return { signals: [...perPerson, ...breakers.signals], breakers: breakers.breakers };
}

export async function customerSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const facts = await riskFacts(db, { currency: input.request.currency, ...customerQuery(input, now) });
  return customerFactRules(input, facts, now);
}

export async function trackingReuseSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request'>): Promise<Signal[]> {
  const query = parcelQuery(input);
  if (!query.parcel) return [];
  const facts = await riskFacts(db, { currency: input.request.currency, ...query });
  return trackingReuseRules(input, facts.parcelRefunds ?? []);
}

export async function linkedAccountSignals(db: Db, input: Pick<RiskInput, 'request' | 'policy'>, now: Date): Promise<Signal[]> {
  const query = linkedQuery(input, now);
  if (!query.linked) return [];
  return linkedFactRules(input, await riskFacts(db, { currency: input.request.currency, ...query }));
}

export async function initiatorSignals(db: Db, employeeId: string, policy: Policy, currency: string, now: Date): Promise<Signal[]> {
  const starts = initiatorWindowStarts(now);
  const facts = await riskFacts(db, { currency, initiator: { employeeId, daySince: starts.day, weekSince: starts.week } });
  return initiatorRules(employeeId, facts.initiator!, policy, currency);
}

export async function scannerSignals(db: Db, employeeId: string, policy: Policy, refundId: string, now: Date): Promise<Signal[]> {
  const facts = await riskFacts(db, {
    scanners: { employeeIds: [employeeId], since: scannerWindowStart(policy, now), exceptRefundId: refundId },
  });
  return scannerRules(employeeId, facts.scanners[0]!, policy);
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
  const people = insidersOf(input);
  const facts = await riskFacts(db, { currency: input.request.currency, ...insiderQuery(input, people, now) });
  return insiderRules(input, people, facts);
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
