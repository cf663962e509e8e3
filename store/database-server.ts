/**
 * What the local stack (dev/postgres.ts) and the benchmark ask of a PostgreSQL server they have
 * started: whether it answers yet, and to create a database on it.
 */
import { createPool } from './pool';

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
