/**
 * The service's own routes, outside /v1 and never rate limited: liveness, Prometheus metrics and
 * the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiMetrics } from '../plugins/metrics';
import { Health } from '../../client/views';

export function registerServiceRoutes(app: FastifyInstance, metrics: ApiMetrics): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  api.get(
    '/healthz',
    { config: { rateLimit: false }, schema: { tags: ['service'], summary: 'Liveness', response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
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
