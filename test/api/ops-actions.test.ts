/**
 * Operations actions and listings over HTTP against the real stack: escalate, extend-deadline,
 * nudge, cancel and alert acknowledgements (each with its audit row, its refusals, roles,
 * malformed bodies and Idempotency-Key replays), the refund listing's pages and filters, the
 * approvals inbox per approver, and the stuck summary and CSV.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefundView } from '../../client/views';
import type { ApprovalsInbox, RefundList, StuckSummary } from '../../client/ops-views';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';

let api: ApiHarness;
let service: TestPrincipal;
let otherService: TestPrincipal;
let scanner: TestPrincipal;
let approverA: TestPrincipal;
let approverB: TestPrincipal;
let requesterApprover: TestPrincipal;
let scannerApprover: TestPrincipal;
let junior: TestPrincipal;
let ops: TestPrincipal;
let ops2: TestPrincipal;
let admin: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  [service, otherService, scanner, approverA, approverB, requesterApprover, scannerApprover, junior, ops, ops2, admin] = await Promise.all([
    api.principal('svc-ops-test', ['refund_service']),
    api.principal('svc-ops-other', ['refund_service']),
    api.principal('wh-ops-scanner', ['warehouse']),
    api.principal('emp-inbox-a', ['approver'], '100000.00'),
    api.principal('emp-inbox-b', ['approver'], '100000.00'),
    api.principal('emp-inbox-requester', ['approver'], '100000.00'),
    api.principal('emp-inbox-scanner', ['warehouse', 'approver'], '100000.00'),
    api.principal('emp-inbox-junior', ['approver'], '10.00'),
    api.principal('emp-ops-1', ['ops']),
    api.principal('emp-ops-2', ['ops']),
    api.principal('emp-auditor', ['admin']),
  ]);
});
afterAll(async () => api?.close());

const json = <T = Record<string, unknown>>(response: { body: string }) => JSON.parse(response.body) as T;
const keyed = (key: string) => ({ 'idempotency-key': key });

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, type: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = json<{ type: string; rule?: string; errors?: Array<{ path: string }>; detail: string }>(response);
  expect(problem.type).toBe(`/problems/${type}`);
  return problem;
}

async function requested(request: RefundRequest, by = service): Promise<RefundView> {
  const response = await api.call('POST', '/v1/refunds', by, request);
  expect(response.statusCode, response.body).toBe(201);
  return json<RefundView>(response);
}

/** A refund with the carrier's delivery and a matching receipt scanned by `scannedBy`, awaiting approval. */
async function awaitingApproval(request: RefundRequest, scannedBy = scanner): Promise<void> {
  await requested(request);
  expect((await api.carrierPost(carrierEvent(request, 'delivered'))).statusCode).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  const scan = await api.call(
    'POST',
    `/v1/refunds/${request.refundId}/warehouse-scans`,
    scannedBy,
    api.scanBody(scannedBy, request.refundId, matchingReceipt(request)),
  );
  expect(scan.statusCode, scan.body).toBe(202);
  await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
}

