/**
 * The tamper-evident audit trail: one hash chain per subject (a refund, or an employee's breaker
 * record; store/audit-chain.ts), anchored by signed checkpoints (store/audit-checkpoints.ts).
 * Appending to one subject never waits for another. Anyone with read access can verify the chains
 * and the read model against them; with the pinned audit public keys, the checkpoints too.
 */
import { activeStates, type AuditFact, type AuditHead } from '../workflows/refund-model';
import type { PublicKey } from '../workflows/statements';
import {
  AUDIT_COLUMNS,
  AuditFindings,
  auditHashParts,
  checkHeads,
  toAuditRow,
  walkLegacyChain,
  walkSubjectChains,
  type AuditFinding,
  type AuditRow,
  type ChainWalk,
} from './audit-chain';
import { verifyCheckpoints, type CheckpointExport, type CheckpointSummary } from './audit-checkpoints';
import { checkReadModel } from './audit-read-model';
import { type Db, type Pool, type PoolClient, withTransaction } from './pool';

export {
  auditChecks,
  auditHash,
  auditHashParts,
  auditProblems,
  GENESIS_HASH,
  type AuditCheck,
  type AuditFinding,
  type AuditProblem,
  type AuditRow,
} from './audit-chain';

/** The lock one subject's writers take turns on (append_audit_facts takes it too): (SUBJECT_LOCK, hashtext(subject)). */
const SUBJECT_LOCK = 7_001_002;

export interface AuditAppend {
  /** Facts written now; facts an earlier attempt already wrote are skipped. */
  appended: number;
  /** The subject's last step afterwards; null only for a subject with no rows. */
  head: AuditHead | null;
}

/**
 * Appends a subject's facts numbered from `firstSeq` to its chain, inside the caller's
 * transaction, and answers with the subject's head afterwards. Facts already written by an
 * earlier attempt of the same activity are skipped, so retries never write a step twice. The
 * database function append_audit_facts (migrations/) takes the subject's lock, numbers, hashes
 * and inserts the rows in one round trip; the lock is held until the caller commits, but only
 * writers of the same subject wait for it.
 */
export async function appendAuditFacts(client: PoolClient, refundId: string, firstSeq: number, facts: AuditFact[]): Promise<AuditAppend> {
  const result = await client.query<AuditAppendRow>(
    `SELECT appended, head_seq, head_hash
       FROM append_audit_facts($1, $2, $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[], $8::text[])`,
    auditAppendParams(refundId, firstSeq, facts),
  );
  return auditAppendOf(result.rows[0]!);
}

/** What append_audit_facts (and advance_refund, which appends through it) answers. */
export interface AuditAppendRow {
  appended: number;
  head_seq: number;
  head_hash: string | null;
}

export function auditAppendOf(row: AuditAppendRow): AuditAppend {
  return { appended: row.appended, head: row.head_hash === null ? null : { refundSeq: row.head_seq, hash: row.head_hash } };
}

/**
 * The eight arguments of append_audit_facts, in its order: the subject, its first step, then per
 * fact its kind, actor, time, data and the canonical JSON around the two values only the database
 * knows (the previous hash and the row's seq).
 */
export function auditAppendParams(refundId: string, firstSeq: number, facts: AuditFact[]): unknown[] {
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
  return [
    refundId,
    firstSeq,
    rows.map((r) => r.fact.kind),
    rows.map((r) => r.fact.actor),
    rows.map((r) => r.occurredAt),
    rows.map((r) => JSON.stringify(r.data)),
    rows.map((r) => r.head),
    rows.map((r) => r.tail),
  ];
}

/**
 * Appends facts about a subject other than a refund (an employee's circuit breaker), numbered
 * after the subject's last row, inside the caller's transaction.
 */
export async function appendSubjectFacts(client: PoolClient, subject: string, facts: AuditFact[]): Promise<void> {
  if (facts.length === 0) return;
  // Taken before reading the subject's last step, so two writers cannot both claim the next one.
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SUBJECT_LOCK, subject]);
  const written = await client.query<{ max: number | null }>('SELECT max(refund_seq) AS max FROM audit_log WHERE refund_id = $1', [
    subject,
  ]);
  await appendAuditFacts(client, subject, (written.rows[0]?.max ?? 0) + 1, facts);
}

