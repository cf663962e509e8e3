/**
 * Outgoing webhooks end to end: admins manage subscriptions over the API, the dispatcher workflow
 * runs on the harness's worker and delivers to local HTTP receivers (node:http). Signatures are
 * checked here from the Standard Webhooks spec with node:crypto, not with the product's code;
 * expected event ids are worked out here from the audit trail and the alerts outbox.
 */
import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDelivery, WebhookSubscription, WebhookSubscriptionCreated } from '../../client/webhook-views';
import { appendSubjectFacts } from '../../store/audit-trail';
import { withTransaction } from '../../store/pool';
import { startWebhookDispatcher } from '../../worker/webhook-dispatcher';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';

interface Received {
  id: string;
  timestamp: string;
  signature: string;
  raw: string;
  body: Record<string, unknown>;
  status: number;
}

/** A webhook receiver on a fixed port: answers as `answer` says, or refuses connections while stopped. */
class Receiver {
  readonly requests: Received[] = [];
  answer: (r: Omit<Received, 'status'>) => number = () => 204;
  private server: Server | undefined;
  private waiters: Array<() => void> = [];
  port = 0;

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const h = req.headers as IncomingHttpHeaders;
        const got = {
          id: String(h['webhook-id']),
          timestamp: String(h['webhook-timestamp']),
          signature: String(h['webhook-signature']),
          raw,
          body: JSON.parse(raw) as Record<string, unknown>,
        };
        const status = this.answer(got);
        this.requests.push({ ...got, status });
        res.writeHead(status).end();
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Successful deliveries (2xx answers). */
  delivered(): Received[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** Waits until `done` holds, re-checking on every request received, for at most `ms`. */
  async until(what: string, done: () => boolean, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`receiver on ${this.port}: ${what} did not happen within ${ms} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }
}

/** The Standard Webhooks signature, from the spec: HMAC-SHA256 over "<id>.<timestamp>.<body>", keyed with base64-decoded secret. */
function verifies(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${r.id}.${r.timestamp}.${r.raw}`).digest();
  return r.signature.split(' ').some((s) => {
    const [version, value] = s.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

let api: ApiHarness;
let baseUrl: string;
let firstRunId: string;
let admin: TestPrincipal;
let ops: TestPrincipal;
const receivers: Receiver[] = [];
const subscriptions: string[] = [];

async function receiver(): Promise<Receiver> {
  const r = await new Receiver().start();
  receivers.push(r);
  return r;
}

async function subscribe(body: Record<string, unknown>): Promise<WebhookSubscriptionCreated> {
  const res = await api.call('POST', '/v1/webhooks/subscriptions', admin, body, { 'idempotency-key': uniqueId('key') });
  expect(res.statusCode, res.body).toBe(201);
  const created = res.json() as WebhookSubscriptionCreated;
  subscriptions.push(created.subscription.id);
  return created;
}

async function deliveries(subscriptionId: string): Promise<WebhookDelivery[]> {
  const res = await api.call('GET', `/v1/webhooks/subscriptions/${subscriptionId}/deliveries?limit=1000`, admin);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { deliveries: WebhookDelivery[] }).deliveries;
}

/** Waits until the subscription's deliveries satisfy `done`, polling the API. */
async function deliveriesUntil(subscriptionId: string, what: string, done: (d: WebhookDelivery[]) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const list = await deliveries(subscriptionId);
    if (done(list)) return list;
    if (Date.now() > deadline)
      throw new Error(`${subscriptionId}: ${what} did not happen within ${ms} ms: ${JSON.stringify(list.slice(0, 5))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The event ids the audit trail says `refundIds` produce, worked out from the rows themselves. */
async function expectedEvents(refundIds: string[]): Promise<Map<string, string>> {
  const { rows } = await api.h.pool.query<{ seq: string; kind: string; to: string | null; actor: string; by: string | null }>(
    `SELECT seq, kind, data->>'to' AS to, actor, data->>'by' AS by FROM audit_log WHERE refund_id = ANY($1::text[]) ORDER BY seq`,
    [refundIds],
  );
  const events = new Map<string, string>();
  for (const r of rows) {
    const type =
      r.kind === 'paid'
        ? 'refund.paid'
        : r.kind === 'escalated'
          ? r.actor === 'system' && r.by === null
            ? 'refund.stuck'
            : 'refund.escalated'
          : r.kind === 'state_changed' && ['awaiting_approval', 'rejected', 'failed'].includes(r.to ?? '')
            ? `refund.${r.to}`
            : undefined;
    if (type) events.set(`evt_audit_${r.seq}`, type);
  }
  return events;
}

const refundIdOf = (r: Received) => {
  const data = r.body.data as { refundId?: string } | undefined;
  return data?.refundId;
};

async function withEvidence(request: RefundRequest) {
  await api.h.refunds.requestRefund(request);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
  await api.h.carrierEvent(carrierEvent(request, 'delivered'));
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await api.h.scan(request.refundId, matchingReceipt(request), 'emp-scan-hooks');
}

async function paidWithoutApproval(): Promise<RefundRequest> {
  const request = refundOf(4_500);
  await withEvidence(request);
  await api.h.refunds.waitForState(request.refundId, ['refunded']);
  return request;
}

beforeAll(async () => {
  api = await startApiHarness();
  [admin, ops] = await Promise.all([api.principal('hooks-admin', ['admin']), api.principal('hooks-ops', ['ops'])]);
  baseUrl = await api.listen();
  // Few polls per run, so the file crosses several continue-as-new with deliveries in flight.
  const id = await startWebhookDispatcher(api.h.temporal, api.h.taskQueue, {
    pollMs: 200,
    pollsPerRun: 15,
    concurrency: 3,
    retry: { initialMs: 200, maximumMs: 1_000, maxAttempts: 40, permanentAfter: 3 },
  });
  firstRunId = (await api.h.temporal.workflow.getHandle(id).describe()).runId;
  // Started again (another worker starting), it is the same workflow.
  await startWebhookDispatcher(api.h.temporal, api.h.taskQueue, { pollMs: 5_000 });
  expect((await api.h.temporal.workflow.getHandle(id).describe()).runId).toBe(firstRunId);
  // The dispatcher's first read only sets its cursor; what is written after that is announced.
  const deadline = Date.now() + 30_000;
  while ((await api.h.pool.query(`SELECT 1 FROM webhook_cursor`)).rowCount === 0) {
    if (Date.now() > deadline) throw new Error('the webhook dispatcher never read');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 120_000);

afterAll(async () => {
  for (const id of subscriptions) {
    await api?.call('POST', `/v1/webhooks/subscriptions/${id}/disable`, admin, {}, { 'idempotency-key': uniqueId('key') });
  }
  await api?.h.temporal.workflow
    .getHandle(`webhook-dispatcher/${api.h.taskQueue}`)
    .terminate('test finished')
    .catch(() => undefined);
  await Promise.all(receivers.map((r) => r.stop()));
  await api?.close();
});

describe('subscriptions over the API', () => {
  it('is for admins only', async () => {
    const body = { url: 'https://hooks.example.com/refunds' };
    for (const who of [ops]) {
      const post = await api.call('POST', '/v1/webhooks/subscriptions', who, body, { 'idempotency-key': uniqueId('key') });
      expect(post.statusCode).toBe(403);
      expect(post.json()).toMatchObject({ type: '/problems/role-required', requiredRoles: ['admin'] });
      expect((await api.call('GET', '/v1/webhooks/subscriptions', who)).statusCode).toBe(403);
    }
    expect((await api.call('POST', '/v1/webhooks/subscriptions', undefined, body)).statusCode).toBe(401);
    expect((await api.call('GET', '/v1/webhooks/subscriptions')).statusCode).toBe(401);
    const created = await subscribe(body);
    for (const path of [`/v1/webhooks/subscriptions/${created.subscription.id}/deliveries`]) {
      expect((await api.call('GET', path, ops)).statusCode).toBe(403);
    }
    const disable = await api.call('POST', `/v1/webhooks/subscriptions/${created.subscription.id}/disable`, ops, {});
    expect(disable.statusCode).toBe(403);
  });

  it('answers the secret once, and never lists it', async () => {
    const created = await subscribe({ url: 'https://hooks.example.com/a', events: ['refund.paid'], format: 'slack' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);
    expect(created.subscription).toMatchObject({
      url: 'https://hooks.example.com/a',
      eventTypes: ['refund.paid'],
      format: 'slack',
      createdBy: admin.id,
      disabledAt: null,
    });
    const list = await api.call('GET', '/v1/webhooks/subscriptions', admin);
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(created.secret);
    expect(list.body).not.toContain('whsec_');
    expect((list.json() as { subscriptions: WebhookSubscription[] }).subscriptions.map((s) => s.id)).toContain(created.subscription.id);
    // Its creation is on its own audit chain, without the secret.
    const trail = await api.h.pool.query(`SELECT kind, actor, data::text AS data FROM audit_log WHERE refund_id = $1`, [
      `webhook ${created.subscription.id}`,
    ]);
    expect(trail.rows).toEqual([expect.objectContaining({ kind: 'webhook_subscription_added', actor: `employee:${admin.id}` })]);
    expect(trail.rows[0].data).not.toContain('whsec_');
  });

  it('answers a retry under the same Idempotency-Key with the same subscription', async () => {
    const key = uniqueId('key');
    const body = { url: 'https://hooks.example.com/retried' };
    const first = await api.call('POST', '/v1/webhooks/subscriptions', admin, body, { 'idempotency-key': key });
    const again = await api.call('POST', '/v1/webhooks/subscriptions', admin, body, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    subscriptions.push((first.json() as WebhookSubscriptionCreated).subscription.id);
  });

  it.each([
    [{ url: 'ftp://hooks.example.com/x' }, 'url'],
    [{ url: 'not a url' }, 'url'],
    [{ url: 'https://user:pw@hooks.example.com/x' }, 'url'],
    [{ url: 'https://hooks.example.com/x', format: 'teams' }, 'format'],
    [{ url: 'https://hooks.example.com/x', events: ['refund.exploded'] }, 'events.0'],
    [{ url: 'https://hooks.example.com/x', events: [] }, 'events'],
    [{ url: 'https://hooks.example.com/x', secret: 'whsec_mine' }, 'secret'],
    [{ url: 'https://hooks.example.com/x', approverGroup: 'a b' }, 'approverGroup'],
    [{}, 'url'],
  ])('refuses %j, naming %s', async (body, field) => {
    const res = await api.call('POST', '/v1/webhooks/subscriptions', admin, body, { 'idempotency-key': uniqueId('key') });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect((res.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toContain(field);
  });

  it('refuses malformed JSON and unknown subscriptions', async () => {
    const malformed = await api.call('POST', '/v1/webhooks/subscriptions', admin, '{"url":', { 'idempotency-key': uniqueId('key') });
    expect(malformed.statusCode).toBe(400);
    const unknown = 'whsub_000000000000000000000000';
    const disable = await api.call(
      'POST',
      `/v1/webhooks/subscriptions/${unknown}/disable`,
      admin,
      {},
      { 'idempotency-key': uniqueId('key') },
    );
    expect(disable.statusCode).toBe(404);
    expect((await api.call('GET', `/v1/webhooks/subscriptions/${unknown}/deliveries`, admin)).statusCode).toBe(404);
    expect((await api.call('GET', '/v1/webhooks/subscriptions/whsub_NOPE/deliveries', admin)).statusCode).toBe(422);
  });
});

describe('delivery', () => {
  it('delivers every event exactly once per subscription, signed, filtered by type, in Slack format when asked', async () => {
    const [everything, outcomes, slack] = await Promise.all([receiver(), receiver(), receiver()]);
    const all = await subscribe({ url: everything.url });
    const some = await subscribe({ url: outcomes.url, events: ['refund.paid', 'refund.rejected'] });
    const chat = await subscribe({ url: slack.url, events: ['refund.awaiting_approval'], format: 'slack' });

    const paid = refundOf(4_500);
    const approved = refundOf(50_000);
    const rejected = refundOf(60_000);
    await Promise.all([withEvidence(paid), withEvidence(approved), withEvidence(rejected)]);
    await api.h.refunds.waitForState(approved.refundId, ['awaiting_approval']);
    await api.h.refunds.waitForState(rejected.refundId, ['awaiting_approval']);
    await api.h.refunds.decide(approved.refundId, await api.h.registry.approval(approved, 'emp-hooks-approver-1'));
    await api.h.refunds.decide(
      rejected.refundId,
      await api.h.registry.approval(rejected, 'emp-hooks-approver-1', { decision: 'reject', reason: 'serial does not match' }),
    );
    await Promise.all([paid, approved].map((r) => api.h.refunds.waitForState(r.refundId, ['refunded'])));
    await api.h.refunds.waitForState(rejected.refundId, ['rejected']);

    const mine = [paid, approved, rejected].map((r) => r.refundId);
    const expected = await expectedEvents(mine);
    const typesOf = (types: string[]) => [...expected].filter(([, type]) => types.includes(type)).map(([id]) => id);
    // 2 paid, 1 rejected, 2 awaiting approval.
    expect([...expected.values()].sort()).toEqual(
      ['refund.awaiting_approval', 'refund.awaiting_approval', 'refund.paid', 'refund.paid', 'refund.rejected'].sort(),
    );
    const wanted = [
      { r: everything, sub: all, ids: [...expected.keys()] },
      { r: outcomes, sub: some, ids: typesOf(['refund.paid', 'refund.rejected']) },
      { r: slack, sub: chat, ids: typesOf(['refund.awaiting_approval']) },
    ];
    for (const { r, sub, ids } of wanted) {
      await r.until(`${ids.length} events`, () => ids.every((id) => r.delivered().some((d) => d.id === id)));
      // Everything due is settled, so no retry can still arrive: then no id came twice.
      await deliveriesUntil(sub.subscription.id, 'all settled', (list) => list.every((d) => d.status !== 'pending'));
      const received = r.delivered().filter((d) => expected.has(d.id));
      expect(received.map((d) => d.id).sort()).toEqual([...ids].sort());
      for (const d of r.delivered()) {
        expect(verifies(sub.secret, d), `signature of ${d.id}`).toBe(true);
        expect(verifies(all.secret === sub.secret ? some.secret : all.secret, d)).toBe(false);
        expect(Math.abs(Number(d.timestamp) - Date.now() / 1000)).toBeLessThan(300);
      }
      const list = await deliveries(sub.subscription.id);
      for (const id of ids) {
        expect(list.find((d) => d.eventId === id)).toMatchObject({ status: 'delivered', attempts: 1, lastError: null });
      }
    }
    // The same id to different subscriptions: the delivery's id is the event's.
    expect(outcomes.delivered().some((d) => everything.delivered().some((e) => e.id === d.id))).toBe(true);

    // Standard payloads: type, timestamp, data with the refund.
    const standard = everything.delivered().filter((d) => expected.has(d.id));
    for (const d of standard) {
      expect(d.body).toMatchObject({ type: expected.get(d.id), timestamp: expect.any(String), data: { refundId: expect.any(String) } });
      expect(mine).toContain(refundIdOf(d));
    }
    const awaiting = standard.find((d) => d.body.type === 'refund.awaiting_approval' && refundIdOf(d) === approved.refundId);
    expect(awaiting?.body.data).toMatchObject({ amount: 50_000, currency: 'USD', approvalsRequired: 1, approvalsStillNeeded: 1 });
    const rejection = standard.find((d) => d.body.type === 'refund.rejected');
    expect(rejection?.body.data).toMatchObject({
      refundId: rejected.refundId,
      amount: 60_000,
      outcome: { code: 'approver_rejected', message: 'serial does not match' },
    });
    expect(
      standard
        .filter((d) => d.body.type === 'refund.paid')
        .map(refundIdOf)
        .sort(),
    ).toEqual([paid.refundId, approved.refundId].sort());

    // Only the types asked for.
    expect(new Set(outcomes.delivered().map((d) => d.body.type))).toEqual(new Set(['refund.paid', 'refund.rejected']));
    // Slack: one line of text with the refund, the amount and what to do.
    const texts = slack.delivered().filter((d) => expected.has(d.id));
    expect(texts).toHaveLength(2);
    for (const d of texts) {
      expect(Object.keys(d.body)).toEqual(['text']);
      expect(d.body.text).not.toContain('\n');
    }
    const text = texts.map((d) => d.body.text as string).find((t) => t.includes(approved.refundId));
    expect(text).toContain('500.00 USD');
    expect(text).toMatch(/awaiting approval: 1 approval needed/);
    expect(text).toContain(`refunds show ${approved.refundId}`);
  }, 180_000);

  it('retries a receiver that refuses connections, then answers 500, until it takes the event', async () => {
    const flaky = await receiver();
    const port = flaky.port;
    await flaky.stop();
    const sub = await subscribe({ url: `http://127.0.0.1:${port}/hook`, events: ['refund.paid'] });
    const request = await paidWithoutApproval();
    const [id] = [...(await expectedEvents([request.refundId])).keys()];
    expect(id).toBeDefined();
    const refused = await deliveriesUntil(sub.subscription.id, 'two refused attempts', (list) =>
      list.some((d) => d.eventId === id && d.attempts >= 2),
    );
    expect(refused.find((d) => d.eventId === id)).toMatchObject({
      status: 'pending',
      lastStatus: null,
      lastError: expect.stringMatching(/ECONNREFUSED|fetch failed/),
    });

    let failures = 0;
    flaky.answer = (r) => (r.id === id && failures++ < 2 ? 500 : 200);
    await flaky.start();
    await flaky.until('the event delivered', () => flaky.delivered().some((d) => d.id === id));
    const done = await deliveriesUntil(sub.subscription.id, 'delivered', (list) =>
      list.some((d) => d.eventId === id && d.status === 'delivered'),
    );
    const delivery = done.find((d) => d.eventId === id)!;
    expect(delivery.attempts).toBeGreaterThanOrEqual(5);
    expect(delivery.lastError).toBeNull();
    expect(delivery.lastStatus).toBe(200);
    const attempts = flaky.requests.filter((r) => r.id === id);
    expect(attempts.map((r) => r.status)).toEqual([500, 500, 200]);
    // Each attempt is signed afresh with its own timestamp, under the same webhook-id.
    for (const r of attempts) expect(verifies(sub.secret, r)).toBe(true);
  }, 120_000);

  it('gives up on a receiver that answers 410 after a few attempts', async () => {
    const gone = await receiver();
    gone.answer = () => 410;
    const sub = await subscribe({ url: gone.url, events: ['refund.paid'] });
    const request = await paidWithoutApproval();
    const [id] = [...(await expectedEvents([request.refundId])).keys()];
    const failed = await deliveriesUntil(sub.subscription.id, 'failed', (list) =>
      list.some((d) => d.eventId === id && d.status === 'failed'),
    );
    expect(failed.find((d) => d.eventId === id)).toMatchObject({ attempts: 3, lastStatus: 410, lastError: 'HTTP 410' });
    expect(gone.requests.filter((r) => r.id === id)).toHaveLength(3);
  }, 120_000);

  it('lets a receiver that is down hold up only its own deliveries, a few at a time', async () => {
    const closed = await receiver();
    const downUrl = closed.url;
    await closed.stop();
    const up = await receiver();
    const down = await subscribe({ url: downUrl, events: ['refund.paid'] });
    const requests = await Promise.all(Array.from({ length: 5 }, () => paidWithoutApproval()));
    const ids = [...(await expectedEvents(requests.map((r) => r.refundId))).keys()];
    expect(ids).toHaveLength(5);
    const waiting = await deliveriesUntil(
      down.subscription.id,
      'three retried',
      (list) => list.filter((d) => ids.includes(d.eventId) && d.attempts >= 2).length >= 3,
    );
    const healthy = await subscribe({ url: up.url, events: ['refund.paid'] });
    const later = await paidWithoutApproval();
    const [laterId] = [...(await expectedEvents([later.refundId])).keys()];
    await up.until('the later event', () => up.delivered().some((d) => d.id === laterId));
    await deliveriesUntil(healthy.subscription.id, 'delivered', (list) =>
      list.some((d) => d.eventId === laterId && d.status === 'delivered'),
    );
    // The down receiver's oldest three are retried; the other two wait their turn, untried.
    const now = (await deliveries(down.subscription.id)).filter((d) => ids.includes(d.eventId)).sort((a, b) => a.id - b.id);
    expect(now.every((d) => d.status === 'pending')).toBe(true);
    expect(now.map((d) => d.attempts > 0)).toEqual([true, true, true, false, false]);
    expect(waiting.length).toBeGreaterThanOrEqual(5);
  }, 120_000);

  it('delivers nothing more to a disabled subscription', async () => {
    const [kept, dropped] = await Promise.all([receiver(), receiver()]);
    const keep = await subscribe({ url: kept.url, events: ['refund.paid'] });
    const drop = await subscribe({ url: dropped.url, events: ['refund.paid'] });
    const res = await api.call(
      'POST',
      `/v1/webhooks/subscriptions/${drop.subscription.id}/disable`,
      admin,
      { reason: 'receiver retired' },
      {
        'idempotency-key': uniqueId('key'),
      },
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: drop.subscription.id, disabledBy: admin.id, disabledAt: expect.any(String) });
    // Twice is the same.
    const again = await api.call(
      'POST',
      `/v1/webhooks/subscriptions/${drop.subscription.id}/disable`,
      admin,
      {},
      {
        'idempotency-key': uniqueId('key'),
      },
    );
    expect(again.json()).toEqual(res.json());

    const request = await paidWithoutApproval();
    const [id] = [...(await expectedEvents([request.refundId])).keys()];
    await kept.until('the paid event', () => kept.delivered().some((d) => d.id === id));
    await deliveriesUntil(keep.subscription.id, 'settled', (list) => list.some((d) => d.eventId === id && d.status === 'delivered'));
    expect(dropped.requests).toEqual([]);
    expect(await deliveries(drop.subscription.id)).toEqual([]);
    const trail = await api.h.pool.query(`SELECT kind, data FROM audit_log WHERE refund_id = $1 ORDER BY refund_seq`, [
      `webhook ${drop.subscription.id}`,
    ]);
    expect(trail.rows.map((r) => r.kind)).toEqual(['webhook_subscription_added', 'webhook_subscription_disabled']);
    expect(trail.rows[1].data).toMatchObject({ reason: 'receiver retired' });
  }, 120_000);

  it('announces stuck refunds, operator escalations for the group asked for, and tripped breakers', async () => {
    const [ops1, leads] = await Promise.all([receiver(), receiver()]);
    const opsSub = await subscribe({ url: ops1.url, events: ['refund.stuck', 'refund.escalated', 'breaker.tripped'] });
    const leadsSub = await subscribe({ url: leads.url, events: ['refund.escalated'], approverGroup: 'payments-leads' });

    // Stuck: delivered, never scanned; the test policy's warehouse deadline is 2 s.
    const stuck = refundOf(4_500);
    await api.h.refunds.requestRefund(stuck);
    await api.h.refunds.waitForState(stuck.refundId, ['awaiting_carrier']);
    await api.h.carrierEvent(carrierEvent(stuck, 'delivered'));

    // Operator escalations, as ops escalation writes them: `by` and `group` on the fact.
    const escalatedRefund = uniqueId('r-escalated');
    await withTransaction(api.h.pool, (client) =>
      appendSubjectFacts(client, escalatedRefund, [
        {
          kind: 'escalated',
          actor: 'employee:emp-ops-7',
          at: new Date().toISOString(),
          data: { state: 'awaiting_approval', reason: 'customer called twice', by: 'emp-ops-7', group: 'payments-leads' },
        },
        {
          kind: 'escalated',
          actor: 'employee:emp-ops-7',
          at: new Date().toISOString(),
          data: { state: 'awaiting_approval', reason: 'for the fraud team', by: 'emp-ops-7', group: 'fraud' },
        },
      ]),
    );
    // A breaker trip, as store/breakers.ts writes it to the alerts outbox.
    const employee = uniqueId('emp-tripped');
    const alert = await api.h.pool.query<{ id: string }>(
      `INSERT INTO ops_alerts (kind, employee_id, details) VALUES ('breaker_tripped', $1, $2) RETURNING id`,
      [employee, JSON.stringify({ breakerId: 1, trippedAs: 'approver', reason: '51 approvals in 24 hours (limit 50)', refundId: 'r-x' })],
    );
    const alertId = `evt_alert_${alert.rows[0]!.id}`;

    const escalations = await expectedEvents([escalatedRefund]);
    expect([...escalations.values()]).toEqual(['refund.escalated', 'refund.escalated']);
    const [forLeads, forFraud] = [...escalations.keys()];
    await ops1.until('the breaker and both escalations', () =>
      [alertId, forLeads!, forFraud!].every((id) => ops1.delivered().some((d) => d.id === id)),
    );
    await ops1.until('the stuck refund', () =>
      ops1.delivered().some((d) => d.body.type === 'refund.stuck' && refundIdOf(d) === stuck.refundId),
    );
    const stuckEvent = ops1.delivered().find((d) => d.body.type === 'refund.stuck' && refundIdOf(d) === stuck.refundId)!;
    expect(stuckEvent.body.data).toMatchObject({ state: 'awaiting_warehouse', reason: expect.stringContaining('overdue'), amount: 4_500 });
    expect((await expectedEvents([stuck.refundId])).get(stuckEvent.id)).toBe('refund.stuck');
    expect(ops1.delivered().find((d) => d.id === forLeads)?.body).toMatchObject({
      type: 'refund.escalated',
      data: { refundId: escalatedRefund, by: 'emp-ops-7', group: 'payments-leads', reason: 'customer called twice' },
    });
    expect(ops1.delivered().find((d) => d.id === alertId)?.body).toMatchObject({
      type: 'breaker.tripped',
      data: { employeeId: employee, trippedAs: 'approver', reason: '51 approvals in 24 hours (limit 50)' },
    });
    await leads.until('the leads escalation', () => leads.delivered().some((d) => d.id === forLeads));
    await deliveriesUntil(leadsSub.subscription.id, 'settled', (list) => list.every((d) => d.status !== 'pending'));
    await deliveriesUntil(opsSub.subscription.id, 'settled', (list) => list.every((d) => d.status !== 'pending'));
    expect(leads.delivered().map((d) => d.id)).toEqual([forLeads]);
  }, 120_000);
});

