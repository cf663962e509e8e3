/** The webhook wire format: the Standard Webhooks signature (its published example) and each event's Slack line. */
import { describe, expect, it } from 'vitest';
import { slackText, webhookBody, webhookHeaders, webhookSignature, type OutgoingEvent } from '../../activities/webhook-format';
import { webhookEventTypes } from '../../store/webhooks';

describe('webhook signature', () => {
  it('matches the example in the Standard Webhooks specification', () => {
    expect(
      webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('changes with the id, the timestamp, the body and the secret', () => {
    const base = webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_1', 1, '{}');
    expect(webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_2', 1, '{}')).not.toBe(base);
    expect(webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_1', 2, '{}')).not.toBe(base);
    expect(webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_1', 1, '{ }')).not.toBe(base);
    expect(webhookSignature('whsec_AfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_1', 1, '{}')).not.toBe(base);
  });

  it('refuses a secret without the whsec_ prefix', () => {
    expect(() => webhookSignature('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_1', 1, '{}')).toThrow(/whsec_/);
  });

  it('sends the three headers, signing the body as sent', () => {
    const body = webhookBody('standard', {
      id: 'evt_audit_9',
      type: 'refund.paid',
      occurredAt: '2026-11-27T00:00:00.000Z',
      data: { refundId: 'r-1' },
    });
    expect(JSON.parse(body)).toEqual({ type: 'refund.paid', timestamp: '2026-11-27T00:00:00.000Z', data: { refundId: 'r-1' } });
    const headers = webhookHeaders('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_9', 1796012345, body);
    expect(headers).toMatchObject({ 'webhook-id': 'evt_audit_9', 'webhook-timestamp': '1796012345', 'content-type': 'application/json' });
    expect(headers['webhook-signature']).toBe(webhookSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'evt_audit_9', 1796012345, body));
  });
});

describe('Slack lines', () => {
  const data = {
    refundId: 'r-1001',
    amount: 249_900,
    currency: 'USD',
    approvalsStillNeeded: 2,
    state: 'awaiting_warehouse',
    reason: 'receipt overdue',
    by: 'emp-ops-1',
    group: 'payments-leads',
    reference: 'ch_r-1001',
    outcome: { code: 'approver_rejected', message: 'box was empty' },
    employeeId: 'emp-approver-9',
    trippedAs: 'approver',
  };

  it.each(webhookEventTypes)('%s: one line naming the refund, and the amount where there is one', (type) => {
    const event: OutgoingEvent = { id: 'evt_audit_1', type, occurredAt: '2026-11-27T00:00:00.000Z', data };
    const text = slackText(event);
    expect(text).not.toContain('\n');
    expect(text).toContain('r-1001');
    if (type !== 'breaker.tripped') expect(text).toContain('2499.00 USD');
    expect(JSON.parse(webhookBody('slack', event))).toEqual({ text });
  });

  it('says what to do', () => {
    const at = (type: OutgoingEvent['type']) => slackText({ id: 'e', type, occurredAt: '', data });
    expect(at('refund.awaiting_approval')).toMatch(/2 approvals needed.*approve or reject/);
    expect(at('refund.escalated')).toMatch(/escalated to payments-leads by emp-ops-1/);
    expect(at('refund.rejected')).toContain('box was empty');
    expect(at('breaker.tripped')).toMatch(/emp-approver-9 .*refunds breaker lift/);
  });
});