/** A refund the carrier has (in transit) but not delivered: it waits for the carrier and turns stuck after the carrier timer. */
async function inTransit(request: RefundRequest, by = service): Promise<void> {
  await requested(request, by);
  expect((await api.carrierPost(carrierEvent(request, 'in_transit'))).statusCode).toBe(202);
  await until(async () => (await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents.length === 1);
}

/** Polls `check` until it holds (each poll waits for the answer; the test's timeout bounds it). */
async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function refund(refundId: string, who: TestPrincipal = ops): Promise<RefundView> {
  const response = await api.call('GET', `/v1/refunds/${refundId}`, who);
  expect(response.statusCode, response.body).toBe(200);
  return json<RefundView>(response);
}

async function audit(refundId: string, kind: string) {
  return (await api.h.refunds.auditTrail(refundId)).filter((row) => row.kind === kind);
}

async function inbox(who: TestPrincipal): Promise<string[]> {
  const response = await api.call('GET', '/v1/approvals/inbox', who);
  expect(response.statusCode, response.body).toBe(200);
  return json<ApprovalsInbox>(response).items.map((item) => item.refundId);
}

describe('escalate', () => {
  it('hands a refund to an approver group, on its escalations and audit trail, without making it stuck', async () => {
    const request = refundOf(150_000);
    await awaitingApproval(request);
    const response = await api.call('POST', `/v1/refunds/${request.refundId}/escalate`, ops, {
      group: 'finance-leads',
      reason: 'large amount, customer VIP',
    });
    expect(response.statusCode, response.body).toBe(200);
    const view = json<RefundView>(response);
    expect(view.escalations).toContainEqual(expect.objectContaining({ group: 'finance-leads', by: ops.id, state: 'awaiting_approval' }));
    expect(view.state).toBe('awaiting_approval');
    const [row] = await audit(request.refundId, 'escalated');
    expect(row).toMatchObject({
      actor: `employee:${ops.id}`,
      data: { group: 'finance-leads', by: ops.id, reason: 'large amount, customer VIP', state: 'awaiting_approval' },
    });
  });

  it('is refused for other roles (403), malformed bodies (422 naming the field) and unknown refunds (404)', async () => {
    const request = refundOf(150_000);
    await requested(request);
    const url = `/v1/refunds/${request.refundId}/escalate`;
    for (const who of [approverA, service, scanner, admin]) {
      expectProblem(await api.call('POST', url, who, { group: 'finance-leads', reason: 'x' }), 403, 'role-required');
    }
    const noReason = expectProblem(await api.call('POST', url, ops, { group: 'finance-leads' }), 422, 'invalid-input');
    expect(noReason.errors?.map((e) => e.path)).toContain('reason');
    const blankReason = expectProblem(await api.call('POST', url, ops, { group: 'finance-leads', reason: '   ' }), 422, 'invalid-input');
    expect(blankReason.errors?.map((e) => e.path)).toContain('reason');
    const noGroup = expectProblem(await api.call('POST', url, ops, { reason: 'why' }), 422, 'invalid-input');
    expect(noGroup.errors?.map((e) => e.path)).toContain('group');
    const extra = expectProblem(await api.call('POST', url, ops, { group: 'g', reason: 'r', by: 'someone' }), 422, 'invalid-input');
    expect(extra.errors?.map((e) => e.path)).toContain('by');
    expectProblem(await api.call('POST', url, ops, '{"group": "g",'), 400, 'malformed-request');
    expectProblem(
      await api.call('POST', `/v1/refunds/${uniqueId('r-none')}/escalate`, ops, { group: 'g', reason: 'r' }),
      404,
      'refund-not-found',
    );
    expect(await audit(request.refundId, 'escalated')).toHaveLength(0);
  });

  it('answers a retry under the same Idempotency-Key with the first answer and escalates once', async () => {
    const request = refundOf(150_000);
    await inTransit(request);
    const key = uniqueId('key');
    const body = { group: 'risk-team', reason: 'second look' };
    const first = await api.call('POST', `/v1/refunds/${request.refundId}/escalate`, ops, body, keyed(key));
    expect(first.statusCode, first.body).toBe(200);
    const again = await api.call('POST', `/v1/refunds/${request.refundId}/escalate`, ops, body, keyed(key));
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(json(again)).toEqual(json(first));
    expect(await audit(request.refundId, 'escalated')).toHaveLength(1);
    const other = await api.call('POST', `/v1/refunds/${request.refundId}/escalate`, ops, { ...body, group: 'other' }, keyed(key));
    expectProblem(other, 422, 'idempotency-key-reused');
  });
});

describe('extend-deadline', () => {
  it('unsticks a stuck refund until the new deadline, never pays or skips an approval, and is capped per state', async () => {
    const request = refundOf(150_000);
    await awaitingApproval(request);
    // The test policy's approval timer is 2 s: wait for the refund to be escalated as overdue.
    await until(async () => (await refund(request.refundId)).stuck);
    const before = await refund(request.refundId);
    expect(before.approvalsStillNeeded).toBe(2);

    const response = await api.call('POST', `/v1/refunds/${request.refundId}/extend-deadline`, ops, {
      by: 'PT10M',
      reason: 'approvers on leave',
    });
    expect(response.statusCode, response.body).toBe(200);
    const after = json<RefundView>(response);
    expect(after).toMatchObject({ state: 'awaiting_approval', stuck: false, approvalsStillNeeded: 2, approvalsRequired: 2, payout: null });
    expect(after.approvals).toEqual(before.approvals);
    expect(Date.parse(after.deadlines.stuckAfter!) - Date.parse(before.deadlines.stuckAfter!)).toBe(600_000);
    expect(after.deadlineExtensions).toEqual([
      expect.objectContaining({ state: 'awaiting_approval', duration: 'PT10M', ms: 600_000, by: ops.id }),
    ]);
    const [row] = await audit(request.refundId, 'deadline_extended');
    expect(row).toMatchObject({
      actor: `employee:${ops.id}`,
      data: { by: ops.id, extension: 'PT10M', reason: 'approvers on leave', wasStuck: true, state: 'awaiting_approval' },
    });
    // Not in the stuck listing any more; the listing's stuck filter agrees.
    const stuck = json<{ refunds: Array<{ refundId: string }> }>(
      await api.call('GET', '/v1/refunds/stuck?state=awaiting_approval&limit=1000', ops),
    );
    expect(stuck.refunds.map((r) => r.refundId)).not.toContain(request.refundId);

    // The cap (7 days by default) counts every extension in this state.
    const capped = expectProblem(
      await api.call('POST', `/v1/refunds/${request.refundId}/extend-deadline`, ops, { by: 'P7D', reason: 'more' }),
      409,
      'ops-action-refused',
    );
    expect(capped.rule).toBe('extension_cap_exceeded');
    expect(capped.detail).toMatch(/timers\.maxDeadlineExtension/);
    const fits = await api.call('POST', `/v1/refunds/${request.refundId}/extend-deadline`, ops, { by: 'P6DT23H', reason: 'up to the cap' });
    expect(fits.statusCode, fits.body).toBe(200);
    expect(json<RefundView>(fits)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 2, payout: null });
    expect(await audit(request.refundId, 'deadline_extended')).toHaveLength(2);

    // The approvals are still all needed: one approval leaves one more to go, and nothing was paid.
    const approved = await api.call(
      'POST',
      `/v1/refunds/${request.refundId}/approvals`,
      approverA,
      api.decisionBody(approverA, request_(request)),
    );
    expect(approved.statusCode, approved.body).toBe(200);
    expect(json<RefundView>(approved)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1, payout: null });
    expect(await audit(request.refundId, 'paid')).toHaveLength(0);
  });

  it('refuses bad durations (422 naming by), other roles (403), finished refunds (409 refund_finished)', async () => {
    const request = refundOf(150_000);
    await inTransit(request);
    const url = `/v1/refunds/${request.refundId}/extend-deadline`;
    for (const by of ['P1M', 'PT0S', '2 days', 'P', '', 5]) {
      const problem = expectProblem(await api.call('POST', url, ops, { by, reason: 'r' }), 422, 'invalid-input');
      expect(problem.errors?.map((e) => e.path)).toContain('by');
    }
    expect(expectProblem(await api.call('POST', url, ops, { by: 'P1D' }), 422, 'invalid-input').errors?.map((e) => e.path)).toContain(
      'reason',
    );
    expectProblem(await api.call('POST', url, approverA, { by: 'P1D', reason: 'r' }), 403, 'role-required');
    expectProblem(
      await api.call('POST', `/v1/refunds/${uniqueId('r-none')}/extend-deadline`, ops, { by: 'P1D', reason: 'r' }),
      404,
      'refund-not-found',
    );

    const cancelled = await api.call('POST', `/v1/refunds/${request.refundId}/cancel`, ops, { reason: 'customer kept the item' });
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    const late = expectProblem(await api.call('POST', url, ops, { by: 'P1D', reason: 'r' }), 409, 'ops-action-refused');
    expect(late.rule).toBe('refund_finished');
    const lateEscalation = expectProblem(
      await api.call('POST', `/v1/refunds/${request.refundId}/escalate`, ops, { group: 'g', reason: 'r' }),
      409,
      'ops-action-refused',
    );
    expect(lateEscalation.rule).toBe('refund_finished');
  });
});

