/**
 * The invariants the run checks once the faults have stopped and the refunds have settled, read
 * straight from PostgreSQL (as the superuser, read only) and from the API's audit verification.
 * Each names what it found wrong, never more than a few examples.
 */
import type { RefundsApiClient } from '../client/refunds-api-client';
import { createPool, type Pool } from '../store/pool';
import { type InvariantResult, result, rows } from './invariant-result';
import type { DrivenRefund } from './driver';
import { expectedOutcome, type RefundPlan } from './plan';
import type { Recorder } from './recorder';
import { paidOnlyOnEvidence } from './evidence-invariant';
import { historiesReplay } from './replay-invariant';

export type { InvariantResult };

const FINAL = ['refunded', 'rejected', 'cancelled', 'expired', 'failed'];
/** Where a refund may rest when nobody sends what it waits for: it waits, visibly, for a person or a carrier. */
const WAITING = ['awaiting_carrier', 'awaiting_warehouse', 'awaiting_approval'];

async function atMostOnePayout(pool: Pool, like: string): Promise<InvariantResult> {
  const doubled = await rows<{ refund_id: string; what: string; n: string }>(
    pool,
    `SELECT refund_id, 'payouts' AS what, count(*) AS n FROM payouts WHERE refund_id LIKE $1 GROUP BY refund_id HAVING count(*) > 1
     UNION ALL
     SELECT refund_id, 'audited payments' AS what, count(*) AS n FROM audit_log WHERE kind = 'paid' AND refund_id LIKE $1
      GROUP BY refund_id HAVING count(*) > 1`,
    [like],
  );
  const mismatched = await rows<{ refund_id: string; state: string; status: string | null }>(
    pool,
    `SELECT r.refund_id, r.state, p.status FROM refunds r LEFT JOIN payouts p USING (refund_id)
      WHERE r.refund_id LIKE $1 AND (r.state = 'refunded') <> (p.status IS NOT DISTINCT FROM 'paid')`,
    [like],
  );
  const paid = await rows<{ n: string }>(pool, `SELECT count(*) AS n FROM payouts WHERE refund_id LIKE $1 AND status = 'paid'`, [like]);
  return result(
    'at most one payout per refund, and one for every refunded refund',
    [
      ...doubled.map((r) => `${r.refund_id} has ${r.n} ${r.what}`),
      ...mismatched.map((r) => `${r.refund_id} is ${r.state} with payout ${r.status ?? 'none'}`),
    ],
    `${paid[0]?.n ?? 0} payouts, none twice`,
  );
}

async function ledgerBalanced(pool: Pool, like: string): Promise<InvariantResult> {
  const bad = await rows<{ key: string; why: string }>(
    pool,
    `SELECT p.idempotency_key AS key,
            format('%s: debits %s, credits %s, payout %s %s', p.refund_id, coalesce(sum(l.amount) FILTER (WHERE l.direction = 'debit'), 0),
                   coalesce(sum(l.amount) FILTER (WHERE l.direction = 'credit'), 0), p.amount, p.status) AS why
       FROM payouts p LEFT JOIN ledger_entries l ON l.payout_key = p.idempotency_key
      WHERE p.refund_id LIKE $1
      GROUP BY p.idempotency_key, p.refund_id, p.amount, p.status
     HAVING coalesce(sum(l.amount) FILTER (WHERE l.direction = 'debit'), 0) <> coalesce(sum(l.amount) FILTER (WHERE l.direction = 'credit'), 0)
         OR coalesce(sum(l.amount) FILTER (WHERE l.direction = 'debit'), 0) <> CASE WHEN p.status = 'paid' THEN p.amount ELSE 0 END`,
    [like],
  );
  const orphans = await rows<{ n: string }>(
    pool,
    `SELECT count(*) AS n FROM ledger_entries l WHERE refund_id LIKE $1 AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.idempotency_key = l.payout_key AND p.refund_id = l.refund_id)`,
    [like],
  );
  const orphanCount = Number(orphans[0]?.n ?? 0);
  return result(
    'ledger balanced: debits equal credits, each paid payout booked once for its amount',
    [...bad.map((b) => b.why), ...(orphanCount ? [`${orphanCount} entries of no payout of their refund`] : [])],
    'every payout balanced',
  );
}

