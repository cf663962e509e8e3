/**
 * The API fuzzed from its own OpenAPI document with schemathesis, once per role, with a fixed seed
 * and a bounded number of examples: no answer is a server error, every answer matches the
 * document (status, content type, body), and the document agrees with what the server accepts
 * and refuses.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { ensureSchemathesis } from '../support/schemathesis';

const SEED = '20261127';
const MAX_EXAMPLES = Number(process.env.FUZZ_MAX_EXAMPLES ?? 20);

interface FuzzRun {
  code: number;
  output: string;
}

function fuzz(binary: string, base: string, who: TestPrincipal | undefined, reportDir: string): Promise<FuzzRun> {
  const args = [
    '--config-file',
    path.join(__dirname, 'schemathesis.toml'),
    'run',
    `${base}/openapi.json`,
    '--seed',
    SEED,
    '--max-examples',
    String(MAX_EXAMPLES),
    '--phases',
    'examples,coverage,fuzzing',
    '--workers',
    '1',
    // Ids, currencies and signatures are patterns, which makes valid bodies rare among random
    // ones: that is what the health check reports, not a fault of the API.
    '--suppress-health-check',
    'filter_too_much',
    '--request-timeout',
    '40',
    '--report',
    'junit',
    '--report-junit-path',
    path.join(reportDir, 'junit.xml'),
    ...(who ? ['--header', `Authorization: Bearer ${who.apiKey}`] : []),
  ];
  return new Promise((resolve) => {
    execFile(
      binary,
      args,
      { env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe('the API fuzzed from its OpenAPI document', () => {
  let api: ApiHarness;
  let base: string;
  let binary: string;
  let reports: string;
  const principals: Partial<Record<Role, TestPrincipal>> = {};

  beforeAll(async () => {
    binary = await ensureSchemathesis();
    api = await startApiHarness({ limits: { rateLimitMax: 1_000_000 } });
    for (const role of ['refund_service', 'warehouse', 'approver', 'ops', 'admin'] as const) {
      principals[role] = await api.principal(`fuzz-${role}`, [role], role === 'approver' ? '1000.00' : undefined);
    }
    base = await api.listen();
    reports = await mkdtemp(path.join(os.tmpdir(), 'refunds-fuzz-'));
  }, 15 * 60_000);

  afterAll(async () => {
    await api?.close();
    if (reports) await rm(reports, { recursive: true, force: true });
  });

  for (const role of ['anonymous', 'refund_service', 'warehouse', 'approver', 'ops', 'admin'] as const) {
    it(
      `finds nothing as ${role}`,
      async () => {
        const dir = path.join(reports, role);
        const result = await fuzz(binary, base, role === 'anonymous' ? undefined : principals[role], dir);
        if (process.env.FUZZ_OUTPUT_DIR) await writeFile(path.join(process.env.FUZZ_OUTPUT_DIR, `${role}.txt`), result.output);
        const junit = await readFile(path.join(dir, 'junit.xml'), 'utf8').catch(() => '');
        expect(junit, result.output.slice(-5000)).toMatch(/<testsuite/);
        expect(result.output).not.toMatch(/FAILURES|Failed to/);
        expect(result.code, result.output.slice(-20_000)).toBe(0);
      },
      20 * 60_000,
    );
  }
});
