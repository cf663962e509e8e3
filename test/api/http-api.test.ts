/**
 * The HTTP API against the real stack (Temporal dev server, PostgreSQL, the real fastify app):
 * every endpoint's success path and every refusal: authentication, roles, carrier signatures,
 * malformed bodies, each separation-of-duties rule, rate limiting, OpenAPI and metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateApiKey, revokePrincipal } from '../../store/principals';
import type { RefundView } from '../../client/views';
import type { RefundRequest } from '../../workflows/schemas';
import { buildApp } from '../../api/app';
import { type CarrierKey, type CarrierSecrets, signCarrierPayload } from '../../client/carrier-signature';
import { newCarrierKey, startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { tripBreaker } from '../support/breakers';
import { carrierEvent, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
let service: TestPrincipal;
let scanner: TestPrincipal;
let approver1: TestPrincipal;
let approver2: TestPrincipal;
let approver3: TestPrincipal;
let junior: TestPrincipal;
let ops: TestPrincipal;
let admin: TestPrincipal;
let scannerApprover: TestPrincipal;
let serviceApprover: TestPrincipal;
/** The key ups rotates to: the workers hold it from the start of the rotation, as they must. */
const rotatedUpsKey = newCarrierKey('ups');

beforeAll(async () => {
  api = await startApiHarness({ carrierSecrets: { ups: [newCarrierKey('ups'), rotatedUpsKey], dhl: [newCarrierKey('dhl')] } });
  [service, scanner, approver1, approver2, approver3, junior, ops, admin, scannerApprover, serviceApprover] = await Promise.all([
    api.principal('svc-returns', ['refund_service']),
    api.principal('wh-scanner', ['warehouse']),
    api.principal('emp-approver-a', ['approver'], '100000.00'),
    api.principal('emp-approver-b', ['approver'], '100000.00'),
    api.principal('emp-approver-c', ['approver'], '100000.00'),
    api.principal('emp-junior', ['approver'], '10.00'),
    api.principal('emp-ops', ['ops']),
    api.principal('emp-admin', ['admin']),
    api.principal('emp-scan-approver', ['warehouse', 'approver'], '100000.00'),
    api.principal('svc-approver', ['refund_service', 'approver'], '100000.00'),
  ]);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

async function requested(request: RefundRequest, by = service): Promise<RefundView> {
  const response = await api.call('POST', '/v1/refunds', by, request);
  expect(response.statusCode, response.body).toBe(201);
  return json(response) as unknown as RefundView;
}

/** Requests a refund over HTTP and delivers the carrier's delivery and the warehouse's matching scan. */
async function withEvidence(request: RefundRequest, scannedBy = scanner): Promise<void> {
  await requested(request);
  const delivered = await api.carrierPost(carrierEvent(request, 'delivered'));
  expect(delivered.statusCode, delivered.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const scan = await api.call(
    'POST',
    `/v1/refunds/${request.refundId}/warehouse-scans`,
    scannedBy,
    api.scanBody(scannedBy, request.refundId, matchingReceipt(request)),
  );
  expect(scan.statusCode, scan.body).toBe(202);
}

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, type: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = json(response);
  expect(problem).toMatchObject({ type: `/problems/${type}`, status });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  return problem;
}

/** Another API process over the same stack with other carrier keys, as after a restart with a new REFUNDS_CARRIER_SECRETS. */
async function carrierApp(carrierSecrets: CarrierSecrets) {
  const app = await buildApp({ refunds: api.h.refunds, pool: api.h.pool, carrierSecrets });
  return {
    post(body: unknown, key: CarrierKey) {
      const raw = JSON.stringify(body);
      return app.inject({
        method: 'POST',
        url: '/v1/carrier-events',
        headers: { 'content-type': 'application/json', 'x-carrier-signature': signCarrierPayload(key, raw) },
        payload: raw,
      });
    },
    close: () => app.close(),
  };
}

describe('authentication and roles', () => {
  it('refuses a request without an API key', async () => {
    const response = await api.call('GET', '/v1/refunds/anything');
    expectProblem(response, 401, 'unauthenticated');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('refuses a malformed Authorization header and an unknown key', async () => {
    expectProblem(
      await api.call('GET', '/v1/refunds/anything', undefined, undefined, { authorization: `Basic ${service.apiKey}` }),
      401,
      'unauthenticated',
    );
    const unknown = { id: 'nobody', apiKey: `rk_${'A'.repeat(43)}` };
    const response = await api.call('GET', '/v1/refunds/anything', unknown);
    expectProblem(response, 401, 'unauthenticated');
    expect(response.headers['www-authenticate']).toContain('invalid_token');
  });

  it('refuses a revoked principal’s key, at once', async () => {
    const temp = await api.principal('emp-leaver', ['ops']);
    expect((await api.call('GET', '/v1/refunds/stuck', temp)).statusCode).toBe(200);
    await revokePrincipal(api.owner, temp.id);
    expectProblem(await api.call('GET', '/v1/refunds/stuck', temp), 401, 'unauthenticated');
  });

  it('refuses a rotated-out key and accepts its replacement', async () => {
    const temp = await api.principal('emp-rotating', ['ops']);
    const fresh = await rotateApiKey(api.owner, temp.id);
    expectProblem(await api.call('GET', '/v1/refunds/stuck', temp), 401, 'unauthenticated');
    expect((await api.call('GET', '/v1/refunds/stuck', { id: temp.id, apiKey: fresh })).statusCode).toBe(200);
  });

  it.each([
    ['a scanner requesting a refund', () => scanner, 'POST', '/v1/refunds', ['refund_service']],
    ['a refund service scanning', () => service, 'POST', '/v1/refunds/r-x/warehouse-scans', ['warehouse']],
    ['a scanner approving', () => scanner, 'POST', '/v1/refunds/r-x/approvals', ['approver']],
    ['an approver cancelling', () => approver1, 'POST', '/v1/refunds/r-x/cancel', ['refund_service', 'ops']],
    ['a refund service listing stuck refunds', () => service, 'GET', '/v1/refunds/stuck', ['ops']],
    ['an approver verifying the audit trail', () => approver1, 'GET', '/v1/audit/verification', ['ops', 'admin']],
  ] as const)('refuses %s with the roles it needs', async (_what, who, method, url, roles) => {
    const response = await api.call(method, url, who(), method === 'POST' ? {} : undefined);
    const problem = expectProblem(response, 403, 'role-required');
    expect(problem.requiredRoles).toEqual(roles);
  });

  it('names the separation-of-duties rule when someone without the approver role approves', async () => {
    const problem = expectProblem(await api.call('POST', '/v1/refunds/r-x/approvals', ops, { decision: 'approve' }), 403, 'role-required');
    expect(problem.rule).toBe('approver_role_required');
  });
});

describe('POST /v1/refunds', () => {
  it('creates a refund (201), answers an identical repeat with 200 and a different body with 409', async () => {
    const request = refundOf(4_500);
    const created = await api.call('POST', '/v1/refunds', service, request);
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers.location).toBe(`/v1/refunds/${request.refundId}`);
    expect(json(created)).toMatchObject({
      refundId: request.refundId,
      state: 'awaiting_carrier',
      amount: 4_500,
      currency: 'USD',
      initiatedBy: request.initiatedBy,
      requestedBy: service.id,
      approvals: [],
      payout: null,
    });
    expect((json(created).timeline as Array<{ kind: string; data: { requestedBy?: string } }>)[0]).toMatchObject({
      kind: 'refund_requested',
      data: { requestedBy: service.id },
    });

    const reordered = Object.fromEntries(Object.entries(request).reverse());
    const repeat = await api.call('POST', '/v1/refunds', service, reordered);
    expect(repeat.statusCode, repeat.body).toBe(200);
    expect(json(repeat).refundId).toBe(request.refundId);

    expectProblem(await api.call('POST', '/v1/refunds', service, { ...request, reason: 'something else' }), 409, 'refund-conflict');
  });

  const base = () => refundRequest();
  it.each([
    ['a string quantity', () => ({ ...base(), items: [{ ...base().items[0], quantity: '1' }] }), ['items.0.quantity']],
    ['a float amount', () => ({ ...base(), items: [{ ...base().items[0], unitAmount: 10.5 }] }), ['items.0.unitAmount']],
    ['a negative amount', () => ({ ...base(), items: [{ ...base().items[0], unitAmount: -100 }] }), ['items.0.unitAmount']],
    ['an unknown currency', () => ({ ...base(), currency: 'XYZ' }), ['currency']],
    ['an unknown field', () => ({ ...base(), approvedBy: 'emp-approver-a' }), ['approvedBy']],
    ['an unknown nested field', () => ({ ...base(), items: [{ ...base().items[0], discount: 5 }] }), ['items.0.discount']],
    [
      'a missing field',
      () => {
        const { reason: _reason, ...rest } = base();
        return rest;
      },
      ['reason'],
    ],
    ['no items', () => ({ ...base(), items: [] }), ['items']],
    ['an array body', () => [base()], ['']],
  ])('refuses %s with 422 naming the field, and starts nothing', async (_what, make, paths) => {
    const body = make() as { refundId?: string };
    const problem = expectProblem(await api.call('POST', '/v1/refunds', service, body), 422, 'invalid-input');
    expect((problem.errors as Array<{ path: string }>).map((e) => e.path)).toEqual(paths);
    if (body.refundId) expect(await api.h.refunds.getRefundRow(body.refundId)).toBeUndefined();
  });

  it('refuses malformed JSON with 400, an empty JSON body with 400, and prototype poisoning with 400', async () => {
    expectProblem(await api.call('POST', '/v1/refunds', service, '{"refundId": "r-1",'), 400, 'malformed-request');
    expectProblem(await api.call('POST', '/v1/refunds', service, ''), 400, 'malformed-request');
    expectProblem(await api.call('POST', '/v1/refunds', service, '{"__proto__": {"admin": true}}'), 400, 'malformed-request');
  });

  it('refuses a body that is not JSON with 415', async () => {
    const response = await api.call('POST', '/v1/refunds', service, 'refundId=r-1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expectProblem(response, 415, 'unsupported-media-type');
    expectProblem(await api.call('POST', '/v1/refunds', service, 'hello', { 'content-type': 'text/plain' }), 415, 'unsupported-media-type');
  });

  it('refuses a body over the size limit with 413', async () => {
    const huge = { ...refundRequest(), reason: 'x'.repeat(300 * 1024) };
    expectProblem(await api.call('POST', '/v1/refunds', service, huge), 413, 'payload-too-large');
  });
});

describe('POST /v1/carrier-events', () => {
  it('routes a signed event to the refund by carrier and tracking number', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const event = carrierEvent(request, 'delivered');
    const response = await api.carrierPost(event);
    expect(response.statusCode, response.body).toBe(202);
    expect(json(response)).toEqual({ eventId: event.eventId, refundIds: [request.refundId], finishedRefundIds: [], pending: false });
    await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  });

  it('accepts a late event for a refund that has finished, and says so', async () => {
    const request = refundOf(4_500);
    await requested(request);
    await api.call('POST', `/v1/refunds/${request.refundId}/cancel`, service, { reason: 'customer kept the item' });
    await api.h.refunds.waitForState(request.refundId, ['cancelled']);
    const event = carrierEvent(request, 'delivered');
    const response = await api.carrierPost(event);
    expect(response.statusCode, response.body).toBe(202);
    expect(json(response)).toEqual({ eventId: event.eventId, refundIds: [], finishedRefundIds: [request.refundId], pending: false });
  });

  it('accepts a replayed event and changes nothing', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const event = JSON.stringify(carrierEvent(request, 'in_transit'));
    const signature = { 'x-carrier-signature': signCarrierPayload(api.carrierKey('ups'), event) };
    for (let i = 0; i < 3; i++) {
      expect((await api.call('POST', '/v1/carrier-events', undefined, event, signature)).statusCode).toBe(202);
    }
    const status = await api.h.refunds.getRefund(request.refundId);
    expect(status.evidence.carrierEvents).toHaveLength(1);
    const kinds = (await api.h.refunds.auditTrail(request.refundId)).map((r) => r.kind);
    expect(kinds.filter((k) => k === 'carrier_event')).toHaveLength(1);
  });

  it('refuses an unsigned event, a wrong secret, a tampered body, and stale or future timestamps, with 401', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const event = carrierEvent(request, 'delivered');
    const ups = api.carrierKey('ups');
    expectProblem(await api.call('POST', '/v1/carrier-events', undefined, event), 401, 'invalid-signature');
    expectProblem(
      await api.carrierPost(event, { key: { keyId: ups.keyId, secret: 'not-the-secret-not-the-secret-xx' } }),
      401,
      'invalid-signature',
    );
    // A minute past the 5-minute tolerance either way, so a busy machine's clock tick cannot bring it back inside.
    const now = Math.floor(Date.now() / 1000);
    expectProblem(await api.carrierPost(event, { timestamp: now - 360 }), 401, 'invalid-signature');
    expectProblem(await api.carrierPost(event, { timestamp: now + 360 }), 401, 'invalid-signature');
    const signed = signCarrierPayload(ups, JSON.stringify(event));
    const tampered = JSON.stringify({ ...event, status: 'returned_to_sender' });
    expectProblem(
      await api.call('POST', '/v1/carrier-events', undefined, tampered, { 'x-carrier-signature': signed }),
      401,
      'invalid-signature',
    );
    // The header of before per-carrier keys, without k=, is refused as malformed.
    expectProblem(
      await api.call('POST', '/v1/carrier-events', undefined, event, { 'x-carrier-signature': signed.replace(/,k=[^,]+/, '') }),
      401,
      'invalid-signature',
    );
    expectProblem(
      await api.call('POST', '/v1/carrier-events', undefined, event, { 'x-carrier-signature': 'garbage' }),
      401,
      'invalid-signature',
    );
    // None of them reached the refund.
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents).toEqual([]);
  });

  it("refuses an event signed by another carrier, with its own key or under this carrier's key id, and one naming an unknown key", async () => {
    const request = refundOf(4_500);
    await requested(request);
    const event = carrierEvent(request, 'delivered');
    const [ups, dhl] = [api.carrierKey('ups'), api.carrierKey('dhl')];
    const ownKey = expectProblem(await api.carrierPost(event, { key: dhl }), 401, 'invalid-signature');
    expect(ownKey.detail).toBe(`key ${dhl.keyId} belongs to another carrier; an event for ups must be signed with a key of ups`);
    const borrowedId = expectProblem(
      await api.carrierPost(event, { key: { keyId: ups.keyId, secret: dhl.secret } }),
      401,
      'invalid-signature',
    );
    expect(borrowedId.detail).toBe(`the signature does not match the body for key ${ups.keyId} of ups`);
    const unknown = expectProblem(
      await api.carrierPost(event, { key: { keyId: 'ups-1999-01', secret: ups.secret } }),
      401,
      'invalid-signature',
    );
    expect(unknown.detail).toBe('carrier ups has no key ups-1999-01 (unknown, or retired)');
    const noCarrier = expectProblem(await api.carrierPost({ ...event, carrier: 'fedex' }, { key: ups }), 401, 'invalid-signature');
    expect(noCarrier.detail).toBe('no signing keys are configured for carrier "fedex"');
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents).toEqual([]);
    // dhl's key still signs dhl's own events.
    const dhlRequest = refundOf(4_500, { return: { carrier: 'dhl', trackingNumber: uniqueId('JD') } });
    await requested(dhlRequest);
    expect((await api.carrierPost(carrierEvent(dhlRequest, 'in_transit'), { key: dhl })).statusCode).toBe(202);
  });

  it("accepts a carrier's old and new key while it rotates, and refuses the retired key once it is removed", async () => {
    const request = refundOf(4_500);
    await requested(request);
    const [oldKey, newKey] = [api.carrierKey('ups'), rotatedUpsKey];
    const during = await carrierApp({ ...api.carrierSecrets, ups: [oldKey, newKey] });
    const after = await carrierApp({ ...api.carrierSecrets, ups: [newKey] });
    try {
      expect((await during.post(carrierEvent(request, 'accepted'), oldKey)).statusCode).toBe(202);
      expect((await during.post(carrierEvent(request, 'in_transit'), newKey)).statusCode).toBe(202);
      expect((await after.post(carrierEvent(request, 'out_for_delivery'), newKey)).statusCode).toBe(202);
      const retired = await after.post(carrierEvent(request, 'delivered'), oldKey);
      expectProblem(retired, 401, 'invalid-signature');
      expect(json(retired).detail).toBe(`carrier ups has no key ${oldKey.keyId} (unknown, or retired)`);
      // Each event is verified again inside the refund, with the keys its worker holds (old and new).
      const statuses = async () => (await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents.map((e) => e.status).sort();
      await expect.poll(statuses, { timeout: 15_000 }).toEqual(['accepted', 'in_transit', 'out_for_delivery']);
    } finally {
      await Promise.all([during.close(), after.close()]);
    }
  });

  it('accepts an event for a parcel no refund waits for yet as pending, and answers 422 for a signed but invalid event', async () => {
    const early = carrierEvent(refundOf(4_500), 'delivered');
    const pending = await api.carrierPost(early);
    expect(pending.statusCode, pending.body).toBe(202);
    expect(json(pending)).toEqual({ eventId: early.eventId, refundIds: [], finishedRefundIds: [], pending: true });
    const problem = expectProblem(
      await api.carrierPost({ ...carrierEvent(refundOf(4_500), 'delivered'), weightGrams: -3 }),
      422,
      'invalid-input',
    );
    expect(problem.errors).toEqual([expect.objectContaining({ path: 'weightGrams' })]);
  });
});

