/**
 * The tamper-evident audit trail. Rows form one hash chain across all refunds: each row's hash
 * covers its content and the previous row's hash, so changing, removing or reordering any row
 * breaks every hash after it. Anyone with read access can verify the chain.
 */
import type { AuditFact } from '../workflows/refund-model';
import { canonicalJson, sha256Hex } from './canonical';
import type { Pool, PoolClient } from './pool';

export const GENESIS_HASH = '0'.repeat(64);
/** Serialises appends so that sequence numbers and hashes form one unbroken chain (append_audit_facts takes it too). */
const AUDIT_CHAIN_LOCK = 7_001_001;

export interface AuditRow {
  seq: number;
  refundId: string;
  refundSeq: number;
  kind: string;
  actor: string;
  occurredAt: string;
  data: unknown;
  prevHash: string;
  hash: string;
}

export function auditHash(row: Omit<AuditRow, 'hash'>): string {
  return sha256Hex(
    canonicalJson({
      seq: row.seq,
      refundId: row.refundId,
      refundSeq: row.refundSeq,
      kind: row.kind,
      actor: row.actor,
      occurredAt: row.occurredAt,
      data: row.data,
      prevHash: row.prevHash,
    }),
  );
}

/**
 * A row's canonical JSON (what auditHash hashes) split around the two values only known under
 * the chain lock: RFC 8785 sorts the keys, so every row reads
 * `{"actor":…,"data":…,"kind":…,"occurredAt":…,"prevHash":"<prevHash>","refundId":…,"refundSeq":…,"seq":<seq>}`,
 * and `head + JSON.stringify(prevHash) + tail + seq + '}'` is exactly that text.
 */
export function auditHashParts(row: Omit<AuditRow, 'seq' | 'prevHash' | 'hash'>): { head: string; tail: string } {
  return {
    head: `{"actor":${canonicalJson(row.actor)},"data":${canonicalJson(row.data)},"kind":${canonicalJson(row.kind)},"occurredAt":${canonicalJson(row.occurredAt)},"prevHash":`,
    tail: `,"refundId":${canonicalJson(row.refundId)},"refundSeq":${canonicalJson(row.refundSeq)},"seq":`,
  };
}

/**
 * Appends a refund's facts numbered from `firstSeq`, inside the caller's transaction. Facts
 * already written by an earlier attempt of the same activity are skipped, so retries never
 * write a step twice. The database function append_audit_facts (migrations/) takes the chain
 * lock, numbers, hashes and inserts the rows in one round trip; the lock is then held until the
 * caller commits, so callers append last, just before they commit.
 */
export async function appendAuditFacts(client: PoolClient, refundId: string, firstSeq: number, facts: AuditFact[]): Promise<number> {
  if (facts.length === 0) return 0;
  const rows = facts.map((fact, i) => {
    // Stored as jsonb and hashed as it will read back: undefined fields vanish, as in JSON.
    const data = JSON.parse(JSON.stringify(fact.data)) as unknown;
    const occurredAt = new Date(fact.at).toISOString();
    return {
      fact,
      data,
      occurredAt,
      ...auditHashParts({ refundId, refundSeq: firstSeq + i, kind: fact.kind, actor: fact.actor, occurredAt, data }),
    };
  });
  const result = await client.query<{ appended: number }>(
    'SELECT append_audit_facts($1, $2, $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[], $8::text[]) AS appended',
    [
      refundId,
      firstSeq,
      rows.map((r) => r.fact.kind),
      rows.map((r) => r.fact.actor),
      rows.map((r) => r.occurredAt),
      rows.map((r) => JSON.stringify(r.data)),
      rows.map((r) => r.head),
      rows.map((r) => r.tail),
    ],
  );
  return result.rows[0]!.appended;
}

/**
 * Appends facts about a subject other than a refund (an employee's circuit breaker), numbered
 * after the subject's last row, inside the caller's transaction.
 */
export async function appendSubjectFacts(client: PoolClient, subject: string, facts: AuditFact[]): Promise<void> {
  if (facts.length === 0) return;
  // Taken before reading the subject's last step, so two writers cannot both claim the next one.
  await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
  const written = await client.query<{ max: number | null }>('SELECT max(refund_seq) AS max FROM audit_log WHERE refund_id = $1', [
    subject,
  ]);
  await appendAuditFacts(client, subject, (written.rows[0]?.max ?? 0) + 1, facts);
}

export interface AuditVerification {
  ok: boolean;
  rowsChecked: number;
  lastSeq: number;
  lastHash: string;
  /** The first row that does not verify, and why. */
  brokenAt?: { seq: number; refundId: string; reason: string };
}

function toRow(r: Record<string, unknown>): AuditRow {
  return {
    seq: Number(r.seq),
    refundId: String(r.refund_id),
    refundSeq: Number(r.refund_seq),
    kind: String(r.kind),
    actor: String(r.actor),
    occurredAt: (r.occurred_at as Date).toISOString(),
    data: r.data,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

/** Walks the whole chain in order, recomputing every hash; reads in pages so it scales. */
export async function verifyAuditChain(pool: Pool, pageSize = 5000): Promise<AuditVerification> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  const nextRefundSeq = new Map<string, number>();
  for (;;) {
    const page = await pool.query(
      `SELECT seq, refund_id, refund_seq, kind, actor, occurred_at, data, prev_hash, hash
       FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      [expectedSeq, pageSize],
    );
    for (const raw of page.rows) {
      const row = toRow(raw);
      const broken = (reason: string): AuditVerification => ({
        ok: false,
        rowsChecked: expectedSeq - 1,
        lastSeq: expectedSeq - 1,
        lastHash: prevHash,
        brokenAt: { seq: row.seq, refundId: row.refundId, reason },
      });
      if (row.seq !== expectedSeq) return broken(`row ${expectedSeq} is missing`);
      if (row.prevHash !== prevHash) return broken('prev_hash does not match the previous row');
      const { hash, ...content } = row;
      if (auditHash(content) !== hash) return broken('hash does not match the row content');
      const wantRefundSeq = nextRefundSeq.get(row.refundId) ?? 1;
      if (row.refundSeq !== wantRefundSeq) return broken(`refund step ${wantRefundSeq} is missing`);
      nextRefundSeq.set(row.refundId, wantRefundSeq + 1);
      prevHash = hash;
      expectedSeq += 1;
    }
    if (page.rows.length < pageSize) break;
  }
  return { ok: true, rowsChecked: expectedSeq - 1, lastSeq: expectedSeq - 1, lastHash: prevHash };
}

export async function auditTrailOf(pool: Pool, refundId: string): Promise<AuditRow[]> {
  const result = await pool.query(
    `SELECT seq, refund_id, refund_seq, kind, actor, occurred_at, data, prev_hash, hash
     FROM audit_log WHERE refund_id = $1 ORDER BY seq`,
    [refundId],
  );
  return result.rows.map(toRow);
}
