/**
 * Insider signals: what the employees on this refund have been doing, from `insider_actions`.
 * The initiator's refunds today and this week; each scanner's receipts (on other refunds) with no
 * carrier delivery before them; each approver's approvals today, their value, and how many of them
 * went to one customer, initiator or scanner. Employees whose circuit breaker is tripped are listed.
 */
import { msToNumber } from '@temporalio/common';
import { formatMinor } from '../../workflows/currencies';
import { breakerLimitsCrossed, thresholdsFor, type ActiveBreaker, type InsiderRole, type Policy } from '../../workflows/policy';
import { CUSTOMER } from '../../workflows/schemas';
import { activeBreakerOf, breakerActivity, trippedBreakers } from '../../store/breakers';
import { approverActivity, approvalsSince, initiatorActivity, receiptsWithoutDelivery, type ApprovalOnRecord, type Db } from '../../store/insider-activity';
import type { RiskInput, Signal } from './signal';

const DAY = 86_400_000;

/** The employees on a refund and how they touched it. */
export function insidersOf(input: Pick<RiskInput, 'request' | 'receipts' | 'approvers'>): Array<{ employeeId: string; role: InsiderRole }> {
  const people = [
    ...(input.request.initiatedBy === CUSTOMER ? [] : [{ employeeId: input.request.initiatedBy, role: 'initiator' as const }]),
    ...[...new Set(input.receipts.map((r) => r.scannedBy))].map((employeeId) => ({ employeeId, role: 'scanner' as const })),
    ...[...new Set(input.approvers)].map((employeeId) => ({ employeeId, role: 'approver' as const })),
  ];
  return people;
}

export async function initiatorSignals(db: Db, employeeId: string, policy: Policy, currency: string, now: Date): Promise<Signal[]> {
  const rules = policy.signals.initiator;
  const limits = thresholdsFor(policy, currency);
  const signals: Signal[] = [];
  const windows = [
    { code: 'insider_initiator_day' as const, label: '24 hours', days: 1, refunds: rules.refundsPerDay, value: limits.initiatorValuePerDay },
    { code: 'insider_initiator_week' as const, label: '7 days', days: 7, refunds: rules.refundsPerWeek, value: limits.initiatorValuePerWeek },
  ];
  for (const window of windows) {
    const activity = await initiatorActivity(db, employeeId, new Date(now.getTime() - window.days * DAY), currency);
    if (activity.refunds >= window.refunds || activity.value >= window.value) {
      signals.push({
        code: window.code,
        detail: `${employeeId} initiated ${activity.refunds} refunds worth ${formatMinor(activity.value, currency)} in ${window.label}`,
        values: { employeeId, refunds: activity.refunds, amount: activity.value, currency, thresholds: { refunds: window.refunds, amount: window.value } },
      });
    }
  }
  return signals;
}

export async function scannerSignals(db: Db, employeeId: string, policy: Policy, refundId: string, now: Date): Promise<Signal[]> {
  const { window, receiptsWithoutDelivery: threshold } = policy.signals.scanner;
  const refundIds = await receiptsWithoutDelivery(db, employeeId, new Date(now.getTime() - msToNumber(window as never)), refundId);
  if (refundIds.length < threshold) return [];
  return [
    {
      code: 'insider_scanner_receipts_without_delivery',
      detail: `${employeeId} scanned ${refundIds.length} receipts in ${window} with no carrier delivery before them`,
      values: { employeeId, receipts: refundIds.length, refundIds: refundIds.slice(0, 20), window, threshold },
    },
  ];
}