/** The subject of a decision on `request`. */
function request_(request: RefundRequest) {
  return {
    refundId: request.refundId,
    amount: request.items.reduce((n, i) => n + i.quantity * i.unitAmount, 0),
    currency: request.currency,
  };
}

describe('nudge and cancel', () => {
  it('records a nudge of the party the refund waits for, and refuses the other party', async () => {
    const request = refundOf(20_000);
    await inTransit(request);
    const url = `/v1/refunds/${request.refundId}/nudge`;
    const response = await api.call('POST', url, ops, { party: 'carrier', reason: 'no scan for two days' });
    expect(response.statusCode, response.body).toBe(200);
    expect(json<RefundView>(response).nudges).toEqual([
      expect.objectContaining({ party: 'carrier', by: ops.id, reason: 'no scan for two days', state: 'awaiting_carrier' }),
    ]);
    const [row] = await audit(request.refundId, 'evidence_requested');
    expect(row).toMatchObject({ actor: `employee:${ops.id}`, data: { party: 'carrier', by: ops.id, reason: 'no scan for two days' } });

    const wrong = expectProblem(await api.call('POST', url, ops, { party: 'warehouse', reason: 'r' }), 409, 'ops-action-refused');
    expect(wrong.rule).toBe('not_waiting_for_party');
    const bad = expectProblem(await api.call('POST', url, ops, { party: 'customer', reason: 'r' }), 422, 'invalid-input');
    expect(bad.errors?.map((e) => e.path)).toContain('party');
    expectProblem(await api.call('POST', url, service, { party: 'carrier', reason: 'r' }), 403, 'role-required');
    expect(await audit(request.refundId, 'evidence_requested')).toHaveLength(1);
  });

  it('cancels only with a reason, and the audit trail names who cancelled', async () => {
    const request = refundOf(20_000);
    await inTransit(request);
    const url = `/v1/refunds/${request.refundId}/cancel`;
    expect(expectProblem(await api.call('POST', url, ops, {}), 422, 'invalid-input').errors?.map((e) => e.path)).toContain('reason');
    const response = await api.call('POST', url, ops, { reason: 'duplicate request' });
    expect(response.statusCode, response.body).toBe(200);
    await api.h.refunds.waitForState(request.refundId, ['cancelled']);
    const changes = await audit(request.refundId, 'state_changed');
    expect(changes.at(-1)?.data).toMatchObject({
      to: 'cancelled',
      outcome: { code: 'cancelled', message: 'duplicate request', by: ops.id },
    });
  });
});

