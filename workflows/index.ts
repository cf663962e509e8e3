/** Everything the worker registers as a workflow type. Deterministic code only. */
export { refundWorkflow } from './refund';
export { webhookDispatcherWorkflow } from './webhook-dispatcher';
