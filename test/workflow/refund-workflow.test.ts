/**
 * The refund workflow end to end on the real Temporal dev server and real PostgreSQL, through
 * the typed client: every approval tier, every refusal, duplicates, out-of-order events, timers,
 * cancel, and a payment gateway that times out, declines or answers twice.
 */
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../store/audit-trail';
import { ApprovalRefusedError, CancelRefusedError, InvalidInputError, RefundConflictError, RefundNotFoundError } from '../../client';
import { refundWorkflowId } from '../../workflows/messages';
import { extendDeadlineUpdate } from '../../workflows/ops-commands';
import type { RefundRequest } from '../../workflows/schemas';
import { carrierEvent, fastPolicy, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import type { ApproverOptions } from '../support/registry-world';
import { asOwner } from '../support/stack';
import { chargesFor, ScriptedGateway } from '../support/scripted-gateway';

const { EventType } = proto.temporal.api.enums.v1;
let h: RefundHarness;
let gateway: ScriptedGateway;

beforeAll(async () => {
  h = await startRefundHarness({ gateway: (pool) => (gateway = new ScriptedGateway(pool)) });
});
afterAll(async () => h?.close());

/** Requests a refund and delivers matching evidence: the carrier delivers, then the warehouse scans. */
async function withEvidence(request: RefundRequest, scannedBy = 'emp-scan-1') {
  await h.refunds.requestRefund(request);
  await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
  await h.carrierEvent(carrierEvent(request, 'in_transit', { occurredAt: new Date(Date.now() - 120_000).toISOString() }));
  await h.carrierEvent(carrierEvent(request, 'delivered', { occurredAt: new Date(Date.now() - 60_000).toISOString() }));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  await h.scan(request.refundId, matchingReceipt(request), scannedBy);
}

async function ledgerOf(refundId: string) {
  // The service role only writes the ledger; reading it back takes the owner.
  const result = await asOwner((owner) =>
    owner.query('SELECT account, direction, amount FROM ledger_entries WHERE refund_id = $1 ORDER BY direction', [refundId]),
  );
  return result.rows;
}

async function auditKinds(refundId: string) {
  return (await h.refunds.auditTrail(refundId)).map((r) => r.kind);
}

describe('approval tiers', () => {
  it('pays a small, clean, low-risk refund with no human approval', async () => {
    const request = refundOf(4_500);
    await withEvidence(request);
    const done = await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(done).toMatchObject({
      approvalsRequired: 0,
      approvals: [],
      risk: { band: 'low' },
      payout: { reference: `ch_${request.refundId}` },
    });
    expect(await ledgerOf(request.refundId)).toEqual([
      { account: 'gateway:fake-processor', direction: 'credit', amount: 4_500 },
      { account: 'refunds_expense', direction: 'debit', amount: 4_500 },
    ]);
    expect(await chargesFor(h.pool, request.refundId)).toBe(1);
    const row = await h.refunds.getRefundRow(request.refundId);
    expect(row).toMatchObject({ state: 'refunded', amount: 4_500, currency: 'USD', approvalsGiven: 0, riskBand: 'low' });
    expect(await auditKinds(request.refundId)).toEqual(
      expect.arrayContaining(['refund_requested', 'carrier_event', 'warehouse_receipt', 'risk_assessed', 'paid']),
    );
  });

  it('needs one approval between 100.00 and 1,000.00', async () => {
    const request = refundOf(50_000);
    await withEvidence(request);
    const waiting = await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    expect(waiting).toMatchObject({ approvalsRequired: 1, approvalsStillNeeded: 1, waitingFor: '1 more approval' });
    const after = await h.refunds.decide(
      request.refundId,
      await h.registry.approval(request, 'emp-approver-1', { reason: 'receipt matches' }),
    );
    expect(after.state).toBe('paying');
    const done = await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(done.approvals).toEqual([
      expect.objectContaining({ approverId: 'emp-approver-1', decision: 'approve', reason: 'receipt matches' }),
    ]);
  });

  it('needs two distinct approvers above 1,000.00', async () => {
    const request = refundRequest({
      items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
    });
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    const first = await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-1'));
    expect(first).toMatchObject({ state: 'awaiting_approval', approvalsRequired: 2, approvalsStillNeeded: 1 });
    await expect(h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-1'))).rejects.toMatchObject({
      rule: 'approver_already_decided',
    });
    const second = await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-2'));
    expect(second.state).toBe('paying');
    await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(await chargesFor(h.pool, request.refundId)).toBe(1);
  });

  it('rejects the refund on any approver’s rejection, and pays nothing', async () => {
    const request = refundOf(50_000);
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    const rejected = await h.refunds.decide(
      request.refundId,
      await h.registry.approval(request, 'emp-approver-1', { decision: 'reject', reason: 'customer is on the watch list' }),
    );
    expect(rejected).toMatchObject({ state: 'rejected', outcome: { code: 'approver_rejected', by: 'emp-approver-1' } });
    expect(await ledgerOf(request.refundId)).toEqual([]);
  });
});