describe('alerts', () => {
  it('acknowledges an alert once, lists it by acknowledgement, and 404s an unknown one', async () => {
    const employee = uniqueId('emp-alerted');
    const inserted = await api.owner.query<{ id: string }>(
      "INSERT INTO ops_alerts (kind, employee_id, details) VALUES ('breaker_tripped', $1, '{}') RETURNING id",
      [employee],
    );
    const id = Number(inserted.rows[0]!.id);
    const unacked = json<{ alerts: Array<{ id: number }> }>(await api.call('GET', '/v1/ops/alerts?acknowledged=false&limit=1000', ops));
    expect(unacked.alerts.map((a) => a.id)).toContain(id);

    expectProblem(await api.call('POST', `/v1/ops/alerts/${id}/ack`, approverA, {}), 403, 'role-required');
    const first = await api.call('POST', `/v1/ops/alerts/${id}/ack`, ops, { note: 'talked to the team lead' });
    expect(first.statusCode, first.body).toBe(200);
    expect(json(first)).toMatchObject({ id, acknowledgedBy: ops.id, acknowledgeNote: 'talked to the team lead' });
    expect(json<{ acknowledgedAt: string }>(first).acknowledgedAt).toEqual(expect.any(String));
    const second = await api.call('POST', `/v1/ops/alerts/${id}/ack`, ops2, {});
    expect(second.statusCode, second.body).toBe(200);
    expect(json(second)).toEqual(json(first));

    const acked = json<{ alerts: Array<{ id: number }> }>(await api.call('GET', '/v1/ops/alerts?acknowledged=true&limit=1000', ops));
    expect(acked.alerts.map((a) => a.id)).toContain(id);
    const stillUnacked = json<{ alerts: Array<{ id: number }> }>(
      await api.call('GET', '/v1/ops/alerts?acknowledged=false&limit=1000', ops),
    );
    expect(stillUnacked.alerts.map((a) => a.id)).not.toContain(id);

    expectProblem(await api.call('POST', '/v1/ops/alerts/999999999999/ack', ops, {}), 404, 'alert-not-found');
    expect(
      expectProblem(await api.call('POST', '/v1/ops/alerts/abc/ack', ops, {}), 422, 'invalid-input').errors?.map((e) => e.path),
    ).toContain('alertId');
    expect(
      expectProblem(await api.call('POST', `/v1/ops/alerts/${id}/ack`, ops, { note: 'x'.repeat(501) }), 422, 'invalid-input').errors?.map(
        (e) => e.path,
      ),
    ).toContain('note');
  });
});

