/**
 * A refund worker in a child process that dies (SIGKILL) right after the transition carrying a
 * warehouse receipt has been committed to PostgreSQL, before its workflow task can complete: the
 * local activity has written, but the refund's history does not know it. Configured by environment.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createPool } from '../../activities/db';
import { LedgerOnlyGateway } from '../../activities/payments';
import { fastPolicy } from './fixtures';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
const pool = createPool(env('DATABASE_URL'), 3);
const activities = createActivities({ pool, policy: fastPolicy, gateway: new LedgerOnlyGateway() });
const worker = await Worker.create({
  connection,
  namespace: 'default',
  taskQueue: env('REFUNDS_TASK_QUEUE'),
  workflowBundle: { codePath: env('WORKFLOW_BUNDLE_PATH') },
  activities: {
    ...activities,
    async recordProgress(input: Parameters<typeof activities.recordProgress>[0]) {
      await activities.recordProgress(input);
      if (input.facts.some((fact) => fact.kind === 'warehouse_receipt')) process.kill(process.pid, 'SIGKILL');
    },
  },
});
process.stdout.write('worker running\n');
await worker.run();