describe('separation of duties, checked inside the workflow', () => {
  const request = refundOf(150_000, { initiatedBy: 'emp-requester' });
  beforeAll(async () => {
    await withEvidence(request, 'emp-scanner');
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  });

  const cases: Array<[string, string, ApproverOptions, string]> = [
    ['the requester', 'emp-requester', {}, 'approver_is_requester'],
    ['the requester, in another case', 'EMP-Requester', {}, 'approver_is_requester'],
    ['the scanner', 'emp-scanner', {}, 'approver_is_scanner'],
    ['an approver whose limit is below the amount', 'emp-junior', { limits: { USD: 100_000 } }, 'approval_limit_below_amount'],
    ['an approver with no limit in the refund’s currency', 'emp-euro', { limits: { EUR: 10_000_000 } }, 'approval_limit_below_amount'],
    ['someone without the approver role', 'emp-ops', { roles: ['ops'] }, 'approver_role_required'],
  ];
  it.each(cases)('refuses %s with the rule it broke', async (_who, person, registration, rule) => {
    await h.registry.registerApprover(person.toLowerCase(), registration);
    const signed = h.registry.sign(request, person, h.registry.keyOf(person.toLowerCase()));
    const refusal = await h.refunds.decide(request.refundId, signed).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ApprovalRefusedError);
    expect(refusal).toMatchObject({ code: 'approval_refused', rule });
  });

  it('leaves no trace of a refused approval and keeps waiting', async () => {
    const status = await h.refunds.getRefund(request.refundId);
    expect(status).toMatchObject({ state: 'awaiting_approval', approvals: [], approvalsStillNeeded: 2 });
    expect(await auditKinds(request.refundId)).not.toContain('approved');
  });

  it('refuses any approval while the refund is not awaiting approval', async () => {
    const early = refundOf(50_000);
    await h.refunds.requestRefund(early);
    await h.refunds.waitForState(early.refundId, ['awaiting_carrier']);
    await expect(h.refunds.decide(early.refundId, await h.registry.approval(early, 'emp-approver-1'))).rejects.toMatchObject({
      rule: 'not_awaiting_approval',
    });
  });

  it('refuses an approval on a refund that has finished', async () => {
    const paid = refundOf(4_000);
    await withEvidence(paid);
    await h.refunds.waitForState(paid.refundId, ['refunded']);
    await new Promise((r) => setTimeout(r, 200));
    await expect(h.refunds.decide(paid.refundId, await h.registry.approval(paid, 'emp-approver-1'))).rejects.toMatchObject({
      rule: 'not_awaiting_approval',
    });
  });
});

