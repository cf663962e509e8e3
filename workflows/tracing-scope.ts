/**
 * Which workflows traces leave out (config/tracing.ts, docs/observability.md): the webhook
 * dispatcher, whose poll every few seconds would otherwise fill the collector with one long trace
 * of empty rounds. Read by the traced bundle's workflow interceptors and by the worker's activity
 * interceptors, so neither the workflow nor its activities make spans.
 */
export const untracedWorkflowTypes: readonly string[] = ['webhookDispatcherWorkflow'];
