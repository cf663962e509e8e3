/**
 * The chaos run, short and seeded, as part of the suite: `npm run chaos`'s entry point in a child
 * process with its own stack (its own Temporal, PostgreSQL, workers and API on ports of their own,
 * never the global setup's), 40 refunds and one SIGKILL of each kind (a worker, PostgreSQL, the
 * Temporal dev server, the API). It must exit 0 with every invariant holding in its report.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChaosReport } from '../../chaos/report';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
let outDir: string | undefined;
afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

function runChaos(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'chaos/run.ts')], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('chaos run (40 refunds, one SIGKILL of each kind)', () => {
  it('keeps every invariant: one payout at most, balanced ledger, verified audit trail, nothing paid without evidence, no hang', async () => {
    outDir = await mkdtemp(path.join(os.tmpdir(), 'refunds-chaos-report-'));
    const { code, output } = await runChaos({
      CHAOS_REFUNDS: '40',
      CHAOS_SEED: '7',
      CHAOS_FAULTS_PER_KIND: '1',
      CHAOS_CONCURRENCY: '8',
      CHAOS_MAX_SECONDS: '240',
      CHAOS_OUT_DIR: outDir,
    });
    const report = JSON.parse(await readFile(path.join(outDir, 'latest.json'), 'utf8').catch(() => 'null')) as ChaosReport | null;
    expect(report, output).not.toBeNull();
    expect(
      report!.invariants.filter((i) => !i.ok),
      output,
    ).toEqual([]);
    expect(code, output).toBe(0);
    expect(report!.ok).toBe(true);
    expect(report!.faults.byKind).toEqual({ worker: 1, postgres: 1, temporal: 1, api: 1 });
    expect(report!.faults.each.every((f) => f.error === undefined && f.nextCompletionMs !== undefined)).toBe(true);
    expect(report!.invariants.map((i) => i.name)).toHaveLength(12);
    const outcomes = report!.refunds.byOutcome;
    expect(Object.values(outcomes).reduce((a, b) => a + b, 0)).toBe(40);
    expect(outcomes).toMatchObject({ refunded: expect.any(Number), cancelled: expect.any(Number), rejected: expect.any(Number) });
    // Faults happened under load: some requests found a process down and were sent again.
    expect(report!.requests.withoutAnswer + report!.requests.status5xx).toBeGreaterThan(0);
  }, 300_000);
});
