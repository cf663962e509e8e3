/**
 * The audit trail's rows and their chains. Each audit subject (a refund, or an employee's breaker
 * record) has its own hash chain: a row's hash is sha256 of its RFC 8785 canonical JSON, which
 * includes `prevHash`, the hash of the same subject's previous step (64 zeros for step 1). So
 * changing or removing a step breaks every later link of that subject, and no append waits for
 * another subject's. Rows written before the chains were split keep the service-wide chain they
 * were written on (legacy_chain, store/migrations/1795796651233_audit-chain-per-subject.sql).
 */
import type { AuditHead } from '../workflows/refund-model';
import { canonicalJson, sha256Hex } from './canonical';
import type { Db } from './pool';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditRow {
  /** Service-wide insertion order: increasing, with gaps, not chained. */
  seq: number;
  /** The subject: a refund id, or `employee <id>`. */
  refundId: string;
  /** The step within the subject, from 1 with no gaps. */
  refundSeq: number;
  kind: string;
  actor: string;
  occurredAt: string;
  data: unknown;
  /** The hash of the subject's previous step (of the previous row of the service, for legacy rows). */
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
 * A row's canonical JSON (what auditHash hashes) split around the two values only known inside
 * the append: RFC 8785 sorts the keys, so every row reads
 * `{"actor":…,"data":…,"kind":…,"occurredAt":…,"prevHash":"<prevHash>","refundId":…,"refundSeq":…,"seq":<seq>}`,
 * and `head + JSON.stringify(prevHash) + tail + seq + '}'` is exactly that text.
 */
export function auditHashParts(row: Omit<AuditRow, 'seq' | 'prevHash' | 'hash'>): { head: string; tail: string } {
  return {
    head: `{"actor":${canonicalJson(row.actor)},"data":${canonicalJson(row.data)},"kind":${canonicalJson(row.kind)},"occurredAt":${canonicalJson(row.occurredAt)},"prevHash":`,
    tail: `,"refundId":${canonicalJson(row.refundId)},"refundSeq":${canonicalJson(row.refundSeq)},"seq":`,
  };
}

export const AUDIT_COLUMNS = 'seq, refund_id, refund_seq, kind, actor, occurred_at, data, prev_hash, hash';

export function toAuditRow(r: Record<string, unknown>): AuditRow {
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

/** Which check a finding comes from. docs/operations.md, "Audit trail", says what each means. */
export const auditChecks = [
  'row_hash',
  'chain_link',
  'step_sequence',
  'legacy_chain',
  'read_model',
  'checkpoint_chain',
  'checkpoint_root',
  'checkpoint_signature',
  'checkpoint_head',
  'checkpoint_export',
  'workflow_head',
] as const;
export type AuditCheck = (typeof auditChecks)[number];

/**
 * What the evidence says happened: `edited` (content changed, hashes not recomputed, or a copy
 * kept elsewhere disagrees), `rehashed` (changed and its hashes recomputed: only a link or a
 * signed head still shows it), `deleted`, `forged` (a signature that does not verify), or
 * `unverifiable` (the verifier lacks what it needs, e.g. no pinned audit key).
 */
export const auditProblems = ['edited', 'rehashed', 'deleted', 'forged', 'unverifiable'] as const;
export type AuditProblem = (typeof auditProblems)[number];

/** One thing verification found wrong, and where. */
export interface AuditFinding {
  check: AuditCheck;
  problem: AuditProblem;
  /** The audit subject (refund id or `employee <id>`). */
  subject?: string;
  /** The step within the subject. */
  refundSeq?: number;
  /** The row's service-wide seq, when the finding is about a row that is there. */
  seq?: number;
  checkpointId?: number;
  detail: string;
}

/** Findings, each reported once, up to a limit (the rest are counted). */
export class AuditFindings {
  readonly list: AuditFinding[] = [];
  omitted = 0;
  private readonly seen = new Set<string>();

  constructor(private readonly limit = 1000) {}

  readonly add = (finding: AuditFinding): void => {
    const key = `${finding.check}|${finding.problem}|${finding.subject ?? ''}|${finding.refundSeq ?? ''}|${finding.checkpointId ?? ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.list.length < this.limit) this.list.push(finding);
    else this.omitted++;
  };
}

export type Report = (finding: AuditFinding) => void;

export interface ChainWalk {
  rowsChecked: number;
  subjectsChecked: number;
  /** The highest seq, and that row's hash. */
  lastSeq: number;
  lastHash: string;
}

/**
 * Walks every subject's chain in step order, a page at a time: each step present (from 1, no
 * gaps), each row's hash recomputed, each link to the previous step checked. Legacy rows' links
 * are the legacy walk's (walkLegacyChain).
 */
export async function walkSubjectChains(db: Db, report: Report, pageSize = 5000): Promise<ChainWalk> {
  const walk: ChainWalk = { rowsChecked: 0, subjectsChecked: 0, lastSeq: 0, lastHash: GENESIS_HASH };
  let subject: string | undefined;
  let next = 1;
  let prev = GENESIS_HASH;
  let after: [string, number] = ['', 0];
  for (;;) {
    const page = await db.query(
      `SELECT ${AUDIT_COLUMNS}, legacy_chain FROM audit_log WHERE (refund_id, refund_seq) > ($1, $2)
       ORDER BY refund_id, refund_seq LIMIT $3`,
      [...after, pageSize],
    );
    for (const raw of page.rows) {
      const row = toAuditRow(raw);
      if (row.refundId !== subject) {
        subject = row.refundId;
        next = 1;
        prev = GENESIS_HASH;
        walk.subjectsChecked++;
      }
      checkStep(row, Boolean(raw.legacy_chain), { next, prev }, report);
      if (row.seq > walk.lastSeq) Object.assign(walk, { lastSeq: row.seq, lastHash: row.hash });
      walk.rowsChecked++;
      next = row.refundSeq + 1;
      prev = row.hash;
    }
    if (page.rows.length < pageSize) return walk;
    const last = page.rows.at(-1)!;
    after = [String(last.refund_id), Number(last.refund_seq)];
  }
}

function checkStep(row: AuditRow, legacy: boolean, expected: { next: number; prev: string }, report: Report): void {
  const where = { subject: row.refundId, refundSeq: row.refundSeq, seq: row.seq };
  if (row.refundSeq !== expected.next) {
    const missing = expected.next === row.refundSeq - 1 ? `step ${expected.next} is` : `steps ${expected.next} to ${row.refundSeq - 1} are`;
    report({ check: 'step_sequence', problem: 'deleted', ...where, refundSeq: expected.next, detail: `${missing} missing: deleted` });
  } else if (!legacy && row.prevHash !== expected.prev) {
    report({
      check: 'chain_link',
      problem: 'rehashed',
      ...where,
      detail:
        row.refundSeq === 1
          ? 'step 1 does not start from the genesis hash: it was replaced'
          : `step ${row.refundSeq} does not link to step ${row.refundSeq - 1}: one of them was changed and its hash recomputed, or replaced`,
    });
  }
  const { hash, ...content } = row;
  if (auditHash(content) !== hash) {
    report({ check: 'row_hash', problem: 'edited', ...where, detail: `step ${row.refundSeq} does not match its hash: edited in place` });
  }
}

/**
 * The rows written before the chains were split form one chain across the service in seq order,
 * from seq 1: checks each link of it (their hashes are checked with their subjects).
 */
export async function walkLegacyChain(db: Db, report: Report, pageSize = 5000): Promise<number> {
  let expected = 1;
  let prev = GENESIS_HASH;
  for (;;) {
    const page = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE legacy_chain AND seq >= $1 ORDER BY seq LIMIT $2`, [
      expected,
      pageSize,
    ]);
    for (const raw of page.rows) {
      const row = toAuditRow(raw);
      const where = { subject: row.refundId, refundSeq: row.refundSeq, seq: row.seq };
      if (row.seq !== expected) {
        report({
          check: 'legacy_chain',
          problem: 'deleted',
          ...where,
          detail: `legacy rows ${expected} to ${row.seq - 1} are missing: deleted`,
        });
      } else if (row.prevHash !== prev) {
        report({
          check: 'legacy_chain',
          problem: 'rehashed',
          ...where,
          detail: `legacy row ${row.seq} does not link to legacy row ${row.seq - 1}: one of them was changed and rehashed, or replaced`,
        });
      }
      expected = row.seq + 1;
      prev = row.hash;
    }
    if (page.rows.length < pageSize) return expected - 1;
  }
}

/**
 * Compares rows an outside record says exist (a checkpoint's heads, a workflow's own head) with
 * the rows there are: each must still be there, at that step, with that hash.
 */
export async function checkHeads(
  db: Db,
  heads: ReadonlyArray<{ subject: string } & AuditHead>,
  describe: (head: { subject: string } & AuditHead) => Pick<AuditFinding, 'check' | 'checkpointId'> & { anchoredBy: string },
  report: Report,
): Promise<void> {
  if (heads.length === 0) return;
  const { rows } = await db.query<{ subject: string; refund_seq: number; hash: string; stored: string | null; seq: number | null }>(
    `SELECT h.subject, h.refund_seq, h.hash, a.hash AS stored, a.seq
       FROM unnest($1::text[], $2::int[], $3::text[]) AS h(subject, refund_seq, hash)
       LEFT JOIN audit_log a ON a.refund_id = h.subject AND a.refund_seq = h.refund_seq
      WHERE a.hash IS DISTINCT FROM h.hash`,
    [heads.map((h) => h.subject), heads.map((h) => h.refundSeq), heads.map((h) => h.hash)],
  );
  for (const row of rows) {
    const head = { subject: row.subject, refundSeq: row.refund_seq, hash: row.hash };
    const { anchoredBy, ...which } = describe(head);
    const where = { ...which, subject: row.subject, refundSeq: row.refund_seq };
    if (row.stored === null) {
      report({ ...where, problem: 'deleted', detail: `step ${row.refund_seq}, ${anchoredBy}, is gone: deleted` });
    } else {
      report({
        ...where,
        seq: Number(row.seq),
        problem: 'rehashed',
        detail: `step ${row.refund_seq} no longer has the hash ${anchoredBy}: it (or an earlier step) was rewritten and rehashed`,
      });
    }
  }
}
