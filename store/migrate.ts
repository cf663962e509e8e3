/**
 * Applies the SQL migrations in store/migrations/ (node-pg-migrate's `-- Up Migration`
 * format), for worker start-up, `npm start` and the test setup.
 */
import { fileURLToPath } from 'node:url';
import { PG_MIGRATE_LOCK_ID, runner } from 'node-pg-migrate';
import pg from 'pg';

export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

/** Longest wait for another process's migration run before giving up. */
const LOCK_TIMEOUT = '5min';

/**
 * Brings the database up to date. Safe to call from several processes at once:
 * node-pg-migrate only *tries* its advisory lock and fails if another run holds
 * it, so we first wait for that same lock on our session and hand the session to
 * the runner (session advisory locks are re-entrant).
 */
export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`Cannot connect to PostgreSQL to run migrations (DATABASE_URL ${redact(databaseUrl)}): ${message(err)}`);
  }
  try {
    await client.query(`SET lock_timeout = '${LOCK_TIMEOUT}'`);
    try {
      await client.query('SELECT pg_advisory_lock($1)', [PG_MIGRATE_LOCK_ID]);
    } catch (err) {
      throw new Error(`Timed out after ${LOCK_TIMEOUT} waiting for another migration run to finish: ${message(err)}`);
    }
    await client.query('RESET lock_timeout');
    try {
      const applied = await runner({
        dbClient: client,
        dir: migrationsDir,
        direction: 'up',
        migrationsTable: 'pgmigrations',
        checkOrder: true,
        // Documented as the default, but the runner only honours it when set.
        singleTransaction: true,
        logger: { debug: () => {}, info: () => {}, warn: log, error: log },
      });
      log(applied.length ? `applied migrations: ${applied.map((m) => m.name).join(', ')}` : 'database schema is up to date');
    } catch (err) {
      throw new Error(`Migrating the database failed (migrations in ${migrationsDir}): ${message(err)}`);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATE_LOCK_ID]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
