/**
 * The webhook dispatcher: one long-running workflow per namespace and task queue
 * (`webhookDispatcherWorkflowId`), started by each worker at start-up (an already running one is
 * kept). Every `pollMs` it asks for the events written since its last read and the deliveries
 * due, starts one `deliverWebhook` activity per delivery not already in flight, and goes on
 * polling without waiting for them: a receiver that is down only delays its own deliveries.
 * Temporal retries each delivery with exponential backoff; the activity decides when to give up.
 * After `pollsPerRun` polls (or when Temporal suggests it) it cancels what is in flight and
 * continues as new, so its history stays short; the new run finds those deliveries still pending.
 */
import { ActivityCancellationType, CancellationScope, continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks';

export const webhookDispatcherWorkflowId = (taskQueue: string) => `webhook-dispatcher/${taskQueue}`;

export interface WebhookDispatcherInput {
  /** Between two reads of new events (default 2 s). */
  pollMs?: number;
  /** Polls before continuing as new (default 500). */
  pollsPerRun?: number;
  /** Deliveries in flight at once per subscription (default 10): a receiver that is down holds up only its own. */
  concurrency?: number;
  retry?: {
    /** First retry after this (default 1 s), doubling each time up to `maximumMs` (default 10 min). */
    initialMs?: number;
    maximumMs?: number;
    /** Attempts in all before a delivery is given up as failed (default 25, about three hours). */
    maxAttempts?: number;
    /** A 4xx other than 408/429 fails the delivery for good from this attempt on (default 3). */
    permanentAfter?: number;
  };
}

export async function webhookDispatcherWorkflow(input: WebhookDispatcherInput = {}): Promise<void> {
  const pollMs = input.pollMs ?? 2_000;
  const pollsPerRun = input.pollsPerRun ?? 500;
  const maxAttempts = input.retry?.maxAttempts ?? 25;
  const permanentAfter = input.retry?.permanentAfter ?? 3;
  const { collectWebhookDeliveries } = proxyActivities<WebhookActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { deliverWebhook } = proxyActivities<WebhookActivities>({
    // The request itself is bounded at 10 s; the rest is the database around it.
    startToCloseTimeout: '30 seconds',
    cancellationType: ActivityCancellationType.TRY_CANCEL,
    retry: {
      initialInterval: input.retry?.initialMs ?? 1_000,
      backoffCoefficient: 2,
      maximumInterval: input.retry?.maximumMs ?? 600_000,
      // No limit here: the activity counts attempts in the database and fails its last one as non-retryable.
    },
  });

  const concurrency = input.concurrency ?? 10;
  /** Delivery id → its subscription, while an activity for it runs or waits to retry. */
  const inFlight = new Map<number, string>();
  const busy = (subscriptionId: string) => [...inFlight.values()].filter((s) => s === subscriptionId).length;
  const deliveries = new CancellationScope();
  for (let poll = 0; poll < pollsPerRun && !workflowInfo().continueAsNewSuggested; poll++) {
    const due = await collectWebhookDeliveries({ perSubscription: concurrency, exclude: [...inFlight.keys()] });
    for (const { id: deliveryId, subscriptionId } of due) {
      if (inFlight.has(deliveryId) || busy(subscriptionId) >= concurrency) continue;
      inFlight.set(deliveryId, subscriptionId);
      // Failures are recorded on the delivery by the activity; the dispatcher only keeps going.
      void deliveries
        .run(() => deliverWebhook({ deliveryId, maxAttempts, permanentAfter }))
        .catch(() => undefined)
        .finally(() => inFlight.delete(deliveryId));
    }
    await sleep(pollMs);
  }
  // Attempts on the wire finish on their own (their lease keeps the next run from sending alongside them).
  deliveries.cancel();
  await continueAsNew<typeof webhookDispatcherWorkflow>(input);
}
