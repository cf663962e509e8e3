/**
 * The API's rate-limit counters (api_rate_limits): a fixed window per key, aligned on the
 * database's clock so that every API replica agrees where a window starts and ends. Counting a
 * request is one statement; ended windows are deleted a bounded batch at a time.
 */
import type { QueryConfig } from 'pg';
import type { Db } from './pool';

/** node-postgres reads `query_timeout` per query too, though its types only have it per client. */
type BoundedQuery = QueryConfig & { query_timeout?: number };

export interface RateLimitCount {
  /** Requests counted in the current window, this one included. */
  count: number;
  /** Milliseconds until the window ends (at least 1). */
  ttlMs: number;
}

/**
 * Counts one request for `key` in the current window of `windowMs` milliseconds (windows start at
 * whole multiples of `windowMs` since the Unix epoch, on the database's clock) and answers the
 * window's count and how long it has left. One round trip. `timeoutMs` bounds the query on the
 * client: past it the query fails and its connection is discarded.
 */
export async function countRateLimitedRequest(db: Db, key: string, windowMs: number, timeoutMs?: number): Promise<RateLimitCount> {
  const result = await db.query<{ count: number; ttl_ms: number }>({
    text: `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
           INSERT INTO api_rate_limits AS r (key, window_start, expires_at, count)
           SELECT $1, to_timestamp((ms - ms % $2) / 1000.0), to_timestamp((ms - ms % $2 + $2) / 1000.0), 1 FROM now
           ON CONFLICT (key, window_start) DO UPDATE SET count = r.count + 1
           RETURNING count, greatest(1, ceil(extract(epoch FROM r.expires_at - clock_timestamp()) * 1000))::int AS ttl_ms`,
    values: [key, windowMs],
    ...(timeoutMs !== undefined ? { query_timeout: timeoutMs } : {}),
  } satisfies BoundedQuery as BoundedQuery);
  const row = result.rows[0]!;
  return { count: row.count, ttlMs: row.ttl_ms };
}

/** The count of `key`'s current window without counting a request (0 and a ttl of 0 when it has none). */
export async function readRateLimit(db: Db, key: string, windowMs: number, timeoutMs?: number): Promise<RateLimitCount> {
  const result = await db.query<{ count: number; ttl_ms: number }>({
    text: `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
           SELECT count, greatest(1, ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000))::int AS ttl_ms
             FROM api_rate_limits, now WHERE key = $1 AND window_start = to_timestamp((ms - ms % $2) / 1000.0)`,
    values: [key, windowMs],
    ...(timeoutMs !== undefined ? { query_timeout: timeoutMs } : {}),
  } satisfies BoundedQuery as BoundedQuery);
  const row = result.rows[0];
  return row ? { count: row.count, ttlMs: row.ttl_ms } : { count: 0, ttlMs: 0 };
}

/** Deletes up to `batch` counters of windows that ended before now; answers how many it deleted. */
export async function deleteEndedRateLimitWindows(db: Db, batch = 1000): Promise<number> {
  const result = await db.query(
    `DELETE FROM api_rate_limits WHERE (key, window_start) IN (
       SELECT key, window_start FROM api_rate_limits WHERE expires_at < now() ORDER BY expires_at LIMIT $1)`,
    [batch],
  );
  return result.rowCount ?? 0;
}
