/**
 * Audit verifications run from the operations console, kept so that the next person sees the last
 * result (who ran it, when, what it found) without running it again. Append-only for the service.
 */
import type { AuditVerification } from './audit-trail';
import type { Pool } from './pool';

export interface AuditVerificationRun {
  id: number;
  runBy: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  result: AuditVerification;
}

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value));

export async function recordAuditVerificationRun(
  pool: Pool,
  run: { runBy: string; startedAt: Date; result: AuditVerification },
): Promise<AuditVerificationRun> {
  const inserted = await pool.query(
    `INSERT INTO audit_verification_runs (run_by, started_at, ok, rows_checked, subjects_checked, result)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [run.runBy, run.startedAt, run.result.ok, run.result.rowsChecked, run.result.subjectsChecked, JSON.stringify(run.result)],
  );
  return toRun(inserted.rows[0]);
}

/** The latest runs, newest first. */
export async function latestAuditVerificationRuns(pool: Pool, limit = 10): Promise<AuditVerificationRun[]> {
  const result = await pool.query('SELECT * FROM audit_verification_runs ORDER BY id DESC LIMIT $1', [limit]);
  return result.rows.map(toRun);
}

function toRun(row: Record<string, unknown>): AuditVerificationRun {
  return {
    id: Number(row.id),
    runBy: String(row.run_by),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    ok: Boolean(row.ok),
    result: row.result as AuditVerification,
  };
}