/** A subject's trail, in step order. */
export async function auditTrailOf(pool: Pool, refundId: string): Promise<AuditRow[]> {
  const result = await pool.query(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE refund_id = $1 ORDER BY refund_seq`, [refundId]);
  return result.rows.map(toAuditRow);
}

export interface AuditVerification {
  /** True when nothing was found. */
  ok: boolean;
  rowsChecked: number;
  subjectsChecked: number;
  /** The highest seq (insertion order) and that row's hash. */
  lastSeq: number;
  lastHash: string;
  /** The first finding, in the shape older clients read. */
  brokenAt?: { seq: number; refundId: string; reason: string };
  checkpoints: CheckpointSummary;
  /** In-flight refunds whose workflow's own audit head was compared with the rows. */
  workflowHeadsChecked: number;
  /** What was found, and where; at most 1000 (`findingsOmitted` counts the rest). */
  findings: AuditFinding[];
  findingsOmitted: number;
}

export interface AuditVerifyOptions {
  /** The audit public keys checkpoints must be signed with (REFUNDS_AUDIT_PUBLIC_KEYS). */
  publicKeys?: readonly PublicKey[];
  /** The checkpoint export file as read (store/audit-checkpoint-export.ts), read before this runs. */
  exported?: CheckpointExport;
  pageSize?: number;
}

/**
 * Verifies the whole trail: every subject's chain (steps, hashes, links; the legacy chain), the
 * read model against the chains (in one snapshot, so concurrent writes cannot look like
 * tampering), then the checkpoints (order, links, roots, signatures, anchored heads, export file).
 */
export async function verifyAuditChain(pool: Pool, options: AuditVerifyOptions = {}): Promise<AuditVerification> {
  const findings = new AuditFindings();
  const walk = await inOneSnapshot(pool, async (db) => {
    const chains = await walkSubjectChains(db, findings.add, options.pageSize);
    await walkLegacyChain(db, findings.add, options.pageSize);
    await checkReadModel(db, findings.add);
    return chains;
  });
  const checkpoints = await verifyCheckpoints(pool, { publicKeys: options.publicKeys ?? [], exported: options.exported }, findings.add);
  return auditVerification(walk, checkpoints, findings);
}

/** The verification's summary from what was walked and found. */
export function auditVerification(
  walk: ChainWalk,
  checkpoints: CheckpointSummary,
  findings: AuditFindings,
  workflowHeadsChecked = 0,
): AuditVerification {
  const first = findings.list[0];
  const { rowsChecked, subjectsChecked, lastSeq, lastHash } = walk;
  return {
    ok: findings.list.length === 0 && findings.omitted === 0,
    rowsChecked,
    subjectsChecked,
    lastSeq,
    lastHash,
    ...(first ? { brokenAt: { seq: first.seq ?? 0, refundId: first.subject ?? '', reason: `${first.check}: ${first.detail}` } } : {}),
    checkpoints,
    workflowHeadsChecked,
    findings: findings.list,
    findingsOmitted: findings.omitted,
  };
}

/** Adds findings to a verification already made (the workflows' own heads, checked by the API). */
export function withFindings(
  verification: AuditVerification,
  more: readonly AuditFinding[],
  workflowHeadsChecked: number,
): AuditVerification {
  const findings = new AuditFindings();
  for (const finding of [...verification.findings, ...more]) findings.add(finding);
  findings.omitted += verification.findingsOmitted;
  return auditVerification(verification, verification.checkpoints, findings, workflowHeadsChecked);
}

/**
 * Holds the rows to the heads the refunds' workflows keep (their `auditHead`): each must still be
 * on the refund's chain with that hash. Returns what does not.
 */
export async function checkWorkflowHeads(pool: Pool, heads: ReadonlyArray<{ refundId: string; head: AuditHead }>): Promise<AuditFinding[]> {
  const found: AuditFinding[] = [];
  await checkHeads(
    pool,
    heads.map((h) => ({ subject: h.refundId, ...h.head })),
    (head) => ({ check: 'workflow_head', anchoredBy: `that the refund's workflow holds as its head (${head.hash.slice(0, 12)}…)` }),
    (finding) => found.push(finding),
  );
  return found;
}

/** In-flight refunds (by the read model), for checking their workflows' heads; at most `limit`. */
export async function refundsInFlight(pool: Pool, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ refund_id: string }>(
    'SELECT refund_id FROM refunds WHERE state = ANY($1::text[]) ORDER BY refund_id LIMIT $2',
    [activeStates, limit],
  );
  return rows.map((r) => r.refund_id);
}

/** Runs `work` in one read-only REPEATABLE READ transaction: every query sees the same snapshot. */
function inOneSnapshot<T>(pool: Pool, work: (db: Db) => Promise<T>): Promise<T> {
  return withTransaction(pool, work, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
}