describe('POST /v1/refunds/{refundId}/warehouse-scans', () => {
  it('records the scan with the caller as the scanner', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const receipt = matchingReceipt(request);
    const response = await api.call(
      'POST',
      `/v1/refunds/${request.refundId}/warehouse-scans`,
      scanner,
      api.scanBody(scanner, request.refundId, receipt),
    );
    expect(response.statusCode, response.body).toBe(202);
    expect(json(response)).toEqual({ refundId: request.refundId, eventId: receipt.eventId });
    await expect
      .poll(async () => (await api.h.refunds.getRefund(request.refundId)).evidence.receipts.map((r) => r.scannedBy))
      .toEqual([scanner.id]);
  });

  it('refuses a scan that names its own scanner, and a scan of an unknown refund', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const problem = expectProblem(
      await api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, {
        ...api.scanBody(scanner, request.refundId, matchingReceipt(request)),
        scannedBy: 'emp-someone-else',
      }),
      422,
      'invalid-input',
    );
    expect(problem.errors).toEqual([{ path: 'scannedBy', message: 'is not a known field' }]);
    expectProblem(
      await api.call(
        'POST',
        '/v1/refunds/r-no-such-refund/warehouse-scans',
        scanner,
        api.scanBody(scanner, 'r-no-such-refund', matchingReceipt(request)),
      ),
      404,
      'refund-not-found',
    );
  });

  it('takes the signature fields in the body: missing or malformed ones are refused naming the field, and nothing is sent', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const signed = api.scanBody(scanner, request.refundId, matchingReceipt(request));
    const post = (body: unknown) => api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, body);
    for (const field of ['keyId', 'signedAt', 'nonce', 'signature'] as const) {
      const { [field]: _dropped, ...missing } = signed;
      const problem = expectProblem(await post(missing), 422, 'invalid-input');
      expect(problem.errors).toEqual([{ path: field, message: expect.any(String) }]);
    }
    const malformed = expectProblem(await post({ ...signed, signature: 'not-a-signature' }), 422, 'invalid-input');
    expect(malformed.errors).toEqual([{ path: 'signature', message: expect.stringContaining('signature') }]);
    const badTime = expectProblem(await post({ ...signed, signedAt: 'yesterday' }), 422, 'invalid-input');
    expect(badTime.errors).toEqual([{ path: 'signedAt', message: expect.stringContaining('ISO 8601') }]);
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.receipts).toEqual([]);
  });

  it('refuses with 403 and the rule a scan no registered key of the caller signed, and nothing is sent', async () => {
    const request = refundOf(4_500);
    await requested(request);
    const receipt = matchingReceipt(request);
    const post = (body: unknown) => api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, body);
    // Signed for another refund: the statement the API rebuilds (with this refund's id) does not verify.
    const elsewhere = api.scanBody(scanner, `${request.refundId}-other`, receipt);
    expect(expectProblem(await post(elsewhere), 403, 'scan-refused').rule).toBe('bad_signature');
    // Signed by someone else with their key, sent with the scanner's API key.
    const other = await api.principal('wh-other', ['warehouse']);
    const borrowed = api.scanBody(other, request.refundId, receipt);
    expect(expectProblem(await post(borrowed), 403, 'scan-refused').rule).toBe('unknown_key');
    expect(expectProblem(await post({ ...borrowed, keyId: scanner.signingKey!.keyId }), 403, 'scan-refused').rule).toBe('bad_signature');
    const status = await api.h.refunds.getRefund(request.refundId);
    expect(status.evidence.receipts).toEqual([]);
  });

  it('refuses a scan of a refund that has finished with 409', async () => {
    const request = refundOf(4_500);
    await requested(request);
    await api.call('POST', `/v1/refunds/${request.refundId}/cancel`, service, { reason: 'customer kept the item' });
    await api.h.refunds.waitForState(request.refundId, ['cancelled']);
    const problem = expectProblem(
      await api.call(
        'POST',
        `/v1/refunds/${request.refundId}/warehouse-scans`,
        scanner,
        api.scanBody(scanner, request.refundId, matchingReceipt(request)),
      ),
      409,
      'refund-finished',
    );
    expect(problem.detail).toContain('cancelled');
  });
});

