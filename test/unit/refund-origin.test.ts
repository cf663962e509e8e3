/**
 * The refund service whose signed request the workflow verified is one of its requesters: it is
 * recorded with the request and may never approve it, whatever employee the request names (pure).
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../workflows/policy';
import { checkApproval, newRefund, type RefundModel } from '../../workflows/refund-model';
import { approver, refundOf } from '../support/fixtures';

const T0 = '2026-11-21T09:00:00.000Z';

function awaitingApproval(model: RefundModel): RefundModel {
  return { ...model, state: 'awaiting_approval', requirement: { outcome: 'approve', approvals: 1, reasons: [] } };
}

describe('refund origin', () => {
  it('records the relaying service with the request', () => {
    const { model, facts } = newRefund(refundOf(50_000, { initiatedBy: 'customer' }), defaultPolicy, T0, { requestedBy: 'svc-checkout' });
    expect(model.requestedBy).toBe('svc-checkout');
    expect(facts[0]).toMatchObject({ kind: 'refund_requested', actor: 'customer', data: { requestedBy: 'svc-checkout' } });
  });

  it('refuses the relaying service as an approver, even when the request names someone else', () => {
    const { model } = newRefund(refundOf(50_000, { initiatedBy: 'customer' }), defaultPolicy, T0, { requestedBy: 'svc-checkout' });
    const command = {
      approver: approver('svc-checkout', 10_000_000, ['refund_service', 'approver']),
      decision: { decision: 'approve' as const },
    };
    expect(checkApproval(awaitingApproval(model), command)).toMatchObject({ rule: 'approver_is_requester' });
    expect(checkApproval(awaitingApproval(model), { ...command, approver: approver('emp-approver-1') })).toBeUndefined();
  });

  it('leaves a request without an origin as before', () => {
    const { model, facts } = newRefund(refundOf(50_000), defaultPolicy, T0);
    expect(model).not.toHaveProperty('requestedBy');
    expect(facts[0]!.data).not.toHaveProperty('requestedBy');
  });
});
