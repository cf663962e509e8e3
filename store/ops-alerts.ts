/** Operations alerts as operators work them: listed with filters, acknowledged once by someone. */
import { toOpsAlert, type OpsAlert } from './breakers';
import type { Db } from './pool';

export interface AlertQuery {
  /** false (default): not yet delivered by the notifier; true: delivered; undefined: both. */
  delivered?: boolean;
  /** true: acknowledged only; false: not acknowledged only; undefined: both. */
  acknowledged?: boolean;
  limit?: number;
}

/** Alerts oldest first, filtered by delivery and acknowledgement. */
export async function listAlerts(db: Db, query: AlertQuery = {}): Promise<OpsAlert[]> {
  const where: string[] = [];
  if (query.delivered !== undefined) where.push(`delivered_at IS ${query.delivered ? 'NOT ' : ''}NULL`);
  if (query.acknowledged !== undefined) where.push(`acknowledged_at IS ${query.acknowledged ? 'NOT ' : ''}NULL`);
  const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
  const result = await db.query(`SELECT * FROM ops_alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $1`, [
    limit,
  ]);
  return result.rows.map(toOpsAlert);
}

/**
 * Acknowledges alert `id` as `by`, with an optional note. An alert already acknowledged keeps its
 * first acknowledgement, which is the answer (`first: false`). Undefined for an unknown id.
 */
export async function acknowledgeAlert(
  db: Db,
  id: number,
  by: string,
  note: string | undefined,
): Promise<{ alert: OpsAlert; first: boolean } | undefined> {
  const updated = await db.query(
    `UPDATE ops_alerts SET acknowledged_at = now(), acknowledged_by = $2, acknowledge_note = $3
      WHERE id = $1 AND acknowledged_at IS NULL RETURNING *`,
    [id, by, note ?? null],
  );
  if (updated.rows[0]) return { alert: toOpsAlert(updated.rows[0]), first: true };
  const existing = await db.query('SELECT * FROM ops_alerts WHERE id = $1', [id]);
  return existing.rows[0] ? { alert: toOpsAlert(existing.rows[0]), first: false } : undefined;
}