describe('POST /v1/refunds/{refundId}/approvals: separation of duties over HTTP', () => {
  // 1,500.00 USD: two distinct approvers; requested in the name of one approver, scanned by another.
  let request: RefundRequest;
  beforeAll(async () => {
    request = refundOf(150_000, { initiatedBy: approver3.id });
    await withEvidence(request, scannerApprover);
    await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  });
  const approve = (who: TestPrincipal, extra: Record<string, unknown> = {}) =>
    api.call('POST', `/v1/refunds/${request.refundId}/approvals`, who, {
      ...api.decisionBody(who, request, { decision: 'approve', reason: 'receipt matches' }),
      ...extra,
    });

  it.each([
    ['the employee who requested it', () => approver3, 'approver_is_requester'],
    ['the employee who scanned it', () => scannerApprover, 'approver_is_scanner'],
    ['an approver whose limit is below the amount', () => junior, 'approval_limit_below_amount'],
  ])('refuses %s with 403 naming the rule', async (_who, who, rule) => {
    const problem = expectProblem(await approve(who()), 403, 'approval-refused');
    expect(problem.rule).toBe(rule);
  });

  it('refuses an approval that names its own approver', async () => {
    const problem = expectProblem(await approve(approver1, { approverId: approver2.id }), 422, 'invalid-input');
    expect(problem.errors).toEqual([{ path: 'approverId', message: 'is not a known field' }]);
  });

  it('refuses a decision the signature does not cover, one signed for another amount, and one signed with another approver’s key', async () => {
    const url = `/v1/refunds/${request.refundId}/approvals`;
    const altered = { ...api.decisionBody(approver1, request), reason: 'changed after signing' };
    expect(expectProblem(await api.call('POST', url, approver1, altered), 403, 'approval-refused').rule).toBe('bad_signature');
    const cheaper = api.decisionBody(approver1, { refundId: request.refundId, amount: 100, currency: 'USD' });
    expect(expectProblem(await api.call('POST', url, approver1, cheaper), 403, 'approval-refused').rule).toBe('amount_mismatch');
    const borrowed = api.decisionBody(approver2, request);
    expect(expectProblem(await api.call('POST', url, approver1, borrowed), 403, 'approval-refused').rule).toBe('unknown_key');
    const kinds = (await api.h.refunds.auditTrail(request.refundId)).map((row) => [row.kind, (row.data as { rule?: string }).rule]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['statement_rejected', 'bad_signature'],
        ['statement_rejected', 'unknown_key'],
      ]),
    );
    expect((await api.h.refunds.getRefund(request.refundId)).approvals).toEqual([]);
  });

  it('takes two distinct approvals, refusing the same approver twice, then refuses any more with 409', async () => {
    const first = await approve(approver1);
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2, approvalsStillNeeded: 1 });
    expect((json(first).approvals as unknown[])[0]).toMatchObject({
      approverId: approver1.id,
      decision: 'approve',
      reason: 'receipt matches',
    });

    expect(expectProblem(await approve(approver1), 403, 'approval-refused').rule).toBe('approver_already_decided');

    const second = await approve(approver2);
    expect(second.statusCode, second.body).toBe(200);
    expect(json(second).state).toBe('paying');

    const late = expectProblem(await approve(approver3), 409, 'not-awaiting-approval');
    expect(late.rule).toBe('not_awaiting_approval');
    await api.h.refunds.waitForState(request.refundId, ['refunded']);
  });

  it('refuses the refund service that relayed a request, even when it names a customer', async () => {
    const relayed = refundOf(50_000, { initiatedBy: 'customer' });
    await requested(relayed, serviceApprover);
    const delivered = await api.carrierPost(carrierEvent(relayed, 'delivered'));
    expect(delivered.statusCode).toBe(202);
    await api.h.refunds.waitForState(relayed.refundId, ['awaiting_warehouse']);
    await api.call(
      'POST',
      `/v1/refunds/${relayed.refundId}/warehouse-scans`,
      scanner,
      api.scanBody(scanner, relayed.refundId, matchingReceipt(relayed)),
    );
    await api.h.refunds.waitForState(relayed.refundId, ['awaiting_approval']);
    const problem = expectProblem(
      await api.call('POST', `/v1/refunds/${relayed.refundId}/approvals`, serviceApprover, api.decisionBody(serviceApprover, relayed)),
      403,
      'approval-refused',
    );
    expect(problem.rule).toBe('approver_is_requester');
    const rejected = await api.call(
      'POST',
      `/v1/refunds/${relayed.refundId}/approvals`,
      approver1,
      api.decisionBody(approver1, relayed, { decision: 'reject', reason: 'no' }),
    );
    expect(json(rejected)).toMatchObject({ state: 'rejected', outcome: { code: 'approver_rejected', by: approver1.id } });
  });

  it('refuses an approval of a refund that is not awaiting approval yet (409) or does not exist (404)', async () => {
    const early = refundOf(50_000);
    await requested(early);
    const problem = expectProblem(
      await api.call('POST', `/v1/refunds/${early.refundId}/approvals`, approver1, api.decisionBody(approver1, early)),
      409,
      'not-awaiting-approval',
    );
    expect(problem.rule).toBe('not_awaiting_approval');
    expectProblem(
      await api.call(
        'POST',
        '/v1/refunds/r-no-such-refund/approvals',
        approver1,
        api.decisionBody(approver1, { refundId: 'r-no-such-refund', amount: 100, currency: 'USD' }),
      ),
      404,
      'refund-not-found',
    );
    const invalid = expectProblem(
      await api.call('POST', `/v1/refunds/${early.refundId}/approvals`, approver1, {
        ...api.decisionBody(approver1, early),
        decision: 'maybe',
      }),
      422,
      'invalid-input',
    );
    expect(invalid.errors).toEqual([expect.objectContaining({ path: 'decision' })]);
  });

  it('applies an approver’s limit in the refund’s own currency', async () => {
    // The junior approver's 10.00 is 1,000 minor units of a USD refund but 10 of a JPY one: 8 JPY is
    // within it, 2,000 JPY (which needs two approvals) is not.
    const yen = refundRequest({ currency: 'JPY', items: [{ sku: 'CASE-1', quantity: 1, unitAmount: 2_000, category: 'accessories' }] });
    await withEvidence(yen);
    await api.h.refunds.waitForState(yen.refundId, ['awaiting_approval']);
    const problem = expectProblem(
      await api.call('POST', `/v1/refunds/${yen.refundId}/approvals`, junior, api.decisionBody(junior, yen)),
      403,
      'approval-refused',
    );
    expect(problem.rule).toBe('approval_limit_below_amount');
    expect(problem.detail).toMatch(/may approve up to .*10\b/);
  });
});

