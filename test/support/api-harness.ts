/**
 * The HTTP API on top of a refund harness: the real app (fastify, zod, rate limiting) over the
 * run's Temporal server and PostgreSQL, with principals created in the shared database under
 * unique ids. `inject` sends requests in-process; `listen` serves on a free port for real clients.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import {
  canonicalCarrier,
  type CarrierKey,
  type CarrierSecrets,
  type CarrierSigningKey,
  signCarrierPayload,
} from '../../client/carrier-signature';
import { buildApp, type ApiDeps, type ApiLimits } from '../../api/app';
import type { WebAuthnConfig } from '../../config/api';
import { addPrincipal, approvalLimitIn } from '../../store/principals';
import { requestBodyOf, type ApprovalBody, type RefundRequestBody, type ScanBody } from '../../client/views';
import { RefundRequest, type Role, type WarehouseReceipt } from '../../workflows/schemas';
import { newNonce, signStatement } from '../../workflows/statements';
import { type HarnessTracing, startRefundHarness, type RefundHarness } from './refund-harness';
import type { Pool } from '../../store/pool';
import type { DecisionSubject, SigningKey } from './registry-world';
import { ownerPool, uniqueId } from './stack';

export interface TestPrincipal {
  id: string;
  apiKey: string;
  /** Approvers, scanners and refund services: their registered signing key. */
  signingKey?: SigningKey;
}

/** The currencies an approver's limit (major units, as the principal has it) is registered in. */
const LIMIT_CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'];