describe('refunds webhooks (the command line)', () => {
  const bin = fileURLToPath(new URL('../../client/cli/refunds.mjs', import.meta.url));
  const run = (args: string[], who: TestPrincipal) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        bin,
        args,
        { env: { PATH: process.env.PATH ?? '', REFUNDS_API_URL: baseUrl, REFUNDS_API_KEY: who.apiKey }, timeout: 30_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('adds, lists, shows deliveries and disables, and refuses what it should', async () => {
    const added = await run(
      ['--json', 'webhooks', 'add', '--url', 'https://hooks.example.com/cli', '--events', 'refund.paid,refund.stuck', '--format', 'slack'],
      admin,
    );
    expect(added.code, added.stderr).toBe(0);
    const created = JSON.parse(added.stdout) as WebhookSubscriptionCreated;
    subscriptions.push(created.subscription.id);
    expect(created).toMatchObject({
      secret: expect.stringMatching(/^whsec_/),
      subscription: { format: 'slack', eventTypes: ['refund.paid', 'refund.stuck'] },
    });

    const human = await run(['webhooks', 'add', '--url', 'https://hooks.example.com/cli-2'], admin);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/delivers every event to https:\/\/hooks.example.com\/cli-2/);
    expect(human.stdout).toMatch(/Signing secret .*whsec_/);
    subscriptions.push(/Subscription (whsub_[0-9a-f]+)/.exec(human.stdout)![1]!);

    const list = await run(['webhooks', 'list'], admin);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(created.subscription.id);
    expect(list.stdout).toContain('refund.paid,refund.stuck');
    expect(list.stdout).not.toContain('whsec_');

    const none = await run(['webhooks', 'deliveries', created.subscription.id], admin);
    expect(none.code, none.stderr).toBe(0);

    const disabled = await run(['webhooks', 'disable', created.subscription.id, '--reason', 'done'], admin);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toContain(`disabled by ${admin.id}`);

    const badType = await run(['webhooks', 'add', '--url', 'https://hooks.example.com/x', '--events', 'refund.exploded'], admin);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('refund.exploded');
    const badUrl = await run(['webhooks', 'add', '--url', 'ftp://hooks.example.com/x'], admin);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('url');
    const notAdmin = await run(['webhooks', 'list'], ops);
    expect(notAdmin.code).toBe(3);
    const unknown = await run(['webhooks', 'deliveries', 'whsub_000000000000000000000000'], admin);
    expect(unknown.code).toBe(4);
  }, 60_000);
});

describe('the dispatcher', () => {
  it('has continued as new while delivering, and keeps going', async () => {
    const run = await api.h.temporal.workflow.getHandle(`webhook-dispatcher/${api.h.taskQueue}`).describe();
    expect(run.status.name).toBe('RUNNING');
    expect(run.runId).not.toBe(firstRunId);
  });
});
