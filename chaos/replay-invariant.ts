/**
 * Every refund's history replays with the workflow code that wrote it. A worker that dies hands
 * its refunds to another, which rebuilds each by replaying its history; a history that does not
 * replay is a refund that is stuck (its next workflow task fails) and whose status query fails.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { History } from '@temporalio/common/lib/proto-utils';
import { refundWorkflowId } from '../workflows/messages';
import { type InvariantResult, result } from './invariant-result';

/** The replay worker's own progress lines would drown the run's log: warnings and errors only. */
function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed already
  }
}

export async function historiesReplay(temporalAddress: string, workflowBundle: string, refundIds: string[]): Promise<InvariantResult> {
  const name = 'every refund’s history replays with the workflow code (what a worker does after another died)';
  quietRuntime();
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new Client({ connection });
    async function* histories(): AsyncGenerator<{ workflowId: string; history: History }> {
      for (const refundId of refundIds) {
        const workflowId = refundWorkflowId(refundId);
        yield { workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() };
      }
    }
    const problems: string[] = [];
    // A history that does not replay is kept, to replay by hand (test/replay/replay.test.ts reads this format).
    let keptIn: string | undefined;
    for await (const replay of Worker.runReplayHistories({ workflowBundle: { codePath: workflowBundle } }, histories())) {
      if (!replay.error) continue;
      keptIn ??= await mkdtemp(path.join(os.tmpdir(), 'refunds-chaos-histories-'));
      const file = path.join(keptIn, `${replay.workflowId}.json`);
      await writeFile(file, historyToJSON(await client.workflow.getHandle(replay.workflowId).fetchHistory()));
      problems.push(`${replay.workflowId} (history kept in ${file}): ${replay.error.message.replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    return result(name, problems, `${refundIds.length} histories replay`);
  } catch (error) {
    return { name, ok: false, detail: `could not replay: ${(error as Error).message}` };
  } finally {
    await connection.close();
  }
}
