/**
 * The webhook dispatcher's activities: derive the events written since the last read and list the
 * deliveries due (`collectWebhookDeliveries`), and make one attempt at one delivery
 * (`deliverWebhook`). Retries are Temporal's (the dispatcher workflow's retry policy); an attempt
 * only decides whether its failure is worth retrying.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from '../store/pool';
import { collectWebhookDeliveries, type DueDelivery } from '../store/webhook-outbox';
import { claimWebhookDelivery, recordWebhookAttempt, type DeliveryStatus } from '../store/webhooks';
import { webhookBody, webhookHeaders } from './webhook-format';

export interface WebhookActivityDeps {
  pool: Pool;
  /** How long one attempt waits for the receiver's answer (default 10 s). */
  requestTimeoutMs?: number;
}

export interface DeliverWebhookInput {
  deliveryId: number;
  /** Attempts in all (counted in the database, across dispatcher runs) before the delivery is given up as failed. */
  maxAttempts: number;
  /** A 4xx answer other than 408 and 429 fails the delivery for good from this attempt on. */
  permanentAfter: number;
}

export const webhookFailureTypes = { failed: 'WebhookDeliveryFailed', busy: 'WebhookDeliveryLeased' } as const;

/** A 4xx the receiver will answer again however often it is asked: its configuration is wrong. */
const isPermanent = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 429;

export function createWebhookActivities({ pool, requestTimeoutMs = 10_000 }: WebhookActivityDeps) {
  return {
    /** Derives new events and answers the pending deliveries not in `exclude` (those in flight), at most `perSubscription` of each subscription. */
    async collectWebhookDeliveries(input: { perSubscription: number; exclude: number[] }): Promise<DueDelivery[]> {
      return (await collectWebhookDeliveries(pool, input)).due;
    },

    async deliverWebhook(input: DeliverWebhookInput): Promise<Exclude<DeliveryStatus, 'pending'>> {
      // The lease outlives the request's timeout, so a worker that lost this task cannot send alongside a retry.
      const claim = await claimWebhookDelivery(pool, input.deliveryId, Math.ceil(requestTimeoutMs / 1000) + 20);
      if (claim.outcome === 'settled') return claim.status;
      if (claim.outcome === 'leased') {
        throw ApplicationFailure.retryable(`delivery ${input.deliveryId} is being attempted elsewhere`, webhookFailureTypes.busy);
      }
      const { delivery } = claim;
      const event = { id: delivery.eventId, ...delivery.event };
      const body = webhookBody(delivery.subscription.format, event);
      const timestamp = Math.floor(Date.now() / 1000);
      const signals = [AbortSignal.timeout(requestTimeoutMs)];
      const cancelled = activityCancellation();
      if (cancelled) signals.push(cancelled);
      let status: number | undefined;
      let error: string;
      try {
        const response = await fetch(delivery.subscription.url, {
          method: 'POST',
          headers: webhookHeaders(delivery.subscription.secret, delivery.eventId, timestamp, body),
          body,
          redirect: 'manual',
          signal: AbortSignal.any(signals),
        });
        status = response.status;
        // The answer's body is not needed; read a little of it for the error, then let it go.
        const text = await response.text().catch(() => '');
        if (status >= 200 && status < 300) {
          await recordWebhookAttempt(pool, delivery.id, { status: 'delivered', httpStatus: status });
          return 'delivered';
        }
        error = `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
      } catch (e) {
        const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
        error =
          e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')
            ? `no answer within ${requestTimeoutMs} ms`
            : `${e instanceof Error ? e.message : String(e)}${cause}`;
      }
      const permanent = status !== undefined && isPermanent(status) && delivery.attempt >= input.permanentAfter;
      const last = permanent || delivery.attempt >= input.maxAttempts;
      await recordWebhookAttempt(pool, delivery.id, { status: last ? 'failed' : 'pending', httpStatus: status, error });
      const message = `delivery ${delivery.id} of ${delivery.eventId} to ${delivery.subscription.id}, attempt ${delivery.attempt}: ${error}`;
      if (last) throw ApplicationFailure.nonRetryable(message, webhookFailureTypes.failed);
      throw ApplicationFailure.retryable(message, webhookFailureTypes.failed);
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;

/** The activity's cancellation, when running as one (a dispatcher that continues as new cancels what is in flight). */
function activityCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