async function auditMatchesReadModel(pool: Pool, like: string): Promise<InvariantResult> {
  const bad = await rows<{ refund_id: string; state: string; audited: string | null }>(
    pool,
    `SELECT r.refund_id, r.state,
            (SELECT a.data->>'to' FROM audit_log a WHERE a.refund_id = r.refund_id AND a.kind = 'state_changed'
              ORDER BY a.refund_seq DESC LIMIT 1) AS audited
       FROM refunds r WHERE r.refund_id LIKE $1`,
    [like],
  );
  const problems = bad
    .filter((r) => (r.audited ?? 'awaiting_carrier') !== r.state)
    .map((r) => `${r.refund_id}: read model ${r.state}, audit trail ${r.audited ?? '(requested)'}`);
  return result(
    'the audit trail agrees with the read model (each refund’s last audited state is its state)',
    problems,
    `${bad.length} refunds agree`,
  );
}

export async function auditVerifies(ops: RefundsApiClient): Promise<InvariantResult> {
  try {
    const verification = await ops.verifyAudit();
    const v = verification as { ok: boolean; findings?: unknown[] };
    return {
      name: 'the audit trail verifies (GET /v1/audit/verification)',
      ok: v.ok === true,
      detail: v.ok ? 'ok' : JSON.stringify(v.findings ?? verification).slice(0, 600),
    };
  } catch (error) {
    return { name: 'the audit trail verifies (GET /v1/audit/verification)', ok: false, detail: (error as Error).message };
  }
}

export async function checkInvariants(opts: {
  adminDatabaseUrl: string;
  temporalAddress: string;
  workflowBundle: string;
  runId: string;
  ops: RefundsApiClient;
  plans: RefundPlan[];
  driven: DrivenRefund[];
  recorder: Recorder;
  handlerTimeoutMs: number;
}): Promise<InvariantResult[]> {
  const pool = createPool(opts.adminDatabaseUrl, 2);
  const like = `r-${opts.runId}-%`;
  try {
    return [
      await atMostOnePayout(pool, like),
      await ledgerBalanced(pool, like),
      await auditVerifies(opts.ops),
      await auditMatchesReadModel(pool, like),
      await paidOnlyOnEvidence(pool, like),
      await settled(pool, like, opts.plans, opts.driven, opts.ops),
      outcomesAsPlanned(opts.plans, opts.driven),
      requestsIdempotent(opts.driven),
      noHangingRequest(opts.recorder, opts.handlerTimeoutMs),
      await historiesReplay(opts.temporalAddress, opts.workflowBundle, await refundIdsOf(pool, like)),
    ];
  } finally {
    await pool.end();
  }
}

async function refundIdsOf(pool: Pool, like: string): Promise<string[]> {
  return (await rows<{ refund_id: string }>(pool, 'SELECT refund_id FROM refunds WHERE refund_id LIKE $1 ORDER BY refund_id', [like])).map(
    (r) => r.refund_id,
  );
}

/** A refund left waiting must still answer: its status read through the API, in the same state. */
async function answers(ops: RefundsApiClient, refundId: string, state: string): Promise<string | undefined> {
  try {
    const view = await ops.getRefund(refundId);
    return view.state === state ? undefined : `${refundId} answers ${view.state}, the read model says ${state}`;
  } catch (error) {
    return `${refundId} waits in ${state} but does not answer: ${(error as Error).message}`;
  }
}