describe('evidence', () => {
  it('ignores duplicate events by id and handles delivery reported before transit', async () => {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    const delivered = carrierEvent(request, 'delivered', { occurredAt: new Date(Date.now() - 60_000).toISOString() });
    await h.carrierEvent(delivered);
    await h.carrierEvent(delivered);
    await h.carrierEvent(carrierEvent(request, 'in_transit', { occurredAt: new Date(Date.now() - 600_000).toISOString() }));
    await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    const receipt = matchingReceipt(request);
    await h.scan(request.refundId, receipt, 'emp-scan-1');
    await h.scan(request.refundId, receipt, 'emp-scan-1');
    const done = await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(done.evidence.carrierEvents.map((e) => e.status)).toEqual(['delivered', 'in_transit']);
    expect(done.evidence.receipts).toHaveLength(1);
    const kinds = await auditKinds(request.refundId);
    expect(kinds.filter((k) => k === 'carrier_event')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'warehouse_receipt')).toHaveLength(1);
  });

  it('sends a receipt scanned before the carrier delivered to two approvers', async () => {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    await h.scan(request.refundId, matchingReceipt(request, { scannedAt: new Date(Date.now() - 3_600_000).toISOString() }), 'emp-scan-1');
    await h.carrierEvent(carrierEvent(request, 'delivered', { occurredAt: new Date().toISOString() }));
    const waiting = await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    expect(waiting.evidence.findings).toContain('receipt_before_delivery');
    expect(waiting.approvalsRequired).toBe(2);
  });

  it('refuses a malformed event before sending it, naming the field', async () => {
    const request = refundOf(4_000);
    const bad = { ...carrierEvent(request, 'delivered'), weightGrams: -3 };
    const error = await h.carrierEvent(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues[0]?.path).toBe('weightGrams');
  });

  it('keeps an event for a parcel no refund is waiting for yet, pending', async () => {
    const event = carrierEvent(refundOf(4_000), 'delivered');
    expect(await h.carrierEvent(event)).toEqual({
      eventId: event.eventId,
      refundIds: [],
      finishedRefundIds: [],
      pending: true,
    });
  });
});

