/**
 * A control character in any string field of any request body is refused with 422 naming the
 * field, before anything is stored or signalled (PostgreSQL refuses NUL in text: a NUL that got
 * through would jam the refund). Bodies are sent as JSON text with the character escaped
 * ("\u0000"), as a client sends it. Real API, Temporal and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';

let api: ApiHarness;
let service: TestPrincipal;
let scanner: TestPrincipal;
let approver: TestPrincipal;
let admin: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, scanner, approver, admin] = await Promise.all([
    api.principal('svc-ctl', ['refund_service']),
    api.principal('wh-ctl', ['warehouse']),
    api.principal('emp-ctl-approver', ['approver'], '100000.00'),
    api.principal('emp-ctl-admin', ['admin']),
  ]);
});
afterAll(async () => api?.close());

const request = refundRequest({
  return: { carrier: 'ups', trackingNumber: '1ZCTL', warehouseId: 'wh-east' },
  customer: { shippingAddressHash: 'addr-1', paymentFingerprint: 'card-1', deviceId: 'dev-1' },
  items: [{ sku: 'CASE-1', quantity: 1, unitAmount: 4_500, category: 'accessories', serialNumber: 'SN-1' }],
});
const receipt = matchingReceipt(request);
const event = carrierEvent(request, 'delivered', { facilityId: 'fac-1' });

type Body = Record<string, unknown>;
type Send = (body: string) => ReturnType<ApiHarness['call']>;

/** Sets the (dotted) path of a copy of `body` to `value`. */
function withField(body: Body, path: string, value: string): Body {
  const copy = structuredClone(body);
  const keys = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys.at(-1)!] = value;
  return copy;
}

const endpoints: Array<{ name: string; body: Body; fields: string[]; send: Send }> = [
  {
    name: 'POST /v1/refunds',
    body: request as unknown as Body,
    fields: [
      'refundId',
      'orderId',
      'customerId',
      'initiatedBy',
      'reason',
      'items.0.sku',
      'items.0.category',
      'items.0.serialNumber',
      'return.carrier',
      'return.trackingNumber',
      'return.warehouseId',
      'customer.shippingAddressHash',
      'customer.paymentFingerprint',
      'customer.deviceId',
    ],
    send: (body) => api.call('POST', '/v1/refunds', service, body),
  },
  {
    name: 'POST /v1/refunds/:id/approvals',
    body: { decision: 'approve', reason: 'receipt matches' },
    fields: ['reason'],
    send: (body) => api.call('POST', `/v1/refunds/${request.refundId}/approvals`, approver, body),
  },
  {
    name: 'POST /v1/refunds/:id/cancel',
    body: { reason: 'customer withdrew' },
    fields: ['reason'],
    send: (body) => api.call('POST', `/v1/refunds/${request.refundId}/cancel`, service, body),
  },
  {
    name: 'POST /v1/employees/:id/breaker/lift',
    body: { reason: 'reviewed with the team lead' },
    fields: ['reason'],
    send: (body) => api.call('POST', '/v1/employees/emp-someone/breaker/lift', admin, body),
  },
  {
    name: 'POST /v1/refunds/:id/warehouse-scans',
    body: receipt as unknown as Body,
    fields: ['eventId', 'warehouseId', 'items.0.sku', 'items.0.serialNumber'],
    send: (body) => api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, body),
  },
  {
    name: 'POST /v1/carrier-events',
    body: event as unknown as Body,
    // `carrier` names the signing key, so a carrier with a control character in its name has none: see below.
    fields: ['eventId', 'trackingNumber', 'facilityId'],
    send: (body) => api.carrierPost(body),
  },
];

const rows = endpoints.flatMap(({ name, body, fields, send }) => fields.map((field) => ({ name, body, field, send })));

describe('a control character in a request body', () => {
  it.each(rows)('$name: $field with NUL is 422 naming the field', async ({ body, field, send }) => {
    const raw = JSON.stringify(withField(body, field, 'a\u0000b'));
    expect(raw).toContain('a\\u0000b');
    const response = await send(raw);
    expect(response.statusCode, response.body).toBe(422);
    const problem = JSON.parse(response.body) as { type: string; errors: Array<{ path: string; message: string }> };
    expect(problem.type).toBe('/problems/invalid-input');
    const name = field.split('.').at(-1);
    expect(problem.errors).toContainEqual({ path: field, message: `${name} must not contain control characters (found U+0000)` });
  });

  it("in a carrier event's carrier is refused: no carrier of that name has signing keys", async () => {
    const raw = JSON.stringify({ ...event, carrier: 'ups\u0000' });
    expect(raw).toContain('ups\\u0000');
    const response = await api.carrierPost(raw, { key: api.carrierKey('ups') });
    expect(response.statusCode, response.body).toBe(401);
    expect(JSON.parse(response.body).type).toBe('/problems/invalid-signature');
  });

  it('refuses DEL and the other C0 controls as well, and nothing is started', async () => {
    for (const [character, codePoint] of [
      ['\u007f', 'U+007F'],
      ['\u001b', 'U+001B'],
      ['\r', 'U+000D'],
    ] as const) {
      const refund = refundRequest({ reason: `damaged${character}` });
      const response = await api.call('POST', '/v1/refunds', service, JSON.stringify(refund));
      expect(response.statusCode, response.body).toBe(422);
      expect(JSON.parse(response.body).errors).toContainEqual({
        path: 'reason',
        message: `reason must not contain control characters (found ${codePoint})`,
      });
      const read = await api.call('GET', `/v1/refunds/${refund.refundId}`, service);
      expect(read.statusCode, read.body).toBe(404);
    }
  });
});
