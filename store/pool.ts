import pg from 'pg';

// bigint columns (amounts, sequence numbers) come back as JS numbers: every amount is
// validated to be a safe integer before it is stored.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** A pool or a client in a transaction. */
export type Db = Pick<pg.PoolClient, 'query'>;

export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, application_name: 'refund-approvals' });
  // An idle connection the server ends (a restart, a failover, or a shutdown just after pool.end(),
  // which resolves before its sockets close) has already left the pool, and the next query opens a
  // new one; unhandled, its 'error' event would end the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in one transaction: all of it is written, or none of it. `begin` may set its isolation level. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  // A server that ends the connection between two statements (a restart) emits 'error' on the
  // checked-out client, where nothing listens: unhandled, it would end the process. The next
  // statement fails instead, and the broken connection is discarded, not returned to the pool.
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
