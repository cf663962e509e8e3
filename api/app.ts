/**
 * The HTTP API as a fastify app: `buildApp(deps)` wires JSON parsing (keeping the raw body for
 * signatures), zod validation and serialization, per-principal rate limiting, problem answers,
 * metrics and the OpenAPI document around the /v1 routes. Tests call it with `inject` or listen
 * on port 0; api/server.ts runs it for real.
 */
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { type ApiLimits, defaultApiLimits, defaultWebAuthn, type WebAuthnConfig } from '../config/api';
import type { CarrierSecrets } from '../client/carrier-signature';
import type { Pool } from '../store/pool';
import { MAX_ID_LENGTH } from '../workflows/schemas';
import { defaultPolicy, type Policy } from '../workflows/policy';
import type { TrustRoots } from '../workflows/statements';
import type { RefundsService } from './refunds-service';
import { parseJsonKeepingRawBody } from './plugins/json-body';
import { countRequests, createApiMetrics } from './plugins/metrics';
import { logRequestContext, requestId } from './logging';
import { nameRequestSpans } from './plugins/tracing';
import { registerOpenApi } from './plugins/openapi';
import { honourIdempotencyKeys } from './plugins/idempotency';
import { answerWithProblems, problem } from './plugins/problems';
import { postgresRateLimitStore } from './plugins/rate-limit-store';
import { registerBreakerRoutes } from './routes/breakers';
import { registerDecisionRoutes } from './routes/decisions';
import { registerEvidenceRoutes } from './routes/evidence';
import { registerOperationsRoutes } from './routes/operations';
import { registerListingRoutes } from './routes/listings';
import { registerOpsActionRoutes } from './routes/ops-actions';
import { registerPasskeyRoutes } from './routes/passkeys';
import { registerRefundRoutes } from './routes/refunds';
import { registerRegistryRoutes } from './routes/registry';
import { registerWebhookRoutes } from './routes/webhooks';
import { type ReadinessCheck, registerServiceRoutes } from './routes/service';
import { databaseReadiness } from '../store/readiness';
import type { RouteDeps } from './routes/shared';
import { type ConsoleOptions, registerConsole } from './console/plugin';

export { API_VERSION } from './plugins/openapi';
export type { ApiLimits };

export interface ApiDeps {
  refunds: RefundsService;
  pool: Pool;
  /** Each carrier's webhook signing keys (REFUNDS_CARRIER_SECRETS); a carrier signs only with its own. */
  carrierSecrets: CarrierSecrets;
  limits?: Partial<ApiLimits>;
  /**
   * What /readyz checks besides the database (api/server.ts adds Temporal); each resolves with why
   * its dependency is not ready, or undefined.
   */
  readinessChecks?: Record<string, ReadinessCheck>;
  /** The policy whose limits refund requests must keep to (the worker's, REFUNDS_POLICY_FILE); the built-in one if not given. */
  policy?: Policy;
  /** The trust roots the workers pin (REFUNDS_TRUST_ROOTS): the registry routes check endorsements against them early. */
  trustRoots?: TrustRoots;
  /** Passkeys' relying party id and origin (REFUNDS_WEBAUTHN_RP_ID, REFUNDS_WEBAUTHN_ORIGIN); localhost by default. */
  webauthn?: WebAuthnConfig;
  logger?: FastifyServerOptions['logger'];
  /** The operations console's session timeouts (api/console/plugin.ts). */
  console?: ConsoleOptions;
  /**
   * The prefix of this app's rate-limit keys in PostgreSQL ("api"): replicas with the same one
   * share their limits. Tests give each app its own, as separate deployments would be.
   */
  rateLimitNamespace?: string;
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const limits = { ...defaultApiLimits, ...deps.limits };
  const app = Fastify({
    logger: deps.logger ?? false,
    genReqId: requestId,
    bodyLimit: limits.bodyLimitBytes,
    handlerTimeout: limits.handlerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    return503OnClosing: true,
    // Every id the API accepts must fit in a path segment, even with each character percent-encoded.
    routerOptions: { maxParamLength: 3 * MAX_ID_LENGTH },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  parseJsonKeepingRawBody(app);

  nameRequestSpans(app);
  logRequestContext(app);
  const metrics = createApiMetrics(deps.pool);
  countRequests(app, metrics);
  answerWithProblems(app, metrics);
  await limitRatePerPrincipal(app, limits, deps.pool, deps.rateLimitNamespace ?? 'api');
  honourIdempotencyKeys(app, deps.pool);
  // Rate limiting and the OpenAPI document cover only the routes registered after them.
  await registerOpenApi(app);

  const routeDeps: RouteDeps = {
    refunds: deps.refunds,
    pool: deps.pool,
    carrierSecrets: deps.carrierSecrets,
    metrics,
    policy: deps.policy ?? defaultPolicy,
    ...(deps.trustRoots ? { trustRoots: deps.trustRoots } : {}),
  };
  registerRefundRoutes(app, routeDeps);
  registerEvidenceRoutes(app, routeDeps);
  registerDecisionRoutes(app, routeDeps);
  registerOperationsRoutes(app, routeDeps);
  registerListingRoutes(app, routeDeps);
  registerOpsActionRoutes(app, routeDeps);
  registerBreakerRoutes(app, routeDeps);
  registerRegistryRoutes(app, routeDeps);
  registerWebhookRoutes(app, routeDeps);
  registerPasskeyRoutes(app, routeDeps, deps.webauthn ?? defaultWebAuthn);
  registerServiceRoutes(app, metrics, { database: databaseCheck(deps.pool), ...deps.readinessChecks });
  await registerConsole(app, { ...deps, ...deps.console, policy: routeDeps.policy });

  await app.ready();
  return app;
}

function databaseCheck(pool: Pool): ReadinessCheck {
  return async () => {
    const status = await databaseReadiness(pool);
    return status.ready ? undefined : status.reason;
  };
}

/**
 * Requests per principal (or, unauthenticated, per client address) per fixed window, counted in
 * PostgreSQL so that the limit holds across API replicas (api/plugins/rate-limit-store.ts), or in
 * this process's memory (`rateLimitStore: 'memory'`). When PostgreSQL does not answer within
 * `rateLimitStoreTimeoutMs`, the request is counted in memory: the limit fails open per replica
 * rather than refusing requests or waiting on the database.
 */
async function limitRatePerPrincipal(app: FastifyInstance, limits: ApiLimits, pool: Pool, namespace: string): Promise<void> {
  const store =
    limits.rateLimitStore === 'postgres'
      ? postgresRateLimitStore({
          pool,
          namespace,
          timeoutMs: limits.rateLimitStoreTimeoutMs,
          warn: (message) => app.log.warn(message),
        })
      : undefined;
  await app.register(rateLimit, {
    ...(store ? { store } : {}),
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    // Authentication runs first (route onRequest hooks), so a principal is limited however many addresses it uses.
    keyGenerator: (request) => (request.principal ? `principal:${request.principal.id}` : `address:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      problem('rate_limited', `more than ${context.max} requests in ${context.after}; retry later`),
  });
}
