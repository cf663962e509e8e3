/**
 * The workflow bundle: the workflows and everything they import, bundled with webpack for the
 * worker's sandbox. A worker bundles them when it starts unless REFUNDS_WORKFLOW_BUNDLE names a
 * bundle built beforehand (`npm run build:workflows`), which saves every start the bundling time
 * and the memory webpack leaves behind. Tests and the benchmark build theirs the same way. The
 * production build (`npm run build`) puts one next to the built worker, which loads it by itself.
 *
 * Each comes in two: the plain bundle, and a traced one with the OpenTelemetry workflow
 * interceptors (`<name>-traced.js` beside it). A worker loads the traced one only when tracing is
 * on (config/tracing.ts), so a worker without traces runs no tracing code in its workflows.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** Where `npm run build:workflows` writes the bundle when REFUNDS_WORKFLOW_BUNDLE does not say. */
export const defaultWorkflowBundlePath = fileURLToPath(new URL('../.build/workflow-bundle.js', import.meta.url));

/**
 * The bundle `npm run build` writes next to the built worker: dist/worker/workflow-bundle.js when
 * this code runs from dist/worker/main.js. From the sources it names worker/workflow-bundle.js,
 * which nothing writes, so a worker run with tsx bundles at start as before.
 */
export const builtWorkflowBundlePath = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));

/**
 * The traced bundle's workflow interceptors (those of @temporalio/interceptors-opentelemetry, for
 * every workflow but the webhook dispatcher): RunWorkflow, StartActivity and the other workflow spans.
 */
export const tracingWorkflowInterceptors = fileURLToPath(new URL('../workflows/tracing-interceptors.ts', import.meta.url));

/** The traced bundle that goes with a plain one: `workflow-bundle.js` → `workflow-bundle-traced.js`. */
export function tracedBundlePath(plainBundlePath: string): string {
  return plainBundlePath.replace(/(\.[cm]?js)?$/, '-traced.js');
}

/**
 * Modules each workflow thread evaluates once and shares between its workflows (the SDK's reusable
 * V8 context), instead of evaluating them again at each workflow's creation: see
 * workflows/shared-modules.ts for what is shared, and why nothing else is.
 */
export const preloadedWorkflowModules = [fileURLToPath(new URL('../workflows/shared-modules.ts', import.meta.url))];

/**
 * The prebuilt bundle a worker loads: REFUNDS_WORKFLOW_BUNDLE's, else the build's when there is one;
 * with tracing on, the traced bundle beside it (undefined when there is none: the worker then
 * bundles the workflows with the interceptors at start).
 */
export function prebuiltWorkflowBundle(configured: string | undefined, traced = false): string | undefined {
  const plain = configured ?? (existsSync(builtWorkflowBundlePath) ? builtWorkflowBundlePath : undefined);
  if (!traced || plain === undefined) return plain;
  const withTracing = tracedBundlePath(plain);
  return existsSync(withTracing) ? withTracing : undefined;
}

/** Bundles the workflows into `outFile`; `traced` adds the OpenTelemetry workflow interceptors. */
export async function buildWorkflowBundle(outFile: string, { traced = false }: { traced?: boolean } = {}): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    preloadModules: preloadedWorkflowModules,
    workflowInterceptorModules: traced ? [tracingWorkflowInterceptors] : [],
    logger: new DefaultLogger('WARN'),
  });
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, code);
}

// Run as `npm run build:workflows`. Also named by file: bundled into dist/worker/main.js, this
// module's import.meta.url is the worker's, which must not build a bundle when it starts.
const argv1 = process.argv[1];
if (argv1 && fileURLToPath(import.meta.url) === path.resolve(argv1) && /workflow-bundle\.[cm]?[jt]s$/.test(argv1)) {
  const outFile = path.resolve(process.env.REFUNDS_WORKFLOW_BUNDLE || defaultWorkflowBundlePath);
  await buildWorkflowBundle(outFile);
  await buildWorkflowBundle(tracedBundlePath(outFile), { traced: true });
  console.log(
    `workflow bundles written to ${outFile} and ${tracedBundlePath(outFile)} (with tracing); start workers with REFUNDS_WORKFLOW_BUNDLE=${outFile}`,
  );
}
