/**
 * The limits that agree: every id the API accepts can be used in its URLs afterwards, the stuck
 * list's path is not a refund id, a refund's total is bounded by the policy, fund codes are not
 * currencies; and /readyz says whether the database can serve. Real API, Temporal and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app';
import { createPool } from '../../store/pool';
import { defaultPolicy } from '../../workflows/policy';
import { MAX_ID_LENGTH, type RefundRequest } from '../../workflows/schemas';
import { newCarrierSecrets, startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { nextId, refundOf, refundRequest } from '../support/fixtures';

let api: ApiHarness;
let service: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  service = await api.principal('svc-limits', ['refund_service']);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as { type: string; detail: string; errors: unknown[] };

/** A request that must be refused with 422 naming `path`; its detail must match `message`. */
async function expectRefused(body: unknown, path: string, message: RegExp) {
  const response = await api.call('POST', '/v1/refunds', service, body);
  expect(response.statusCode, response.body).toBe(422);
  expect(json(response).errors).toContainEqual({ path, message: expect.stringMatching(message) });
}

describe('refund ids', () => {
  it(`of ${MAX_ID_LENGTH} characters, every one percent-encoded in URLs, can be read and cancelled`, async () => {
    const prefix = nextId('r');
    const refundId = `${prefix}${'#'.repeat(MAX_ID_LENGTH - prefix.length)}`;
    expect(refundId).toHaveLength(MAX_ID_LENGTH);
    const body = refundRequest({ refundId, orderId: `o-${prefix}`, return: { carrier: 'ups', trackingNumber: `1Z${prefix}` } });
    const created = await api.call('POST', '/v1/refunds', service, body);
    expect(created.statusCode, created.body).toBe(201);
    const path = `/v1/refunds/${encodeURIComponent(refundId)}`;
    expect(path.length).toBeGreaterThan(3 * (MAX_ID_LENGTH - prefix.length));
    expect(created.headers.location).toBe(path);
    const read = await api.call('GET', path, service);
    expect(read.statusCode, read.body).toBe(200);
    expect(JSON.parse(read.body).refundId).toBe(refundId);
    const cancelled = await api.call('POST', `${path}/cancel`, service, { reason: 'testing the id limit' });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
  });

  it(`of ${MAX_ID_LENGTH + 1} characters are refused when requested, and in URLs with 422 rather than 414`, async () => {
    const refundId = 'r'.repeat(MAX_ID_LENGTH + 1);
    await expectRefused(refundRequest({ refundId }), 'refundId', new RegExp(`at most ${MAX_ID_LENGTH} characters`));
    const read = await api.call('GET', `/v1/refunds/${refundId}`, service);
    expect(read.statusCode, read.body).toBe(422);
  });

  it('"stuck" is reserved: GET /v1/refunds/stuck is the stuck list', async () => {
    await expectRefused(refundRequest({ refundId: 'stuck' }), 'refundId', /reserved/);
  });
});

describe('amounts', () => {
  it('a refund above the policy limit (90 trillion dollars) is refused, naming the limit', async () => {
    const refund = refundRequest({
      items: [{ sku: 'X', quantity: 1_000, unitAmount: 9_000_000_000_000, category: 'misc' }],
    });
    await expectRefused(refund, 'items', /90000000000000\.00 USD is above the largest refund accepted, 1000000\.00 USD/);
    const read = await api.call('GET', `/v1/refunds/${refund.refundId}`, service);
    expect(read.statusCode, read.body).toBe(404);
  });

  it('a refund at the limit is accepted', async () => {
    const response = await api.call('POST', '/v1/refunds', service, refundOf(100_000_000));
    expect(response.statusCode, response.body).toBe(201);
  });

  it("follows the policy's limit per currency", async () => {
    const policy = { ...defaultPolicy, limits: { maxRefundAmount: '10.00', maxRefundAmountByCurrency: { JPY: '50000' } } };
    const app = await buildApp({ refunds: api.h.refunds, pool: api.h.pool, carrierSecrets: newCarrierSecrets('ups'), policy });
    try {
      const post = (body: RefundRequest) =>
        app.inject({
          method: 'POST',
          url: '/v1/refunds',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${service.apiKey}` },
          payload: JSON.stringify(api.requestBody(service, body)),
        });
      const usd = await post(refundOf(1_001));
      expect(usd.statusCode, usd.body).toBe(422);
      expect(json(usd).detail).toMatch(/10\.01 USD is above the largest refund accepted, 10\.00 USD/);
      const jpy = await post(refundOf(50_001, { currency: 'JPY' }));
      expect(json(jpy).detail).toMatch(/50001 JPY is above the largest refund accepted, 50000 JPY/);
      const jpyAtLimit = await post(refundOf(50_000, { currency: 'JPY' }));
      expect(jpyAtLimit.statusCode, jpyAtLimit.body).toBe(201);
    } finally {
      await app.close();
    }
  });
});

describe('currencies', () => {
  it('the fund code CHE is refused', async () => {
    await expectRefused(refundOf(1_000, { currency: 'CHE' }), 'currency', /unknown ISO 4217 currency "CHE"/);
  });
});

describe('/readyz', () => {
  it('is 200 while the database answers with the current schema', async () => {
    const response = await api.call('GET', '/readyz');
    expect(response.statusCode, response.body).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ready', checks: { database: 'ok' } });
  });

  it('is 503 naming the database while it does not answer, and names any other check that fails', async () => {
    const unreachable = createPool('postgres://nobody:secret@127.0.0.1:1/refunds', 1);
    const app = await buildApp({
      refunds: api.h.refunds,
      pool: unreachable,
      carrierSecrets: newCarrierSecrets('ups'),
      readinessChecks: { temporal: async () => 'not connected', other: async () => undefined },
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(json(response).detail).toMatch(/^not ready: database: database not reachable: .*ECONNREFUSED.*; temporal: not connected$/);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await unreachable.end();
    }
  });
});
