/**
 * The operations actions in the pure model: a deadline extension moves only when the refund counts
 * as stuck (never its state, evidence, risk or approvals), is capped per state by the policy and
 * refused while paying or finished; nudges only for the party waited for; an escalation to a group
 * does not make a refund stuck.
 */
import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  approvalsStillNeeded,
  checkExtend,
  checkNudge,
  isStuck,
  newRefund,
  nextDeadline,
  stuckAfter,
  type RefundEvent,
  type RefundModel,
} from '../../workflows/refund-model';
import { refundStatus } from '../../workflows/messages';
import { fastPolicy, refundRequest } from '../support/fixtures';

const start = '2026-11-20T10:00:00.000Z';
const at = (ms: number) => new Date(Date.parse(start) + ms).toISOString();
const DAY = 86_400_000;

function awaitingApproval(policy = fastPolicy): RefundModel {
  const { model } = newRefund(refundRequest(), policy, start, { requestedBy: 'svc-returns' });
  return {
    ...model,
    state: 'awaiting_approval',
    stateSince: start,
    requirement: { outcome: 'approve', approvals: 2, reasons: ['large amount'] },
    risk: { score: 10, band: 'low', reasons: [], breakers: [], evidenceVersion: 0, assessedAt: start },
  };
}

const apply = (model: RefundModel, event: RefundEvent) => applyEvent(model, event);
const extend = (ms: number, when: number, duration = `PT${ms / 1000}S`): RefundEvent => ({
  type: 'deadline_extended',
  duration,
  ms,
  by: 'emp-ops',
  reason: 'approvers away',
  at: at(when),
});

describe('deadline extensions', () => {
  it('unstick a stuck refund until the new deadline, and change nothing else', () => {
    const waiting = awaitingApproval();
    const limit = stuckAfter(waiting)!;
    const overdue = apply(waiting, { type: 'stage_overdue', state: 'awaiting_approval', at: new Date(limit).toISOString() }).model;
    expect(isStuck(overdue)).toBe(true);
    expect(nextDeadline(overdue)).toBeUndefined();

    const { model: extended, facts } = apply(overdue, extend(3_600_000, 10_000));
    expect(isStuck(extended)).toBe(false);
    expect(stuckAfter(extended)).toBe(limit + 3_600_000);
    expect(nextDeadline(extended)).toMatchObject({ at: limit + 3_600_000, event: 'stage_overdue' });
    expect(facts).toEqual([expect.objectContaining({ kind: 'deadline_extended', actor: 'employee:emp-ops' })]);
    // Nothing that decides a payout moved.
    for (const key of ['state', 'stateSince', 'approvals', 'requirement', 'risk', 'receipts', 'carrierEvents'] as const) {
      expect(extended[key]).toEqual(overdue[key]);
    }
    expect(approvalsStillNeeded(extended)).toBe(2);
    expect(refundStatus(extended)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 2, payout: null, stuck: false });

    // Past the new deadline it is escalated again.
    const again = apply(extended, { type: 'stage_overdue', state: 'awaiting_approval', at: at(limit + 3_600_000) });
    expect(isStuck(again.model)).toBe(true);
  });

  it('are capped per state by timers.maxDeadlineExtension (7 days unless the policy says otherwise)', () => {
    const waiting = awaitingApproval();
    expect(checkExtend(waiting, 7 * DAY)).toBeUndefined();
    expect(checkExtend(waiting, 7 * DAY + 1)?.rule).toBe('extension_cap_exceeded');
    const once = apply(waiting, extend(4 * DAY, 1_000, 'P4D')).model;
    expect(checkExtend(once, 3 * DAY)).toBeUndefined();
    expect(checkExtend(once, 4 * DAY)).toMatchObject({
      rule: 'extension_cap_exceeded',
      message: expect.stringMatching(/timers\.maxDeadlineExtension/),
    });
    // The reducer holds the rule too: an over-cap extension changes nothing.
    expect(apply(once, extend(4 * DAY, 2_000, 'P4D'))).toEqual({ model: once, facts: [] });

    const strict = awaitingApproval({ ...fastPolicy, timers: { ...fastPolicy.timers, maxDeadlineExtension: '1 day' } });
    expect(checkExtend(strict, 2 * DAY)?.rule).toBe('extension_cap_exceeded');
    expect(checkExtend(strict, DAY)).toBeUndefined();
  });

  it('count per state: a new state starts with none', () => {
    const waiting = apply(awaitingApproval(), extend(7 * DAY, 1_000, 'P7D')).model;
    expect(checkExtend(waiting, 1)).toBeDefined();
    const moved: RefundModel = { ...waiting, state: 'risk_review', stateSince: at(5_000) };
    expect(checkExtend(moved, 7 * DAY)).toBeUndefined();
  });

  it('are refused while paying and once finished', () => {
    expect(checkExtend({ ...awaitingApproval(), state: 'paying' }, 1000)?.rule).toBe('deadline_not_extendable');
    for (const state of ['refunded', 'rejected', 'cancelled', 'expired', 'failed'] as const) {
      expect(checkExtend({ ...awaitingApproval(), state }, 1000)?.rule).toBe('refund_finished');
    }
  });
});

describe('nudges and escalations to a group', () => {
  it('nudge only the party the refund waits for', () => {
    const { model } = newRefund(refundRequest(), fastPolicy, start, { requestedBy: 'svc-returns' });
    expect(model.state).toBe('awaiting_carrier');
    expect(checkNudge(model, 'carrier')).toBeUndefined();
    expect(checkNudge(model, 'warehouse')?.rule).toBe('not_waiting_for_party');
    const { model: nudged, facts } = apply(model, { type: 'nudged', party: 'carrier', by: 'emp-ops', reason: 'no scan', at: at(1) });
    expect(nudged.nudges).toEqual([expect.objectContaining({ party: 'carrier', by: 'emp-ops' })]);
    expect(facts[0]).toMatchObject({ kind: 'evidence_requested', data: { party: 'carrier', by: 'emp-ops', reason: 'no scan' } });
    expect(apply(model, { type: 'nudged', party: 'warehouse', by: 'emp-ops', reason: 'x', at: at(1) }).facts).toEqual([]);
  });

  it('an escalation to a group is recorded but does not make the refund stuck or stop its timer', () => {
    const waiting = awaitingApproval();
    const { model, facts } = apply(waiting, { type: 'ops_escalated', group: 'finance-leads', by: 'emp-ops', reason: 'VIP', at: at(1) });
    expect(model.escalations).toEqual([expect.objectContaining({ group: 'finance-leads', by: 'emp-ops' })]);
    expect(facts[0]).toMatchObject({ kind: 'escalated', data: { group: 'finance-leads', by: 'emp-ops', reason: 'VIP' } });
    expect(isStuck(model)).toBe(false);
    expect(nextDeadline(model)).toEqual(nextDeadline(waiting));
  });
});
