/**
 * The workflow interceptors of the traced workflow bundle (worker/workflow-bundle.ts): those of
 * @temporalio/interceptors-opentelemetry (RunWorkflow, StartActivity, HandleSignal, … spans) for
 * every workflow but the webhook dispatcher, whose poll every few seconds would otherwise fill the
 * collector with one long trace of empty rounds. Only the traced bundle contains this module.
 */
import { interceptors as openTelemetryInterceptors } from '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { untracedWorkflowTypes } from './tracing-scope';

export const interceptors: WorkflowInterceptorsFactory = () =>
  untracedWorkflowTypes.includes(workflowInfo().workflowType) ? {} : openTelemetryInterceptors();
