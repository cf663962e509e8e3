/**
 * The HTTP API as a fastify app: `buildApp(deps)` wires JSON parsing (keeping the raw body for
 * signatures), zod validation and serialization, per-principal rate limiting, problem answers,
 * metrics and the OpenAPI document around the /v1 routes. Tests call it with `inject` or listen
 * on port 0; client/http/server.ts runs it for real.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Pool } from '../store/pool';
import type { RefundsService } from './refunds-service';
import { createApiMetrics } from './plugins/metrics';
import { problem, problemFor, problemTypeNames, problemTypeUri, PROBLEM_CONTENT_TYPE } from './plugins/problems';
import { registerRoutes } from './routes/index';
import { Health } from '../client/views';

export interface ApiLimits {
  /** Requests per principal (or, for carriers, per client address) per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Longest a handler may take (Temporal or PostgreSQL slow or unreachable) before the caller gets a 503. */
  handlerTimeoutMs: number;
  /** Longest a client may take to send its whole request. */
  requestTimeoutMs: number;
}

export const defaultApiLimits: ApiLimits = {
  rateLimitMax: 600,
  rateLimitWindowMs: 60_000,
  bodyLimitBytes: 256 * 1024,
  handlerTimeoutMs: 30_000,
  requestTimeoutMs: 30_000,
};

export interface ApiDeps {
  refunds: RefundsService;
  pool: Pool;
  /** Shared secret carriers sign their webhooks with (CARRIER_WEBHOOK_SECRET). */
  carrierWebhookSecret: string;
  limits?: Partial<ApiLimits>;
  logger?: FastifyServerOptions['logger'];
}

export const API_VERSION = '1.0.0';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const limits = { ...defaultApiLimits, ...deps.limits };
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyLimitBytes,
    handlerTimeout: limits.handlerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // JSON only, parsed safely (no __proto__ tricks), with the exact bytes kept for signature checks.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });

  const metrics = createApiMetrics(deps.pool);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(async (error, request, reply) => {
    const { problem: answer, internal } = problemFor(error);
    if (internal) request.log.error({ err: error }, 'request failed');
    if (answer.problem.status < 500) metrics.refusals.inc({ type: answer.problem.type, rule: answer.problem.rule ?? '' });
    return reply.code(answer.problem.status).headers(answer.headers).type(PROBLEM_CONTENT_TYPE).send(answer.problem);
  });
  app.setNotFoundHandler(async (request) => {
    throw problem('not_found', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  await app.register(rateLimit, {
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    // Authentication runs first (route onRequest hooks), so a principal is limited however many addresses it uses.
    keyGenerator: (request) => (request.principal ? `principal:${request.principal.id}` : `address:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      problem('rate_limited', `more than ${context.max} requests in ${context.after}; retry later`),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Refund approvals API',
        version: API_VERSION,
        description:
          'Refund services request refunds, carriers report return parcels, warehouses scan receipts, approvers decide, ' +
          'operations watch stuck refunds. Money is an integer count of minor units plus an ISO 4217 currency code. ' +
          `Errors are ${PROBLEM_CONTENT_TYPE} (RFC 9457) with one of these types: ${problemTypeNames.map(problemTypeUri).join(', ')}.`,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API key issued with `refunds principal add`' },
          carrierSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Carrier-Signature',
            description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with CARRIER_WEBHOOK_SECRET',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  registerRoutes(app, { refunds: deps.refunds, pool: deps.pool, carrierWebhookSecret: deps.carrierWebhookSecret, metrics });

  app.get('/healthz', { config: { rateLimit: false }, schema: { tags: ['service'], summary: 'Liveness', response: { 200: Health } } }, async () => ({
    status: 'ok' as const,
  }));
  app.get('/metrics', { config: { rateLimit: false }, schema: { tags: ['service'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/openapi.json', { config: { rateLimit: false }, schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return app;
}
