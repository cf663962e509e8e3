/** Everything the worker registers as a workflow type. Deterministic code only. */
export { refundWorkflow } from './refund';
/** The benchmark's baseline: a refund's messages, with no work behind them. */
export { nullRefundWorkflow } from '../bench/baseline/workflow';
