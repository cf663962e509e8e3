/**
 * The API's log lines for a request: JSON, each with the request's id, the refund's id on routes
 * about one refund, and never the caller's API key, cookie or a signature (redacted to "[Redacted]").
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiLoggerOptions } from '../../api/logging';
import { refundRequest } from '../support/fixtures';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';

const lines: string[] = [];
let api: ApiHarness;
let service: TestPrincipal;
let ops: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness({ logger: apiLoggerOptions({ level: 'info', stream: { write: (line) => lines.push(line) } }) });
  service = await api.principal('svc-logs', ['refund_service']);
  ops = await api.principal('ops-logs', ['ops']);
});
afterAll(async () => api?.close());

/** The JSON lines written since `from`, parsed (a line that is not JSON fails the test). */
function parsedSince(from: number): Array<Record<string, unknown>> {
  return lines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
}

it('logs a refund request and a read as JSON lines with the request id and the refund id, and no credentials', async () => {
  const request = refundRequest();
  const start = lines.length;
  const body = api.requestBody(service, request);
  const created = await api.call('POST', '/v1/refunds', service, body, { 'x-request-id': 'req-create-1', cookie: 'session=s3cr3t-cookie' });
  expect(created.statusCode).toBe(201);
  expect(created.headers['x-request-id']).toBe('req-create-1');
  const createLines = parsedSince(start);
  expect(createLines.length).toBeGreaterThanOrEqual(2); // incoming request, request completed
  for (const line of createLines) expect(line).toMatchObject({ reqId: 'req-create-1' });
  expect(createLines.at(-1)).toMatchObject({ refundId: request.refundId, res: { statusCode: 201 } });
  expect(createLines[0]).toMatchObject({
    req: { method: 'POST', url: '/v1/refunds', headers: { authorization: '[Redacted]', cookie: '[Redacted]' } },
  });

  const readFrom = lines.length;
  const read = await api.call('GET', `/v1/refunds/${request.refundId}`, ops);
  expect(read.statusCode).toBe(200);
  const readLines = parsedSince(readFrom);
  expect(readLines.length).toBeGreaterThanOrEqual(2);
  const reqId = readLines[0]!.reqId;
  expect(reqId).toMatch(/^[0-9a-f-]{36}$/); // none given: a fresh UUID
  expect(read.headers['x-request-id']).toBe(reqId);
  // "incoming request" is written before routing (its url names the refund); every later line carries refundId.
  expect(readLines[0]).toMatchObject({ reqId, req: { url: `/v1/refunds/${request.refundId}` } });
  for (const line of readLines.slice(1)) expect(line).toMatchObject({ reqId, refundId: request.refundId });

  const everything = lines.slice(start).join('');
  for (const secret of [service.apiKey, ops.apiKey, 's3cr3t-cookie', body.signature]) expect(everything).not.toContain(secret);
});
