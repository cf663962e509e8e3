/** The baseline's own workflow bundle: bench/baseline/workflow.ts and the SDK, nothing of the product's workflows. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

export const baselineWorkflowsPath = fileURLToPath(new URL('./workflow.ts', import.meta.url));

export async function buildBaselineBundle(outFile: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: baselineWorkflowsPath, logger: new DefaultLogger('WARN') });
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, code);
}
