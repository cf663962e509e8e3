/**
 * How a refund's transitions are written, against a real server as the service role. A later
 * transition with no insider action is one statement (advance_refund through appendAndAdvance):
 * it stores exactly what the transaction it replaces stored, a retry changes nothing, a refund
 * with no row or a gap in its chain leaves nothing behind, and it is one round trip. The first
 * transition and one that records an insider action keep their transaction. Refunds are driven
 * by the workflow's own model and written through the real recordProgress activity, in a database
 * of their own so the whole trail can be verified at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type ProgressInput } from '../../activities';
import { createWorkerMetrics } from '../../activities/metrics';
import { LedgerOnlyGateway } from '../../activities/payments';
import { appendAuditFacts, auditTrailOf, verifyAuditChain } from '../../store/audit-trail';
import { createPool, type Db, type Pool, type PoolClient, withTransaction } from '../../store/pool';
import { advanceRefundRow, appendAndAdvance } from '../../store/read-model';
import { refundWorkflowId } from '../../workflows/messages';
import { defaultPolicy } from '../../workflows/policy';
import { readModelSnapshot } from '../../workflows/read-model-snapshot';
import { applyEvent, newRefund, type AuditFact, type RefundEvent, type RefundModel } from '../../workflows/refund-model';
import { approver, carrierEvent, matchingReceipt, nextId, refundRequest } from '../support/fixtures';
import { scratchDatabase, type ScratchDatabase } from '../support/stack';

let db: ScratchDatabase;
let pool: Pool;
/** The refund whose first fact is on the trail with no read-model row (below). */
let rowless: string | undefined;

