/**
 * The HTTP API on top of a refund harness: the real app (fastify, zod, rate limiting) over the
 * run's Temporal server and PostgreSQL, with principals created in the shared database under
 * unique ids. `inject` sends requests in-process; `listen` serves on a free port for real clients.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { signCarrierPayload } from '../../client/carrier-signature';
import { buildApp, type ApiLimits } from '../../api/app';
import { addPrincipal } from '../../store/principals';
import type { Role } from '../../workflows/schemas';
import { startRefundHarness, type RefundHarness } from './refund-harness';
import { uniqueId } from './stack';

export interface TestPrincipal {
  id: string;
  apiKey: string;
}

export interface ApiHarness {
  h: RefundHarness;
  app: FastifyInstance;
  carrierSecret: string;
  /** A new principal with a unique id starting with `name`. */
  principal(name: string, roles: Role[], approvalLimit?: string): Promise<TestPrincipal>;
  /** A JSON request as `who`; the body is sent exactly as given when it is a string. */
  call(
    method: 'GET' | 'POST',
    url: string,
    who?: TestPrincipal,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /** A carrier webhook signed with the harness secret (or as `sign` says). */
  carrierPost(body: unknown, sign?: { secret?: string; timestamp?: number }): Promise<LightMyRequestResponse>;
  /** Serves the app on 127.0.0.1 on a free port and returns its base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function startApiHarness(options: { limits?: Partial<ApiLimits> } = {}): Promise<ApiHarness> {
  const h = await startRefundHarness();
  const carrierSecret = randomBytes(32).toString('hex');
  const app = await buildApp({ refunds: h.refunds, pool: h.pool, carrierWebhookSecret: carrierSecret, limits: options.limits ?? {} });

  const call: ApiHarness['call'] = (method, url, who, body, headers = {}) =>
    app.inject({
      method,
      url,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(who ? { authorization: `Bearer ${who.apiKey}` } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });

  return {
    h,
    app,
    carrierSecret,
    async principal(name, roles, approvalLimit) {
      const id = uniqueId(name);
      const { apiKey } = await addPrincipal(h.pool, { id, roles, ...(approvalLimit ? { approvalLimit } : {}) });
      return { id, apiKey };
    },
    call,
    carrierPost(body, sign = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      return call('POST', '/v1/carrier-events', undefined, raw, {
        'x-carrier-signature': signCarrierPayload(sign.secret ?? carrierSecret, raw, sign.timestamp),
      });
    },
    async listen() {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('app is not listening on a TCP port');
      return `http://127.0.0.1:${address.port}`;
    },
    async close() {
      await app.close();
      await h.close();
    },
  };
}
