/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate and serialize
 * every route; it lists the routes registered after this. People read it at `/docs` (Swagger UI,
 * served from the package's own files: nothing from a CDN, no validator badge).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { problemTypeNames, problemTypeUri, PROBLEM_CONTENT_TYPE } from './problems';

export const API_VERSION = '1.0.0';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
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
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API key issued with `refunds-admin principal add`' },
          carrierSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Carrier-Signature',
            description: 't=<unix seconds>,k=<key id>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with that key of the carrier the body names',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { validatorUrl: null, docExpansion: 'list', deepLinking: true },
    // Swagger UI styles some elements inline; everything else comes from this origin only.
    staticCSP:
      "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
  });
}
