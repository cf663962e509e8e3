/**
 * Applies the SQL migrations in store/migrations/ (node-pg-migrate's `-- Up Migration`
 * format), for worker start-up, `npm start` and the test setup, as the schema owner; or, for a
 * process that has only the service role's URL, checks that they have been applied.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PG_MIGRATE_LOCK_ID, runner } from 'node-pg-migrate';
import pg from 'pg';
import { serviceRole } from './database-server';

export const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url));

/** How node-pg-migrate's runner reads and records them: every run, up or down, uses these. */
export const runnerSettings = {
  dir: migrationsDir,
  migrationsTable: 'pgmigrations',
  checkOrder: true,
  // Documented as the default, but the runner only honours it when set.
  singleTransaction: true,
} as const;

/** The migrations in store/migrations/, by name, oldest first. */
export async function migrationNames(): Promise<string[]> {
  return (await readdir(migrationsDir))
    .filter((f) => /^\d+_.+\.(sql|js|ts)$/.test(f))
    .map((f) => f.replace(/\.(sql|js|ts)$/, ''))
    .sort();
}

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
    throw new Error(`Cannot connect to PostgreSQL to run migrations (${redact(databaseUrl)}): ${message(err)}`);
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
        ...runnerSettings,
        dbClient: client,
        direction: 'up',
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

/** The schema is older than the code, or cannot be checked: the process must not start. */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

const howToMigrate =
  'run them as the schema owner: set REFUNDS_MIGRATION_DATABASE_URL to its URL for one worker or API start (docs/configuration.md, "Database roles")';

/** Names of the migrations in store/migrations/ that `databaseUrl`'s database has not applied, oldest first. */
export async function pendingMigrations(databaseUrl: string): Promise<string[]> {
  const files = await migrationNames();
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new SchemaError(`Cannot connect to PostgreSQL (DATABASE_URL ${redact(databaseUrl)}): ${message(err)}`);
  }
  try {
    const { rows } = await client.query<{ name: string }>('SELECT name FROM pgmigrations');
    const applied = new Set(rows.map((r) => r.name));
    return files.filter((name) => !applied.has(name)).sort();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '42P01') throw new SchemaError(`The database has no schema yet (no pgmigrations table): ${howToMigrate}`);
    throw new SchemaError(`Cannot read which migrations the database has applied: ${message(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Gets the schema ready for a worker or an API process. With the owner's URL it applies pending
 * migrations; without it the process only checks that none is pending, and fails naming them.
 */
export async function ensureSchema(opts: { databaseUrl: string; migrationDatabaseUrl?: string | undefined; log?: (msg: string) => void }) {
  if (opts.migrationDatabaseUrl) {
    await migrate(opts.migrationDatabaseUrl, opts.log);
  } else {
    const pending = await pendingMigrations(opts.databaseUrl);
    if (pending.length > 0) {
      throw new SchemaError(
        `The database schema is not current: ${pending.length} migration(s) not applied (${pending.join(', ')}); ${howToMigrate}`,
      );
    }
    opts.log?.('database schema is up to date');
  }
  const warning = await privilegedRoleWarning(opts.databaseUrl);
  if (warning) opts.log?.(warning);
}

/**
 * Says so when the run-time role is a superuser or acts as the schema owner: the product works,
 * but nothing in the database stops it from switching the audit trail's guard off.
 */
export async function privilegedRoleWarning(databaseUrl: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ role: string; superuser: boolean; owner: boolean }>(
      `SELECT current_user AS role, r.rolsuper AS superuser, pg_has_role(current_user, c.relowner, 'USAGE') AS owner
         FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'public.audit_log'::regclass`,
    );
    const row = rows[0];
    if (!row || !(row.superuser || row.owner)) return undefined;
    return (
      `warning: DATABASE_URL connects as ${row.role}, ${row.superuser ? 'a superuser' : 'which owns the schema'}: it could switch the audit ` +
      `trail's guard off and rewrite it; connect as ${serviceRole} instead (docs/configuration.md, "Database roles")`
    );
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
