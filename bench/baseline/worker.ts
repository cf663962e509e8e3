/**
 * The baseline's worker process (started by bench/stack.ts): NullRefund and its no-op activities
 * on their own task queue, so the baseline run's worker CPU and memory are its own and it loads
 * none of the product's code. Tuning comes from the refund worker's configuration, passed in by
 * the stack (BENCH_BASELINE_*), so both workers take and run tasks the same way.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { nullRefundActivities } from './activities';
import { describeWorkerOptions, WORKER_OPTIONS_PREFIX } from '../../worker/worker-options';
import { baselineWorkflowsPath } from './bundle';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

function count(name: string, min = 1): number {
  const value = Number(required(name));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number, at least ${min}`);
  return value;
}

/** An optional setting: unset leaves the SDK's default. */
function optionalCount(name: string, min = 1): number | undefined {
  return process.env[name] ? count(name, min) : undefined;
}

function optionalFlag(name: string): boolean | undefined {
  const value = process.env[name];
  if (!value) return undefined;
  if (value !== 'true' && value !== 'false') throw new Error(`${name} must be true or false`);
  return value === 'true';
}

/** The refund worker's optional settings, passed by bench/stack.ts only when set there. */
function optionalTuning() {
  const maxCachedWorkflows = optionalCount('BENCH_BASELINE_MAX_CACHED_WORKFLOWS', 0);
  const workflowPollers = optionalCount('BENCH_BASELINE_WORKFLOW_POLLERS');
  const activityPollers = optionalCount('BENCH_BASELINE_ACTIVITY_POLLERS');
  const reuseV8Context = optionalFlag('BENCH_BASELINE_REUSE_V8_CONTEXT');
  const workflowThreads = optionalCount('BENCH_BASELINE_WORKFLOW_THREADS');
  return {
    ...(maxCachedWorkflows !== undefined ? { maxCachedWorkflows } : {}),
    ...(workflowPollers !== undefined ? { workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: workflowPollers } as const } : {}),
    ...(activityPollers !== undefined ? { activityTaskPollerBehavior: { type: 'simple-maximum', maximum: activityPollers } as const } : {}),
    ...(reuseV8Context !== undefined ? { reuseV8Context } : {}),
    ...(workflowThreads !== undefined ? { workflowThreadPoolSize: workflowThreads } : {}),
  };
}

async function main(): Promise<void> {
  const taskQueue = required('BENCH_BASELINE_TASK_QUEUE');
  const namespace = process.env.TEMPORAL_NAMESPACE || 'default';
  const bundle = process.env.BENCH_BASELINE_WORKFLOW_BUNDLE;
  const connection = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: baselineWorkflowsPath }),
      activities: nullRefundActivities,
      maxConcurrentActivityTaskExecutions: count('BENCH_BASELINE_MAX_ACTIVITIES'),
      maxConcurrentWorkflowTaskExecutions: count('BENCH_BASELINE_MAX_WORKFLOW_TASKS'),
      ...optionalTuning(),
    });
    console.log(`${WORKER_OPTIONS_PREFIX} ${describeWorkerOptions(worker.options)}`);
    // Once running, the SDK drains in-flight tasks on SIGINT/SIGTERM and run() resolves.
    const running = worker.run();
    console.log(`baseline worker polling task queue "${taskQueue}" in namespace "${namespace}"`);
    await running;
  } finally {
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