async function settled(
  pool: Pool,
  like: string,
  plans: RefundPlan[],
  driven: DrivenRefund[],
  ops: RefundsApiClient,
): Promise<InvariantResult> {
  const states = new Map(
    (await rows<{ refund_id: string; state: string }>(pool, 'SELECT refund_id, state FROM refunds WHERE refund_id LIKE $1', [like])).map(
      (r) => [r.refund_id, r.state],
    ),
  );
  const gaveUp = new Set(driven.filter((d) => d.gaveUp).map((d) => d.refundId));
  const problems: string[] = [];
  for (const plan of plans) {
    const { refundId } = plan.request;
    const state = states.get(refundId);
    if (!state) {
      if (driven.find((d) => d.refundId === refundId)?.created) problems.push(`${refundId} was created but is not in the read model`);
      continue;
    }
    if (FINAL.includes(state)) continue;
    if (!WAITING.includes(state)) problems.push(`${refundId} rests in ${state}`);
    else if (!gaveUp.has(refundId)) problems.push(`${refundId} waits in ${state} though everything it needs was sent`);
    else {
      // Waiting is well defined only if the refund still takes what it waits for.
      const silent = await answers(ops, refundId, state);
      if (silent) problems.push(silent);
    }
  }
  const final = [...states.values()].filter((s) => FINAL.includes(s)).length;
  return result(
    'every refund in a final state, or waiting (and answering) for something the run could not send',
    problems,
    `${final} of ${states.size} final, ${states.size - final} waiting`,
  );
}

function outcomesAsPlanned(plans: RefundPlan[], driven: DrivenRefund[]): InvariantResult {
  const byId = new Map(driven.map((d) => [d.refundId, d]));
  const problems = plans.flatMap((plan) => {
    const d = byId.get(plan.request.refundId);
    if (!d || d.gaveUp) return [];
    const expected = expectedOutcome(plan);
    return d.lastState === expected ? [] : [`${d.refundId} ended ${d.lastState}, expected ${expected}`];
  });
  return result('each refund the run drove to the end ended as planned (paid, cancelled, rejected)', problems, 'all as planned');
}

function requestsIdempotent(driven: DrivenRefund[]): InvariantResult {
  const problems = driven.filter((d) => d.created > 1).map((d) => `${d.refundId} created ${d.created} times`);
  return result('a request sent again with the same refund id never creates a second refund', problems, 'no refund created twice');
}

function noHangingRequest(recorder: Recorder, handlerTimeoutMs: number): InvariantResult {
  // The API answers 503 at its handler timeout; allow for a busy machine on top.
  const limit = handlerTimeoutMs + 5_000;
  const problems = recorder.http
    .filter((c) => c.ms > limit || c.outcome === 'pending' || (typeof c.outcome === 'string' && /TimeoutError/.test(c.outcome)))
    .map((c) => `${c.method} ${c.route} took ${Math.round(c.ms)} ms (${c.outcome})`);
  return result(
    `no HTTP request outlasts the API's handler timeout (${handlerTimeoutMs / 1000} s) by more than 5 s`,
    problems,
    `${recorder.http.length} requests, all within`,
  );
}

/** How many of the run's refunds are in each state, from the read model. */
export async function outcomeCounts(adminDatabaseUrl: string, runId: string): Promise<Record<string, number>> {
  const pool = createPool(adminDatabaseUrl, 1);
  try {
    const counted = await rows<{ state: string; n: string }>(
      pool,
      'SELECT state, count(*) AS n FROM refunds WHERE refund_id LIKE $1 GROUP BY state ORDER BY count(*) DESC',
      [`r-${runId}-%`],
    );
    return Object.fromEntries(counted.map((c) => [c.state, Number(c.n)]));
  } finally {
    await pool.end();
  }
}

/** Resolves once none of the run's refunds is mid-step (risk review, paying), or the bound has passed. */
export async function untilSettled(adminDatabaseUrl: string, runId: string, boundMs: number): Promise<void> {
  const pool = createPool(adminDatabaseUrl, 1);
  const until = performance.now() + boundMs;
  try {
    for (;;) {
      const busy = await rows<{ n: string }>(
        pool,
        "SELECT count(*) AS n FROM refunds WHERE refund_id LIKE $1 AND state IN ('risk_review', 'paying')",
        [`r-${runId}-%`],
      ).catch(() => [{ n: '1' }]);
      if (Number(busy[0]?.n) === 0 || performance.now() > until) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await pool.end();
  }
}
