/**
 * Outgoing webhook subscriptions as the API takes and shows them (docs/api.md, "Webhooks";
 * docs/operations.md, "Notifications"). The signing secret is in the answer to the creation only.
 */
import { z } from 'zod';
import { text } from '../workflows/schemas';

const instant = z.string().meta({ format: 'date-time' });

export const webhookEventTypes = [
  'refund.awaiting_approval',
  'refund.stuck',
  'refund.escalated',
  'refund.paid',
  'refund.rejected',
  'refund.failed',
  'breaker.tripped',
] as const;
export const WebhookEventType = z.enum(webhookEventTypes);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

export const webhookFormats = ['standard', 'slack'] as const;
export const WebhookFormat = z.enum(webhookFormats);

/** An http or https URL with a host, no credentials in it, at most 2048 characters. */
export const WebhookUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/[^\s/?#@]+([/?#][^\s]*)?$/i, 'must be an http:// or https:// URL with a host and no spaces')
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && !url.username && !url.password;
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL with a host (and no user or password in it)')
  .describe('where events are POSTed; http or https only');

export const ApproverGroup = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1 to 64 letters, digits, dots, dashes or underscores')
  .describe('deliver `refund.escalated` only when the escalation names this approver group; other event types are not filtered');

export const WebhookSubscriptionBody = z
  .strictObject({
    url: WebhookUrl,
    events: z
      .array(WebhookEventType)
      .min(1)
      .max(webhookEventTypes.length)
      .optional()
      .describe('the event types to deliver; every type when left out'),
    format: WebhookFormat.default('standard').describe(
      'standard: `{ type, timestamp, data }`; slack: `{ text }` for a Slack incoming webhook',
    ),
    approverGroup: ApproverGroup.optional(),
    description: text('description', 500).optional(),
  })
  .meta({ id: 'WebhookSubscriptionBody' });
export type WebhookSubscriptionBody = z.input<typeof WebhookSubscriptionBody>;

export const WebhookSubscriptionView = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(WebhookEventType).nullable().describe('null: every event type'),
    format: WebhookFormat,
    approverGroup: z.string().nullable(),
    description: z.string().nullable(),
    createdBy: z.string(),
    createdAt: instant,
    disabledAt: instant.nullable().describe('null while it is active'),
    disabledBy: z.string().nullable(),
  })
  .meta({ id: 'WebhookSubscription' });
export type WebhookSubscription = z.infer<typeof WebhookSubscriptionView>;

export const WebhookSubscriptionCreated = z
  .object({
    subscription: WebhookSubscriptionView,
    secret: z
      .string()
      .describe('the signing secret, `whsec_` and the base64 of 32 random bytes: shown this once, keep it to verify `webhook-signature`'),
  })
  .meta({ id: 'WebhookSubscriptionCreated' });
export type WebhookSubscriptionCreated = z.infer<typeof WebhookSubscriptionCreated>;

export const WebhookSubscriptionList = z.object({
  subscriptions: z.array(WebhookSubscriptionView).describe('newest first, disabled ones too'),
});

export const WebhookDeliveryView = z
  .object({
    id: z.number().int(),
    subscriptionId: z.string(),
    eventId: z.string().describe('the `webhook-id` header: the same on every attempt; receivers dedupe by it'),
    eventType: z.string(),
    status: z.enum(['pending', 'delivered', 'failed', 'cancelled']),
    attempts: z.number().int(),
    lastAttemptAt: instant.nullable(),
    lastStatus: z.number().int().nullable().describe('the HTTP status of the last attempt; null when it got no answer'),
    lastError: z.string().nullable(),
    deliveredAt: instant.nullable(),
    createdAt: instant,
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDeliveryView>;

export const WebhookDeliveryList = z.object({ deliveries: z.array(WebhookDeliveryView).describe('newest first') });

export const WebhookDisableBody = z
  .strictObject({
    reason: text('reason', 500).optional(),
  })
  .meta({ id: 'WebhookDisableBody' });
