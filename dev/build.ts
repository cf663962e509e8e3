/**
 * `npm run build`: the production build in dist/, run by plain Node with no TypeScript loader.
 *
 * The sources import each other without file extensions (as tsx and bundlers resolve them), which
 * Node's ESM loader does not; so rather than emit one .js per .ts with tsc (whose output would keep
 * those specifiers and not run), esbuild bundles each entry point's own code into one ES module,
 * leaving every npm package external (loaded from node_modules as usual, native modules included).
 * tsc type-checks the same code first (tsconfig.build.json: the product only, no dev/ or test/).
 *
 *   dist/api/main.js              the API process            (+ migrations/, which it checks or applies)
 *   dist/worker/main.js           a worker process           (+ migrations/, workflow-bundle.js: the workflows, bundled ahead of time,
 *                                                            and workflow-bundle-traced.js: the same with the OpenTelemetry interceptors)
 *   dist/worker/audit-key.js      the worker's audit key tool (new, public)
 *   dist/store/refunds-admin.js   refunds-admin              (+ migrations/)
 *   dist/client/refunds.js        the refunds CLI
 *
 * Each directory carries what its entry point reads from disk next to itself, so any one of them
 * can be shipped with node_modules alone.
 */
import { cp, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { migrationsDir } from '../store/migrate';
import { buildWorkflowBundle, tracedBundlePath } from '../worker/workflow-bundle';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = path.join(root, 'dist');

const entryPoints = {
  'api/main': 'api/main.ts',
  'worker/main': 'worker/main.ts',
  'worker/audit-key': 'worker/audit-key.ts',
  'store/refunds-admin': 'store/principals-cli.ts',
  'client/refunds': 'client/cli/main.ts',
};
/** Entry points that read store/migrations next to themselves (store/migrate.ts's migrationsDir). */
const withMigrations = ['api', 'worker', 'store'];

async function main(): Promise<void> {
  const started = Date.now();
  // Built beside dist/ and swapped in, so a failed build never leaves half a dist/ behind.
  const staging = path.join(root, `.dist-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const t0 = Date.now();
    await build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(Object.entries(entryPoints).map(([out, src]) => [out, path.join(root, src)])),
      outdir: staging,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      sourcemap: true,
      logLevel: 'warning',
    });
    const tCode = Date.now() - t0;
    for (const dir of withMigrations) await cp(migrationsDir, path.join(staging, dir, 'migrations'), { recursive: true });
    const t1 = Date.now();
    const bundle = path.join(staging, 'worker', 'workflow-bundle.js');
    // The worker loads the traced one only with tracing on (config/tracing.ts).
    await Promise.all([buildWorkflowBundle(bundle), buildWorkflowBundle(tracedBundlePath(bundle), { traced: true })]);
    const tWorkflows = Date.now() - t1;
    await rm(distDir, { recursive: true, force: true });
    await rename(staging, distDir);
    const sizes = await Promise.all(
      [...Object.keys(entryPoints).map((e) => `${e}.js`), 'worker/workflow-bundle.js', 'worker/workflow-bundle-traced.js'].map(
        async (file) => `  dist/${file}  ${kib((await stat(path.join(distDir, file))).size)}`,
      ),
    );
    console.log(
      `built dist/ in ${seconds(Date.now() - started)} (code ${seconds(tCode)}, workflow bundles ${seconds(tWorkflows)}):\n${sizes.join('\n')}\n` +
        `  migrations: ${(await readdir(path.join(distDir, 'api', 'migrations'))).length} files in dist/{${withMigrations.join(',')}}/migrations`,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

await main();
