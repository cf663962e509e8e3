/**
 * The service's own routes, outside /v1 and never rate limited: liveness, readiness, Prometheus
 * metrics and the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiMetrics } from '../plugins/metrics';
import { problem } from '../plugins/problems';
import { Health } from '../../client/views';
import { problems } from './shared';

/** A dependency's readiness check: resolves with why it is not ready, or undefined when it is. */
export type ReadinessCheck = () => Promise<string | undefined>;

const Ready = z.strictObject({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('ok')) });

/** A check that takes longer than this counts as not ready: a load balancer's probe must not hang. */
const CHECK_TIMEOUT_MS = 2_000;

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

/** Runs every check at once; 503 naming each dependency that is not ready. */
async function readiness(checks: Record<string, ReadinessCheck>) {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => withinTimeout(checks[name]!)));
  const failing = names.flatMap((name, i) => (results[i] === undefined ? [] : [`${name}: ${results[i]}`]));
  if (failing.length > 0) throw problem('service_unavailable', `not ready: ${failing.join('; ')}`, {}, { 'retry-after': '5' });
  return { status: 'ready' as const, checks: Object.fromEntries(names.map((name) => [name, 'ok' as const])) };
}

export function registerServiceRoutes(app: FastifyInstance, metrics: ApiMetrics, checks: Record<string, ReadinessCheck>): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/healthz',
    { config: { rateLimit: false }, schema: { tags: ['service'], summary: 'Liveness', response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
  );
  api.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['service'],
        summary: 'Readiness: the database answers with the current schema, and Temporal answers',
        response: { 200: Ready, ...problems(503) },
      },
    },
    async () => readiness(checks),
  );
  api.get(
    '/metrics',
    { config: { rateLimit: false }, schema: { tags: ['service'], summary: 'Prometheus metrics' } },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
  api.get('/openapi.json', { config: { rateLimit: false }, schema: { hide: true } }, async () => app.swagger());
}
