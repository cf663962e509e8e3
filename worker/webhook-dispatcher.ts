/**
 * Starts the webhook dispatcher workflow (workflows/webhook-dispatcher.ts) if it is not running:
 * every worker does this at start-up, and the first one wins; the others find it running and
 * leave it (workflow id conflict policy USE_EXISTING), so there is one per namespace and task queue.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { webhookDispatcherWorkflowId, type WebhookDispatcherInput } from '../workflows/webhook-dispatcher';

export async function startWebhookDispatcher(client: Client, taskQueue: string, input: WebhookDispatcherInput = {}): Promise<string> {
  const workflowId = webhookDispatcherWorkflowId(taskQueue);
  try {
    await client.workflow.start('webhookDispatcherWorkflow', {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  } catch (error) {
    // A run closed by hand (terminated) with a reuse policy that refuses its id: nothing to start.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  return workflowId;
}