describe('GET /v1/refunds', () => {
  it('walks every page newest first with no refund twice or missing, filters, and shows a refund service only its own', async () => {
    const customerId = uniqueId('cust-list');
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) {
      const request = refundOf(10_000 + i, { customerId });
      await requested(request);
      mine.push(request.refundId);
    }
    const theirs = refundOf(10_000, { customerId });
    await requested(theirs, otherService);

    const walk = async (who: TestPrincipal, query: string) => {
      const seen: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const response = await api.call('GET', `/v1/refunds?${query}&limit=2${after ? `&starting_after=${after}` : ''}`, who);
        expect(response.statusCode, response.body).toBe(200);
        const page = json<RefundList>(response);
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((r) => r.refundId));
        if (!page.has_more) return seen;
        after = page.data.at(-1)!.refundId;
      }
      throw new Error('too many pages');
    };
    const all = await walk(ops, `customerId=${customerId}`);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...mine, theirs.refundId].sort());
    // Newest first: the refund requested last comes first.
    expect(all[0]).toBe(theirs.refundId);
    expect(all.slice(1)).toEqual([...mine].reverse());
    expect((await walk(admin, `customerId=${customerId}`)).sort()).toEqual([...all].sort());
    expect((await walk(service, `customerId=${customerId}`)).sort()).toEqual([...mine].sort());
    expect(await walk(otherService, `customerId=${customerId}`)).toEqual([theirs.refundId]);
    // Another service's refund is no cursor for this one.
    const foreign = await api.call('GET', `/v1/refunds?customerId=${customerId}&starting_after=${theirs.refundId}`, service);
    expect(expectProblem(foreign, 422, 'invalid-input').errors?.map((e) => e.path)).toContain('starting_after');

    const filtered = async (query: string) =>
      json<RefundList>(await api.call('GET', `/v1/refunds?customerId=${customerId}&limit=100&${query}`, ops)).data.map((r) => r.refundId);
    expect((await filtered('state=awaiting_carrier&state=expired')).sort()).toEqual([...all].sort());
    const waitingForCarrier = json<RefundList>(
      await api.call('GET', `/v1/refunds?customerId=${customerId}&limit=100&waitingFor=carrier&waitingFor=payout`, ops),
    ).data;
    for (const r of waitingForCarrier) expect(r).toMatchObject({ state: 'awaiting_carrier', waitingParty: 'carrier' });
    expect(await filtered('waitingFor=approval')).toEqual([]);
    expect(await filtered('state=refunded')).toEqual([]);
    expect(await filtered(`orderId=${mine[2]!.replace(/^/, 'o-')}`)).toEqual([mine[2]]);
    const page = json<RefundList>(await api.call('GET', `/v1/refunds?customerId=${customerId}&limit=1`, ops));
    expect(page.data[0]).toMatchObject({ customerId, requestedBy: otherService.id, waitingParty: expect.anything() });
  });

  it('refuses approvers and scanners (403) and bad parameters (422 naming them)', async () => {
    expectProblem(await api.call('GET', '/v1/refunds', approverA), 403, 'role-required');
    expectProblem(await api.call('GET', '/v1/refunds', scanner), 403, 'role-required');
    for (const [query, field] of [
      ['limit=101', 'limit'],
      ['limit=0', 'limit'],
      ['state=bogus', 'state'],
      ['waitingFor=customer', 'waitingFor'],
      ['stuck=maybe', 'stuck'],
      [`starting_after=${uniqueId('r-none')}`, 'starting_after'],
      ['colour=red', 'colour'],
    ] as const) {
      const problem = expectProblem(await api.call('GET', `/v1/refunds?${query}`, ops), 422, 'invalid-input');
      expect(problem.errors?.map((e) => e.path).join(' '), query).toContain(field);
    }
  });
});

