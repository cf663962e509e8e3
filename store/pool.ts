import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
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

const tracer = trace.getTracer('refund-approvals/store');

/**
 * Runs `work` in one transaction: all of it is written, or none of it. `begin` may set its isolation level.
 *
 * Inside a trace (an HTTP request, an activity) the transaction is a `pg.transaction` span, from
 * waiting for a connection to COMMIT or ROLLBACK: only its isolation and outcome, never a statement's
 * parameters. Outside one (background sweeps and checkpoints), or with tracing off, no span is made.
 */
export function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  return traced(begin, (span) => runTransaction(pool, work, begin, span));
}

/**
 * Runs `work`, which issues exactly one statement, on a connection of its own: PostgreSQL runs a
 * statement outside BEGIN as a transaction of its own, so all of it is written or none of it, in
 * one round trip instead of BEGIN, the statement and COMMIT. Traced as withTransaction's are, with
 * `db.operation.name` `statement`.
 */
export function inOneStatement<T>(pool: pg.Pool, work: (db: Db) => Promise<T>): Promise<T> {
  return traced('statement', (span) => runOnConnection(pool, work, span));
}

/** A `pg.transaction` span around `run` when inside a trace; see withTransaction. */
function traced<T>(operation: string, run: (span?: Span) => Promise<T>): Promise<T> {
  if (!trace.getActiveSpan()?.isRecording()) return run();
  return tracer.startActiveSpan(
    'pg.transaction',
    { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.operation.name': operation } },
    async (span) => {
      try {
        const result = await run(span);
        span.setAttribute('db.transaction.outcome', 'commit');
        return result;
      } catch (error) {
        span.setAttribute('db.transaction.outcome', 'rollback');
        // The SQLSTATE and the error's class, not its message (which may quote values).
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

async function runTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin: string, span?: Span): Promise<T> {
  return runOnConnection(
    pool,
    async (client) => {
      try {
        await client.query(begin);
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
    span,
  );
}

/** Runs `work` on a connection checked out of the pool, and returns it (or discards it, broken). */
async function runOnConnection<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, span?: Span): Promise<T> {
  const client = await pool.connect();
  span?.addEvent('connection acquired');
  // A server that ends the connection between two statements (a restart) emits 'error' on the
  // checked-out client, where nothing listens: unhandled, it would end the process. The next
  // statement fails instead, and the broken connection is discarded, not returned to the pool.
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
