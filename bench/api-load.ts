/**
 * The HTTP API under load: POST /v1/refunds against direct `RefundsService.requestRefund` calls
 * as the baseline, both driven by the same closed loop (so the two figures differ only by the
 * HTTP layer: fastify, authentication, validation, the answer's status and timeline; both sign each
 * request as the benchmark's registered refund service), and the
 * app serving the stuck listing for the million-refund database. The app runs in this process
 * on a real port, with its rate limit raised so the load is measured rather than refused.
 */
import type { Client } from '@temporalio/client';
import { createPool, type Pool } from '../store/pool';
import type { StuckQuery } from '../store/read-model';
import { RefundsService } from '../api/refunds-service';
import { buildApp } from '../api/app';
import { addPrincipal } from '../store/principals';
import type { Role } from '../workflows/schemas';
import { closedLoop } from './lifecycle';
import { refundForLoad } from './refunds';
import type { Signer } from './registry';
import { requestBodyOf } from '../client/views';
import { percentiles } from './process-stats';
import type { StuckListingOverHttp } from './stuck-listing';

export interface ApiLoadRun {
  name: string;
  concurrency: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
}

export interface ApiLoadResult {
  runs: ApiLoadRun[];
}

export interface BenchApi {
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

/** The real app over `databaseUrl`, with one principal holding `roles` (named `principalId`, when given). */
export async function startBenchApi(
  temporal: Client,
  databaseUrl: string,
  taskQueue: string,
  roles: Role[],
  principalId?: string,
): Promise<BenchApi> {
  const pool: Pool = createPool(databaseUrl, 20);
  const refunds = new RefundsService({ temporal, pool, taskQueue });
  const app = await buildApp({
    refunds,
    pool,
    carrierSecrets: {}, // the benchmark sends no carrier webhooks
    limits: { rateLimitMax: 100_000_000 },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const { apiKey } = await addPrincipal(pool, { id: principalId ?? `bench-${roles.join('-')}-${Date.now().toString(36)}`, roles });
  return {
    url,
    apiKey,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}

/** `GET /v1/refunds/stuck` with the listing's query as parameters. */
export function stuckListingOverHttp(temporal: Client, taskQueue: string): StuckListingOverHttp {
  return async (databaseUrl) => {
    const api = await startBenchApi(temporal, databaseUrl, taskQueue, ['ops']);
    return {
      async list(query: StuckQuery) {
        const params = new URLSearchParams();
        if (query.olderThanMs !== undefined) params.set('olderThan', `PT${query.olderThanMs / 1000}S`);
        for (const state of query.states ?? []) params.append('state', state);
        const response = await fetch(`${api.url}/v1/refunds/stuck?${params}`, { headers: { authorization: `Bearer ${api.apiKey}` } });
        if (response.status !== 200) throw new Error(`GET /v1/refunds/stuck answered ${response.status}: ${await response.text()}`);
        return ((await response.json()) as { refunds: unknown[] }).refunds;
      },
      async summary(query: StuckQuery) {
        const params = new URLSearchParams();
        if (query.olderThanMs !== undefined) params.set('olderThan', `PT${query.olderThanMs / 1000}S`);
        for (const state of query.states ?? []) params.append('state', state);
        if (query.currency !== undefined) params.set('currency', query.currency);
        if (query.amountMin !== undefined) params.set('amountMin', String(query.amountMin));
        if (query.amountMax !== undefined) params.set('amountMax', String(query.amountMax));
        const response = await fetch(`${api.url}/v1/refunds/stuck/summary?${params}`, {
          headers: { authorization: `Bearer ${api.apiKey}` },
        });
        if (response.status !== 200) throw new Error(`GET /v1/refunds/stuck/summary answered ${response.status}: ${await response.text()}`);
        return (await response.json()) as { total: { count: number }; rows: unknown[] };
      },
      close: api.close,
    };
  };
}

export interface ApiLoadDeps {
  refunds: RefundsService;
  temporal: Client;
  databaseUrl: string;
  taskQueue: string;
  concurrencies: number[];
  warmupMs: number;
  measureMs: number;
  log: (line: string) => void;
  /** Signs the requests as the benchmark's registered refund service, which is also the API principal that sends them. */
  sign: Signer;
}

/** When one request was sent and when its answer came. */
interface Timed {
  startedAt: number;
  finishedAt: number;
}

export async function runApiLoad(deps: ApiLoadDeps): Promise<ApiLoadResult> {
  const api = await startBenchApi(deps.temporal, deps.databaseUrl, deps.taskQueue, ['refund_service'], deps.sign.refundService);
  const timed = (request: () => Promise<void>) => async (): Promise<Timed> => {
    const startedAt = performance.now();
    await request();
    return { startedAt, finishedAt: performance.now() };
  };
  const ways = [
    {
      name: 'RefundsService.requestRefund',
      run: timed(() => deps.refunds.requestRefund(deps.sign.request(refundForLoad())).then(() => undefined)),
    },
    {
      name: 'POST /v1/refunds',
      run: timed(async () => {
        const response = await fetch(`${api.url}/v1/refunds`, {
          method: 'POST',
          headers: { authorization: `Bearer ${api.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(requestBodyOf(deps.sign.request(refundForLoad()))),
        });
        const body = await response.text();
        if (response.status !== 201) throw new Error(`POST /v1/refunds answered ${response.status}: ${body.slice(0, 200)}`);
      }),
    },
  ];
  const runs: ApiLoadRun[] = [];
  try {
    for (const concurrency of deps.concurrencies) {
      for (const way of ways) {
        const loop = await closedLoop(way, {
          concurrency,
          warmupMs: deps.warmupMs,
          measureMs: deps.measureMs,
          onWindowStart() {},
          onWindowEnd() {},
        });
        const ms = percentiles(loop.completed.map((t) => t.finishedAt - t.startedAt));
        const run: ApiLoadRun = {
          name: way.name,
          concurrency,
          requestsPerSecond: Math.round((loop.completed.length / loop.windowSeconds) * 10) / 10,
          p50: ms.p50,
          p99: ms.p99,
          errors: loop.errors,
          ...(loop.firstError ? { firstError: loop.firstError } : {}),
        };
        runs.push(run);
        deps.log(
          `${way.name} c=${concurrency}: ${run.requestsPerSecond} requests/s, p50 ${run.p50} ms, p99 ${run.p99} ms${run.errors ? `, ${run.errors} errors (${run.firstError})` : ''}`,
        );
      }
    }
  } finally {
    await api.close();
  }
  return { runs };
}
