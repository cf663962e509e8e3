/**
 * What the local stack (dev/postgres.ts), the tests and the benchmark ask of a PostgreSQL server
 * they have started: whether it answers yet, to create a database on it, and the owner and
 * service roles the product runs as.
 */
import { randomBytes } from 'node:crypto';
import { createPool, type PoolClient } from './pool';

/** Resolves once the server answers a query on `databaseUrl`; rejects with why it does not. */
export async function ping(databaseUrl: string): Promise<void> {
  const pool = createPool(databaseUrl, 1);
  // A connection the starting server drops must not become an unhandled 'error' event.
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** Creates `database` unless it exists; `serverUrl` names any database on the server, e.g. postgres. */
export async function createDatabaseIfMissing(serverUrl: string, database: string): Promise<void> {
  const pool = createPool(serverUrl, 1);
  try {
    const client = await pool.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (rowCount) return;
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently
      });
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}

/**
 * The two roles of least privilege (store/migrations/1795794858850_service-role-grants.sql): the
 * owner owns the schema and runs the migrations; the worker and the API connect as the service
 * role, which may read and append what the code needs and never rewrite the audit trail.
 */
export const ownerRole = 'refunds_owner';
export const serviceRole = 'refunds_service';

export interface DatabaseRoleUrls {
  /** The schema owner: migrations, refunds-admin. */
  ownerUrl: string;
  /** The service role: what the worker and the API connect as. */
  serviceUrl: string;
}

/**
 * What an operator does once with a superuser, done for a server the local stack or the tests
 * started: creates the owner and service roles unless they exist (neither a superuser, nor able
 * to create roles or databases), gives both a new random password, and makes the owner own
 * `database` and everything already in its schema (a cluster migrated before the roles existed
 * belongs to the superuser). `serverUrl` is the superuser's URL on any database of the server.
 */
export async function provisionRoles(serverUrl: string, database: string): Promise<DatabaseRoleUrls> {
  const passwords = { owner: randomBytes(24).toString('hex'), service: randomBytes(24).toString('hex') };
  const pool = createPool(serverUrl, 1);
  try {
    const client = await pool.connect();
    try {
      await ensureLoginRole(client, ownerRole, passwords.owner);
      await ensureLoginRole(client, serviceRole, passwords.service);
      await client.query(`ALTER DATABASE ${client.escapeIdentifier(database)} OWNER TO ${ownerRole}`);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
  await handOverSchema(withDatabase(serverUrl, database));
  return {
    ownerUrl: roleUrl(serverUrl, database, ownerRole, passwords.owner),
    serviceUrl: roleUrl(serverUrl, database, serviceRole, passwords.service),
  };
}

/** Makes the owner role own `databaseUrl`'s public schema objects that another role (the superuser) owns. */
export async function handOverSchema(databaseUrl: string): Promise<void> {
  const pool = createPool(databaseUrl, 1);
  try {
    await pool.query(HAND_OVER_SQL);
  } finally {
    await pool.end();
  }
}

/** The same statement docs/configuration.md gives operators for a database migrated before the roles existed. */
const HAND_OVER_SQL = `DO $$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT format('ALTER TABLE %s OWNER TO ${ownerRole}', c.oid::regclass) AS ddl
      FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
       AND c.relowner <> '${ownerRole}'::regrole
    UNION ALL
    SELECT format('ALTER SEQUENCE %s OWNER TO ${ownerRole}', c.oid::regclass)
      FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relowner <> '${ownerRole}'::regrole
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO ${ownerRole}', p.oid::regprocedure)
      FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> '${ownerRole}'::regrole
  LOOP
    EXECUTE item.ddl;
  END LOOP;
END;
$$`;

/** The role a local Temporal cluster keeps its persistence and visibility databases as. */
export const temporalRole = 'temporal';

/**
 * For a Temporal cluster on a server the local stack started: the `temporal` role (a login, not a
 * superuser, with a new random password each time) and `databases` owned by it, created unless
 * they exist. Temporal's schema tool then creates its tables as that role. Returns the password.
 */
export async function provisionTemporalDatabases(serverUrl: string, databases: readonly string[]): Promise<string> {
  const password = randomBytes(24).toString('hex');
  const pool = createPool(serverUrl, 1);
  try {
    const client = await pool.connect();
    try {
      await ensureLoginRole(client, temporalRole, password);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
  for (const database of databases) {
    await createDatabaseIfMissing(serverUrl, database);
    const owner = createPool(serverUrl, 1);
    try {
      await owner.query(`ALTER DATABASE "${database.replace(/"/g, '""')}" OWNER TO ${temporalRole}`);
    } finally {
      await owner.end();
    }
  }
  return password;
}

/**
 * Forgets the Temporal services a stopped cluster left in its membership table (`databaseUrl`: the
 * persistence database). Only for a cluster none of whose services runs: a service starting next
 * to fresh rows of dead hosts tries to join them first, for up to its maximum join duration.
 */
export async function forgetTemporalMembers(databaseUrl: string): Promise<void> {
  const pool = createPool(databaseUrl, 1);
  try {
    await pool.query('DELETE FROM cluster_membership');
  } finally {
    await pool.end();
  }
}

async function ensureLoginRole(client: PoolClient, role: string, password: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (!rowCount) {
    await client.query(`CREATE ROLE ${role}`).catch((err: { code?: string }) => {
      if (err.code !== '42710') throw err; // created concurrently
    });
  }
  // Whatever an earlier run or a person left, the role ends up with exactly these attributes.
  await client.query(
    `ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${client.escapeLiteral(password)}`,
  );
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function roleUrl(serverUrl: string, database: string, role: string, password: string): string {
  const url = new URL(withDatabase(serverUrl, database));
  url.username = role;
  url.password = password;
  return url.toString();
}
