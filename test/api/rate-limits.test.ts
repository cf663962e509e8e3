/**
 * Rate limits shared by API replicas: two apps on one PostgreSQL database (a database of this
 * file's own, migrated like the shared one) count a principal's requests together, whichever app
 * each request reaches, in fixed windows on the database's clock. When PostgreSQL fails or is
 * slow, each app counts in its own memory and answers without waiting. Waits poll the database's
 * clock or a condition; nothing sleeps for a fixed time.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiLimits, buildApp } from '../../api/app';
import { RefundsService } from '../../api/refunds-service';
import { MemoryWindows } from '../../api/plugins/rate-limit-store';
import { createPool, type Pool } from '../../store/pool';
import { addPrincipal } from '../../store/principals';
import { countRateLimitedRequest, deleteEndedRateLimitWindows, readRateLimit } from '../../store/rate-limits';
import type { Client } from '@temporalio/client';
import { connectClient, scratchDatabase, type ScratchDatabase, uniqueId } from '../support/stack';

let db: ScratchDatabase;
let service: Pool;
let owner: Pool;
let temporal: Client;
const apps: FastifyInstance[] = [];
const pools: Pool[] = [];

beforeAll(async () => {
  db = await scratchDatabase('rate_limits');
  service = createPool(db.serviceUrl, 5);
  owner = createPool(db.ownerUrl, 2);
  temporal = await connectClient();
});
afterAll(async () => {
  for (const app of apps) await app.close();
  for (const pool of pools) await pool.end();
  await service?.end();
  await owner?.end();
  await temporal?.connection.close();
  await db?.drop();
});

/** An API app on the scratch database; apps given the same namespace are replicas of one deployment. */
async function replica(
  namespace: string,
  limits: Partial<ApiLimits>,
  options: { pool?: Pool; warnings?: string[] } = {},
): Promise<FastifyInstance> {
  const pool = options.pool ?? createPool(db.serviceUrl, 5);
  if (!options.pool) pools.push(pool);
  const warnings = options.warnings;
  const app = await buildApp({
    refunds: new RefundsService({ temporal, pool }),
    pool,
    carrierSecrets: {},
    limits,
    rateLimitNamespace: namespace,
    ...(warnings
      ? {
          logger: {
            level: 'warn',
            stream: { write: (line: string) => warnings.push(String((JSON.parse(line) as { msg: unknown }).msg)) },
          },
        }
      : {}),
  });
  apps.push(app);
  return app;
}

/** A new ops principal: its API key (its id is the key's prefix in the counters, see `keyOf`). */
const principalIds = new Map<string, string>();
async function principal(name: string): Promise<string> {
  const id = uniqueId(name);
  const { apiKey } = await addPrincipal(owner, { id, roles: ['ops'] });
  principalIds.set(apiKey, id);
  return apiKey;
}

const list = (app: FastifyInstance, apiKey: string) =>
  app.inject({ method: 'GET', url: '/v1/refunds?limit=1', headers: { authorization: `Bearer ${apiKey}` } });

