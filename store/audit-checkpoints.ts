/**
 * Signed checkpoints of the audit trail. Now and then a worker lists the head (last step and its
 * hash) of every subject that changed since the previous checkpoint, folds them with that
 * checkpoint's root into a new root, signs it with its audit key, stores it (append-only) and
 * exports the same line to a file outside the database. Whoever rewrites a subject's rows later
 * and recomputes their hashes cannot make the heads match what was signed without the key.
 *
 * The construction, exactly (docs/operations.md repeats it):
 *   leaf(head)    = SHA-256(0x00 ‖ canonical JSON {"hash","refundSeq","subject"} in UTF-8)
 *   heads         sorted by subject (UTF-16 code units, RFC 8785's key order), each subject once
 *   node(l, r)    = SHA-256(0x01 ‖ l ‖ r), over the 32-byte digests; pairs are taken left to right
 *                   and an odd last node moves up a level unchanged
 *   headsRoot     = the one node left (SHA-256 of nothing for no heads)
 *   root          = SHA-256(0x02 ‖ prevRoot ‖ headsRoot); prevRoot is the previous checkpoint's
 *                   root, 64 zeros for checkpoint 1
 *   signature     = Ed25519 over canonical JSON {"context":"refunds-audit-checkpoint/v1",
 *                   "createdAt","id","keyId","prevRoot","root"}
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalBytes, sha256Hex, signBytes, verifyBytes, type PublicKey } from '../workflows/statements';
import { canonicalJson } from './canonical';
import { checkHeads, GENESIS_HASH, type Report } from './audit-chain';
import { withTransaction, type Db, type Pool } from './pool';

export const CHECKPOINT_GENESIS = GENESIS_HASH;
export const CHECKPOINT_CONTEXT = 'refunds-audit-checkpoint/v1';
/** One checkpointer at a time; the others skip their turn. Appends never take it. */
const CHECKPOINT_LOCK = 7_001_003;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

export const CheckpointHead = z.strictObject({ subject: z.string().min(1), refundSeq: z.number().int().min(1), hash: hex64 });
export type CheckpointHead = z.infer<typeof CheckpointHead>;

export const AuditCheckpoint = z.strictObject({
  id: z.number().int().min(1),
  createdAt: z.string().refine((text) => new Date(text).toISOString() === text, 'must be an ISO 8601 instant in UTC'),
  prevRoot: hex64,
  root: hex64,
  heads: z.array(CheckpointHead),
  keyId: z.string().min(1),
  signature: z.string().min(1),
});
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>;

/** The worker's audit key: what signs checkpoints. */
export interface AuditSigningKey {
  keyId: string;
  secretKey: Uint8Array;
}

const bytes = (...parts: Array<number | Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce<number>((n, p) => n + (typeof p === 'number' ? 1 : p.length), 0));
  let at = 0;
  for (const part of parts) {
    if (typeof part === 'number') out[at++] = part;
    else {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
};
const digest = (...parts: Array<number | Uint8Array>): Uint8Array => hexToBytes(sha256Hex(bytes(...parts)));

/** Heads in the order a checkpoint lists them. */
export function sortHeads(heads: readonly CheckpointHead[]): CheckpointHead[] {
  return [...heads].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

/** The Merkle root over heads, in the order given (a checkpoint lists them sorted by subject). */
export function headsRoot(heads: readonly CheckpointHead[]): string {
  if (heads.length === 0) return sha256Hex(new Uint8Array());
  let level: Uint8Array[] = heads.map((h) => digest(0x00, canonicalBytes({ subject: h.subject, refundSeq: h.refundSeq, hash: h.hash })));
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? digest(0x01, level[i]!, level[i + 1]!) : level[i]!);
    level = up;
  }
  return bytesToHexString(level[0]!);
}