describe('POST /v1/refunds/{refundId}/cancel', () => {
  it('lets the refund service and operations cancel before payout, as themselves', async () => {
    const first = refundOf(4_500);
    await requested(first);
    const byService = await api.call('POST', `/v1/refunds/${first.refundId}/cancel`, service, { reason: 'customer kept the item' });
    expect(byService.statusCode, byService.body).toBe(200);
    expect(json(byService)).toMatchObject({
      state: 'cancelled',
      outcome: { code: 'cancelled', by: service.id, message: 'customer kept the item' },
    });

    const second = refundOf(4_500);
    await requested(second);
    const byOps = await api.call('POST', `/v1/refunds/${second.refundId}/cancel`, ops, { reason: 'duplicate of another refund' });
    expect(json(byOps)).toMatchObject({ state: 'cancelled', outcome: { by: ops.id } });
  });

  it('refuses a cancel after payout (409), without a reason (422), with a cancelledBy field (422)', async () => {
    const paid = refundOf(4_500);
    await withEvidence(paid);
    await api.h.refunds.waitForState(paid.refundId, ['refunded']);
    expectProblem(await api.call('POST', `/v1/refunds/${paid.refundId}/cancel`, service, { reason: 'too late' }), 409, 'cancel-refused');
    expect(expectProblem(await api.call('POST', `/v1/refunds/${paid.refundId}/cancel`, service, {}), 422, 'invalid-input').errors).toEqual([
      expect.objectContaining({ path: 'reason' }),
    ]);
    const spoofed = await api.call('POST', `/v1/refunds/${paid.refundId}/cancel`, service, { reason: 'x', cancelledBy: 'emp-other' });
    expect(expectProblem(spoofed, 422, 'invalid-input').errors).toEqual([{ path: 'cancelledBy', message: 'is not a known field' }]);
  });
});

