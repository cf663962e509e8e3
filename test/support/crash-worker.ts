/**
 * A refund worker in a child process, so a test can kill it with SIGKILL in the middle of a
 * payout: its gateway charges the card and then never answers. Configured by environment.
 */
import { NativeConnection } from '@temporalio/worker';
import { createPool } from '../../activities/db';
import { createRefundWorker } from '../../worker/worker';
import { fastPolicy } from './fixtures';
import { ScriptedGateway } from './scripted-gateway';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
const pool = createPool(env('DATABASE_URL'), 3);
const worker = await createRefundWorker({
  connection,
  namespace: 'default',
  taskQueue: env('REFUNDS_TASK_QUEUE'),
  pool,
  policy: fastPolicy,
  gateway: new ScriptedGateway(pool, 'hang_after_charge'),
  workflowBundlePath: env('WORKFLOW_BUNDLE_PATH'),
});
process.stdout.write('worker running\n');
await worker.run();
