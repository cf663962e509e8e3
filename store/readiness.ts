/**
 * Whether the database can serve the product right now, and waiting until it can: the worker and
 * the API start while PostgreSQL is down and keep running while it restarts.
 */
import { readdir } from 'node:fs/promises';
import { ensureSchema, migrationsDir } from './migrate';
import type { Db } from './pool';

/** Bounds of the exponential backoff between attempts to reach the database. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: Backoff = { initialMs: 500, maxMs: 30_000 };

/** The delay before attempt `attempt + 1` (attempt counts from 1): doubling from initialMs, never above maxMs. */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt - 1, 30));
}

let migrationNames: Promise<string[]> | undefined;
const knownMigrations = () => {
  migrationNames ??= readdir(migrationsDir).then((files) =>
    files.filter((f) => /^\d+_.+\.(sql|js|ts)$/.test(f)).map((f) => f.replace(/\.(sql|js|ts)$/, '')),
  );
  return migrationNames;
};

/** Ready, or why not: the database does not answer, or its schema is not this code's. */
export type DatabaseReadiness = { ready: true } | { ready: false; reason: string };

/** Asks the database through `db` (the process's pool) whether it answers and has every migration applied. */
export async function databaseReadiness(db: Db): Promise<DatabaseReadiness> {
  try {
    const { rows } = await db.query<{ name: string }>('SELECT name FROM pgmigrations');
    const applied = new Set(rows.map((r) => r.name));
    const pending = (await knownMigrations()).filter((name) => !applied.has(name));
    if (pending.length > 0) return { ready: false, reason: `${pending.length} migration(s) not applied: ${pending.sort().join(', ')}` };
    return { ready: true };
  } catch (error) {
    return { ready: false, reason: `database not reachable: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export interface WaitForSchemaOptions {
  databaseUrl: string;
  migrationDatabaseUrl?: string | undefined;
  backoff?: Backoff;
  log: (message: string) => void;
  /** Stops waiting (the process is shutting down): the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Gets the schema ready (ensureSchema: migrates with the owner's URL, else checks), retrying with
 * bounded exponential backoff while the database is down or behind, and logging each attempt.
 */
export async function waitForSchema(opts: WaitForSchemaOptions): Promise<void> {
  const backoff = opts.backoff ?? defaultBackoff;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      await ensureSchema({ databaseUrl: opts.databaseUrl, migrationDatabaseUrl: opts.migrationDatabaseUrl, log: opts.log });
      return;
    } catch (error) {
      const delay = backoffDelay(backoff, attempt);
      const reason = error instanceof Error ? error.message : String(error);
      opts.log(`database not ready (attempt ${attempt}): ${reason}; retrying in ${delay} ms`);
      await sleep(delay, opts.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** A dependency's readiness check: resolves with why it is not ready, or undefined when it is. */
export type ReadinessCheck = () => Promise<string | undefined>;

/** A check that takes longer than this counts as not ready: a load balancer's probe must not hang. */
const CHECK_TIMEOUT_MS = 2_000;

/** Runs every check at once, each bounded; "name: why" for each that is not ready (the API's and the worker's /readyz). */
export async function failingChecks(checks: Record<string, ReadinessCheck>): Promise<string[]> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => withinTimeout(checks[name]!)));
  return names.flatMap((name, i) => (results[i] === undefined ? [] : [`${name}: ${results[i]}`]));
}

async function withinTimeout(check: ReadinessCheck): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch((error: unknown) => (error instanceof Error ? error.message : String(error))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