describe('GET /v1/refunds/{refundId}', () => {
  it('shows a finished refund to any role: amount, evidence, risk, approvals, payout, deadlines and timeline', async () => {
    const request = refundOf(4_500);
    await withEvidence(request);
    await api.h.refunds.waitForState(request.refundId, ['refunded']);
    const response = await api.call('GET', `/v1/refunds/${request.refundId}`, scanner);
    expect(response.statusCode, response.body).toBe(200);
    const refund = json(response) as unknown as RefundView;
    expect(refund).toMatchObject({
      refundId: request.refundId,
      state: 'refunded',
      amount: 4_500,
      currency: 'USD',
      approvalsRequired: 0,
      approvals: [],
      risk: { band: 'low' },
      payout: { reference: expect.any(String), paidAt: expect.any(String) },
      deadlines: { next: null, stuckAfter: null },
      evidence: { delivered: true, findings: [] },
    });
    expect(refund.evidence.receipts[0]).toMatchObject({ scannedBy: scanner.id, receivedAt: expect.any(String) });
    expect(refund.timeline.map((t) => t.kind)).toEqual(
      expect.arrayContaining(['refund_requested', 'carrier_event', 'warehouse_receipt', 'risk_assessed', 'paid']),
    );
    expect(refund.timeline.map((t) => t.seq)).toEqual([...refund.timeline.map((t) => t.seq)].sort((a, b) => a - b));
  });

  it('shows the risk exactly as the client does: every reason with its values, the tripped breakers on the refund and an approval’s breaker', async () => {
    const agent = uniqueId('emp-agent');
    const insider = await api.principal('emp-approver-tripped', ['approver'], '100000.00');
    await Promise.all([tripBreaker(api.h.pool, agent, 'initiator'), tripBreaker(api.h.pool, insider.id, 'approver')]);
    const request = refundOf(4_500, { initiatedBy: agent });
    await withEvidence(request);
    await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    const approved = await api.call('POST', `/v1/refunds/${request.refundId}/approvals`, insider, api.decisionBody(insider, request));
    expect(approved.statusCode, approved.body).toBe(200);

    const response = await api.call('GET', `/v1/refunds/${request.refundId}`, ops);
    expect(response.statusCode, response.body).toBe(200);
    const refund = json(response) as unknown as RefundView;
    const status = await api.h.refunds.getRefund(request.refundId);
    expect(refund.risk).toEqual(status.risk);
    expect(refund.approvals).toEqual(status.approvals);
    expect(refund.approvalsRequired).toBe(status.approvalsRequired);

    // A refund that would need no approval needs one for the initiator's breaker and one more for the approver's.
    expect(refund).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2, approvalsStillNeeded: 1 });
    expect(refund.risk!.breakers).toEqual([
      { employeeId: agent, touchedAs: 'initiator', trippedAt: expect.any(String), reason: '3 refunds initiated in 24 hours (limit 2)' },
      { employeeId: insider.id, touchedAs: 'approver', trippedAt: expect.any(String), reason: '3 approvals in 24 hours (limit 2)' },
    ]);
    expect(refund.risk!.reasons).toContainEqual({
      code: 'insider_breaker_active',
      detail: expect.stringContaining(agent),
      points: expect.any(Number),
      values: {
        employeeId: agent,
        touchedAs: 'initiator',
        trippedAt: expect.any(String),
        reason: '3 refunds initiated in 24 hours (limit 2)',
      },
    });
    expect(refund.approvals).toEqual([
      expect.objectContaining({
        approverId: insider.id,
        decision: 'approve',
        breaker: expect.objectContaining({ employeeId: insider.id, touchedAs: 'approver' }),
      }),
    ]);
  });

  it('answers 404 for an unknown refund and 422 for an id that cannot be one', async () => {
    expectProblem(await api.call('GET', '/v1/refunds/r-no-such-refund', ops), 404, 'refund-not-found');
    const problem = expectProblem(await api.call('GET', '/v1/refunds/has%20space', ops), 422, 'invalid-input');
    expect(problem.errors).toEqual([expect.objectContaining({ path: 'refundId' })]);
  });

  it('answers 404 with a problem for an unknown route', async () => {
    expectProblem(await api.call('GET', '/v1/nothing-here', ops), 404, 'not-found');
  });
});

