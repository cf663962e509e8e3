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
import { failingChecks, type ReadinessCheck } from '../../store/readiness';

export type { ReadinessCheck } from '../../store/readiness';

const Ready = z.strictObject({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('ok')) });

/** Runs every check at once; 503 naming each dependency that is not ready. */
async function readiness(checks: Record<string, ReadinessCheck>) {
  const names = Object.keys(checks);
  const failing = await failingChecks(checks);
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
