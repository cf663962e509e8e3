/**
 * Operations actions on a refund in flight: hand it to another approver group, give its current
 * stage more time, ask the carrier or the warehouse again. Each is checked here (the update
 * validators call the checks, so a refusal never enters history) and applied by its reducer,
 * which writes the actor and the reason to the audit trail.
 *
 * None of them can pay anything or skip a step: they touch only `escalations`, `extensions` and
 * `nudges`, which decide when the refund counts as stuck and nothing else. The state, the
 * evidence, the risk, the approvals and the approvals still needed are exactly what they were.
 */
import { msToNumber } from '@temporalio/common';
import type { Policy } from '../policy';
import { extendedInState, isStuck, stuckAfter } from './deadlines';
import { isTerminal, type AuditFact, type RefundEvent, type RefundModel, type RefundState } from './state';

/** Why an operations action is refused: the rule it broke, in words. */
export interface OpsRefusal {
  rule: 'refund_finished' | 'deadline_not_extendable' | 'extension_cap_exceeded' | 'not_waiting_for_party' | 'refund_starting';
  message: string;
}

/** What a refund in each active state waits for, as one word: the `waitingFor` filter of the listings. */
export const waitingParties = ['carrier', 'warehouse', 'risk', 'approval', 'payout'] as const;
export type WaitingParty = (typeof waitingParties)[number];

const partyOfState: Partial<Record<RefundState, WaitingParty>> = {
  awaiting_carrier: 'carrier',
  awaiting_warehouse: 'warehouse',
  risk_review: 'risk',
  awaiting_approval: 'approval',
  paying: 'payout',
};

export function waitingParty(state: RefundState): WaitingParty | undefined {
  return partyOfState[state];
}

/** The states whose refunds wait for `party`. */
export function statesWaitingFor(party: WaitingParty): RefundState[] {
  return (Object.keys(partyOfState) as RefundState[]).filter((state) => partyOfState[state] === party);
}

/** The most operations may extend one state's deadline in total, unless the policy says otherwise. */
export const DEFAULT_MAX_DEADLINE_EXTENSION = '7 days';

export function maxDeadlineExtensionMs(policy: Policy): number {
  return msToNumber((policy.timers.maxDeadlineExtension ?? DEFAULT_MAX_DEADLINE_EXTENSION) as never);
}

function finished(model: RefundModel): OpsRefusal | undefined {
  return isTerminal(model.state) ? { rule: 'refund_finished', message: `refund is ${model.state}; it has finished` } : undefined;
}

/** Escalation to another approver group: any state before the refund finishes. */
export function checkEscalate(model: RefundModel): OpsRefusal | undefined {
  return finished(model);
}

/**
 * A deadline extension by `ms`: not once the payout has started or the refund has finished, and
 * never past the policy's cap on the total extension in one state (`timers.maxDeadlineExtension`).
 */
export function checkExtend(model: RefundModel, ms: number): OpsRefusal | undefined {
  const done = finished(model);
  if (done) return done;
  if (model.state === 'paying') {
    return { rule: 'deadline_not_extendable', message: 'refund is paying; the payout deadline cannot be extended' };
  }
  if (stuckAfter(model) === undefined) {
    return { rule: 'deadline_not_extendable', message: `refund is ${model.state}, which has no deadline` };
  }
  const cap = maxDeadlineExtensionMs(model.policy);
  const total = extendedInState(model) + ms;
  if (total > cap) {
    const limit = model.policy.timers.maxDeadlineExtension ?? DEFAULT_MAX_DEADLINE_EXTENSION;
    return {
      rule: 'extension_cap_exceeded',
      message: `extending by ${hours(ms)} would extend ${model.state} by ${hours(total)} in total; policy ${model.policy.version} allows at most ${limit} (timers.maxDeadlineExtension), ${hours(extendedInState(model))} already used`,
    };
  }
  return undefined;
}

const hours = (ms: number) => `${Math.round((ms / 3_600_000) * 100) / 100} h`;

/** A nudge to `party`: only while the refund waits for that party's evidence. */
export function checkNudge(model: RefundModel, party: 'carrier' | 'warehouse'): OpsRefusal | undefined {
  const done = finished(model);
  if (done) return done;
  if (waitingParty(model.state) !== party) {
    return { rule: 'not_waiting_for_party', message: `refund is ${model.state}; it is not waiting for the ${party}` };
  }
  return undefined;
}

type EventOf<T extends RefundEvent['type']> = Extract<RefundEvent, { type: T }>;

export function onOpsEscalated(model: RefundModel, event: EventOf<'ops_escalated'>, facts: AuditFact[]): RefundModel {
  if (checkEscalate(model)) return model;
  const { group, by, reason, at } = event;
  facts.push({ kind: 'escalated', actor: `employee:${by}`, at, data: { state: model.state, group, by, reason } });
  return { ...model, escalations: [...model.escalations, { state: model.state, at, reason, by, group }] };
}

export function onDeadlineExtended(model: RefundModel, event: EventOf<'deadline_extended'>, facts: AuditFact[]): RefundModel {
  if (checkExtend(model, event.ms)) return model;
  const { duration, ms, by, reason, at } = event;
  const before = stuckAfter(model);
  const extended: RefundModel = {
    ...model,
    extensions: [...(model.extensions ?? []), { state: model.state, at, duration, ms, by, reason }],
  };
  const after = stuckAfter(extended);
  facts.push({
    kind: 'deadline_extended',
    actor: `employee:${by}`,
    at,
    data: {
      state: model.state,
      by,
      extension: duration,
      extensionMs: ms,
      reason,
      wasStuck: isStuck(model),
      previousDeadline: before === undefined ? null : new Date(before).toISOString(),
      deadline: after === undefined ? null : new Date(after).toISOString(),
      extendedInState: extendedInState(extended),
    },
  });
  return extended;
}

export function onNudged(model: RefundModel, event: EventOf<'nudged'>, facts: AuditFact[]): RefundModel {
  if (checkNudge(model, event.party)) return model;
  const { party, by, reason, at } = event;
  facts.push({ kind: 'evidence_requested', actor: `employee:${by}`, at, data: { state: model.state, party, by, reason } });
  return { ...model, nudges: [...(model.nudges ?? []), { party, state: model.state, at, by, reason }] };
}