describe('GET /v1/refunds/stuck', () => {
  it('lists refunds waiting longer than an ISO 8601 duration, oldest first', async () => {
    const older = refundOf(4_500);
    const newer = refundOf(7_000);
    await requested(older);
    await requested(newer);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const response = await api.call('GET', '/v1/refunds/stuck?olderThan=PT1S&state=awaiting_carrier&limit=1000', ops);
    expect(response.statusCode, response.body).toBe(200);
    const refunds = json(response).refunds as Array<{ refundId: string; since: string }>;
    const ours = refunds.filter((r) => r.refundId === older.refundId || r.refundId === newer.refundId);
    expect(ours.map((r) => r.refundId)).toEqual([older.refundId, newer.refundId]);
    expect(ours[0]).toMatchObject({
      state: 'awaiting_carrier',
      waitingFor: 'first carrier scan of the return parcel',
      amount: 4_500,
      currency: 'USD',
    });
    const since = refunds.map((r) => Date.parse(r.since));
    expect(since).toEqual([...since].sort((a, b) => a - b));
  });

  it('lists refunds past their state’s own limit by default', async () => {
    const request = refundOf(4_500);
    await requested(request);
    expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
    await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    // The fast test policy gives the warehouse 2 s.
    await expect
      .poll(
        async () =>
          (json(await api.call('GET', '/v1/refunds/stuck?limit=1000', ops)).refunds as Array<{ refundId: string }>).map((r) => r.refundId),
        {
          timeout: 10_000,
          interval: 250,
        },
      )
      .toContain(request.refundId);
  });

  it.each([
    ['olderThan=P1M', 'olderThan'],
    ['olderThan=two-hours', 'olderThan'],
    ['limit=0', 'limit'],
    ['state=paid', 'state'],
    ['unknown=1', 'unknown'],
  ])('refuses ?%s with 422 naming the parameter', async (query, path) => {
    const problem = expectProblem(await api.call('GET', `/v1/refunds/stuck?${query}`, ops), 422, 'invalid-input');
    expect((problem.errors as Array<{ path: string }>).map((e) => e.path)).toEqual([path]);
  });
});