function bytesToHexString(value: Uint8Array): string {
  return Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A checkpoint's root: its heads folded with the previous checkpoint's root. */
export function checkpointRoot(prevRoot: string, heads: readonly CheckpointHead[]): string {
  return sha256Hex(bytes(0x02, hexToBytes(prevRoot), hexToBytes(headsRoot(heads))));
}

/** The bytes a checkpoint's signature covers. */
export function checkpointSigningBytes(checkpoint: Pick<AuditCheckpoint, 'id' | 'createdAt' | 'keyId' | 'prevRoot' | 'root'>): Uint8Array {
  const { id, createdAt, keyId, prevRoot, root } = checkpoint;
  return canonicalBytes({ context: CHECKPOINT_CONTEXT, id, createdAt, keyId, prevRoot, root });
}

/** Builds and signs checkpoint `id` over `heads`. */
export function signCheckpoint(
  input: { id: number; createdAt: string; prevRoot: string; heads: readonly CheckpointHead[] },
  key: AuditSigningKey,
): AuditCheckpoint {
  const heads = sortHeads(input.heads);
  const unsigned = { id: input.id, createdAt: input.createdAt, prevRoot: input.prevRoot, keyId: key.keyId };
  const root = checkpointRoot(input.prevRoot, heads);
  return { ...unsigned, root, heads, signature: signBytes(checkpointSigningBytes({ ...unsigned, root }), key.secretKey) };
}

/** One checkpoint as one line of the export file (RFC 8785 JSON, so equal checkpoints give equal lines). */
export function checkpointLine(checkpoint: AuditCheckpoint): string {
  return canonicalJson(checkpoint);
}

/**
 * Writes the next checkpoint over the subjects that changed since the previous one, unless none
 * did or another checkpointer holds the turn; returns it, to be exported.
 */
export async function writeCheckpoint(pool: Pool, key: AuditSigningKey, now: Date = new Date()): Promise<AuditCheckpoint | undefined> {
  return withTransaction(pool, async (client) => {
    const turn = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [CHECKPOINT_LOCK]);
    if (!turn.rows[0]!.locked) return undefined;
    const previous = await client.query<{ id: number; root: string; snapshot: string }>(
      'SELECT id, root, snapshot::text AS snapshot FROM audit_checkpoints ORDER BY id DESC LIMIT 1',
    );
    const last = previous.rows[0];
    const changed = await changedHeads(client, last?.snapshot);
    if (changed.heads.length === 0) return undefined;
    const checkpoint = signCheckpoint(
      {
        id: (last ? Number(last.id) : 0) + 1,
        createdAt: now.toISOString(),
        prevRoot: last?.root ?? CHECKPOINT_GENESIS,
        heads: changed.heads,
      },
      key,
    );
    await client.query(
      `INSERT INTO audit_checkpoints (id, created_at, prev_root, root, heads, key_id, signature, snapshot)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::pg_snapshot)`,
      [
        checkpoint.id,
        checkpoint.createdAt,
        checkpoint.prevRoot,
        checkpoint.root,
        JSON.stringify(checkpoint.heads),
        checkpoint.keyId,
        checkpoint.signature,
        changed.snapshot,
      ],
    );
    return checkpoint;
  });
}

/**
 * The heads of the subjects with a row the previous checkpoint's snapshot did not see (all
 * subjects for the first checkpoint), read in one statement with the snapshot the next
 * checkpoint starts from: a row committed after it, in whatever order, is in the next one.
 */
async function changedHeads(db: Db, since: string | undefined): Promise<{ snapshot: string; heads: CheckpointHead[] }> {
  const changed =
    since === undefined
      ? 'SELECT c.refund_id FROM audit_log c'
      : `SELECT c.refund_id FROM audit_log c
          WHERE c.xact >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(c.xact, $1::pg_snapshot)`;
  const { rows } = await db.query<{ snapshot: string; refund_id: string | null; refund_seq: number; hash: string }>(
    `WITH snap AS (SELECT pg_current_snapshot()::text AS snapshot)
     SELECT snap.snapshot, h.refund_id, h.refund_seq, h.hash FROM snap LEFT JOIN LATERAL (
       SELECT DISTINCT ON (a.refund_id) a.refund_id, a.refund_seq, a.hash FROM audit_log a
        WHERE a.refund_id IN (${changed}) ORDER BY a.refund_id, a.refund_seq DESC) h ON true`,
    since === undefined ? [] : [since],
  );
  const heads = rows.flatMap((r) =>
    r.refund_id === null ? [] : [{ subject: r.refund_id, refundSeq: Number(r.refund_seq), hash: r.hash }],
  );
  return { snapshot: rows[0]!.snapshot, heads };
}

