/**
 * The PostgreSQL side on its own, against a real server: the audit chains (one per subject:
 * append-only, retry-safe, and every kind of tampering within a chain detected), the read model's
 * forward-only updates and stuck listing, and the payout ledger under duplicate and concurrent
 * calls. The product's writes go through the service role, as in production. Tampering happens in
 * a database of its own, so the shared trail other test files verify stays intact, and as the
 * superuser: the service role could not do it (least-privilege.test.ts), only a privileged insider
 * can. The read model's rows are written without audit facts, which verification would rightly
 * report, so they get a database of their own too. Checkpoints and the read model held to the
 * chains: audit-anchoring.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditFacts, appendSubjectFacts, auditHash, auditTrailOf, GENESIS_HASH, verifyAuditChain } from '../../store/audit-trail';
import { createPool, withTransaction, type Pool } from '../../store/pool';
import { payOut, PaymentDeclinedError, type PaymentGateway, type PayoutRequest } from '../../activities/payments';
import { getRefundRow, listStuckRefunds, upsertRefundRow } from '../../store/read-model';
import type { ReadModelSnapshot } from '../../workflows/read-model-snapshot';
import type { AuditFact } from '../../workflows/refund-model';
import { nextId } from '../support/fixtures';
import { asOwner, newPool, scratchDatabase, type ScratchDatabase } from '../support/stack';

/** The service role on the shared test database. */
let pool: Pool;
/** The service role on a database for read-model rows without audit facts. */
let readPool: Pool;
let readModelDb: ScratchDatabase;
let tamperDb: ScratchDatabase;
/** The service role on the tamper database: appends and verifies as the product does. */
let chainPool: Pool;
/** The superuser on the tamper database: the privileged insider who tampers. */
let tamperPool: Pool;

beforeAll(async () => {
  pool = newPool(5);
  readModelDb = await scratchDatabase('read_model');
  readPool = createPool(readModelDb.serviceUrl, 3);
  tamperDb = await scratchDatabase('audit_tamper');
  chainPool = createPool(tamperDb.serviceUrl, 3);
  tamperPool = createPool(tamperDb.adminUrl, 3);
});
afterAll(async () => {
  await chainPool?.end();
  await tamperPool?.end();
  await tamperDb?.drop().catch(() => undefined);
  await readPool?.end();
  await readModelDb?.drop().catch(() => undefined);
  await pool?.end();
});

const fact = (kind: string, data: Record<string, unknown> = {}): AuditFact => ({
  kind,
  actor: 'system',
  at: new Date().toISOString(),
  data,
});

function snapshot(refundId: string, overrides: Partial<ReadModelSnapshot> = {}): ReadModelSnapshot {
  const now = new Date().toISOString();
  return {
    refundId,
    workflowId: `refund-${refundId}`,
    orderId: 'o-1',
    customerId: 'c-1',
    initiatedBy: 'emp-1',
    currency: 'USD',
    amount: 5_000,
    state: 'awaiting_carrier',
    waitingFor: 'first carrier scan of the return parcel',
    stateSince: now,
    stuck: false,
    stuckAfter: new Date(Date.now() + 60_000).toISOString(),
    carrier: 'ups',
    trackingNumber: `T-${refundId}`,
    policyVersion: 'test',
    riskScore: null,
    riskBand: null,
    approvalsRequired: null,
    approvalsGiven: 0,
    requestedAt: now,
    progressSeq: 1,
    // The store keeps the workflow's status as given; its shape is the workflow's concern.
    status: { refundId, state: 'awaiting_carrier' } as ReadModelSnapshot['status'],
    ...overrides,
  };
}

