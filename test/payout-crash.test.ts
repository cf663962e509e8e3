/**
 * A worker process dies (SIGKILL) after the gateway has moved the money but before the payout
 * is recorded. Another worker takes over: it asks the gateway again with the same idempotency
 * key, records the payout once, and the customer is paid exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { carrierEvent, matchingReceipt, refundOf } from './support/fixtures';
import { startRefundHarness, type RefundHarness } from './support/refund-harness';
import { chargesFor, installFakeProcessor, ScriptedGateway } from './support/scripted-gateway';
import { testStack } from './support/stack';

let h: RefundHarness;
let child: ChildProcess | undefined;

beforeAll(async () => {
  h = await startRefundHarness({ startWorker: false });
  await installFakeProcessor(h.pool);
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await h?.close();
});

function startChildWorker(): Promise<ChildProcess> {
  const stack = testStack();
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./support/crash-worker.ts', import.meta.url))], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      DATABASE_URL: stack.databaseUrl,
      REFUNDS_TASK_QUEUE: h.taskQueue,
      WORKFLOW_BUNDLE_PATH: stack.workflowBundlePath,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`child worker exited early with ${code}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker running')) resolve(proc);
    });
  });
}

it('pays exactly once when the worker is killed mid-payout', async () => {
  child = await startChildWorker();
  const request = refundOf(4_200);
  await h.refunds.requestRefund(request);
  await h.refunds.recordCarrierEvent(carrierEvent(request, 'delivered'));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.refunds.recordWarehouseScan(request.refundId, matchingReceipt(request), 'emp-scan-1');

  // Wait until the processor has charged the card: the worker is now stuck waiting for its answer.
  const deadline = Date.now() + 20_000;
  while ((await chargesFor(h.pool, request.refundId)) === 0) {
    if (Date.now() > deadline) throw new Error('the child worker never reached the gateway');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child!.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  const before = await h.pool.query('SELECT status FROM payouts WHERE refund_id = $1', [request.refundId]);
  expect(before.rows).toEqual([{ status: 'pending' }]);

  await h.startWorker(new ScriptedGateway(h.pool, 'ok'));
  const done = await h.refunds.waitForState(request.refundId, ['refunded'], 30_000);
  expect(done.payout?.reference).toBe(`ch_${request.refundId}`);
  expect(await chargesFor(h.pool, request.refundId)).toBe(1);
  const ledger = await h.pool.query('SELECT direction, amount FROM ledger_entries WHERE refund_id = $1 ORDER BY direction', [request.refundId]);
  expect(ledger.rows).toEqual([{ direction: 'credit', amount: 4_200 }, { direction: 'debit', amount: 4_200 }]);
  const payout = await h.pool.query('SELECT status, attempts FROM payouts WHERE refund_id = $1', [request.refundId]);
  expect(payout.rows).toEqual([{ status: 'paid', attempts: 2 }]);
  const calls = await h.pool.query('SELECT outcome FROM fake_processor.calls WHERE idempotency_key = $1 ORDER BY id', [`refund-payout:${request.refundId}`]);
  expect(calls.rows.map((r) => r.outcome)).toEqual(['hang_after_charge', 'ok']);
});
