/**
 * The options a worker runs with, as the SDK resolved them, in one line for its log: how it runs
 * workflows (one reused V8 context per workflow thread, or one context per workflow), how many it
 * keeps cached, how many tasks of each kind it runs at once, and how many pollers fetch them. The
 * benchmark reports this line for each of its workers.
 */
import type { Worker } from '@temporalio/worker';

/** Marks the line in a worker's output. */
export const WORKER_OPTIONS_PREFIX = 'worker options:';

type Options = Worker['options'];

function slots(supplier: unknown): string {
  if (typeof supplier === 'object' && supplier !== null && 'type' in supplier) {
    if (supplier.type === 'fixed-size' && 'numSlots' in supplier) return String(supplier.numSlots);
    return String(supplier.type);
  }
  return 'custom';
}

function pollers(behavior: Options['workflowTaskPollerBehavior']): string {
  if (behavior.type === 'simple-maximum') return `${behavior.maximum}`;
  return `autoscaling ${behavior.minimum}–${behavior.maximum}`;
}

export function describeWorkerOptions(options: Options): string {
  const tuner = options.tuner as unknown as Record<string, unknown>;
  return [
    `reuseV8Context ${options.reuseV8Context}`,
    `workflow threads ${options.workflowThreadPoolSize}`,
    `maxCachedWorkflows ${options.maxCachedWorkflows}`,
    `workflow tasks ${slots(tuner.workflowTaskSlotSupplier)}`,
    `activities ${slots(tuner.activityTaskSlotSupplier)}`,
    `local activities ${slots(tuner.localActivityTaskSlotSupplier)}`,
    `workflow task pollers ${pollers(options.workflowTaskPollerBehavior)}`,
    `activity task pollers ${pollers(options.activityTaskPollerBehavior)}`,
    `sticky poll ratio ${options.nonStickyToStickyPollRatio}`,
  ].join(', ');
}
