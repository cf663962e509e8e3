/** Starts test/support/dying-worker.ts as a child process on a harness's task queue. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TrustRoots } from '../../workflows/statements';
import { testStack } from './stack';

export interface ChildWorker {
  proc: ChildProcess;
  /** Resolves when the child has exited, however it died. */
  exited: Promise<unknown>;
}

export function startDyingWorker(
  taskQueue: string,
  dieAt: 'payout_charged' | 'receipt_recorded',
  trustRoots: TrustRoots,
): Promise<ChildWorker> {
  const stack = testStack();
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./dying-worker.ts', import.meta.url))], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      DATABASE_URL: stack.databaseUrl,
      REFUNDS_TASK_QUEUE: taskQueue,
      WORKFLOW_BUNDLE_PATH: stack.workflowBundlePath,
      DIE_AT: dieAt,
      TRUST_ROOTS: JSON.stringify(trustRoots),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    void exited.then((code) => reject(new Error(`child worker exited before it was running (${String(code)})`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker running')) resolve({ proc, exited });
    });
  });
}
