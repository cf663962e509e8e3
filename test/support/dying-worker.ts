/**
 * A refund worker in a child process, for crash tests: it dies (SIGKILL) at a chosen point.
 * DIE_AT=payout_charged: its gateway charges the card and then never answers; the test kills it.
 * DIE_AT=receipt_recorded: it kills itself right after the transition carrying a warehouse receipt
 * is committed to PostgreSQL, before its workflow task completes.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createPool } from '../../store/pool';
import { LedgerOnlyGateway } from '../../activities/payments';
import { TrustRoots } from '../../workflows/statements';
import { fastPolicy } from './fixtures';
import { ScriptedGateway } from './scripted-gateway';
import { TEST_CARRIER_SECRETS } from './carrier-keys';
import { withRecordProgress } from './record-progress';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const dieAt = env('DIE_AT');
if (dieAt !== 'payout_charged' && dieAt !== 'receipt_recorded') throw new Error(`DIE_AT=${dieAt} is not a known crash point`);

const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
const pool = createPool(env('DATABASE_URL'), 3);
const gateway = dieAt === 'payout_charged' ? new ScriptedGateway(pool, 'hang_after_charge') : new LedgerOnlyGateway();
// A payout attempt keeps the production 30 s timeout, so a retry within seconds can only come from the heartbeat timeout.
const policy = dieAt === 'payout_charged' ? { ...fastPolicy, timers: { ...fastPolicy.timers, payoutAttempt: '30s' } } : fastPolicy;
const activities = createActivities({
  pool,
  policy,
  gateway,
  trustRoots: TrustRoots.parse(JSON.parse(env('TRUST_ROOTS'))),
  carrierSecrets: TEST_CARRIER_SECRETS,
});
const worker = await Worker.create({
  connection,
  namespace: 'default',
  taskQueue: env('REFUNDS_TASK_QUEUE'),
  workflowBundle: { codePath: env('WORKFLOW_BUNDLE_PATH') },
  activities: withRecordProgress(activities, async (input) => {
    const head = await activities.recordProgress(input);
    if (dieAt === 'receipt_recorded' && input.facts.some((fact) => fact.kind === 'warehouse_receipt')) process.kill(process.pid, 'SIGKILL');
    return head;
  }),
});
process.stdout.write('worker running\n');
await worker.run();
