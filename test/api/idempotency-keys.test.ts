/**
 * Idempotency-Key over HTTP against the real stack: a mutation retried with the same key (its
 * answer lost) gets its first answer again, even once the refund has moved on; the same key with
 * another request is refused; a retry racing the first is decided once.
 */
import { createServer, request as forward, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefundsApiClient } from '../../client/refunds-api-client';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
let service: TestPrincipal;
let scanner: TestPrincipal;
let approver1: TestPrincipal;
let approver2: TestPrincipal;
let junior: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, scanner, approver1, approver2, junior] = await Promise.all([
    api.principal('svc-idem', ['refund_service']),
    api.principal('wh-idem', ['warehouse']),
    api.principal('emp-idem-a', ['approver'], '100000.00'),
    api.principal('emp-idem-b', ['approver'], '100000.00'),
    api.principal('emp-idem-junior', ['approver'], '10.00'),
  ]);
});
afterAll(async () => api?.close());

const json = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

/** A refund of `amount` requested, delivered and scanned over HTTP, awaiting approval. */
async function awaitingApproval(amount: number): Promise<RefundRequest> {
  const request = refundOf(amount);
  expect((await api.call('POST', '/v1/refunds', service, request)).statusCode).toBe(201);
  expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const receipt = api.scanBody(scanner, request.refundId, matchingReceipt(request));
  const scan = await api.call('POST', `/v1/refunds/${request.refundId}/warehouse-scans`, scanner, receipt);
  expect(scan.statusCode, scan.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  return request;
}

const keyed = (key: string) => ({ 'idempotency-key': key });

describe('Idempotency-Key', () => {
  it('answers a retried final approval with its first answer, even once the refund is paid', async () => {
    const request = await awaitingApproval(45_000);
    const url = `/v1/refunds/${request.refundId}/approvals`;
    const body = api.decisionBody(approver1, request);
    const key = uniqueId('approve');
    const first = await api.call('POST', url, approver1, body, keyed(key));
    expect(first.statusCode, first.body).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    await api.h.refunds.waitForState(request.refundId, ['refunded']);

    const retry = await api.call('POST', url, approver1, body, keyed(key));
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(json(retry)).toEqual(json(first));
    // Without the key the same body is a second decision, refused as the refund has moved on.
    expect((await api.call('POST', url, approver1, body)).statusCode).toBe(409);
    expect((await api.h.refunds.getRefund(request.refundId)).approvals).toHaveLength(1);
  });

  it('decides once when a retry races the first request', async () => {
    const request = await awaitingApproval(150_000);
    const url = `/v1/refunds/${request.refundId}/approvals`;
    const body = api.decisionBody(approver1, request);
    const key = uniqueId('race');
    const answers = await Promise.all([1, 2, 3].map(() => api.call('POST', url, approver1, body, keyed(key))));
    for (const answer of answers) expect(answer.statusCode, answer.body).toBe(200);
    const status = await api.h.refunds.getRefund(request.refundId);
    expect(status.approvals.map((a) => a.approverId)).toEqual([approver1.id]);
    expect(status.state).toBe('awaiting_approval');
  });

  it('refuses the same key with another request (422), and keeps answering the first one', async () => {
    const request = await awaitingApproval(150_000);
    const url = `/v1/refunds/${request.refundId}/approvals`;
    const key = uniqueId('reuse');
    const approve = api.decisionBody(approver1, request);
    expect((await api.call('POST', url, approver1, approve, keyed(key))).statusCode).toBe(200);
    const reject = api.decisionBody(approver1, request, { decision: 'reject', reason: 'changed my mind' });
    const reused = await api.call('POST', url, approver1, reject, keyed(key));
    expect(reused.statusCode, reused.body).toBe(422);
    expect(json(reused)).toMatchObject({ type: '/problems/idempotency-key-reused' });
    const again = await api.call('POST', url, approver1, approve, keyed(key));
    expect(again.statusCode).toBe(200);
    expect((await api.h.refunds.getRefund(request.refundId)).state).toBe('awaiting_approval');
  });

  it('repeats a refusal too, and keys of different principals do not meet', async () => {
    const request = await awaitingApproval(150_000);
    const url = `/v1/refunds/${request.refundId}/approvals`;
    const key = uniqueId('shared');
    const body = api.decisionBody(junior, request);
    const refused = await api.call('POST', url, junior, body, keyed(key));
    expect(refused.statusCode).toBe(403);
    const repeated = await api.call('POST', url, junior, body, keyed(key));
    expect(repeated.statusCode).toBe(403);
    expect(repeated.headers['idempotent-replayed']).toBe('true');
    expect(json(repeated)).toEqual(json(refused));
    // Signed afresh (another nonce), it is another request: refused for reusing the key.
    expect((await api.call('POST', url, junior, api.decisionBody(junior, request), keyed(key))).statusCode).toBe(422);
    // The same key from another approver is theirs alone.
    const other = await api.call('POST', url, approver2, api.decisionBody(approver2, request), keyed(key));
    expect(other.statusCode, other.body).toBe(200);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
  });

  it('answers a retried cancel with its first answer; without the key a second cancel is refused', async () => {
    const request = refundOf(4_500);
    expect((await api.call('POST', '/v1/refunds', service, request)).statusCode).toBe(201);
    const url = `/v1/refunds/${request.refundId}/cancel`;
    const key = uniqueId('cancel');
    const first = await api.call('POST', url, service, { reason: 'customer kept the item' }, keyed(key));
    expect(first.statusCode, first.body).toBe(200);
    const retry = await api.call('POST', url, service, { reason: 'customer kept the item' }, keyed(key));
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(json(retry).state).toBe('cancelled');
    expect((await api.call('POST', url, service, { reason: 'customer kept the item' })).statusCode).toBe(409);
  });

  it('refuses a malformed key with 400 and claims nothing', async () => {
    const request = refundOf(4_500);
    const answer = await api.call('POST', '/v1/refunds', service, request, keyed('has a space'));
    expect(answer.statusCode, answer.body).toBe(400);
    expect(json(answer).detail).toMatch(/Idempotency-Key/);
    // Refused before anything ran: the refund was not requested.
    expect((await api.call('GET', `/v1/refunds/${request.refundId}`, service)).statusCode).toBe(404);
  });
});

/**
 * A proxy in front of the API that lets the first POST through but cuts the connection before its
 * answer reaches the caller: the answer is lost after the work was done.
 */
async function answerLosingProxy(target: string): Promise<{ url: string; lost: () => number; close: () => Promise<void> }> {
  let lost = 0;
  const upstream = new URL(target);
  const server: Server = createServer((incoming, outgoing) => {
    const proxied = forward(
      { host: upstream.hostname, port: upstream.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        if (incoming.method === 'POST' && lost === 0) {
          lost++;
          answer.resume();
          answer.on('end', () => outgoing.socket?.destroy());
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    incoming.pipe(proxied);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lost: () => lost,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the typed client', () => {
  it('retries a decision whose answer was lost with the same key, and it is decided once', async () => {
    const request = await awaitingApproval(150_000);
    const proxy = await answerLosingProxy(await api.listen());
    try {
      const client = new RefundsApiClient({ baseUrl: proxy.url, apiKey: approver1.apiKey, signingKey: approver1.signingKey! });
      const view = await client.approve(request.refundId, 'receipt matches');
      expect(proxy.lost()).toBe(1);
      expect(view.approvals.map((a) => a.approverId)).toEqual([approver1.id]);
      expect((await api.h.refunds.getRefund(request.refundId)).approvals).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});
