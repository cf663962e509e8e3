/** One invariant's verdict, and the small helpers every check shares. */
import type { Pool } from '../store/pool';

export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

export function result(name: string, problems: string[], okDetail: string): InvariantResult {
  return problems.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: `${problems.length} found, e.g. ${problems.slice(0, 5).join('; ')}` };
}

export async function rows<T>(pool: Pool, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(sql, params)).rows as T[];
}
