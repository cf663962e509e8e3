/**
 * Access to the stack test/global-setup.ts started: one Temporal server and one
 * database shared by all test files, so tests isolate themselves with unique
 * ids (and task queues) rather than with fresh servers.
 */
import { randomBytes } from 'node:crypto';
import { Client, type ClientOptions, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { ownerRole } from '../../store/database-server';
import { migrate } from '../../store/migrate';
import { createPool, type Pool } from '../../store/pool';

export const testNamespace = 'default';

export interface TestStack {
  temporalAddress: string;
  /** The service role (refunds_service), as the worker and the API connect: what every test runs the product as. */
  databaseUrl: string;
  /** The schema owner (refunds_owner): migrations, principal administration. */
  ownerDatabaseUrl: string;
  /** The superuser: only for tests that tamper with the database on purpose. */
  adminDatabaseUrl: string;
  workflowBundlePath: string;
}

export function testStack(): TestStack {
  return {
    temporalAddress: inject('temporalAddress'),
    databaseUrl: inject('databaseUrl'),
    ownerDatabaseUrl: inject('ownerDatabaseUrl'),
    adminDatabaseUrl: inject('adminDatabaseUrl'),
    workflowBundlePath: inject('workflowBundlePath'),
  };
}

/** A Temporal client on the test server (with `interceptors`, e.g. tracing's); close it with `client.connection.close()`. */
export async function connectClient(interceptors?: ClientOptions['interceptors']): Promise<Client> {
  const connection = await Connection.connect({ address: testStack().temporalAddress });
  return new Client({ connection, namespace: testNamespace, ...(interceptors ? { interceptors } : {}) });
}

/** A connection for test workers; close it with `connection.close()`. */
export function connectNative(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: testStack().temporalAddress });
}

/** A pool on the migrated test database as the service role, like the product's; end it with `pool.end()`. */
export function newPool(max = 5): Pool {
  return createPool(testStack().databaseUrl, max);
}

/**
 * A pool as the schema owner, what refunds-admin runs as: for creating and revoking principals
 * and for reading what the service role may only write (the ledger). End it with `pool.end()`.
 */
export function ownerPool(max = 2): Pool {
  return createPool(testStack().ownerDatabaseUrl, max);
}

/** Runs `work` on a short-lived owner connection (see ownerPool). */
export async function asOwner<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = ownerPool(1);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/**
 * A pool as the database superuser. Only a privileged insider can do what tests do with it
 * (switch the audit trail's guard off, rewrite rows); the product never connects like this.
 */
export function adminPool(max = 2): Pool {
  return createPool(testStack().adminDatabaseUrl, max);
}

/**
 * A database of a test's own, owned by the owner role and migrated by it (unless `migrated` is
 * false), with a URL per role; `drop()` removes it.
 */
export interface ScratchDatabase {
  name: string;
  serviceUrl: string;
  ownerUrl: string;
  adminUrl: string;
  drop(): Promise<void>;
}

export async function scratchDatabase(prefix: string, { migrated = true } = {}): Promise<ScratchDatabase> {
  const name = `${prefix}_${process.pid}_${Date.now()}`;
  const stack = testStack();
  const on = (url: string) => {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const admin = adminPool(1);
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER ${ownerRole}`);
  } finally {
    await admin.end();
  }
  if (migrated) await migrate(on(stack.ownerDatabaseUrl));
  return {
    name,
    serviceUrl: on(stack.databaseUrl),
    ownerUrl: on(stack.ownerDatabaseUrl),
    adminUrl: on(stack.adminDatabaseUrl),
    async drop() {
      const pool = adminPool(1);
      try {
        await pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await pool.end();
      }
    },
  };
}

/** An id no other test (or earlier run against the same stack) uses: `<prefix>-<time>-<random>`. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
