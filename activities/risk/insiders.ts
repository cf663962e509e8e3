/**
 * Insider signals: what the employees on this refund have been doing, from `insider_actions`.
 * The initiator's refunds today and this week; each scanner's receipts (on other refunds) with no
 * carrier delivery before them; each approver's approvals today, their value, and how many of them
 * went to one customer, initiator or scanner. Employees whose circuit breaker is tripped are listed.
 * Pure: the facts come from store/risk-facts (the approver check's from store/insider-activity and
 * store/breakers).
 */
import { msToNumber } from '@temporalio/common';
import { formatMinor } from '../../workflows/currencies';
import {
  breakerLimitsCrossed,
  thresholdsFor,
  type ActiveBreaker,
  type InsiderActivity,
  type InsiderRole,
  type Policy,
} from '../../workflows/policy';
import { CUSTOMER } from '../../workflows/schemas';
import { activeBreakerOf, type Breaker } from '../../store/breakers';
import type { ApproverActivity, InitiatorActivity } from '../../store/insider-activity';
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

/** Where the initiator's windows start: the last 24 hours and the last 7 days. */
export function initiatorWindowStarts(now: Date): { day: Date; week: Date } {
  return { day: new Date(now.getTime() - DAY), week: new Date(now.getTime() - 7 * DAY) };
}

export function initiatorRules(
  employeeId: string,
  activity: { day: InitiatorActivity; week: InitiatorActivity },
  policy: Policy,
  currency: string,
): Signal[] {
  const rules = policy.signals.initiator;
  const limits = thresholdsFor(policy, currency);
  const windows = [
    {
      code: 'insider_initiator_day' as const,
      label: '24 hours',
      activity: activity.day,
      refunds: rules.refundsPerDay,
      value: limits.initiatorValuePerDay,
    },
    {
      code: 'insider_initiator_week' as const,
      label: '7 days',
      activity: activity.week,
      refunds: rules.refundsPerWeek,
      value: limits.initiatorValuePerWeek,
    },
  ];
  return windows
    .filter((w) => w.activity.refunds >= w.refunds || w.activity.value >= w.value)
    .map((w) => ({
      code: w.code,
      detail: `${employeeId} initiated ${w.activity.refunds} refunds worth ${formatMinor(w.activity.value, currency)} in ${w.label}`,
      values: {
        employeeId,
        refunds: w.activity.refunds,
        amount: w.activity.value,
        currency,
        thresholds: { refunds: w.refunds, amount: w.value },
      },
    }));
}

export function scannerWindowStart(policy: Policy, now: Date): Date {
  return new Date(now.getTime() - msToNumber(policy.signals.scanner.window as never));
}

/** `refundIds`: the refunds whose receipt the scanner scanned in the window with no carrier delivery before it. */
export function scannerRules(employeeId: string, refundIds: readonly string[], policy: Policy): Signal[] {
  const { window, receiptsWithoutDelivery: threshold } = policy.signals.scanner;
  if (refundIds.length < threshold) return [];
  return [
    {
      code: 'insider_scanner_receipts_without_delivery',
      detail: `${employeeId} scanned ${refundIds.length} receipts in ${window} with no carrier delivery before them`,
      values: { employeeId, receipts: refundIds.length, refundIds: refundIds.slice(0, 20), window, threshold },
    },
  ];
}

/** The approver's window: the last 24 hours. */
export function approverWindowStart(now: Date): Date {
  return new Date(now.getTime() - DAY);
}

export function approverRules(employeeId: string, activity: ApproverActivity, policy: Policy, currency: string): Signal[] {
  const rules = policy.signals.approver;
  const valueThreshold = thresholdsFor(policy, currency).approverValuePerDay;
  const signals: Signal[] = [];
  if (activity.approvals >= rules.approvalsPerDay || activity.value >= valueThreshold) {
    signals.push({
      code: 'insider_approver_volume_day',
      detail: `${employeeId} approved ${activity.approvals} refunds worth ${formatMinor(activity.value, currency)} in 24 hours`,
      values: {
        employeeId,
        approvals: activity.approvals,
        amount: activity.value,
        currency,
        thresholds: { approvals: rules.approvalsPerDay, amount: valueThreshold },
      },
    });
  }
  const top = activity.topCounterparty;
  if (top && top.approvals >= rules.concentrationMin && top.approvals / activity.approvals >= rules.concentrationShare) {
    signals.push({
      code: 'insider_approver_concentration',
      detail: `${top.approvals} of ${employeeId}'s ${activity.approvals} approvals in 24 hours were for ${top.kind} ${top.id}`,
      values: {
        employeeId,
        counterparty: top,
        approvals: activity.approvals,
        share: top.approvals / activity.approvals,
        thresholds: { approvals: rules.concentrationMin, share: rules.concentrationShare },
      },
    });
  }
  return signals;
}

/** Tripped breakers of the employees on the refund, each with the signal that says so. */
export function breakerRules(
  people: ReadonlyArray<{ employeeId: string; role: InsiderRole }>,
  tripped: readonly Breaker[],
): { signals: Signal[]; breakers: ActiveBreaker[] } {
  const breakers = people.flatMap(({ employeeId, role }) =>
    tripped.filter((b) => b.employeeId === employeeId).map((b) => activeBreakerOf(b, role)),
  );
  return { signals: breakers.map(breakerSignal), breakers };
}

/**
 * An approver's breaker just before their approval is applied: tripped already, or tripped by this
 * approval's `activity` (its window's, with the approval counted) under the service's current policy.
 */
export function approverBreakerRules(
  approverId: string,
  facts: { tripped?: Breaker; activity?: InsiderActivity },
  servicePolicy: Policy,
  now: Date,
): ActiveBreaker | undefined {
  if (facts.tripped) return activeBreakerOf(facts.tripped, 'approver');
  if (!facts.activity) return undefined;
  const crossed = breakerLimitsCrossed(servicePolicy, facts.activity);
  if (crossed.length === 0) return undefined;
  return { employeeId: approverId, touchedAs: 'approver', trippedAt: now.toISOString(), reason: crossed.join('; ') };
}

export function breakerSignal(b: ActiveBreaker): Signal {
  return {
    code: 'insider_breaker_active',
    detail: `${b.employeeId} (${b.touchedAs}) has a tripped circuit breaker: ${b.reason}`,
    values: { employeeId: b.employeeId, touchedAs: b.touchedAs, trippedAt: b.trippedAt, reason: b.reason },
  };
}
