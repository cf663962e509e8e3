/**
 * The API's structured logs: one JSON object per line (pino, which fastify uses), every line of a
 * request carrying its `reqId` (the caller's `x-request-id` when it is a sane one, else a fresh
 * UUID, echoed in the `x-request-id` answer header) and, on routes about one refund, its `refundId`.
 * Credentials never reach a line: authorization, cookies, signatures, secrets and keys are redacted
 * wherever they appear. On a terminal the lines are pretty-printed with pino-pretty instead.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { baseLoggerOptions, type LogOptions } from '../config/logging';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';

/** Headers worth a line; authorization and cookie only show that they were sent, always "[Redacted]". */
const loggedHeaders = [
  'host',
  'user-agent',
  'content-type',
  'content-length',
  'x-request-id',
  'idempotency-key',
  'authorization',
  'cookie',
];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function apiLoggerOptions(options: LogOptions = {}): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    ...baseLoggerOptions(options),
    serializers: {
      req(request: { method: string; url: string; headers: Record<string, unknown>; ip?: string }) {
        const headers = Object.fromEntries(
          loggedHeaders.filter((name) => request.headers[name] !== undefined).map((name) => [name, request.headers[name]]),
        );
        return { method: request.method, url: request.url, remoteAddress: request.ip, headers };
      },
    },
    ...(options.stream ? { stream: options.stream } : {}),
  };
}

/** The request id: the caller's x-request-id when it is short and plain, else a new UUID. */
export function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Puts `refundId` on every later line of a request about one refund (in its path, or in the body of
 * a refund request), and echoes the request id.
 */
export function logRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const refundId = (request.params as { refundId?: unknown } | undefined)?.refundId;
    if (typeof refundId === 'string' && refundId !== '') withRefundId(request, reply, refundId);
  });
  app.addHook('preHandler', async (request, reply) => {
    if ((request.params as { refundId?: unknown } | undefined)?.refundId !== undefined) return;
    const refundId = (request.body as { refundId?: unknown } | undefined)?.refundId;
    if (typeof refundId === 'string' && refundId !== '') withRefundId(request, reply, refundId);
  });
}

/** The request's own lines and the reply's ("request completed") both carry the refund id. */
function withRefundId(request: FastifyRequest, reply: FastifyReply, refundId: string): void {
  request.log = request.log.child({ refundId });
  reply.log = request.log;
}
