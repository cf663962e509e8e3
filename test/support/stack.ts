/**
 * Access to the stack test/global-setup.ts started: one Temporal server and one
 * database shared by all test files, so tests isolate themselves with unique
 * ids (and task queues) rather than with fresh servers.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { createPool, type Pool } from '../../store/pool';

export const testNamespace = 'default';

export interface TestStack {
  temporalAddress: string;
  databaseUrl: string;
  workflowBundlePath: string;
}

export function testStack(): TestStack {
  return {
    temporalAddress: inject('temporalAddress'),
    databaseUrl: inject('databaseUrl'),
    workflowBundlePath: inject('workflowBundlePath'),
  };
}

/** A Temporal client on the test server; close it with `client.connection.close()`. */
export async function connectClient(): Promise<Client> {
  const connection = await Connection.connect({ address: testStack().temporalAddress });
  return new Client({ connection, namespace: testNamespace });
}

/** A connection for test workers; close it with `connection.close()`. */
export function connectNative(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: testStack().temporalAddress });
}

/** A pool on the migrated test database; end it with `pool.end()`. */
export function newPool(max = 5): Pool {
  return createPool(testStack().databaseUrl, max);
}

/** An id no other test (or earlier run against the same stack) uses: `<prefix>-<time>-<random>`. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