describe('GET /v1/audit/verification', () => {
  it('verifies the audit chain for operations and admins', async () => {
    for (const who of [ops, admin]) {
      const response = await api.call('GET', '/v1/audit/verification', who);
      expect(response.statusCode, response.body).toBe(200);
      expect(json(response)).toMatchObject({ ok: true, rowsChecked: expect.any(Number) });
    }
  });
});

describe('circuit breakers', () => {
  const lift = (employeeId: string, who: TestPrincipal | undefined, body: unknown) =>
    api.call('POST', `/v1/employees/${encodeURIComponent(employeeId)}/breaker/lift`, who, body);

  it('an admin lifts an employee’s tripped breaker: audited with the admin’s id; operations see it listed and alerted', async () => {
    const employee = uniqueId('emp-agent');
    const breaker = await tripBreaker(api.h.pool, employee, 'initiator');

    const listed = await api.call('GET', `/v1/employees/${employee}/breakers`, ops);
    expect(listed.statusCode, listed.body).toBe(200);
    expect(json(listed)).toEqual({ breakers: [{ ...breaker, liftedAt: null, liftedBy: null, liftReason: null }] });
    const alerts = await api.call('GET', '/v1/ops/alerts?limit=1000', ops);
    expect(alerts.statusCode, alerts.body).toBe(200);
    expect((json(alerts).alerts as Array<{ employeeId: string }>).filter((a) => a.employeeId === employee)).toEqual([
      expect.objectContaining({
        kind: 'breaker_tripped',
        details: expect.objectContaining({ breakerId: breaker.id, trippedAs: 'initiator' }),
      }),
    ]);

    const lifted = await lift(employee, admin, { reason: 'spoke to the agent: a batch of damaged deliveries' });
    expect(lifted.statusCode, lifted.body).toBe(200);
    expect(json(lifted)).toMatchObject({
      id: breaker.id,
      employeeId: employee,
      liftedBy: admin.id,
      liftReason: 'spoke to the agent: a batch of damaged deliveries',
      liftedAt: expect.any(String),
    });
    const trail = await api.h.refunds.employeeAuditTrail(employee);
    expect(trail.map((r) => [r.kind, r.actor])).toEqual([
      ['breaker_tripped', 'system'],
      ['breaker_lifted', `employee:${admin.id}`],
    ]);
    expect(trail[1]!.data).toMatchObject({
      breakerId: breaker.id,
      liftedBy: admin.id,
      reason: 'spoke to the agent: a batch of damaged deliveries',
    });

    expectProblem(await lift(employee, admin, { reason: 'again' }), 409, 'breaker-not-tripped');
    const after = await api.call('GET', `/v1/employees/${employee}/breakers`, admin);
    expect((json(after).breakers as Array<{ liftedBy: string }>).map((b) => b.liftedBy)).toEqual([admin.id]);
  });

  it('refuses a lift by anyone but an admin, of the admin’s own breaker, and of an employee with no tripped breaker', async () => {
    const employee = uniqueId('emp-agent');
    const selfAdmin = await api.principal('emp-admin-tripped', ['admin']);
    await Promise.all([tripBreaker(api.h.pool, employee, 'initiator'), tripBreaker(api.h.pool, selfAdmin.id, 'initiator')]);

    for (const who of [ops, approver1]) {
      expect(expectProblem(await lift(employee, who, { reason: 'looks fine' }), 403, 'role-required').requiredRoles).toEqual(['admin']);
    }
    expectProblem(await lift(employee, undefined, { reason: 'looks fine' }), 401, 'unauthenticated');
    const own = expectProblem(await lift(selfAdmin.id, selfAdmin, { reason: 'it was me' }), 403, 'breaker-lift-refused');
    expect(own.detail).toMatch(/own breaker/);
    expectProblem(await lift(uniqueId('emp-clean'), admin, { reason: 'just in case' }), 409, 'breaker-not-tripped');

    for (const who of [employee, selfAdmin.id]) {
      const breakers = json(await api.call('GET', `/v1/employees/${who}/breakers`, ops)).breakers as Array<{ liftedAt: string | null }>;
      expect(breakers.map((b) => b.liftedAt)).toEqual([null]);
    }
  });

  it('answers 422 naming the field for a malformed lift, including an attempt to name who lifts it', async () => {
    const employee = uniqueId('emp-agent');
    for (const [body, path] of [
      [{}, 'reason'],
      [{ reason: '   ' }, 'reason'],
      [{ reason: 'x'.repeat(501) }, 'reason'],
      [{ reason: 'fine', liftedBy: 'someone-else' }, 'liftedBy'],
    ] as const) {
      const problem = expectProblem(await lift(employee, admin, body), 422, 'invalid-input');
      expect(problem.errors).toEqual([expect.objectContaining({ path })]);
    }
    expect(expectProblem(await lift('has space', admin, { reason: 'fine' }), 422, 'invalid-input').errors).toEqual([
      expect.objectContaining({ path: 'employeeId' }),
    ]);
    expectProblem(await lift(employee, admin, '{"reason":'), 400, 'malformed-request');
  });

  it('lists breakers for operations and admins only, and alerts for operations only', async () => {
    expect(expectProblem(await api.call('GET', '/v1/employees/emp-x/breakers', approver1), 403, 'role-required').requiredRoles).toEqual([
      'ops',
      'admin',
    ]);
    expect(expectProblem(await api.call('GET', '/v1/ops/alerts', admin), 403, 'role-required').requiredRoles).toEqual(['ops']);
    expect(json(await api.call('GET', `/v1/employees/${uniqueId('emp-clean')}/breakers`, ops))).toEqual({ breakers: [] });
    expect(expectProblem(await api.call('GET', '/v1/ops/alerts?limit=0', ops), 422, 'invalid-input').errors).toEqual([
      expect.objectContaining({ path: 'limit' }),
    ]);
  });
});