/** The database's clock in epoch milliseconds. */
async function databaseNow(): Promise<number> {
  const { rows } = await service.query<{ ms: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms');
  return rows[0]!.ms;
}

/** Polls the database's clock until the current window of `windowMs` has at least `needMs` left, so a test's requests share one window. */
async function startOfRoomyWindow(windowMs: number, needMs: number): Promise<void> {
  for (;;) {
    const now = await databaseNow();
    if (windowMs - (now % windowMs) >= needMs) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('rate limits shared by API replicas', () => {
  it('holds a principal to the limit in total across two replicas, answering the next request 429 with retry-after, and each principal on its own', async () => {
    const namespace = uniqueId('api');
    const limits = { rateLimitMax: 5, rateLimitWindowMs: 600_000 };
    const [a, b] = [await replica(namespace, limits), await replica(namespace, limits)];
    const [busy, other] = [await principal('emp-busy'), await principal('emp-other')];
    await startOfRoomyWindow(limits.rateLimitWindowMs, 60_000);

    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await list(i % 2 === 0 ? a : b, busy));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0']);

    for (const app of [b, a]) {
      const refused = await list(app, busy);
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(refused.json()).toMatchObject({ type: expect.stringContaining('rate-limited'), status: 429 });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(600);
    }
    // Another principal has a limit of its own, on either replica.
    expect((await list(b, other)).statusCode).toBe(200);
    expect((await list(a, other)).headers['x-ratelimit-remaining']).toBe('3');
    // Health checks are not limited.
    for (let i = 0; i < 7; i++) expect((await a.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('starts counting again when the window ends', async () => {
    const namespace = uniqueId('api');
    const limits = { rateLimitMax: 2, rateLimitWindowMs: 1_500 };
    const [a, b] = [await replica(namespace, limits), await replica(namespace, limits)];
    const busy = await principal('emp-window');
    await startOfRoomyWindow(limits.rateLimitWindowMs, 1_000);
    expect((await list(a, busy)).statusCode).toBe(200);
    expect((await list(b, busy)).statusCode).toBe(200);
    const refused = await list(a, busy);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBe(Math.ceil(Number(refused.headers['x-ratelimit-reset'])));
    // Wait until the database's clock is in the next window, then the principal may send again.
    const key = `${namespace}:principal:${principalIds.get(busy)!}`;
    const windowOf = (ms: number) => Math.floor(ms / limits.rateLimitWindowMs);
    const refusedIn = windowOf(await databaseNow());
    while (windowOf(await databaseNow()) === refusedIn) await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await readRateLimit(service, key, limits.rateLimitWindowMs)).count).toBe(0);
    const again = await list(b, busy);
    expect(again.statusCode).toBe(200);
    expect(again.headers['x-ratelimit-remaining']).toBe('1');
  });

  it('with the memory store, lets each replica count on its own', async () => {
    const namespace = uniqueId('api');
    const limits = { rateLimitMax: 2, rateLimitWindowMs: 600_000, rateLimitStore: 'memory' as const };
    const [a, b] = [await replica(namespace, limits), await replica(namespace, limits)];
    const busy = await principal('emp-memory');
    await startOfRoomyWindow(limits.rateLimitWindowMs, 60_000);
    const codes = [];
    for (const app of [a, a, b, b, a]) codes.push((await list(app, busy)).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 429]);
    const { rows } = await service.query('SELECT count(*)::int AS n FROM api_rate_limits WHERE key LIKE $1', [`${namespace}:%`]);
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe('when PostgreSQL does not count', () => {
  it('counts in the replica’s memory when the query fails, answers every request, still limits, and warns once', async () => {
    // The app's own queries reach the database; only the rate-limit counter's fail.
    const failing = new Proxy(service, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver);
        return (config: unknown, values?: unknown) => {
          const text = typeof config === 'string' ? config : (config as { text: string }).text;
          if (text.includes('api_rate_limits')) return Promise.reject(new Error('connection terminated unexpectedly'));
          return target.query(config as string, values as unknown[]);
        };
      },
    });
    const warnings: string[] = [];
    const limits = { rateLimitMax: 3, rateLimitWindowMs: 600_000 };
    const app = await replica(uniqueId('api'), limits, { pool: failing, warnings });
    const busy = await principal('emp-fallback');
    await startOfRoomyWindow(limits.rateLimitWindowMs, 60_000);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await list(app, busy)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const rateWarnings = warnings.filter((w) => w.includes('rate limits'));
    expect(rateWarnings).toEqual([
      expect.stringMatching(/counted in this process only .*PostgreSQL did not count a request: connection terminated unexpectedly/),
    ]);
  });

  it('does not wait for a database that does not answer: past the bound, the request is counted in memory', async () => {
    const namespace = uniqueId('api');
    const warnings: string[] = [];
    const limits = { rateLimitMax: 2, rateLimitWindowMs: 600_000, rateLimitStoreTimeoutMs: 200 };
    const app = await replica(namespace, limits, { warnings });
    const busy = await principal('emp-locked');
    await startOfRoomyWindow(limits.rateLimitWindowMs, 60_000);
    expect((await list(app, busy)).statusCode).toBe(200);
    // The schema owner holds the counters' table locked: every count waits on the lock.
    const locker = await owner.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE api_rate_limits IN ACCESS EXCLUSIVE MODE');
      const started = performance.now();
      const answer = await list(app, busy);
      const tookMs = performance.now() - started;
      expect(answer.statusCode).toBe(200);
      expect(tookMs).toBeLessThan(2_000);
      // In memory the replica has seen both requests of the window: the third is refused, without asking the database.
      const refused = await list(app, busy);
      expect(refused.statusCode).toBe(429);
      expect(warnings.filter((w) => w.includes('rate limits'))).toEqual([expect.stringMatching(/no answer within 200 ms/)]);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
  });
});

describe('the counters', () => {
  it('count one window per key on the database’s clock, and ended windows are deleted a bounded batch at a time', async () => {
    const windowMs = 1_000;
    const keys = [uniqueId('k'), uniqueId('k'), uniqueId('k')];
    await startOfRoomyWindow(windowMs, 500);
    for (const key of keys) {
      expect(await countRateLimitedRequest(service, key, windowMs)).toMatchObject({ count: 1 });
      const second = await countRateLimitedRequest(service, key, windowMs);
      expect(second.count).toBe(2);
      expect(second.ttlMs).toBeGreaterThan(0);
      expect(second.ttlMs).toBeLessThanOrEqual(windowMs);
    }
    const rows = async () =>
      (await service.query<{ n: number }>('SELECT count(*)::int AS n FROM api_rate_limits WHERE key = ANY($1)', [keys])).rows[0]!.n;
    expect(await rows()).toBe(3);
    // Wait until those windows have ended on the database's clock.
    for (;;) {
      const { rows: ended } = await service.query<{ ended: boolean }>(
        'SELECT bool_and(expires_at < now()) AS ended FROM api_rate_limits WHERE key = ANY($1)',
        [keys],
      );
      if (ended[0]!.ended) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Other tests' windows may have ended too: a batch deletes the oldest, however many have ended.
    const ended = async () =>
      (await service.query<{ n: number }>('SELECT count(*)::int AS n FROM api_rate_limits WHERE expires_at < now()')).rows[0]!.n;
    const before = await ended();
    expect(before).toBeGreaterThanOrEqual(3);
    expect(await deleteEndedRateLimitWindows(service, 2)).toBe(2);
    expect(await ended()).toBe(before - 2);
    expect(await deleteEndedRateLimitWindows(service, 1000)).toBe(before - 2);
    expect(await rows()).toBe(0);
  });

  it('in memory, keep at most their bound of keys, ended windows first', () => {
    const memory = new MemoryWindows(4);
    for (const key of ['a', 'b', 'c', 'd']) memory.count(key, 1_000, 10_500);
    expect(memory.count('a', 1_000, 10_900)).toEqual({ count: 2, ttlMs: 100 });
    // A new window: the ended ones go, the current ones stay.
    memory.count('e', 1_000, 11_000);
    expect(memory.read('a', 1_000, 11_000)).toEqual({ count: 0, ttlMs: 0 });
    for (const key of ['f', 'g', 'h', 'i']) memory.count(key, 1_000, 11_100);
    expect(memory.read('e', 1_000, 11_100)).toEqual({ count: 0, ttlMs: 0 });
    expect(memory.read('i', 1_000, 11_100)).toEqual({ count: 1, ttlMs: 900 });
  });
});
