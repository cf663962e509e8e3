/**
 * A connection the server ends in the middle of a transaction (PostgreSQL restarted or killed,
 * here an administrator's pg_terminate_backend) fails that transaction and nothing else: the
 * process does not crash on the checked-out client's 'error' event, the broken connection is not
 * handed out again, and the next transaction on the same pool succeeds. Found by the chaos run,
 * where a worker exited when PostgreSQL was SIGKILLed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../store/pool';
import { adminPool, newPool } from '../support/stack';

const pool = newPool(1);
const admin = adminPool(1);
afterAll(async () => {
  await pool.end();
  await admin.end();
});

describe('a connection ended between two statements of a transaction', () => {
  it('fails that transaction only; the pool goes on with a new connection', async () => {
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const failed = await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pid = rows[0]!.pid;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // The server's goodbye arrives while no statement runs (the client's 'error' event): wait until the backend is gone.
        while ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount)
          await new Promise((r) => setTimeout(r, 20));
        await new Promise((resolve) => setImmediate(resolve));
        await client.query('SELECT 1');
      }).catch((error: unknown) => error);
      expect(failed).toBeInstanceOf(Error);
      expect(uncaught).toEqual([]);
      const { rows } = await pool.query<{ ok: number }>('SELECT 1 AS ok');
      expect(rows).toEqual([{ ok: 1 }]);
      expect(await withTransaction(pool, async (client) => (await client.query('SELECT 2 AS two')).rows)).toEqual([{ two: 2 }]);
    } finally {
      process.off('uncaughtException', record);
    }
  });
});