beforeAll(async () => {
  db = await scratchDatabase('transition_writes');
  pool = createPool(db.serviceUrl, 4);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** The statements sent through `pool` (its own queries and those of the clients it hands out), in order. */
function counting(target: Pool): { pool: Pool; statements: string[] } {
  const statements: string[] = [];
  const text = (query: unknown) => (typeof query === 'string' ? query : String((query as { text?: unknown }).text)).trim();
  const countedQuery =
    (on: Db) =>
    (...args: unknown[]) => {
      statements.push(text(args[0]));
      return (on.query as (...a: unknown[]) => unknown)(...args);
    };
  const bound = <T extends object>(on: T, prop: string | symbol) => {
    const value = Reflect.get(on, prop) as unknown;
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(on) : value;
  };
  const client = (real: PoolClient) =>
    new Proxy(real, { get: (on, prop) => (prop === 'query' ? countedQuery(on) : bound(on, prop)) }) as PoolClient;
  const counted = new Proxy(target, {
    get: (on, prop) => {
      if (prop === 'query') return countedQuery(on);
      if (prop === 'connect') return async () => client(await on.connect());
      return bound(on, prop);
    },
  });
  return { pool: counted, statements };
}

const base = Date.parse('2026-11-01T09:00:00.000Z');
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
const initiatedBy = nextId('emp-agent');
const customerId = nextId('c');

/**
 * A refund the way its workflow moves it: each step's facts with the snapshot its write sends.
 * Two refunds made with the same `eventIds` differ only in their ids.
 */
function refund(refundId = nextId('tw'), eventIds = { carrier: nextId('ce'), receipt: nextId('wr') }) {
  const request = refundRequest({ refundId, customerId, initiatedBy });
  const started = newRefund(request, defaultPolicy, at(0));
  let model: RefundModel = started.model;
  let written = 0;
  const input = (facts: AuditFact[], first: boolean): ProgressInput => {
    const progress: ProgressInput = {
      refund: readModelSnapshot(model, refundWorkflowId(refundId), written + facts.length),
      firstSeq: written + 1,
      facts,
      ...(first ? { request } : {}),
    };
    written += facts.length;
    return progress;
  };
  const first = input(started.facts, true);
  return {
    refundId,
    first,
    /** The next step's write. */
    step(event: RefundEvent): ProgressInput {
      const result = applyEvent(model, event);
      model = result.model;
      return input(result.facts, false);
    },
    delivered: (): RefundEvent => ({
      type: 'carrier_event',
      event: carrierEvent(request, 'delivered', { eventId: eventIds.carrier, occurredAt: at(5) }),
      at: at(6),
    }),
    scanned: (by: string): RefundEvent => ({
      type: 'warehouse_scan',
      scan: { receipt: matchingReceipt(request, { eventId: eventIds.receipt, scannedAt: at(10) }), scannedBy: by },
      at: at(11),
    }),
    highRisk: (): RefundEvent => ({
      type: 'risk_assessed',
      risk: { score: 60, band: 'high', reasons: [] },
      evidenceVersion: model.evidenceVersion,
      at: at(12),
    }),
    state: () => model.state,
  };
}

const activities = (on: Pool, metrics?: ReturnType<typeof createWorkerMetrics>) =>
  createActivities({
    pool: on,
    policy: defaultPolicy,
    gateway: new LedgerOnlyGateway(),
    trustRoots: { admins: [] },
    carrierSecrets: {},
    ...(metrics ? { metrics } : {}),
  });

/** A later transition as it was written before advance_refund: a transaction around the append and the row's update. */
const inTransaction = (input: ProgressInput) =>
  withTransaction(pool, async (client) => {
    const { head, appended } = await appendAuditFacts(client, input.refund.refundId, input.firstSeq, input.facts);
    await advanceRefundRow(client, input.refund, head);
    return { head, appended };
  });

async function rowOf(refundId: string): Promise<Record<string, unknown>> {
  const { rows } = await pool.query('SELECT * FROM refunds WHERE refund_id = $1', [refundId]);
  expect(rows).toHaveLength(1);
  return rows[0] as Record<string, unknown>;
}

/** A row with its refund's own ids (and the time it was written) taken out, to compare two refunds. */
function comparable(row: Record<string, unknown>, refundId: string): unknown {
  const { updated_at: _updated, request_hash: _hash, requested_at: _requested, ...rest } = row;
  return JSON.parse(JSON.stringify({ ...rest, status: { ...(rest.status as object), auditHead: 'own' } }).replaceAll(refundId, '<id>'));
}

describe('a later transition with no insider action', () => {
  it('stores in one call exactly what the transaction stored: facts, row, and the status with its new audit head', async () => {
    const ids = { carrier: nextId('ce'), receipt: nextId('wr') };
    const before = refund(nextId('tw-tx'), ids);
    const after = refund(nextId('tw-one'), ids);
    const write = activities(pool);
    await write.recordProgress(before.first);
    await write.recordProgress(after.first);

    const viaTransaction = await inTransaction(before.step(before.delivered()));
    const viaOneCall = await appendAndAdvance(pool, ...argsOf(after.step(after.delivered())));
    expect(viaOneCall.appended).toBe(viaTransaction.appended);
    expect(viaOneCall.appended).toBeGreaterThan(0);

    const [rowBefore, rowAfter] = [await rowOf(before.refundId), await rowOf(after.refundId)];
    expect(rowAfter.state).toBe('awaiting_warehouse');
    expect(comparable(rowAfter, after.refundId)).toEqual(comparable(rowBefore, before.refundId));
    // Each status carries its own refund's head, as the workflow's AuditHead: the last row of its chain.
    for (const [row, refundId, head] of [
      [rowBefore, before.refundId, viaTransaction.head],
      [rowAfter, after.refundId, viaOneCall.head],
    ] as const) {
      const trail = await auditTrailOf(pool, refundId);
      expect(head).toEqual({ refundSeq: trail.at(-1)!.refundSeq, hash: trail.at(-1)!.hash });
      expect((row.status as { auditHead?: unknown }).auditHead).toEqual(head);
    }
    const kinds = async (refundId: string) => (await auditTrailOf(pool, refundId)).map((r) => [r.refundSeq, r.kind, r.actor]);
    expect(await kinds(after.refundId)).toEqual(await kinds(before.refundId));
  });

  it('is one statement, one round trip, where the transaction took four; the first write and an insider action keep theirs', async () => {
    const counted = counting(pool);
    const write = activities(counted.pool);
    const r = refund();
    const statementsOf = async (input: ProgressInput) => {
      counted.statements.length = 0;
      await write.recordProgress(input);
      return [...counted.statements];
    };

    const first = await statementsOf(r.first);
    expect(first[0]).toBe('BEGIN');
    expect(first.at(-1)).toBe('COMMIT');

    const delivered = await statementsOf(r.step(r.delivered()));
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatch(/FROM advance_refund\(/);

    // The scanner's insider action (and the breaker it may trip) is written in the transaction, with the facts.
    const scanned = await statementsOf(r.step(r.scanned(nextId('emp-scan'))));
    expect(scanned[0]).toBe('BEGIN');
    expect(scanned.some((s) => /INSERT INTO insider_actions/.test(s))).toBe(true);
    expect(scanned.some((s) => /append_audit_facts\(/.test(s))).toBe(true);
    expect(scanned.at(-1)).toBe('COMMIT');
    expect(r.state()).toBe('risk_review');
    expect((await rowOf(r.refundId)).state).toBe('risk_review');
  });

  it('retried, appends nothing, changes nothing and answers with the same head; overtaken, leaves the row where it is', async () => {
    const r = refund();
    await activities(pool).recordProgress(r.first);
    const delivered = r.step(r.delivered());
    const written = await appendAndAdvance(pool, ...argsOf(delivered));
    const row = await rowOf(r.refundId);
    const trail = await auditTrailOf(pool, r.refundId);

    expect(await appendAndAdvance(pool, ...argsOf(delivered))).toEqual({ appended: 0, head: written.head });
    expect(await rowOf(r.refundId)).toEqual(row);
    expect(await auditTrailOf(pool, r.refundId)).toEqual(trail);

    // A later write moves the row on; the earlier one retried after it neither appends nor moves it back.
    const scanned = r.step(r.scanned(nextId('emp-scan')));
    await activities(pool).recordProgress(scanned);
    const moved = await rowOf(r.refundId);
    const head = await auditTrailOf(pool, r.refundId);
    expect(await appendAndAdvance(pool, ...argsOf(delivered))).toEqual({
      appended: 0,
      head: { refundSeq: head.at(-1)!.refundSeq, hash: head.at(-1)!.hash },
    });
    expect(await rowOf(r.refundId)).toEqual(moved);
    expect(moved.state).toBe('risk_review');
  });

  it('for a refund with no read-model row, fails and leaves no audit fact behind', async () => {
    const r = refund();
    // Its first fact on the trail, but no row: a row lost, or never written.
    await withTransaction(pool, (c) => appendAuditFacts(c, r.refundId, 1, r.first.facts));
    const before = await auditTrailOf(pool, r.refundId);
    expect(before).toHaveLength(r.first.facts.length);
    await expect(appendAndAdvance(pool, ...argsOf(r.step(r.delivered())))).rejects.toThrow(/has no read-model row to update/);
    expect(await auditTrailOf(pool, r.refundId)).toEqual(before);

    rowless = r.refundId;
    // Nothing at all of it, not even the facts it would start with: still nothing after.
    const none = refund();
    await expect(appendAndAdvance(pool, ...argsOf(none.first))).rejects.toThrow(/has no read-model row to update/);
    expect(await auditTrailOf(pool, none.refundId)).toEqual([]);
  });

  it('refuses a gap in the chain and changes nothing', async () => {
    const r = refund();
    await activities(pool).recordProgress(r.first);
    const row = await rowOf(r.refundId);
    const trail = await auditTrailOf(pool, r.refundId);
    const delivered = r.step(r.delivered());
    await expect(appendAndAdvance(pool, delivered.refund, delivered.firstSeq + 3, delivered.facts)).rejects.toThrow(/would have a gap/);
    expect(await rowOf(r.refundId)).toEqual(row);
    expect(await auditTrailOf(pool, r.refundId)).toEqual(trail);
  });

  it('counts an approver’s rejection in the approval latency, once, though it records no insider action', async () => {
    const metrics = createWorkerMetrics();
    const write = activities(pool, metrics);
    const r = refund();
    await write.recordProgress(r.first);
    await write.recordProgress(r.step(r.delivered()));
    await write.recordProgress(r.step(r.scanned(nextId('emp-scan'))));
    await write.recordProgress(r.step(r.highRisk()));
    expect(r.state()).toBe('awaiting_approval');
    const rejection = r.step({
      type: 'approval',
      command: { approver: approver(nextId('emp-approver')), decision: { decision: 'reject', reason: 'not convinced' } },
      at: at(20),
    });
    expect(rejection.facts.map((f) => f.kind)).toContain('approval_rejected');
    await write.recordProgress(rejection);
    await write.recordProgress(rejection);
    const latency = (await metrics.approvalLatency.get()).values.filter(
      (v) => v.labels.outcome === 'rejected' && v.metricName === 'refund_approval_latency_seconds_count',
    );
    expect(latency.map((v) => v.value)).toEqual([1]);
    expect((await rowOf(r.refundId)).state).toBe('rejected');
  });

  it('leaves every chain and every row in agreement', async () => {
    const verification = await verifyAuditChain(pool);
    // The refund put on the trail without a row above is reported as such, and nothing else is.
    expect(verification.findings).toEqual([expect.objectContaining({ check: 'read_model', problem: 'deleted', subject: rowless })]);
    expect(verification.rowsChecked).toBeGreaterThan(0);
  });
});

/** appendAndAdvance's arguments after the pool, from a write's input. */
function argsOf(input: ProgressInput): [ProgressInput['refund'], number, AuditFact[]] {
  return [input.refund, input.firstSeq, input.facts];
}