describe('requests', () => {
  it('is idempotent by refund id: same body, same refund; different body, conflict', async () => {
    const request = refundOf(4_000);
    expect(await h.refunds.requestRefund(request)).toMatchObject({ created: true, workflowId: refundWorkflowId(request.refundId) });
    // Key order does not matter: the body is compared canonically.
    const reordered = Object.fromEntries(Object.entries(request).reverse());
    expect(await h.refunds.requestRefund(reordered)).toMatchObject({ created: false });
    await expect(h.refunds.requestRefund({ ...request, reason: 'something else' })).rejects.toBeInstanceOf(RefundConflictError);
    await h.refunds.cancel(request.refundId, 'svc-returns', 'test done');
    // Even a finished refund's id cannot be used again for a different request.
    await expect(h.refunds.requestRefund({ ...request, reason: 'again' })).rejects.toBeInstanceOf(RefundConflictError);
  });

  it('refuses invalid input with every field at fault and starts nothing', async () => {
    const request = refundOf(4_000);
    const error = await h.refunds
      .requestRefund({ ...request, currency: 'XYZ', items: [{ ...request.items[0], unitAmount: 10.5 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues.map((i) => i.path).sort()).toEqual(['currency', 'items.0.unitAmount']);
    await expect(h.refunds.getRefund(request.refundId)).rejects.toBeInstanceOf(RefundNotFoundError);
  });
});

describe('timers and operations', () => {
  it('expires when no carrier scan comes within the return window', async () => {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    const expired = await h.refunds.waitForState(request.refundId, ['expired'], 15_000);
    expect(expired.outcome).toMatchObject({ code: 'return_window_elapsed' });
    expect((await h.refunds.getRefundRow(request.refundId))?.state).toBe('expired');
  });

  it('marks a refund stuck when the warehouse is late, lists it, and carries on when the scan comes', async () => {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    // The escalation reaches the read model once the workflow has written it.
    const deadline = Date.now() + 15_000;
    while (!(await h.refunds.getRefundRow(request.refundId))?.stuck) {
      if (Date.now() > deadline) throw new Error('refund never became stuck');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await h.refunds.getRefund(request.refundId)).stuck).toBe(true);
    const stuck = await h.refunds.listStuck({ limit: 1000 });
    expect(stuck.find((r) => r.refundId === request.refundId)).toMatchObject({
      state: 'awaiting_warehouse',
      stuck: true,
      waitingFor: 'warehouse receipt scan',
    });
    expect(await auditKinds(request.refundId)).toContain('escalated');
    await h.scan(request.refundId, matchingReceipt(request), 'emp-scan-1');
    await h.refunds.waitForState(request.refundId, ['refunded']);
    expect((await h.refunds.listStuck({ limit: 1000 })).some((r) => r.refundId === request.refundId)).toBe(false);
  });

  it('can be cancelled before payout, and not after', async () => {
    const request = refundOf(4_000);
    await h.refunds.requestRefund(request);
    const cancelled = await h.refunds.cancel(request.refundId, 'svc-returns', 'customer kept the item');
    expect(cancelled).toMatchObject({ state: 'cancelled', outcome: { code: 'cancelled', by: 'svc-returns' } });
    const paid = refundOf(4_000);
    await withEvidence(paid);
    await h.refunds.waitForState(paid.refundId, ['refunded']);
    await expect(h.refunds.cancel(paid.refundId, 'svc-returns', 'too late')).rejects.toBeInstanceOf(CancelRefusedError);
  });

  it('publishes its state as search attributes', async () => {
    const request = refundOf(4_000);
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['refunded']);
    const description = await h.temporal.workflow.getHandle(refundWorkflowId(request.refundId)).describe();
    expect(description.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toEqual(
      expect.arrayContaining([
        ['RefundState', 'refunded'],
        ['RefundAmount', 4_000],
        ['RefundCurrency', 'USD'],
        ['RefundStuck', false],
      ]),
    );
  });
});

describe('payout', () => {
  it('retries a gateway that times out, and pays once', async () => {
    const request = refundOf(4_000);
    gateway.script(request.refundId, ['timeout_before_charge', 'timeout_after_charge']);
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['refunded'], 30_000);
    expect(await chargesFor(h.pool, request.refundId)).toBe(1);
    expect(await ledgerOf(request.refundId)).toHaveLength(2);
    const payout = await h.pool.query('SELECT status, attempts FROM payouts WHERE refund_id = $1', [request.refundId]);
    expect(payout.rows[0]).toEqual({ status: 'paid', attempts: 3 });
  });

  it('fails the refund when the gateway declines, with no ledger entry', async () => {
    const request = refundOf(4_000);
    gateway.script(request.refundId, ['decline']);
    await withEvidence(request);
    const failed = await h.refunds.waitForState(request.refundId, ['failed']);
    expect(failed.outcome).toMatchObject({ code: 'PaymentDeclined', message: 'the card account is closed' });
    expect(await ledgerOf(request.refundId)).toEqual([]);
    expect(await chargesFor(h.pool, request.refundId)).toBe(0);
  });

  it('keeps the audit chain verifiable', async () => {
    expect(await verifyAuditChain(h.pool)).toMatchObject({ ok: true });
  });
});

describe('history', () => {
  /** The refund's history: local activities in order, the search attribute states set, and each event type's count. */
  async function historyOf(refundId: string) {
    const history = await h.temporal.workflow.getHandle(refundWorkflowId(refundId)).fetchHistory();
    const events = history.events ?? [];
    const json = (data: Uint8Array | null | undefined) => JSON.parse(Buffer.from(data ?? []).toString('utf8'));
    const markers = events.flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes] : []));
    const localActivities = markers
      .filter((m) => m.markerName === 'core_local_activity')
      .map((m) => json(m.details?.data?.payloads?.[0]?.data).activity_type as string);
    const states = events.flatMap((e) => {
      const state = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.RefundState;
      return state ? [json(state.data) as string] : [];
    });
    const count = (type: proto.temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === type).length;
    return { events, patches: markers.filter((m) => m.markerName === 'core_patch').length, localActivities, states, count };
  }

  it('keeps a short history: policy and signer in one step, the write into risk review with the risk check, no cancelled timer', async () => {
    const request = refundOf(4_000);
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['refunded']);
    const history = await historyOf(request.refundId);
    expect(history.patches).toBe(0);
    expect(history.localActivities[0]).toBe('pinPolicy');
    expect(history.localActivities).toContain('recordProgressAndAssessRisk');
    // The request's signer came with the policy; the only look-up is the receipt's scanner.
    expect(history.localActivities.filter((type) => type === 'lookupPrincipal')).toHaveLength(1);
    expect(history.localActivities).not.toContain('assessRisk');
    // The in-transit scan and the delivery each moved the deadline; the superseded timers lapse.
    expect(history.count(EventType.EVENT_TYPE_TIMER_STARTED)).toBeGreaterThanOrEqual(2);
    expect(history.count(EventType.EVENT_TYPE_TIMER_CANCELED)).toBe(0);
    // Set where the refund rests: never risk_review, which it passes through within a task.
    expect(history.states).toEqual(['awaiting_carrier', 'awaiting_warehouse', 'paying', 'refunded']);
  });

  it('looks an approver up with their standing in one step', async () => {
    const request = refundOf(50_000);
    await withEvidence(request);
    await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    await h.refunds.decide(request.refundId, await h.registry.approval(request, 'emp-approver-7'));
    await h.refunds.waitForState(request.refundId, ['refunded']);
    const history = await historyOf(request.refundId);
    const afterRisk = history.localActivities.slice(history.localActivities.lastIndexOf('recordProgressAndAssessRisk') + 1);
    expect(afterRisk).toEqual(['recordProgress', 'lookupApprover', 'recordProgress', 'recordProgress']);
  });

  it('leaves a superseded deadline timer to lapse: an extended deadline does not escalate at its old time', async () => {
    // Its own worker, with a warehouse deadline long enough to extend it well before it ends.
    const slow = await startRefundHarness({ policy: { ...fastPolicy, timers: { ...fastPolicy.timers, warehouseReceipt: '6s' } } });
    try {
      const request = refundOf(4_000);
      await slow.refunds.requestRefund(request);
      await slow.refunds.waitForState(request.refundId, ['awaiting_carrier']);
      await slow.carrierEvent(carrierEvent(request, 'delivered'));
      await slow.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
      const handle = slow.temporal.workflow.getHandle(refundWorkflowId(request.refundId));
      await handle.executeUpdate(extendDeadlineUpdate, { args: [{ extendedBy: 'emp-ops-1', by: 'PT6S', reason: 'warehouse backlog' }] });
      const timers = async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const started = events.flatMap((e) => (e.timerStartedEventAttributes ? [e.timerStartedEventAttributes] : []));
        const fired = new Set(events.flatMap((e) => (e.timerFiredEventAttributes ? [e.timerFiredEventAttributes.timerId] : [])));
        return { started, fired };
      };
      // The warehouse deadline's first timer, superseded by the extension's, still fires.
      const { started } = await timers();
      const superseded = started.find((t) => Number(t.startToFireTimeout?.seconds ?? 0) >= 5)?.timerId;
      expect(superseded).toBeDefined();
      const deadline = Date.now() + 30_000;
      while (!(await timers()).fired.has(superseded!)) {
        if (Date.now() > deadline) throw new Error('the superseded timer never fired');
        await new Promise((r) => setTimeout(r, 200));
      }
      // It changed nothing: the refund is not stuck until its extended deadline.
      expect(await slow.refunds.getRefund(request.refundId)).toMatchObject({ state: 'awaiting_warehouse', stuck: false });
      expect((await slow.refunds.auditTrail(request.refundId)).map((r) => r.kind)).not.toContain('escalated');
      while (!(await slow.refunds.getRefund(request.refundId)).stuck) {
        if (Date.now() > deadline) throw new Error('the refund never became stuck at its extended deadline');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await slow.refunds.auditTrail(request.refundId)).filter((r) => r.kind === 'escalated')).toHaveLength(1);
    } finally {
      await slow.close();
    }
  }, 60_000);
});
