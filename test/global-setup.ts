/**
 * Starts the real components once per test run: a Temporal dev server (in
 * memory, with the refund search attributes), an embedded PostgreSQL with the
 * owner and service roles and the migrations applied by the owner, and one
 * workflow bundle every test worker can load. The product under test connects
 * as the service role, as in production. Tests reach them through
 * test/support/stack.ts.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../dev/postgres';
import { resolveTemporalBinary } from '../dev/temporal-binary';
import { startTemporalDevServer } from '../dev/temporal-server';
import { migrate } from '../store/migrate';
import { createPool } from '../store/pool';
import { installFakeProcessor } from './support/scripted-gateway';
import { buildWorkflowBundle } from '../worker/workflow-bundle';
import { refundSearchAttributes } from '../workflows/search-attributes';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the test Temporal server (namespace "default"). */
    temporalAddress: string;
    /** postgres:// URL of the migrated test database, as the service role (refunds_service). */
    databaseUrl: string;
    /** The same database as the schema owner (refunds_owner). */
    ownerDatabaseUrl: string;
    /** The same database as the superuser, for tests that tamper on purpose. */
    adminDatabaseUrl: string;
    /** Path of the prebuilt workflow bundle, for Worker.create({ workflowBundle: { codePath } }). */
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const timings: string[] = [];
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await work();
    timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return result;
  };

  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'refunds-test-'));
  // As root, PostgreSQL runs as the postgres user, which must reach its data directory.
  await chmod(tempDir, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const teardown = async () => {
    await Promise.allSettled(stops.map((stop) => stop()));
    await rm(tempDir, { recursive: true, force: true });
  };

  const results = await Promise.allSettled([
    timed('Temporal', async () => {
      const binary = await resolveTemporalBinary();
      const server = await startTemporalDevServer({
        binary,
        uiPort: false,
        searchAttributes: refundSearchAttributes,
        logFile: path.join(tempDir, 'temporal.log'),
      });
      stops.push(server.stop);
      return server;
    }),
    timed('PostgreSQL+migrations', async () => {
      const postgres = await startEmbeddedPostgres({
        dataDir: path.join(tempDir, 'postgres'),
        logFile: path.join(tempDir, 'postgres.log'),
      });
      stops.push(postgres.stop);
      await migrate(postgres.ownerUrl);
      const owner = createPool(postgres.ownerUrl, 1);
      try {
        await installFakeProcessor(owner);
      } finally {
        await owner.end();
      }
      return postgres;
    }),
    timed('workflow bundle', async () => {
      const bundlePath = path.join(tempDir, 'workflow-bundle.js');
      await buildWorkflowBundle(bundlePath);
      return bundlePath;
    }),
  ]);

  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  const [temporal, postgres, bundle] = results;
  if (failures.length > 0 || temporal.status !== 'fulfilled' || postgres.status !== 'fulfilled' || bundle.status !== 'fulfilled') {
    await teardown();
    const reasons = failures.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason)));
    throw new Error(`Test stack did not start:\n${reasons.join('\n\n')}`);
  }

  project.provide('temporalAddress', temporal.value.address);
  project.provide('databaseUrl', postgres.value.serviceUrl);
  project.provide('ownerDatabaseUrl', postgres.value.ownerUrl);
  project.provide('adminDatabaseUrl', postgres.value.databaseUrl);
  project.provide('workflowBundlePath', bundle.value);
  console.log(`test stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${timings.join(', ')})`);

  return teardown;
}