describe('audit trail', () => {
  /** Each step links to the step before it of the same subject; step 1 to the genesis hash. */
  const expectLinked = (rows: Array<{ refundSeq: number; prevHash: string; hash: string }>) => {
    expect(rows.map((row) => row.refundSeq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((row) => row.prevHash)).toEqual([GENESIS_HASH, ...rows.slice(0, -1).map((row) => row.hash)]);
  };

  it('chains each refund’s rows on their own, skips facts a retried write already stored, and refuses gaps', async () => {
    const refundId = nextId('audit');
    const facts = [fact('refund_requested', { amount: 5_000, note: 'ünïcødé ✓' }), fact('carrier_event', { status: 'delivered' })];
    const first = await withTransaction(chainPool, (c) => appendAuditFacts(c, refundId, 1, facts));
    // The same activity retried after its first attempt had committed: nothing new, the same head.
    expect(await withTransaction(chainPool, (c) => appendAuditFacts(c, refundId, 1, facts))).toEqual({ appended: 0, head: first.head });
    // A retry that overlaps: only the new fact is written.
    const overlap = await withTransaction(chainPool, (c) => appendAuditFacts(c, refundId, 2, [facts[1]!, fact('paid')]));
    expect(overlap).toMatchObject({ appended: 1, head: { refundSeq: 3 } });
    await expect(withTransaction(chainPool, (c) => appendAuditFacts(c, refundId, 9, [fact('late')]))).rejects.toThrow(/would have a gap/);
    const rows = await auditTrailOf(chainPool, refundId);
    expect(rows.map((row) => row.kind)).toEqual(['refund_requested', 'carrier_event', 'paid']);
    expectLinked(rows);
    expect(overlap.head?.hash).toBe(rows[2]!.hash);
    expect(await verifyAuditChain(chainPool)).toMatchObject({ ok: true, findings: [] });
  });

  it('keeps every subject’s chain unbroken under concurrent writers, several of them on one subject', async () => {
    const employee = `employee ${nextId('emp')}`;
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) =>
        withTransaction(chainPool, (c) => appendAuditFacts(c, nextId(`conc${i}`), 1, [fact('a'), fact('b')])),
      ),
      ...Array.from({ length: 6 }, (_, i) => withTransaction(chainPool, (c) => appendSubjectFacts(c, employee, [fact(`trip-${i}`)]))),
    ]);
    expectLinked(await auditTrailOf(chainPool, employee));
    expect(await verifyAuditChain(chainPool)).toMatchObject({ ok: true, findings: [] });
  });

  it('refuses UPDATE, DELETE and TRUNCATE even to the superuser while the guard is on', async () => {
    await expect(tamperPool.query(`UPDATE audit_log SET actor = 'someone-else'`)).rejects.toThrow(/audit_log is append-only/);
    await expect(tamperPool.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    await expect(tamperPool.query(`TRUNCATE audit_log`)).rejects.toThrow(/append-only/);
  });

  describe('detects tampering within a chain by someone who can switch the guard off', () => {
    // Each case tampers, checks the verifier names the subject, step and check, then puts the row back.
    const withTriggerOff = async (sql: string, params: unknown[] = []) => {
      await withTransaction(tamperPool, async (c) => {
        await c.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
        await c.query(sql, params);
        await c.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
      });
    };
    const victim = async () => {
      const refundId = nextId('victim');
      await withTransaction(chainPool, (c) =>
        appendAuditFacts(c, refundId, 1, [fact('approved', { approverId: 'emp-a' }), fact('paid', { amount: 100 })]),
      );
      const row = await tamperPool.query('SELECT * FROM audit_log WHERE refund_id = $1 ORDER BY refund_seq LIMIT 1', [refundId]);
      return row.rows[0] as { seq: number; refund_id: string; data: unknown; hash: string };
    };

    it('an edited row', async () => {
      const row = await victim();
      await withTriggerOff(`UPDATE audit_log SET data = '{"approverId": "emp-b"}' WHERE seq = $1`, [row.seq]);
      const result = await verifyAuditChain(chainPool);
      expect(result).toMatchObject({ ok: false, brokenAt: { seq: row.seq, refundId: row.refund_id } });
      expect(result.findings).toEqual([
        {
          check: 'row_hash',
          problem: 'edited',
          subject: row.refund_id,
          refundSeq: 1,
          seq: row.seq,
          detail: 'step 1 does not match its hash: edited in place',
        },
      ]);
      await withTriggerOff(`UPDATE audit_log SET data = $2 WHERE seq = $1`, [row.seq, JSON.stringify(row.data)]);
      expect(await verifyAuditChain(chainPool)).toMatchObject({ ok: true });
    });

    it('an edited row whose own hash was recomputed: the next step no longer links to it', async () => {
      const row = await victim();
      const full = (await tamperPool.query('SELECT * FROM audit_log WHERE seq = $1', [row.seq])).rows[0];
      const forged = auditHash({
        seq: Number(full.seq),
        refundId: full.refund_id,
        refundSeq: full.refund_seq,
        kind: full.kind,
        actor: 'emp-x',
        occurredAt: full.occurred_at.toISOString(),
        data: full.data,
        prevHash: full.prev_hash,
      });
      await withTriggerOff(`UPDATE audit_log SET actor = 'emp-x', hash = $2 WHERE seq = $1`, [row.seq, forged]);
      expect((await verifyAuditChain(chainPool)).findings).toEqual([
        expect.objectContaining({ check: 'chain_link', problem: 'rehashed', subject: row.refund_id, refundSeq: 2 }),
      ]);
      await withTriggerOff(`UPDATE audit_log SET actor = 'system', hash = $2 WHERE seq = $1`, [row.seq, row.hash]);
      expect(await verifyAuditChain(chainPool)).toMatchObject({ ok: true });
    });

    it('a deleted row', async () => {
      const row = await victim();
      const full = await tamperPool.query('SELECT * FROM audit_log WHERE seq = $1', [row.seq]);
      await withTriggerOff('DELETE FROM audit_log WHERE seq = $1', [row.seq]);
      expect((await verifyAuditChain(chainPool)).findings).toEqual([
        expect.objectContaining({
          check: 'step_sequence',
          problem: 'deleted',
          subject: row.refund_id,
          refundSeq: 1,
          detail: 'step 1 is missing: deleted',
        }),
      ]);
      const r = full.rows[0];
      await withTriggerOff(
        `INSERT INTO audit_log (seq, refund_id, refund_seq, kind, actor, occurred_at, data, recorded_at, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [r.seq, r.refund_id, r.refund_seq, r.kind, r.actor, r.occurred_at, JSON.stringify(r.data), r.recorded_at, r.prev_hash, r.hash],
      );
      expect(await verifyAuditChain(chainPool)).toMatchObject({ ok: true });
    });
  });
});

describe('read model', () => {
  it('never lets an older write overwrite a newer one', async () => {
    const refundId = nextId('rm');
    await withTransaction(readPool, (c) => upsertRefundRow(c, snapshot(refundId), 'hash-1'));
    await withTransaction(readPool, (c) =>
      upsertRefundRow(c, snapshot(refundId, { state: 'awaiting_warehouse', progressSeq: 3 }), undefined),
    );
    await withTransaction(readPool, (c) =>
      upsertRefundRow(c, snapshot(refundId, { state: 'awaiting_carrier', progressSeq: 2 }), undefined),
    );
    expect((await getRefundRow(readPool, refundId))?.state).toBe('awaiting_warehouse');
  });

  it('refuses a second request with the same refund id and a different body', async () => {
    const refundId = nextId('rm');
    expect(await withTransaction(readPool, (c) => upsertRefundRow(c, snapshot(refundId), 'hash-1'))).toBe(true);
    expect(await withTransaction(readPool, (c) => upsertRefundRow(c, snapshot(refundId, { progressSeq: 5 }), 'hash-2'))).toBe(false);
  });

  it('lists refunds past their state’s limit, or older than asked, oldest first', async () => {
    const now = Date.now();
    const ago = (minutes: number) => new Date(now - minutes * 60_000).toISOString();
    const tag = nextId('stuck');
    const rows = [
      snapshot(`${tag}-a`, { state: 'awaiting_warehouse', stateSince: ago(300), stuckAfter: ago(60) }),
      snapshot(`${tag}-b`, { state: 'awaiting_approval', stateSince: ago(600), stuckAfter: ago(30) }),
      snapshot(`${tag}-c`, { state: 'awaiting_approval', stateSince: ago(120), stuckAfter: ago(-60) }),
      snapshot(`${tag}-d`, { state: 'refunded', stateSince: ago(900), stuckAfter: null }),
    ];
    for (const row of rows) await withTransaction(readPool, (c) => upsertRefundRow(c, row, 'h'));
    const mine = (list: Array<{ refundId: string }>) => list.map((r) => r.refundId).filter((id) => id.startsWith(tag));
    expect(mine(await listStuckRefunds(readPool, { limit: 1000 }))).toEqual([`${tag}-b`, `${tag}-a`]);
    expect(mine(await listStuckRefunds(readPool, { olderThanMs: 100 * 60_000, limit: 1000 }))).toEqual([
      `${tag}-b`,
      `${tag}-a`,
      `${tag}-c`,
    ]);
    expect(mine(await listStuckRefunds(readPool, { olderThanMs: 100 * 60_000, states: ['awaiting_approval'], limit: 1000 }))).toEqual([
      `${tag}-b`,
      `${tag}-c`,
    ]);
  });
});

describe('payout ledger', () => {
  /** A processor that honours idempotency keys and answers every call, including repeats, with success. */
  class AnswersTwice implements PaymentGateway {
    readonly name = 'answers-twice';
    charges = new Map<string, number>();
    async pay(request: PayoutRequest) {
      this.charges.set(request.idempotencyKey, 1);
      await new Promise((r) => setTimeout(r, 20));
      return { reference: `ref-${request.refundId}` };
    }
  }
  const input = (refundId: string, amount = 7_500) => ({ refundId, customerId: 'c-1', amount, currency: 'EUR' });
  // The service role only writes the ledger; reading it back takes the owner.
  const ledger = async (refundId: string) =>
    (
      await asOwner((owner) =>
        owner.query('SELECT direction, amount FROM ledger_entries WHERE refund_id = $1 ORDER BY direction', [refundId]),
      )
    ).rows;

  it('writes one ledger pair however many times the payout runs, even concurrently', async () => {
    const refundId = nextId('pay');
    const gateway = new AnswersTwice();
    const results = await Promise.all([
      payOut(pool, gateway, input(refundId)),
      payOut(pool, gateway, input(refundId)),
      payOut(pool, gateway, input(refundId)),
    ]);
    expect(new Set(results.map((r) => r.reference))).toEqual(new Set([`ref-${refundId}`]));
    expect(await payOut(pool, gateway, input(refundId))).toEqual({ reference: `ref-${refundId}` });
    expect(await ledger(refundId)).toEqual([
      { direction: 'credit', amount: 7_500 },
      { direction: 'debit', amount: 7_500 },
    ]);
    const payout = await pool.query('SELECT status, attempts FROM payouts WHERE refund_id = $1', [refundId]);
    expect(payout.rows).toEqual([{ status: 'paid', attempts: 4 }]);
  });

  it('records a decline, writes no ledger entry, and does not call the gateway again', async () => {
    const refundId = nextId('pay');
    let calls = 0;
    const declining: PaymentGateway = {
      name: 'declining',
      async pay() {
        calls++;
        throw new PaymentDeclinedError('insufficient_funds', 'the merchant account is short of funds');
      },
    };
    await expect(payOut(pool, declining, input(refundId))).rejects.toMatchObject({ type: 'PaymentDeclined', nonRetryable: true });
    await expect(payOut(pool, declining, input(refundId))).rejects.toMatchObject({ type: 'PaymentDeclined' });
    expect(calls).toBe(1);
    expect(await ledger(refundId)).toEqual([]);
  });

  it('refuses to pay a refund a different amount from the one already recorded', async () => {
    const refundId = nextId('pay');
    await payOut(pool, new AnswersTwice(), input(refundId, 1_000));
    await expect(payOut(pool, new AnswersTwice(), input(refundId, 2_000))).rejects.toMatchObject({ type: 'PayoutMismatch' });
    expect(await ledger(refundId)).toHaveLength(2);
  });
});
