import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { classifyWriteError, isPermanentWriteError, PERMANENT_WRITE_FAILURE } from '../../activities/write-failures';

/** The shape node-postgres gives a server error: an Error with the SQLSTATE in `code`. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('write failures', () => {
  it.each([
    ['22021', 'invalid byte sequence for encoding "UTF8": 0x00'],
    ['22P02', 'invalid input syntax for type uuid'],
    ['22003', 'numeric field overflow'],
    ['23502', 'null value in column "state" violates not-null constraint'],
    ['23514', 'new row violates check constraint'],
    ['23503', 'insert or update violates foreign key constraint'],
  ])('treats SQLSTATE %s as permanent: a non-retryable failure naming the refund and the SQLSTATE', (code, message) => {
    const failure = classifyWriteError(pgError(code, message), 'r-42');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const app = failure as ApplicationFailure;
    expect(app.type).toBe(PERMANENT_WRITE_FAILURE);
    expect(app.nonRetryable).toBe(true);
    expect(app.message).toContain('refund r-42');
    expect(app.message).toContain(`SQLSTATE ${code}`);
    expect(app.message).toContain(message);
    expect(app.details).toEqual([{ refundId: 'r-42', sqlState: code }]);
  });

  it.each([
    ['23505', 'duplicate key: a concurrent attempt of the same write'],
    ['40001', 'could not serialize access'],
    ['40P01', 'deadlock detected'],
    ['57P01', 'terminating connection due to administrator command'],
    ['08006', 'connection failure'],
    ['53300', 'too many connections'],
  ])('leaves SQLSTATE %s retryable, unchanged', (code, message) => {
    const error = pgError(code, message);
    expect(isPermanentWriteError(error)).toBe(false);
    expect(classifyWriteError(error, 'r-42')).toBe(error);
  });

  it('leaves errors without a SQLSTATE (connection refused, timeouts) retryable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(classifyWriteError(refused, 'r-1')).toBe(refused);
    const timeout = new Error('Connection terminated due to connection timeout');
    expect(classifyWriteError(timeout, 'r-1')).toBe(timeout);
    expect(classifyWriteError(undefined, 'r-1')).toBeUndefined();
  });
});