describe('rate limiting', () => {
  it('limits each principal separately and answers 429 with Retry-After', async () => {
    const limited = await startApiHarness({ limits: { rateLimitMax: 3, rateLimitWindowMs: 60_000 } });
    try {
      const [busy, other] = await Promise.all([limited.principal('emp-busy', ['ops']), limited.principal('emp-other', ['ops'])]);
      for (let i = 0; i < 3; i++) expect((await limited.call('GET', '/v1/refunds/stuck', busy)).statusCode).toBe(200);
      const refused = await limited.call('GET', '/v1/refunds/stuck', busy);
      expectProblem(refused, 429, 'rate-limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect((await limited.call('GET', '/v1/refunds/stuck', other)).statusCode).toBe(200);
      // Health checks and metrics are not limited.
      for (let i = 0; i < 5; i++) expect((await limited.call('GET', '/healthz')).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('timeouts', () => {
  it('answers 503 when a request takes too long, and the request is safe to repeat', async () => {
    const impatient = await startApiHarness({ limits: { handlerTimeoutMs: 1 } });
    try {
      const svc = await impatient.principal('svc-impatient', ['refund_service']);
      const request = refundOf(4_500);
      const slow = await impatient.call('POST', '/v1/refunds', svc, request);
      expectProblem(slow, 503, 'service-unavailable');
      expect(slow.headers['retry-after']).toBe('5');
      const repeat = await api.call('POST', '/v1/refunds', service, request);
      expect([200, 201], repeat.body).toContain(repeat.statusCode);
      expect(json(repeat).refundId).toBe(request.refundId);
    } finally {
      await impatient.close();
    }
  });
});

describe('service endpoints', () => {
  it('answers /healthz', async () => {
    const response = await api.call('GET', '/healthz');
    expect(response.statusCode).toBe(200);
    expect(json(response)).toEqual({ status: 'ok' });
  });

  it('serves an OpenAPI 3.1 document listing every route, whose references all resolve', async () => {
    const response = await api.call('GET', '/openapi.json');
    expect(response.statusCode).toBe(200);
    const doc = json(response) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown; requestBody?: unknown; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        'POST /v1/refunds',
        'POST /v1/carrier-events',
        'POST /v1/refunds/{refundId}/warehouse-scans',
        'POST /v1/refunds/{refundId}/approvals',
        'POST /v1/refunds/{refundId}/cancel',
        'GET /v1/refunds/{refundId}',
        'GET /v1/refunds/stuck',
        'GET /v1/audit/verification',
        'POST /v1/employees/{employeeId}/breaker/lift',
        'GET /v1/employees/{employeeId}/breakers',
        'GET /v1/ops/alerts',
        'GET /v1/ops/carrier-events',
        'GET /v1/refunds',
        'GET /v1/approvals/inbox',
        'GET /v1/refunds/stuck/summary',
        'GET /v1/refunds/stuck.csv',
        'POST /v1/refunds/{refundId}/escalate',
        'POST /v1/refunds/{refundId}/extend-deadline',
        'POST /v1/refunds/{refundId}/nudge',
        'POST /v1/ops/alerts/{alertId}/ack',
        'POST /v1/principals/{principalId}/registry-entries',
        'GET /v1/principals/{principalId}/registry',
        'POST /v1/principals/{principalId}/registry-entries/{version}/endorsements',
        'POST /v1/principals/{principalId}/revocations',
        'POST /v1/principals/{principalId}/passkeys/options',
        'POST /v1/principals/{principalId}/passkeys',
        'POST /v1/refunds/{refundId}/approvals/challenge',
        'GET /healthz',
        'GET /metrics',
        'GET /readyz',
      ].sort(),
    );
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearerAuth', 'carrierSignature']);
    expect(doc.paths['/v1/refunds']!.post!.requestBody).toBeDefined();
    expect(doc.paths['/v1/refunds/{refundId}/approvals']!.post!.responses['403']).toBeDefined();
    // The refund's risk is described down to each reason's values and the breakers, on the risk and on an approval.
    type Schema = { properties: Record<string, Schema>; anyOf: Schema[]; items: Schema; required: string[] };
    const refund = doc.components.schemas.Refund as Schema;
    const risk = refund.properties.risk!.anyOf.find((s) => s.properties)!;
    expect(risk.properties.reasons!.items.required).toEqual(['code', 'detail', 'points', 'values']);
    expect(Object.keys(risk.properties.breakers!.items.properties)).toEqual(['employeeId', 'touchedAs', 'trippedAt', 'reason']);
    expect(refund.properties.approvals!.items.properties).toHaveProperty('breaker');
    const refs = [...response.body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty([ref]);
  });

  it('exposes Prometheus metrics: requests, refunds by state, approvals and refusals', async () => {
    await api.call('GET', '/v1/refunds/anything');
    const response = await api.call('GET', '/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(text).toMatch(/^refund_api_requests_total\{method="POST",route="\/v1\/refunds",status="201"\} \d+/m);
    expect(text).toMatch(/^refunds_by_state\{state="refunded"\} [1-9]\d*/m);
    expect(text).toMatch(/^refund_approval_decisions_total\{decision="approve"\} [1-9]\d*/m);
    expect(text).toMatch(/^refund_api_refusals_total\{type="\/problems\/unauthenticated",rule=""\} [1-9]\d*/m);
    expect(text).toMatch(/^refund_api_refusals_total\{type="\/problems\/approval-refused",rule="approver_is_requester"\} [1-9]\d*/m);
    expect(text).toMatch(/^refund_api_request_duration_seconds_bucket/m);
  });
});
