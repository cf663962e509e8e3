/**
 * The workflow bundle: the workflows and everything they import, bundled with webpack for the
 * worker's sandbox. A worker bundles them when it starts unless REFUNDS_WORKFLOW_BUNDLE names a
 * bundle built beforehand (`npm run build:workflows`), which saves every start the bundling time
 * and the memory webpack leaves behind. Tests and the benchmark build theirs the same way.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Where `npm run build:workflows` writes the bundle when REFUNDS_WORKFLOW_BUNDLE does not say. */
export const defaultWorkflowBundlePath = fileURLToPath(new URL('../.build/workflow-bundle.js', import.meta.url));

export async function buildWorkflowBundle(outFile: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, code);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const outFile = path.resolve(process.env.REFUNDS_WORKFLOW_BUNDLE || defaultWorkflowBundlePath);
  await buildWorkflowBundle(outFile);
  console.log(`workflow bundle written to ${outFile}; start workers with REFUNDS_WORKFLOW_BUNDLE=${outFile}`);
}
