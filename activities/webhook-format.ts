/**
 * What a webhook delivery looks like on the wire, as Standard Webhooks (https://www.standardwebhooks.com)
 * defines it: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, the signature
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the base64-decoded secret after
 * its `whsec_` prefix. Pure functions, so the format can be checked without a network.
 */
import { createHmac } from 'node:crypto';
import { formatMinor } from '../workflows/currencies';
import type { WebhookEventType, WebhookFormat } from '../store/webhooks';

export interface OutgoingEvent {
  id: string;
  type: WebhookEventType;
  occurredAt: string;
  data: Record<string, unknown>;
}

/** The signature header value of `body` sent as message `id` at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  if (!secret.startsWith('whsec_')) throw new Error('a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The request body: `{ type, timestamp, data }`, or for Slack `{ text }`. */
export function webhookBody(format: WebhookFormat, event: OutgoingEvent): string {
  if (format === 'slack') return JSON.stringify({ text: slackText(event) });
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt, data: event.data });
}

export function webhookHeaders(secret: string, id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'refunds-webhooks/1',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': webhookSignature(secret, id, timestamp, body),
  };
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** One line for people: the refund, the amount and what to do. */
export function slackText(event: OutgoingEvent): string {
  const d = event.data;
  const refund = str(d.refundId) ?? 'unknown refund';
  const amount = typeof d.amount === 'number' && str(d.currency) ? ` (${formatMinor(d.amount, d.currency as string)})` : '';
  const show = `\`refunds show ${refund}\``;
  switch (event.type) {
    case 'refund.awaiting_approval': {
      const n = typeof d.approvalsStillNeeded === 'number' ? d.approvalsStillNeeded : 1;
      return `:hourglass: Refund ${refund}${amount} is awaiting approval: ${n} approval${n === 1 ? '' : 's'} needed. Review it with ${show} and approve or reject.`;
    }
    case 'refund.stuck':
      return `:warning: Refund ${refund}${amount} is stuck in ${str(d.state) ?? 'its stage'}: ${str(d.reason) ?? 'overdue'}. Look into it with ${show}.`;
    case 'refund.escalated': {
      const group = str(d.group) ? ` to ${d.group}` : '';
      const by = str(d.by) ? ` by ${d.by}` : '';
      return `:rotating_light: Refund ${refund}${amount} was escalated${group}${by}: ${str(d.reason) ?? 'no reason given'}. Take it over with ${show}.`;
    }
    case 'refund.paid':
      return `:white_check_mark: Refund ${refund}${amount} was paid (${str(d.reference) ?? 'no reference'}). Nothing to do.`;
    case 'refund.rejected': {
      const outcome = (d.outcome ?? {}) as Record<string, unknown>;
      return `:no_entry: Refund ${refund}${amount} was rejected: ${str(outcome.message) ?? str(outcome.code) ?? 'no reason given'}. Nothing to do unless the customer disputes it.`;
    }
    case 'refund.failed': {
      const outcome = (d.outcome ?? {}) as Record<string, unknown>;
      return `:x: Refund ${refund}${amount} failed to pay out: ${str(outcome.message) ?? str(outcome.code) ?? 'unknown error'}. Check the payout with ${show}.`;
    }
    case 'breaker.tripped': {
      const employee = str(d.employeeId) ?? 'an employee';
      return `:octagonal_sign: Circuit breaker tripped for ${employee} as ${str(d.trippedAs) ?? 'insider'} on refund ${refund}: ${str(d.reason) ?? 'a limit crossed'}. Every refund they touch now needs one more approver; an admin reviews it and lifts it with \`refunds breaker lift ${employee} --reason …\`.`;
    }
  }
}