/** Signals from an approver's last 24 hours; `pending` is an approval about to be applied. */
export async function approverSignals(db: Db, employeeId: string, policy: Policy, currency: string, now: Date, pending?: ApprovalOnRecord): Promise<Signal[]> {
  const rules = policy.signals.approver;
  const valueThreshold = thresholdsFor(policy, currency).approverValuePerDay;
  const approvals = await approvalsSince(db, employeeId, new Date(now.getTime() - DAY));
  const activity = approverActivity(pending ? [...approvals, pending] : approvals, currency);
  const signals: Signal[] = [];
  if (activity.approvals >= rules.approvalsPerDay || activity.value >= valueThreshold) {
    signals.push({
      code: 'insider_approver_volume_day',
      detail: `${employeeId} approved ${activity.approvals} refunds worth ${formatMinor(activity.value, currency)} in 24 hours`,
      values: { employeeId, approvals: activity.approvals, amount: activity.value, currency, thresholds: { approvals: rules.approvalsPerDay, amount: valueThreshold } },
    });
  }
  const top = activity.topCounterparty;
  if (top && top.approvals >= rules.concentrationMin && top.approvals / activity.approvals >= rules.concentrationShare) {
    signals.push({
      code: 'insider_approver_concentration',
      detail: `${top.approvals} of ${employeeId}'s ${activity.approvals} approvals in 24 hours were for ${top.kind} ${top.id}`,
      values: { employeeId, counterparty: top, approvals: activity.approvals, share: top.approvals / activity.approvals, thresholds: { approvals: rules.concentrationMin, share: rules.concentrationShare } },
    });
  }
  return signals;
}

/** Tripped breakers of the employees on the refund, each with the signal that says so. */
export async function breakerSignals(db: Db, people: ReadonlyArray<{ employeeId: string; role: InsiderRole }>): Promise<{ signals: Signal[]; breakers: ActiveBreaker[] }> {
  const tripped = await trippedBreakers(db, people.map((p) => p.employeeId));
  const breakers = people.flatMap(({ employeeId, role }) => tripped.filter((b) => b.employeeId === employeeId).map((b) => activeBreakerOf(b, role)));
  return { signals: breakers.map(breakerSignal), breakers };
}

export async function insiderSignals(db: Db, input: Pick<RiskInput, 'refundId' | 'request' | 'receipts' | 'approvers' | 'policy'>, now: Date): Promise<{ signals: Signal[]; breakers: ActiveBreaker[] }> {
  const { policy, request } = input;
  const people = insidersOf(input);
  const perPerson = await Promise.all(
    people.map(({ employeeId, role }) => {
      switch (role) {
        case 'initiator':
          return initiatorSignals(db, employeeId, policy, request.currency, now);
        case 'scanner':
          return scannerSignals(db, employeeId, policy, input.refundId, now);
        case 'approver':
          return approverSignals(db, employeeId, policy, request.currency, now);
      }
    }),
  );
  const breakers = await breakerSignals(db, people);
  return { signals: [...perPerson.flat(), ...breakers.signals], breakers: breakers.breakers };
}

/**
 * An approver's standing just before their approval is applied: their activity signals (with the
 * refund's pinned policy) and their circuit breaker, tripped already or tripped by this approval
 * under the service's current policy (the approval's record trips it for good).
 */
export async function approverStandingOf(
  db: Db,
  input: { approverId: string; pinnedPolicy: Policy; servicePolicy: Policy; pending: ApprovalOnRecord; now: Date },
): Promise<{ signals: Signal[]; breaker?: ActiveBreaker }> {
  const { approverId, pending, now } = input;
  const signals = await approverSignals(db, approverId, input.pinnedPolicy, pending.currency, now, pending);
  const [tripped] = await trippedBreakers(db, [approverId]);
  if (tripped) {
    const breaker = activeBreakerOf(tripped, 'approver');
    return { signals: [...signals, breakerSignal(breaker)], breaker };
  }
  const activity = await breakerActivity(db, input.servicePolicy, approverId, 'approver', pending.currency, now, pending);
  const crossed = breakerLimitsCrossed(input.servicePolicy, activity);
  if (crossed.length === 0) return { signals };
  const breaker: ActiveBreaker = { employeeId: approverId, touchedAs: 'approver', trippedAt: now.toISOString(), reason: crossed.join('; ') };
  return { signals: [...signals, breakerSignal(breaker)], breaker };
}

function breakerSignal(b: ActiveBreaker): Signal {
  return {
    code: 'insider_breaker_active',
    detail: `${b.employeeId} (${b.touchedAs}) has a tripped circuit breaker: ${b.reason}`,
    values: { employeeId: b.employeeId, touchedAs: b.touchedAs, trippedAt: b.trippedAt, reason: b.reason },
  };
}
