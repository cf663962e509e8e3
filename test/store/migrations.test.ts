/**
 * The schema's migrations, both ways, on a database of their own: applied one at a time, every
 * Down section must bring the schema back to exactly what it was before its Up (tables, columns,
 * constraints, indexes, functions and their bodies, triggers, and what each role may do), and the
 * whole set must apply again after a full roll-back. A release that has to be taken back relies
 * on this; nothing else in the suite runs a Down section. The roll-back command operators are
 * given (docs/operations.md, "Rolling back a schema migration") is run once, down and up (quietly: `--no-verbose`).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { runner } from 'node-pg-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrationNames, runnerSettings } from '../../store/migrate';
import { createPool, type PoolClient } from '../../store/pool';
import { scratchDatabase, type ScratchDatabase } from '../support/stack';

const run = promisify(execFile);
const projectRoot = path.resolve(import.meta.dirname, '../..');

let db: ScratchDatabase;
let migrations: string[];

beforeAll(async () => {
  db = await scratchDatabase('migrations', { migrated: false });
  migrations = await migrationNames();
});
afterAll(async () => {
  await db?.drop().catch(() => undefined);
});

/** Runs `work` on one connection as the schema owner, who runs migrations in production. */
async function asOwner<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
  const pool = createPool(db.ownerUrl, 1);
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
    await pool.end();
  }
}

/** Applies (`up`) or takes back (`down`) `count` migrations, as node-pg-migrate does for `migrate`. */
function step(direction: 'up' | 'down', count: number): Promise<string[]> {
  return asOwner(async (client) => {
    const done = await runner({
      ...runnerSettings,
      dbClient: client,
      direction,
      count,
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    return done.map((m) => m.name);
  });
}

/** The migrations the database says are applied, oldest first. */
function applied(): Promise<string[]> {
  return asOwner(async (client) => {
    const exists = await client.query(`SELECT to_regclass('public.pgmigrations') IS NOT NULL AS exists`);
    if (!exists.rows[0].exists) return [];
    return (await client.query('SELECT name FROM pgmigrations ORDER BY run_on, id')).rows.map((r) => r.name);
  });
}

/**
 * Everything a migration can change, as sorted text. Privileges are compared as sets, with the
 * default filled in (an object nobody granted on has a null ACL, the same rights as its default
 * spelled out), and function bodies with their whitespace collapsed.
 */
function schema(): Promise<Record<string, string[]>> {
  return asOwner(async (client) => {
    const rows = async (sql: string) => (await client.query(sql)).rows.map((r) => Object.values(r).join(' | ')).sort();
    return {
      columns: await rows(`
        SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, coalesce(c.column_default, '')
        FROM information_schema.columns c WHERE c.table_schema = 'public'`),
      relations: await rows(`
        SELECT c.relname, c.relkind, (SELECT string_agg(a::text, ',' ORDER BY a::text)
           FROM unnest(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a)
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace`),
      columnGrants: await rows(`
        SELECT a.attrelid::regclass::text, a.attname, (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND a.attacl IS NOT NULL`),
      constraints: await rows(`
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace`),
      indexes: await rows(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`),
      functions: await rows(`
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               md5(regexp_replace(p.prosrc, '\\s+', ' ', 'g')), (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace`),
      triggers: await rows(`
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
        FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)`),
    };
  });
}

/** `schema` without node-pg-migrate's own table, its sequence and its key. */
function withoutMigrationsTable(snapshot: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(snapshot).map(([k, rows]) => [k, rows.filter((r) => !r.startsWith('pgmigrations'))]));
}

describe('schema migrations, up and down', () => {
  it('takes each migration back to exactly the schema before it, and applies them all again', async () => {
    expect(migrations.length).toBeGreaterThan(0);
    // The schema before any migration, and after each, applied one at a time.
    const before: Record<string, string[]>[] = [await schema()];
    for (const name of migrations) {
      expect(await step('up', 1)).toEqual([name]);
      before.push(await schema());
    }
    expect(await applied()).toEqual(migrations);
    const top = before[migrations.length] ?? {};
    expect(top.relations?.some((r) => r.startsWith('refunds | r'))).toBe(true);

    // Down, newest first: each must restore what its Up found.
    for (let i = migrations.length - 1; i >= 0; i--) {
      expect(await step('down', 1), `rolling back ${migrations[i]}`).toEqual([migrations[i]]);
      const after = await schema();
      // Before the first migration there was no pgmigrations table: the runner creates it.
      expect(i === 0 ? withoutMigrationsTable(after) : after, `the schema after rolling back ${migrations[i]}`).toEqual(before[i]);
    }
    expect(await applied()).toEqual([]);

    // And the whole set applies again, as the product applies it.
    await migrate(db.ownerUrl);
    expect(await applied()).toEqual(migrations);
    expect(await schema()).toEqual(top);
  });

  it('takes the newest migration back, and applies it again, with the command docs/operations.md gives', async () => {
    await migrate(db.ownerUrl);
    expect(await applied()).toEqual(migrations);
    const top = await schema();
    const env = { ...process.env, DATABASE_URL: db.ownerUrl };
    const cli = path.join(projectRoot, 'node_modules/.bin/node-pg-migrate');
    await run(cli, ['down', '--migrations-dir', 'store/migrations', '--no-verbose'], { cwd: projectRoot, env });
    expect(await applied()).toEqual(migrations.slice(0, -1));
    await run(cli, ['up', '--migrations-dir', 'store/migrations', '--no-verbose'], { cwd: projectRoot, env });
    expect(await applied()).toEqual(migrations);
    expect(await schema()).toEqual(top);
  });
});