describe('approvals inbox', () => {
  it('shows a refund to the approvers who may decide it, and never to its requester, its scanner, one who decided, or one over their limit', async () => {
    const request = refundOf(150_000, { initiatedBy: requesterApprover.id });
    await awaitingApproval(request, scannerApprover);

    expect(await inbox(approverA)).toContain(request.refundId);
    expect(await inbox(approverB)).toContain(request.refundId);
    expect(await inbox(requesterApprover)).not.toContain(request.refundId);
    expect(await inbox(scannerApprover)).not.toContain(request.refundId);
    expect(await inbox(junior)).not.toContain(request.refundId);

    const item = json<ApprovalsInbox>(await api.call('GET', '/v1/approvals/inbox', approverB)).items.find(
      (i) => i.refundId === request.refundId,
    )!;
    expect(item).toMatchObject({
      amount: 150_000,
      currency: 'USD',
      customerId: request.customerId,
      approvalsRequired: 2,
      approvalsStillNeeded: 2,
      approvals: [],
    });
    expect(item.evidence.delivered).toBe(true);
    expect(item.evidence.receipts).toHaveLength(1);
    expect(item.risk?.band).toEqual(expect.any(String));
    expect(Date.parse(item.waitingSince)).not.toBeNaN();

    const approved = await api.call(
      'POST',
      `/v1/refunds/${request.refundId}/approvals`,
      approverA,
      api.decisionBody(approverA, request_(request)),
    );
    expect(approved.statusCode, approved.body).toBe(200);
    await until(async () => !(await inbox(approverA)).includes(request.refundId));
    const after = json<ApprovalsInbox>(await api.call('GET', '/v1/approvals/inbox', approverB)).items.find(
      (i) => i.refundId === request.refundId,
    )!;
    expect(after).toMatchObject({ approvalsStillNeeded: 1, approvals: [expect.objectContaining({ approverId: approverA.id })] });

    expectProblem(await api.call('GET', '/v1/approvals/inbox', ops), 403, 'role-required');
  });

  it('lists the longest waiting first', async () => {
    const first = refundOf(150_000);
    const second = refundOf(150_000);
    await awaitingApproval(first);
    await awaitingApproval(second);
    const ids = await inbox(approverB);
    expect(ids.indexOf(first.refundId)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(first.refundId)).toBeLessThan(ids.indexOf(second.refundId));
  });
});

describe('stuck summary and CSV', () => {
  it('counts and sums stuck refunds by state and what they wait for, with the filters; the CSV is quoted and formula-safe', async () => {
    const amount = 123_457;
    const formula = `=HYPERLINK("x",${uniqueId('c')})`;
    const gbp = [
      refundOf(amount, { currency: 'GBP', customerId: formula }),
      refundOf(amount, { currency: 'GBP', customerId: uniqueId('@c') }),
    ];
    const eur = refundOf(amount, { currency: 'EUR' });
    for (const request of [...gbp, eur]) await inTransit(request);
    const filter = `amountMin=${amount}&amountMax=${amount}`;
    const summary = async (query: string) => {
      const response = await api.call('GET', `/v1/refunds/stuck/summary?${filter}&${query}`, ops);
      expect(response.statusCode, response.body).toBe(200);
      return json<StuckSummary>(response);
    };
    // The test policy's carrier timer is 3 s: wait until all three are past it.
    await until(async () => (await summary('state=awaiting_carrier')).total.count === 3);
    const inGbp = await summary('currency=GBP');
    expect(inGbp.total).toEqual({ count: 2, amounts: { GBP: 2 * amount } });
    expect(inGbp.byState).toEqual([{ state: 'awaiting_carrier', count: 2, amounts: { GBP: 2 * amount } }]);
    expect(inGbp.byWaitingFor).toEqual([{ waitingFor: 'carrier', count: 2, amounts: { GBP: 2 * amount } }]);
    expect((await summary('')).total.amounts).toEqual({ GBP: 2 * amount, EUR: amount });
    expect((await summary('state=awaiting_approval')).total).toEqual({ count: 0, amounts: {} });
    expect((await summary('olderThan=P1D')).total.count).toBe(0);
    const listed = json<{ refunds: Array<{ refundId: string }> }>(await api.call('GET', `/v1/refunds/stuck?${filter}&currency=GBP`, ops));
    expect(listed.refunds.map((r) => r.refundId).sort()).toEqual(gbp.map((r) => r.refundId).sort());

    const csv = await api.call('GET', `/v1/refunds/stuck.csv?${filter}&currency=GBP`, ops);
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe('refundId,state,waitingFor,since,stuckAfter,amount,currency,customerId,initiatedBy');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(4);
    // The formula is a quoted text cell: a leading single quote, its quotes doubled.
    expect(csv.body).toContain(`"'${formula.replaceAll('"', '""')}"`);
    expect(csv.body).toContain(`,'${gbp[1]!.customerId},`);
    expect(csv.body).not.toMatch(/,=HYPERLINK/);

    expectProblem(await api.call('GET', '/v1/refunds/stuck.csv', approverA), 403, 'role-required');
    expectProblem(await api.call('GET', '/v1/refunds/stuck/summary', service), 403, 'role-required');
    for (const [query, field] of [
      ['amountMin=0', 'amountMin'],
      ['amountMax=abc', 'amountMax'],
      ['currency=usd', 'currency'],
      ['olderThan=P1M', 'olderThan'],
    ] as const) {
      const problem = expectProblem(await api.call('GET', `/v1/refunds/stuck/summary?${query}`, ops), 422, 'invalid-input');
      expect(problem.errors?.map((e) => e.path).join(' '), query).toContain(field);
    }
  });
});
