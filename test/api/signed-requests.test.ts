/**
 * POST /v1/refunds with the refund service's signature fields next to the request (keyId,
 * signedAt, nonce, signature): the API fills in `requestedBy` (the caller), `kind` and `alg`, and
 * the workflow verifies the statement against the key registry. Missing or malformed signature
 * fields are refused before anything starts, naming the field; a signature that does not count
 * (another key, another service's statement, a caller the registry does not know) answers with
 * the refund rejected at once, never paid. Real API, Temporal and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../client/errors';
import { RefundsApiClient } from '../../client/refunds-api-client';
import type { RefundView } from '../../client/views';
import { addPrincipal } from '../../store/principals';
import { generateKeyPair } from '../../workflows/statements';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
let service: TestPrincipal;
let otherService: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, otherService] = await Promise.all([
    api.principal('svc-returns', ['refund_service']),
    api.principal('svc-checkout', ['refund_service']),
  ]);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;
/** Sent as a string, exactly as given: the harness signs no string body. */
const post = (who: TestPrincipal, body: unknown) => api.call('POST', '/v1/refunds', who, JSON.stringify(body));

function expectInvalid(response: { statusCode: number; body: string }, paths: string[]) {
  expect(response.statusCode, response.body).toBe(422);
  expect(json(response)).toMatchObject({ type: '/problems/invalid-input' });
  expect((json(response).errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual([...paths].sort());
}

/** The refund answered with `rule` as the reason its request does not count: rejected at once, audited, unpaid. */
function expectRefusedRequest(response: { statusCode: number; body: string }, rule: string) {
  expect(response.statusCode, response.body).toBe(201);
  const refund = json(response) as unknown as RefundView;
  expect(refund).toMatchObject({ state: 'rejected', requestedBy: null, payout: null, outcome: { code: 'request_refused' } });
  expect(refund.outcome?.message).toContain(`(${rule})`);
  const rejected = refund.timeline.filter((step) => step.kind === 'statement_rejected');
  expect(rejected.map((step) => step.data)).toEqual([expect.objectContaining({ statement: 'refund_request', rule })]);
}

describe('POST /v1/refunds: the signature fields', () => {
  it('refuses a request without them, naming each, and starts nothing', async () => {
    const request = refundOf(4_500);
    expectInvalid(await post(service, request), ['keyId', 'signedAt', 'nonce', 'signature']);
    expect(await api.h.refunds.getRefundRow(request.refundId)).toBeUndefined();
  });

  it.each([
    ['signature', { signature: 'not a signature' }],
    ['signedAt', { signedAt: 'yesterday' }],
    ['nonce', { nonce: '' }],
    ['keyId', { keyId: 'a key with spaces' }],
  ])('refuses a malformed %s, naming it, and starts nothing', async (field, bad) => {
    const request = refundOf(4_500);
    expectInvalid(await post(service, { ...api.requestBody(service, request), ...bad }), [field]);
    expect(await api.h.refunds.getRefundRow(request.refundId)).toBeUndefined();
  });

  it('starts a refund the caller signed, with the caller as requestedBy; signed again it is the same refund', async () => {
    const request = refundOf(4_500);
    const created = await post(service, api.requestBody(service, request));
    expect(created.statusCode, created.body).toBe(201);
    const refund = json(created) as unknown as RefundView;
    expect(refund).toMatchObject({ state: 'awaiting_carrier', requestedBy: service.id, initiatedBy: request.initiatedBy });
    expect(refund.timeline[0]).toMatchObject({
      kind: 'refund_requested',
      data: { requestedBy: service.id, statement: { keyId: service.signingKey!.keyId } },
    });
    const again = await post(service, api.requestBody(service, request));
    expect(again.statusCode, again.body).toBe(200);
    expect(json(again)).toMatchObject({ refundId: request.refundId, state: 'awaiting_carrier' });
    const changed = await post(service, api.requestBody(service, { ...request, reason: 'another reason' }));
    expect(changed.statusCode, changed.body).toBe(409);
  });

  it('answers a request signed with a key that is not the caller’s with the refund rejected (bad_signature)', async () => {
    const request = refundOf(4_500);
    const forged = { ...service, signingKey: { ...service.signingKey!, secretKey: generateKeyPair('k').secretKey } };
    expectRefusedRequest(await post(service, api.requestBody(forged, request)), 'bad_signature');
  });

  it('answers another service’s signed request relayed by the caller with the refund rejected: the caller is the signer', async () => {
    const request = refundOf(4_500);
    expectRefusedRequest(await post(service, api.requestBody(otherService, request)), 'unknown_key');
  });

  it('answers a caller the key registry does not know with the refund rejected (unknown_principal)', async () => {
    // An API key with the refund_service role, but no registry entry two admins endorsed.
    const id = uniqueId('svc-unregistered');
    const { apiKey } = await addPrincipal(api.owner, { id, roles: ['refund_service'] });
    const stranger: TestPrincipal = {
      id,
      apiKey,
      signingKey: { principalId: id, keyId: `${id}.k1`, secretKey: generateKeyPair('k').secretKey },
    };
    expectRefusedRequest(await post(stranger, api.requestBody(stranger, refundOf(4_500))), 'unknown_principal');
  });
});

describe('RefundsApiClient.requestRefund', () => {
  it('signs with its signing key, and refuses to send without one', async () => {
    const baseUrl = await api.listen();
    const request = refundOf(4_500);
    const unsigned = new RefundsApiClient({ baseUrl, apiKey: service.apiKey });
    await expect(unsigned.requestRefund(request)).rejects.toBeInstanceOf(InvalidInputError);
    expect(await api.h.refunds.getRefundRow(request.refundId)).toBeUndefined();
    const signing = new RefundsApiClient({ baseUrl, apiKey: service.apiKey, signingKey: service.signingKey! });
    const { created, refund } = await signing.requestRefund(request);
    expect(created).toBe(true);
    expect(refund).toMatchObject({ state: 'awaiting_carrier', requestedBy: service.id });
  });
});
