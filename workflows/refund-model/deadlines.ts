/** The timers of each stage: when the workflow must wake, when a refund counts as stuck, what it waits for. */
import { msToNumber } from '@temporalio/common';
import type { Policy } from '../policy';
import { approvalsStillNeeded } from './approvals';
import type { RefundEvent, RefundModel, RefundState } from './state';

/** The policy timer running in a state, from when, and the event its end brings (none: it only marks the refund stuck). */
interface StageClock {
  timer: keyof Policy['timers'];
  from: number;
  ends?: 'return_window_elapsed' | 'stage_overdue';
}

const sinceStateChange = (model: RefundModel) => Date.parse(model.stateSince);

/** Each active state's clock: the one table both the workflow's timers and the stuck listing read. */
const stageClocks: Partial<Record<RefundState, (model: RefundModel) => StageClock>> = {
  awaiting_carrier: (model) =>
    model.carrierEvents.length === 0
      ? { timer: 'returnWindow', from: Date.parse(model.requestedAt), ends: 'return_window_elapsed' }
      : { timer: 'carrierDelivery', from: Math.min(...model.carrierEvents.map((e) => Date.parse(e.receivedAt))), ends: 'stage_overdue' },
  awaiting_warehouse: (model) => ({ timer: 'warehouseReceipt', from: sinceStateChange(model), ends: 'stage_overdue' }),
  // The risk check has no timer of its own: a refund held there too long is only listed as stuck.
  risk_review: (model) => ({ timer: 'payout', from: sinceStateChange(model) }),
  awaiting_approval: (model) => ({ timer: 'approval', from: sinceStateChange(model), ends: 'stage_overdue' }),
  paying: (model) => ({ timer: 'payout', from: sinceStateChange(model), ends: 'stage_overdue' }),
};

/**
 * When the stage's clock runs out: its policy timer from its start, plus what operations extended
 * it by in this state (see ops.ts). An extension only moves this moment; nothing else reads it.
 */
const endOf = (model: RefundModel, clock: StageClock) =>
  clock.from + msToNumber(model.policy.timers[clock.timer] as never) + extendedInState(model);

/** The deadline extensions of the refund's current state (since it entered it). */
export function extensionsInState(model: RefundModel): NonNullable<RefundModel['extensions']> {
  const since = Date.parse(model.stateSince);
  return (model.extensions ?? []).filter((e) => e.state === model.state && Date.parse(e.at) >= since);
}

/** How far operations have moved the current state's deadline, in milliseconds. */
export function extendedInState(model: RefundModel): number {
  return extensionsInState(model).reduce((total, e) => total + e.ms, 0);
}

/** The next timer the workflow must set: when it fires, apply the returned event. */
export function nextDeadline(model: RefundModel): { at: number; event: RefundEvent['type']; state: RefundState } | undefined {
  const clock = stageClocks[model.state]?.(model);
  if (!clock?.ends) return undefined;
  // The return window ends a refund even once it has been escalated, but only once.
  const due = clock.ends === 'return_window_elapsed' ? !model.returnWindowElapsed : !isStuck(model);
  return due ? { at: endOf(model, clock), event: clock.ends, state: model.state } : undefined;
}

/** When the refund counts as stuck in its current state, for the read model's stuck listing. */
export function stuckAfter(model: RefundModel): number | undefined {
  const clock = stageClocks[model.state]?.(model);
  return clock && endOf(model, clock);
}

/**
 * Whether the refund has been escalated (overdue, or a carrier exception) since it entered its
 * current state and since operations last extended its deadline. Handing it to another approver
 * group (an escalation with a group) does not make it stuck.
 */
export function isStuck(model: RefundModel): boolean {
  const since = Date.parse(model.stateSince);
  const extended = Math.max(-Infinity, ...extensionsInState(model).map((e) => Date.parse(e.at)));
  return model.escalations.some(
    (e) => e.group === undefined && e.state === model.state && Date.parse(e.at) >= since && Date.parse(e.at) > extended,
  );
}

/** What the refund is waiting for, in words an operator understands. */
export function waitingFor(model: RefundModel): string | undefined {
  switch (model.state) {
    case 'awaiting_carrier':
      return model.carrierEvents.length === 0 ? 'first carrier scan of the return parcel' : 'carrier delivery to the warehouse';
    case 'awaiting_warehouse':
      return 'warehouse receipt scan';
    case 'risk_review':
      return 'risk check';
    case 'awaiting_approval': {
      const needed = approvalsStillNeeded(model);
      return `${needed} more approval${needed === 1 ? '' : 's'}`;
    }
    case 'paying':
      return 'payout';
    default:
      return undefined;
  }
}
