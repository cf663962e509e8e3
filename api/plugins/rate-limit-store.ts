/**
 * A store for @fastify/rate-limit that counts in PostgreSQL (store/rate-limits.ts), so that a
 * principal's limit holds across every API replica: a fixed window per key, one statement per
 * request. Ended windows are deleted now and then, a bounded batch at a time, by whichever replica
 * notices first.
 *
 * The database must never make the API hang, nor refuse requests because the limiter is
 * unavailable. Each count is bounded (`timeoutMs`); when it fails or takes longer, that request is
 * counted in this process's memory instead, and so are all requests for the next `retryAfterMs`
 * before the database is asked again: the limit fails open per replica (each replica still limits
 * what reaches it, as a process on its own did). A warning is logged at most once per
 * `warnIntervalMs`. Every request is also counted in memory, so the fallback starts from what this
 * replica has already seen in the window.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Pool } from '../../store/pool';
import { countRateLimitedRequest, deleteEndedRateLimitWindows, type RateLimitCount, readRateLimit } from '../../store/rate-limits';

export interface PostgresRateLimitOptions {
  pool: Pool;
  /** Prefix of every key: API replicas that share limits use the same one. */
  namespace: string;
  /** Longest a count may take before the request is counted in memory instead. */
  timeoutMs: number;
  /** After a failed or slow count, how long requests are counted in memory before the database is asked again. */
  retryAfterMs?: number;
  warn: (message: string) => void;
  /** At most one warning per this many milliseconds. */
  warnIntervalMs?: number;
  /** How often ended windows are deleted (by each replica that counts requests). */
  cleanupIntervalMs?: number;
  /** Most ended windows deleted at a time. */
  cleanupBatch?: number;
  /** Most keys the in-memory counter keeps. */
  memoryKeys?: number;
}

/** Fixed windows in this process's memory, aligned like the database's (multiples of the window since the epoch). */
export class MemoryWindows {
  private readonly windows = new Map<string, { start: number; end: number; count: number }>();

  constructor(private readonly maxKeys = 10_000) {}

  count(key: string, windowMs: number, now = Date.now()): RateLimitCount {
    const start = now - (now % windowMs);
    let entry = this.windows.get(key);
    if (!entry || entry.start !== start) {
      this.windows.delete(key);
      this.evict(now);
      entry = { start, end: start + windowMs, count: 0 };
      this.windows.set(key, entry);
    }
    entry.count += 1;
    return { count: entry.count, ttlMs: Math.max(1, entry.end - now) };
  }

  read(key: string, windowMs: number, now = Date.now()): RateLimitCount {
    const entry = this.windows.get(key);
    return entry && entry.start === now - (now % windowMs)
      ? { count: entry.count, ttlMs: Math.max(1, entry.end - now) }
      : { count: 0, ttlMs: 0 };
  }

  /** Keeps the map under its bound: ended windows go first, then the oldest keys (a Map iterates in insertion order). */
  private evict(now: number): void {
    if (this.windows.size < this.maxKeys) return;
    for (const [key, entry] of this.windows) if (entry.end <= now) this.windows.delete(key);
    for (const key of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(key);
    }
  }
}

class SharedCounter {
  readonly memory: MemoryWindows;
  private databaseAgainAt = 0;
  private lastWarning = Number.NEGATIVE_INFINITY;
  private nextCleanup = 0;
  private cleaning = false;

  constructor(private readonly options: PostgresRateLimitOptions) {
    this.memory = new MemoryWindows(options.memoryKeys);
  }

  async count(key: string, windowMs: number): Promise<RateLimitCount> {
    const local = this.memory.count(key, windowMs);
    const shared = await this.fromDatabase((timeoutMs) => countRateLimitedRequest(this.options.pool, key, windowMs, timeoutMs));
    if (shared) this.cleanUpNowAndThen();
    return shared ?? local;
  }

  async read(key: string, windowMs: number): Promise<RateLimitCount> {
    return (
      (await this.fromDatabase((timeoutMs) => readRateLimit(this.options.pool, key, windowMs, timeoutMs))) ??
      this.memory.read(key, windowMs)
    );
  }

  /** The database's answer within the time bound, or undefined (then counted in memory). */
  private async fromDatabase(query: (timeoutMs: number) => Promise<RateLimitCount>): Promise<RateLimitCount | undefined> {
    if (Date.now() < this.databaseAgainAt) {
      return undefined;
    }
    const { timeoutMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const answer = query(timeoutMs);
    try {
      const result = await Promise.race([answer, late]);
      return result;
    } catch (error) {
      // The query may still fail after the timer won: nothing waits for it then.
      answer.catch(() => undefined);
      this.databaseAgainAt = Date.now() + (this.options.retryAfterMs ?? 5_000);
      this.warnNowAndThen(error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private warnNowAndThen(error: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < (this.options.warnIntervalMs ?? 60_000)) return;
    this.lastWarning = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.options.warn(
      `rate limits are counted in this process only (each API replica limits on its own): PostgreSQL did not count a request: ${reason}`,
    );
  }

  private cleanUpNowAndThen(): void {
    const now = Date.now();
    if (this.cleaning || now < this.nextCleanup) return;
    this.cleaning = true;
    this.nextCleanup = now + (this.options.cleanupIntervalMs ?? 60_000);
    deleteEndedRateLimitWindows(this.options.pool, this.options.cleanupBatch ?? 1000)
      .catch((error: unknown) => this.warnNowAndThen(error))
      .finally(() => {
        this.cleaning = false;
      });
  }
}

/** The store class to give @fastify/rate-limit as `store`; every store it makes (one per route with its own limit) shares one counter. */
export function postgresRateLimitStore(options: PostgresRateLimitOptions): FastifyRateLimitStoreCtor {
  const counter = new SharedCounter(options);
  class Store implements FastifyRateLimitStore {
    private readonly prefix: string;

    constructor(_params?: unknown, prefix = `${options.namespace}:`) {
      this.prefix = prefix;
    }

    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      counter.count(this.prefix + key, timeWindow).then(
        ({ count, ttlMs }) => callback(null, { current: count, ttl: ttlMs }),
        (error: Error) => callback(error),
      );
    }

    read(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      counter.read(this.prefix + key, timeWindow).then(
        ({ count, ttlMs }) => callback(null, { current: count, ttl: ttlMs }),
        (error: Error) => callback(error),
      );
    }

    /** A route with a limit of its own counts under its method and URL, as the plugin's Redis store does. */
    child(routeOptions: object): FastifyRateLimitStore {
      const route = (routeOptions as { routeInfo?: { method?: unknown; url?: unknown } }).routeInfo ?? {};
      return new Store(undefined, `${this.prefix}${String(route.method ?? '')}${String(route.url ?? '')}-`);
    }
  }
  return Store;
}