/** A checkpoint as stored, parsed; or why it cannot be. */
function fromRow(r: Record<string, unknown>): AuditCheckpoint | string {
  const parsed = AuditCheckpoint.safeParse({
    id: Number(r.id),
    createdAt: (r.created_at as Date).toISOString(),
    prevRoot: r.prev_root,
    root: r.root,
    heads: r.heads,
    keyId: r.key_id,
    signature: r.signature,
  });
  return parsed.success ? parsed.data : parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export async function* storedCheckpoints(db: Db, pageSize = 200): AsyncGenerator<{ id: number; checkpoint: AuditCheckpoint | string }> {
  let after = 0;
  for (;;) {
    const { rows } = await db.query(
      'SELECT id, created_at, prev_root, root, heads, key_id, signature FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2',
      [after, pageSize],
    );
    for (const row of rows) yield { id: Number(row.id), checkpoint: fromRow(row) };
    if (rows.length < pageSize) return;
    after = Number(rows.at(-1)!.id);
  }
}

/**
 * Whether a checkpoint is what its signer signed: heads sorted and each subject once, the root
 * recomputed from them and the previous root, the signature by a pinned key. Reports what is not.
 */
export function checkCheckpoint(checkpoint: AuditCheckpoint, pinned: ReadonlyMap<string, PublicKey>, report: Report, where = ''): void {
  const at = { checkpointId: checkpoint.id };
  const sorted = checkpoint.heads.every((h, i, all) => i === 0 || all[i - 1]!.subject < h.subject);
  if (!sorted) {
    report({
      check: 'checkpoint_root',
      problem: 'edited',
      ...at,
      detail: `checkpoint ${checkpoint.id}${where} lists its heads out of order: edited`,
    });
  }
  if (checkpointRoot(checkpoint.prevRoot, checkpoint.heads) !== checkpoint.root) {
    report({
      check: 'checkpoint_root',
      problem: 'edited',
      ...at,
      detail: `checkpoint ${checkpoint.id}${where}: its heads and previous root do not give its root: edited`,
    });
  }
  const key = pinned.get(checkpoint.keyId);
  if (pinned.size === 0) return;
  if (!key) {
    report({
      check: 'checkpoint_signature',
      problem: 'forged',
      ...at,
      detail: `checkpoint ${checkpoint.id}${where} is signed with key ${JSON.stringify(checkpoint.keyId)}, which is not a pinned audit key: forged`,
    });
  } else if (!verifyBytes(checkpoint.signature, checkpointSigningBytes(checkpoint), key.publicKey)) {
    report({
      check: 'checkpoint_signature',
      problem: 'forged',
      ...at,
      detail: `checkpoint ${checkpoint.id}${where}: the signature does not verify with key ${checkpoint.keyId}: forged or edited`,
    });
  }
}

/** Checks that every head a checkpoint signed is still on its chain with that hash. */
export function checkCheckpointHeads(db: Db, checkpoint: AuditCheckpoint, report: Report): Promise<void> {
  return checkHeads(
    db,
    checkpoint.heads,
    () => ({ check: 'checkpoint_head', checkpointId: checkpoint.id, anchoredBy: `signed as a head by checkpoint ${checkpoint.id}` }),
    report,
  );
}

/** The export file as a verifier found it: its checkpoints by line, or why it could not be read. */
export type CheckpointExport =
  | { path: string; state: 'available'; lines: Array<{ line: number; checkpoint: AuditCheckpoint | string }> }
  | { path: string; state: 'unavailable'; reason: string };

export interface CheckpointSummary {
  checked: number;
  latest: { id: number; createdAt: string; root: string; keyId: string } | null;
  exportFile: { path: string | null; state: 'matched' | 'mismatch' | 'unavailable' | 'not_configured'; lines: number };
}

type ExportedLine = { line: number; checkpoint: AuditCheckpoint };

/**
 * Verifies the stored checkpoints in order (numbered from 1 with no gaps, each linked to the
 * previous root, each as its signer signed it, every head still on its chain) and holds them to
 * the export file when there is one: every exported checkpoint must be in the database, unchanged.
 * Read the file before calling, so every checkpoint it holds was stored before this reads them.
 */
export async function verifyCheckpoints(
  db: Db,
  options: { publicKeys: readonly PublicKey[]; exported: CheckpointExport | undefined },
  report: Report,
): Promise<CheckpointSummary> {
  const pinned = new Map(options.publicKeys.map((k) => [k.keyId, k]));
  let exportFindings = 0;
  const reportExport: Report = (finding) => {
    exportFindings++;
    report(finding);
  };
  const exportedById = exportedLines(options.exported, reportExport);
  const summary: CheckpointSummary = { checked: 0, latest: null, exportFile: exportSummary(options.exported) };
  const chain: ChainState = { expected: 1, prevRoot: CHECKPOINT_GENESIS };
  // Export lines the database does not hold as they are: checked on their own, since they may be all that is left of what was signed.
  const fileOnly: ExportedLine[] = [];
  for await (const { id, checkpoint } of storedCheckpoints(db)) {
    const lines = exportedById.get(id) ?? [];
    exportedById.delete(id);
    if (!checkLink(id, checkpoint, chain, report)) {
      fileOnly.push(...lines);
      continue;
    }
    const stored = checkpoint as AuditCheckpoint;
    checkCheckpoint(stored, pinned, report);
    await checkCheckpointHeads(db, stored, report);
    fileOnly.push(...compareWithExport(stored, lines, reportExport));
    summary.checked++;
    summary.latest = { id, createdAt: stored.createdAt, root: stored.root, keyId: stored.keyId };
  }
  for (const [id, lines] of exportedById) {
    for (const { line } of lines) {
      reportExport({
        check: 'checkpoint_export',
        problem: 'deleted',
        checkpointId: id,
        detail: `checkpoint ${id} (line ${line} of the export file) is not in the database: deleted`,
      });
    }
    fileOnly.push(...lines);
  }
  for (const { line, checkpoint } of fileOnly) {
    checkCheckpoint(checkpoint, pinned, report, ` (export file line ${line})`);
    await checkCheckpointHeads(db, checkpoint, report);
  }
  if (pinned.size === 0 && (summary.checked > 0 || fileOnly.length > 0)) {
    report({
      check: 'checkpoint_signature',
      problem: 'unverifiable',
      detail: 'no audit public key is pinned (REFUNDS_AUDIT_PUBLIC_KEYS): checkpoint signatures cannot be checked',
    });
  }
  if (summary.exportFile.state === 'matched' && exportFindings > 0) summary.exportFile.state = 'mismatch';
  return summary;
}

interface ChainState {
  expected: number;
  /** The previous checkpoint's root; undefined after a malformed one. */
  prevRoot: string | undefined;
}

/** Checks that checkpoint `id` follows the previous one (number and root); false when it is malformed. */
function checkLink(id: number, checkpoint: AuditCheckpoint | string, chain: ChainState, report: Report): boolean {
  const gap = id !== chain.expected;
  if (gap) {
    const missing = id === chain.expected + 1 ? `checkpoint ${chain.expected} is` : `checkpoints ${chain.expected} to ${id - 1} are`;
    report({ check: 'checkpoint_chain', problem: 'deleted', checkpointId: chain.expected, detail: `${missing} missing: deleted` });
  }
  chain.expected = id + 1;
  if (typeof checkpoint === 'string') {
    report({
      check: 'checkpoint_root',
      problem: 'edited',
      checkpointId: id,
      detail: `checkpoint ${id} is malformed (${checkpoint}): edited`,
    });
    chain.prevRoot = undefined;
    return false;
  }
  if (!gap && chain.prevRoot !== undefined && checkpoint.prevRoot !== chain.prevRoot) {
    report({
      check: 'checkpoint_chain',
      problem: 'edited',
      checkpointId: id,
      detail: `checkpoint ${id} does not link to the root of checkpoint ${id - 1}: one of them was edited or replaced`,
    });
  }
  chain.prevRoot = checkpoint.root;
  return true;
}

function exportSummary(exported: CheckpointExport | undefined): CheckpointSummary['exportFile'] {
  if (!exported) return { path: null, state: 'not_configured', lines: 0 };
  if (exported.state === 'unavailable') return { path: exported.path, state: 'unavailable', lines: 0 };
  return { path: exported.path, state: 'matched', lines: exported.lines.length };
}

/** The export file's checkpoints by id (a replaced checkpoint can leave two lines with one id). */
function exportedLines(exported: CheckpointExport | undefined, report: Report): Map<number, ExportedLine[]> {
  const byId = new Map<number, ExportedLine[]>();
  if (exported?.state !== 'available') return byId;
  for (const { line, checkpoint } of exported.lines) {
    if (typeof checkpoint === 'string') {
      report({
        check: 'checkpoint_export',
        problem: 'edited',
        detail: `line ${line} of the export file is not a checkpoint (${checkpoint}): edited`,
      });
      continue;
    }
    byId.set(checkpoint.id, [...(byId.get(checkpoint.id) ?? []), { line, checkpoint }]);
  }
  return byId;
}

/** Reports export lines of this checkpoint that differ from the stored one, and returns them. */
function compareWithExport(checkpoint: AuditCheckpoint, lines: readonly ExportedLine[], report: Report): ExportedLine[] {
  const stored = checkpointLine(checkpoint);
  const differing = lines.filter((exported) => checkpointLine(exported.checkpoint) !== stored);
  for (const { line } of differing) {
    report({
      check: 'checkpoint_export',
      problem: 'edited',
      checkpointId: checkpoint.id,
      detail: `checkpoint ${checkpoint.id} in the database differs from line ${line} of the export file: edited or replaced`,
    });
  }
  return differing;
}