export interface ApiHarness {
  h: RefundHarness;
  app: FastifyInstance;
  /** The schema owner's pool, as refunds-admin connects: principals are written with it (the service role only reads them). */
  owner: Pool;
  /** The app's carrier keys: one each for ups and dhl (unless the harness was given others). */
  carrierSecrets: CarrierSecrets;
  /** The first key of `carrier`, as that carrier holds it. */
  carrierKey(carrier: string): CarrierSigningKey;
  /**
   * A new principal with a unique id starting with `name`; an approver is also registered, with a
   * signing key and its limit in each currency, a scanner (warehouse) with a signing key, and a refund service with a signing key.
   */
  principal(name: string, roles: Role[], approvalLimit?: string): Promise<TestPrincipal>;
  /** The body of an approval or rejection by `who`, signed with their key for `refund` (as the typed client signs it). */
  decisionBody(who: TestPrincipal, refund: DecisionSubject, decision?: { decision: 'approve' | 'reject'; reason?: string }): ApprovalBody;
  /** The body of a warehouse scan by `who` of `receipt` for `refundId`, signed with their key (as the typed client signs it). */
  scanBody(who: TestPrincipal, refundId: string, receipt: WarehouseReceipt): ScanBody;
  /** The body of a refund request by `who` (a refund service), signed with their key (as the typed client signs it). */
  requestBody(who: TestPrincipal, request: RefundRequest): RefundRequestBody;
  /**
   * A JSON request as `who`; the body is sent exactly as given when it is a string. A refund
   * request object posted to /v1/refunds without a `signature` is signed first as `who` (see
   * `requestBody`); one that is not a valid request gets well-formed signature fields only, so the
   * API names the request's own fields at fault.
   */
  call(
    method: 'GET' | 'POST',
    url: string,
    who?: TestPrincipal,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /** A carrier webhook signed with the key of the carrier the body names (or as `sign` says). */
  carrierPost(body: unknown, sign?: { key?: CarrierKey; timestamp?: number }): Promise<LightMyRequestResponse>;
  /** Serves the app on 127.0.0.1 on `port` (a free one by default) and returns its base URL. */
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

/** A fresh key with a unique id for each carrier named. */
export function newCarrierSecrets(...carriers: string[]): CarrierSecrets {
  return Object.fromEntries(carriers.map((carrier) => [carrier, [newCarrierKey(carrier)]]));
}

export function newCarrierKey(carrier: string): CarrierKey {
  return { keyId: uniqueId(`${carrier}-key`), secret: randomBytes(32).toString('hex') };
}

export async function startApiHarness(
  options: {
    limits?: Partial<ApiLimits>;
    carrierSecrets?: CarrierSecrets;
    webauthn?: WebAuthnConfig;
    logger?: ApiDeps['logger'];
    /** Tracing on, for the refund harness (its client and worker). */
    tracing?: HarnessTracing;
  } = {},
): Promise<ApiHarness> {
  // The worker verifies carrier events with the same keys as the API, as in production.
  const carrierSecrets = options.carrierSecrets ?? newCarrierSecrets('ups', 'dhl');
  const h = await startRefundHarness({ carrierSecrets, ...(options.tracing ? { tracing: options.tracing } : {}) });
  const owner = ownerPool();
  const app = await buildApp({
    refunds: h.refunds,
    pool: h.pool,
    carrierSecrets,
    limits: options.limits ?? {},
    // Every test file's apps share one database: each app counts its rate limits on its own, as separate deployments would.
    rateLimitNamespace: uniqueId('api'),
    trustRoots: h.registry.trustRoots,
    ...(options.webauthn ? { webauthn: options.webauthn } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const carrierKey = (carrier: string): CarrierSigningKey => {
    const key = carrierSecrets[canonicalCarrier(carrier)]?.[0];
    if (!key) throw new Error(`the harness has no key for carrier ${carrier}`);
    return { carrier, ...key };
  };

  const requestBody = (who: TestPrincipal, request: RefundRequest): RefundRequestBody => {
    const key = who.signingKey ?? { principalId: who.id, keyId: `${who.id}.k1`, secretKey: new Uint8Array(32).fill(1) };
    const { statement, signature } = signStatement(
      {
        kind: 'refund_request',
        request,
        requestedBy: who.id,
        keyId: key.keyId,
        alg: 'ed25519',
        signedAt: new Date().toISOString(),
        nonce: newNonce(),
      },
      key.secretKey,
    );
    return requestBodyOf({ statement, signature });
  };
  const signedBody = (url: string, who: TestPrincipal | undefined, body: unknown): unknown => {
    const unsigned = url === '/v1/refunds' && who && typeof body === 'object' && body !== null && !Array.isArray(body);
    if (!unsigned || 'signature' in body) return body;
    if (RefundRequest.safeParse(body).success) return requestBody(who, body as RefundRequest);
    const placeholder = { keyId: `${who.id}.k1`, signedAt: new Date().toISOString(), nonce: newNonce(), signature: 'A'.repeat(86) };
    return { ...body, ...placeholder };
  };

  const call: ApiHarness['call'] = (method, url, who, rawBody, headers = {}) => {
    const body = method === 'POST' ? signedBody(url, who, rawBody) : rawBody;
    return app.inject({
      method,
      url,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(who ? { authorization: `Bearer ${who.apiKey}` } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  };

  return {
    h,
    app,
    owner,
    carrierSecrets,
    carrierKey,
    async principal(name, roles, approvalLimit) {
      const id = uniqueId(name);
      const { apiKey } = await addPrincipal(owner, { id, roles, ...(approvalLimit ? { approvalLimit } : {}) });
      if (roles.includes('refund_service') && !roles.includes('approver')) {
        return { id, apiKey, signingKey: await h.registry.registerRefundService(id, { roles }) };
      }
      if (!roles.includes('approver')) {
        return roles.includes('warehouse') ? { id, apiKey, signingKey: await h.registry.registerScanner(id, { roles }) } : { id, apiKey };
      }
      const limits = Object.fromEntries(LIMIT_CURRENCIES.map((c) => [c, approvalLimitIn(approvalLimit ?? null, c)]));
      return { id, apiKey, signingKey: await h.registry.registerApprover(id, { roles, limits }) };
    },
    decisionBody(who, refund, decision = { decision: 'approve' }) {
      const key = who.signingKey ?? { principalId: who.id, keyId: `${who.id}.k1`, secretKey: new Uint8Array(32).fill(1) };
      const { statement, signature } = h.registry.sign(refund, who.id, key, decision);
      const { amount, currency, keyId, signedAt, nonce, reason } = statement;
      return { decision: statement.decision, ...(reason ? { reason } : {}), amount, currency, keyId, signedAt, nonce, signature };
    },
    scanBody(who, refundId, receipt) {
      const key = who.signingKey ?? { principalId: who.id, keyId: `${who.id}.k1`, secretKey: new Uint8Array(32).fill(1) };
      const { statement, signature } = h.registry.signScan(refundId, who.id, receipt, key);
      const { keyId, signedAt, nonce } = statement;
      return { ...statement.receipt, keyId, signedAt, nonce, signature };
    },
    requestBody,
    call,
    carrierPost(body, sign = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const key = sign.key ?? carrierKey((JSON.parse(raw) as { carrier: string }).carrier);
      return call('POST', '/v1/carrier-events', undefined, raw, { 'x-carrier-signature': signCarrierPayload(key, raw, sign.timestamp) });
    },
    async listen(port = 0) {
      await app.listen({ host: '127.0.0.1', port });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('app is not listening on a TCP port');
      return `http://127.0.0.1:${address.port}`;
    },
    async close() {
      await app.close();
      await owner.end();
      await h.close();
    },
  };
}
