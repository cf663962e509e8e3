/**
 * Outgoing webhook subscriptions, for admins: add one (its signing secret is answered this once),
 * list them (never a secret), disable one, and see its recent deliveries. Every change is on the
 * subscription's own audit chain. Delivery itself is the worker's (workflows/webhook-dispatcher.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  WebhookDeliveryList,
  WebhookDisableBody,
  WebhookSubscriptionBody,
  WebhookSubscriptionCreated,
  WebhookSubscriptionList,
  WebhookSubscriptionView,
} from '../../client/webhook-views';
import {
  addWebhookSubscription,
  disableWebhookSubscription,
  listWebhookSubscriptions,
  webhookDeliveries,
  WebhookSubscriptionError,
} from '../../store/webhooks';
import { principalOf, requireRole } from '../plugins/authentication';
import { problem } from '../plugins/problems';
import { bearer, problems, withAuth, type RouteDeps } from './shared';

const SubscriptionPath = z.strictObject({
  subscriptionId: z
    .string()
    .regex(/^whsub_[0-9a-f]{24}$/, 'must be a subscription id, whsub_ and 24 lowercase hex digits')
    .describe('as answered when it was added'),
});
const DeliveriesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

const notFound = (id: string) => problem('not_found', `no webhook subscription ${id}`);

export function registerWebhookRoutes(app: FastifyInstance, { pool }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/v1/webhooks/subscriptions',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to events, delivered as signed webhooks',
        description:
          'Admins only. Events are POSTed to `url` as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), ' +
          'signed with the secret answered here, once: it is never shown again. Only events written after the subscription ' +
          'exists are delivered. See docs/operations.md, "Notifications", for the payloads and how to verify them.',
        security: bearer,
        body: WebhookSubscriptionBody,
        response: { 201: WebhookSubscriptionCreated, ...problems(400, 413, 415, 422, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { url, events, format, approverGroup, description } = request.body;
      const created = await addWebhookSubscription(pool, {
        url,
        eventTypes: events,
        format,
        approverGroup,
        description,
        createdBy: principalOf(request).id,
      });
      return reply.code(201).send(created);
    },
  );

  api.get(
    '/v1/webhooks/subscriptions',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['webhooks'],
        summary: 'Every webhook subscription, newest first (never its secret)',
        security: bearer,
        response: { 200: WebhookSubscriptionList, ...problems(...withAuth) },
      },
    },
    async () => ({ subscriptions: await listWebhookSubscriptions(pool) }),
  );

  api.post(
    '/v1/webhooks/subscriptions/:subscriptionId/disable',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['webhooks'],
        summary: 'Disable a webhook subscription',
        description:
          'Nothing more is delivered to it and its pending deliveries are cancelled (an attempt already sent may still arrive). ' +
          'Disabling it again answers it as it is. Audited with the admin who disabled it.',
        security: bearer,
        params: SubscriptionPath,
        body: WebhookDisableBody,
        response: { 200: WebhookSubscriptionView, ...problems(400, 404, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      try {
        return await disableWebhookSubscription(pool, request.params.subscriptionId, principalOf(request).id, request.body.reason);
      } catch (error) {
        if (error instanceof WebhookSubscriptionError) throw notFound(request.params.subscriptionId);
        throw error;
      }
    },
  );

  api.get(
    '/v1/webhooks/subscriptions/:subscriptionId/deliveries',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['webhooks'],
        summary: "A subscription's recent deliveries, newest first",
        description: 'One per event: its `webhook-id` (eventId), attempts so far, status and the last error.',
        security: bearer,
        params: SubscriptionPath,
        querystring: DeliveriesQuery,
        response: { 200: WebhookDeliveryList, ...problems(404, 422, ...withAuth) },
      },
    },
    async (request) => {
      const deliveries = await webhookDeliveries(pool, request.params.subscriptionId, request.query.limit);
      if (!deliveries) throw notFound(request.params.subscriptionId);
      return { deliveries };
    },
  );
}
