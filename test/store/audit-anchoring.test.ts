/**
 * The audit trail against an insider who owns the database: the superuser switches the guard off,
 * edits, deletes and rehashes rows with the project's own hash function, edits the read model and
 * the checkpoints, and forges checkpoints without the worker's key. Each attempt must show up in
 * `audit verify` as what was done and where. Every test gets a database of its own (writes go
 * through the service role and the real recordProgress activity, as in production), an audit key
 * and an export file; checkpoints are taken by the worker's checkpointer.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { afterEach, describe, expect, it } from 'vitest';
import { readCheckpointExport } from '../../store/audit-checkpoint-export';
import { checkpointLine, signCheckpoint, type AuditCheckpoint } from '../../store/audit-checkpoints';
import {
  appendAuditFacts,
  appendSubjectFacts,
  auditHash,
  auditHashParts,
  auditTrailOf,
  GENESIS_HASH,
  verifyAuditChain,
  type AuditFinding,
  type AuditVerification,
} from '../../store/audit-trail';
import { migrationsDir } from '../../store/migrate';
import { createPool, withTransaction, type Pool, type PoolClient } from '../../store/pool';
import { startAuditCheckpointer, type AuditCheckpointer } from '../../worker/audit-checkpointer';
import { createRefundWorker } from '../../worker/worker';
import { RefundsService } from '../../api/refunds-service';
import { refundWorkflowId } from '../../workflows/messages';
import { defaultPolicy } from '../../workflows/policy';
import type { AuditFact } from '../../workflows/refund-model';
import { generateKeyPair } from '../../workflows/statements';
import { carrierEvent, nextId, refundOf, refundRequest } from '../support/fixtures';
import { refundHistory } from '../support/refund-history';
import { connectClient, connectNative, scratchDatabase, testStack, uniqueId, type ScratchDatabase } from '../support/stack';
import { createRegistryWorld } from '../support/registry-world';
import { signedCarrierEvent, TEST_CARRIER_SECRETS } from '../support/carrier-keys';

interface Anchored {
  db: ScratchDatabase;
  /** refunds_service: the product. */
  service: Pool;
  /** The superuser: the insider. */
  admin: Pool;
  key: ReturnType<typeof auditKey>;
  exportFile: string;
  checkpointer: AuditCheckpointer;
  /** Writes a refund's history through the real recordProgress activity. */
  record: ReturnType<typeof refundHistory>;
}

/** A worker's audit key: what signs, and what verifiers pin. */
function auditKey(keyId: string) {
  const { secretKey, publicKey } = generateKeyPair(keyId);
  return { keyId, secretKey, publicKey };
}

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function anchored(name: string, db?: ScratchDatabase): Promise<Anchored> {
  const database = db ?? (await scratchDatabase(name));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'audit-export-'));
  const service = createPool(database.serviceUrl, 5);
  const admin = createPool(database.adminUrl, 2);
  const key = auditKey(nextId('audit-key'));
  const exportFile = path.join(dir, 'audit-checkpoints.jsonl');
  // An hour apart: the tests take checkpoints when they want them (runOnce).
  const checkpointer = startAuditCheckpointer({ pool: service, key, intervalMs: 3_600_000, exportFile });
  opened.push(async () => {
    await checkpointer.stop().catch(() => undefined);
    await service.end();
    await admin.end();
    await database.drop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return { db: database, service, admin, key, exportFile, checkpointer, record: refundHistory(service) };
}

/** `audit verify` as an operator runs it: the pinned key, and the export file when there is one. */
async function verify(env: Anchored, { withFile = true } = {}): Promise<AuditVerification> {
  return verifyAuditChain(env.service, {
    publicKeys: [env.key.publicKey],
    ...(withFile ? { exported: await readCheckpointExport(env.exportFile) } : {}),
  });
}

/** A refund with a few steps: requested, delivered, received, reviewed. */
async function refund(env: Anchored): Promise<{ refundId: string; steps: number }> {
  const request = refundOf(4_000);
  await env.record(request, { at: new Date(Date.now() - 3_600_000), scans: [{ by: nextId('emp-scan') }] });
  return { refundId: request.refundId, steps: (await auditTrailOf(env.service, request.refundId)).length };
}

/** Runs `work` as the superuser with the append-only guards switched off, as an insider would. */
async function asInsider(env: Anchored, work: (c: PoolClient) => Promise<unknown>): Promise<void> {
  await withTransaction(env.admin, async (c) => {
    await c.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
    await c.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER USER');
    await work(c);
    await c.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    await c.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER USER');
  });
}

/** Recomputes every hash and link of `subject` with the project's own hash function, as a careful insider would. */
async function rehash(c: PoolClient, subject: string): Promise<void> {
  const { rows } = await c.query('SELECT * FROM audit_log WHERE refund_id = $1 ORDER BY refund_seq', [subject]);
  let prevHash = GENESIS_HASH;
  for (const r of rows) {
    const hash = auditHash({
      seq: Number(r.seq),
      refundId: r.refund_id,
      refundSeq: r.refund_seq,
      kind: r.kind,
      actor: r.actor,
      occurredAt: r.occurred_at.toISOString(),
      data: r.data,
      prevHash,
    });
    await c.query('UPDATE audit_log SET prev_hash = $2, hash = $3 WHERE seq = $1', [r.seq, prevHash, hash]);
    prevHash = hash;
  }
}

const about = (findings: AuditFinding[], subject: string) => findings.filter((f) => f.subject === subject);

/** The documented construction (store/audit-checkpoints.ts, docs/operations.md), written out again with node:crypto. */
function documentedRoot(prevRoot: string, heads: AuditCheckpoint['heads']): string {
  const h = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  let level: Buffer[] = heads.map((head) =>
    h(Buffer.from([0]), Buffer.from(`{"hash":"${head.hash}","refundSeq":${head.refundSeq},"subject":${JSON.stringify(head.subject)}}`)),
  );
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? h(Buffer.from([1]), level[i]!, level[i + 1]!) : level[i]!);
    level = up;
  }
  return h(Buffer.from([2]), Buffer.from(prevRoot, 'hex'), level[0] ?? h()).toString('hex');
}

const fact = (kind: string): AuditFact => ({ kind, actor: 'system', at: new Date().toISOString(), data: { kind } });

describe('checkpoints', () => {
  it('sign the heads of every subject that changed since the last one, chained, in the database and the export file', async () => {
    const env = await anchored('anchor_sign');
    const a = await refund(env);
    const b = await refund(env);
    const employee = `employee ${nextId('emp')}`;
    await withTransaction(env.service, (c) => appendSubjectFacts(c, employee, [fact('breaker_tripped')]));

    const first = (await env.checkpointer.runOnce())!;
    const heads = async (id: string) => {
      const trail = await auditTrailOf(env.service, id);
      return { subject: id, refundSeq: trail.length, hash: trail.at(-1)!.hash };
    };
    expect(first).toMatchObject({ id: 1, prevRoot: GENESIS_HASH, keyId: env.key.publicKey.keyId });
    expect(first.heads).toEqual(
      [await heads(a.refundId), await heads(b.refundId), await heads(employee)].sort((x, y) => (x.subject < y.subject ? -1 : 1)),
    );
    expect(first.root).toBe(documentedRoot(GENESIS_HASH, first.heads));

    // Nothing changed: no checkpoint. Then one refund moves on: only it is in the next one.
    expect(await env.checkpointer.runOnce()).toBeUndefined();
    await withTransaction(env.service, (c) => appendAuditFacts(c, a.refundId, a.steps + 1, [fact('escalated')]));
    await env.service.query('UPDATE refunds SET progress_seq = progress_seq + 1 WHERE refund_id = $1', [a.refundId]);
    const second = (await env.checkpointer.runOnce())!;
    expect(second).toMatchObject({ id: 2, prevRoot: first.root, heads: [await heads(a.refundId)] });
    expect(second.root).toBe(documentedRoot(first.root, second.heads));

    const lines = (await readFile(env.exportFile, 'utf8')).trim().split('\n');
    expect(lines).toEqual([checkpointLine(first), checkpointLine(second)]);
    expect(await verify(env)).toMatchObject({
      ok: true,
      findings: [],
      subjectsChecked: 3,
      checkpoints: { checked: 2, latest: { id: 2, root: second.root }, exportFile: { state: 'matched', lines: 2 } },
    });
  });

  it('cover a subject whose append was still open when a checkpoint was taken, in the next one', async () => {
    const env = await anchored('anchor_snapshot');
    const a = await refund(env);
    await env.checkpointer.runOnce();
    const writer = await env.service.connect();
    try {
      await writer.query('BEGIN');
      await appendAuditFacts(writer, a.refundId, a.steps + 1, [fact('escalated')]);
      await writer.query('UPDATE refunds SET progress_seq = $2 WHERE refund_id = $1', [a.refundId, a.steps + 1]);
      // A refund written (and committed) after the open append began.
      const b = await refund(env);
      const during = (await env.checkpointer.runOnce())!;
      expect(during.heads.map((h) => h.subject)).toEqual([b.refundId]);
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    const after = (await env.checkpointer.runOnce())!;
    expect(after.heads).toEqual([expect.objectContaining({ subject: a.refundId, refundSeq: a.steps + 1 })]);
    expect(await verify(env)).toMatchObject({ ok: true, checkpoints: { checked: 3 } });
  });

  it('are taken by the worker’s checkpointer on its interval, and once more when it stops', async () => {
    const env = await anchored('anchor_timer');
    const timed = startAuditCheckpointer({ pool: env.service, key: env.key, intervalMs: 1_000, exportFile: env.exportFile });
    try {
      await refund(env);
      await expect
        .poll(async () => (await env.service.query('SELECT count(*)::int AS n FROM audit_checkpoints')).rows[0].n, { timeout: 10_000 })
        .toBe(1);
      await refund(env);
    } finally {
      await timed.stop();
    }
    expect((await env.service.query('SELECT count(*)::int AS n FROM audit_checkpoints')).rows[0].n).toBe(2);
    expect(await verify(env)).toMatchObject({ ok: true, checkpoints: { checked: 2, exportFile: { state: 'matched', lines: 2 } } });
  });

  it('are append-only even for the superuser while the guard is on', async () => {
    const env = await anchored('anchor_guard');
    await refund(env);
    await env.checkpointer.runOnce();
    await expect(env.admin.query(`UPDATE audit_checkpoints SET root = repeat('0', 64)`)).rejects.toThrow(
      /audit_checkpoints is append-only/,
    );
    await expect(env.admin.query('DELETE FROM audit_checkpoints')).rejects.toThrow(/append-only/);
    await expect(env.admin.query('TRUNCATE audit_checkpoints')).rejects.toThrow(/append-only/);
  });
});

describe('an insider who owns the database', () => {
  it('edits a row: its hash no longer matches (row_hash)', async () => {
    const env = await anchored('tamper_edit');
    const { refundId } = await refund(env);
    await env.checkpointer.runOnce();
    await asInsider(env, (c) =>
      c.query(`UPDATE audit_log SET actor = 'emp-someone-else' WHERE refund_id = $1 AND refund_seq = 2`, [refundId]),
    );
    const result = await verify(env);
    expect(result.ok).toBe(false);
    expect(about(result.findings, refundId)).toEqual([
      expect.objectContaining({ check: 'row_hash', problem: 'edited', subject: refundId, refundSeq: 2 }),
    ]);
  });

  it('edits a row and recomputes every later hash of the refund: the signed head and the read model disagree', async () => {
    const env = await anchored('tamper_rehash');
    const { refundId, steps } = await refund(env);
    const other = await refund(env);
    await env.checkpointer.runOnce();
    // The refund's amount, in its request step, and every hash after it, recomputed.
    await asInsider(env, async (c) => {
      await c.query(`UPDATE audit_log SET data = jsonb_set(data, '{amount}', '90000') WHERE refund_id = $1 AND refund_seq = 1`, [refundId]);
      await rehash(c, refundId);
    });
    const result = await verify(env);
    const found = about(result.findings, refundId);
    // The chain itself is consistent again: no hash or link check fails.
    expect(found.filter((f) => ['row_hash', 'chain_link', 'step_sequence'].includes(f.check))).toEqual([]);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'checkpoint_head', problem: 'rehashed', subject: refundId, refundSeq: steps, checkpointId: 1 }),
        expect.objectContaining({
          check: 'read_model',
          problem: 'edited',
          subject: refundId,
          detail: expect.stringMatching(/^the read model's amount is 4000, the audit trail recorded 90000/),
        }),
      ]),
    );
    expect(about(result.findings, other.refundId)).toEqual([]);
  });

  it('deletes the last rows of a refund: the read model and the signed head miss them', async () => {
    const env = await anchored('tamper_delete_last');
    const { refundId, steps } = await refund(env);
    await env.checkpointer.runOnce();
    await asInsider(env, (c) => c.query('DELETE FROM audit_log WHERE refund_id = $1 AND refund_seq >= $2', [refundId, steps - 1]));
    const found = about((await verify(env)).findings, refundId);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'read_model', problem: 'deleted', subject: refundId, refundSeq: steps - 1 }),
        expect.objectContaining({ check: 'checkpoint_head', problem: 'deleted', subject: refundId, refundSeq: steps, checkpointId: 1 }),
      ]),
    );
    expect(found.find((f) => f.check === 'read_model')?.detail).toBe(
      `the read model has the refund at step ${steps}, the chain ends at step ${steps - 2}: steps ${steps - 1} to ${steps} are missing, deleted`,
    );
  });

  it('deletes the last rows and moves the read model back to match: the signed head still misses them', async () => {
    const env = await anchored('tamper_delete_cover');
    const { refundId, steps } = await refund(env);
    await env.checkpointer.runOnce();
    await asInsider(env, async (c) => {
      await c.query('DELETE FROM audit_log WHERE refund_id = $1 AND refund_seq = $2', [refundId, steps]);
      // The read model moved back to what the shortened chain says, state included.
      await c.query(
        `UPDATE refunds SET progress_seq = $2, state = (SELECT data ->> 'to' FROM audit_log WHERE refund_id = $1 AND kind = 'state_changed'
                                                         ORDER BY refund_seq DESC LIMIT 1)
          WHERE refund_id = $1`,
        [refundId, steps - 1],
      );
    });
    expect((await verify(env)).findings).toEqual([
      expect.objectContaining({ check: 'checkpoint_head', problem: 'deleted', subject: refundId, refundSeq: steps }),
    ]);
  });

  it('deletes a checkpoint: the numbering and the export file show it', async () => {
    const env = await anchored('tamper_checkpoint_delete');
    for (let i = 0; i < 3; i++) {
      await refund(env);
      await env.checkpointer.runOnce();
    }
    await asInsider(env, (c) => c.query('DELETE FROM audit_checkpoints WHERE id = 2'));
    expect((await verify(env)).findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          check: 'checkpoint_chain',
          problem: 'deleted',
          checkpointId: 2,
          detail: 'checkpoint 2 is missing: deleted',
        }),
        expect.objectContaining({ check: 'checkpoint_export', problem: 'deleted', checkpointId: 2 }),
      ]),
    );
    // The newest ones leave no gap: only the export file remembers them.
    await asInsider(env, (c) => c.query('DELETE FROM audit_checkpoints WHERE id = 3'));
    expect((await verify(env)).findings.map((f) => `${f.check}:${f.problem}:${f.checkpointId}`)).toEqual([
      'checkpoint_export:deleted:2',
      'checkpoint_export:deleted:3',
    ]);
    expect(await verify(env, { withFile: false })).toMatchObject({ ok: true, checkpoints: { checked: 1 } });
  });

  it('forges checkpoints without the key: signed by an unpinned key, or edited after signing', async () => {
    const env = await anchored('tamper_checkpoint_forge');
    const { refundId } = await refund(env);
    const first = (await env.checkpointer.runOnce())!;
    await asInsider(env, async (c) => {
      await c.query(`UPDATE audit_log SET actor = 'emp-x' WHERE refund_id = $1 AND refund_seq = 2`, [refundId]);
      await rehash(c, refundId);
    });
    const [rewritten] = (
      await env.admin.query('SELECT refund_seq, hash FROM audit_log WHERE refund_id = $1 ORDER BY refund_seq DESC LIMIT 1', [refundId])
    ).rows;
    const heads = [{ subject: refundId, refundSeq: rewritten.refund_seq, hash: rewritten.hash }];
    // Checkpoint 1 rewritten over the new head, its root recomputed; the old signature kept.
    const edited = { ...first, heads, root: documentedRoot(GENESIS_HASH, heads) };
    // Checkpoint 2 signed by a key of the insider's own.
    const forged = signCheckpoint({ id: 2, createdAt: new Date().toISOString(), prevRoot: edited.root, heads }, auditKey('audit-insider'));
    await asInsider(env, async (c) => {
      await c.query('UPDATE audit_checkpoints SET heads = $2, root = $3 WHERE id = $1', [1, JSON.stringify(heads), edited.root]);
      await c.query(
        `INSERT INTO audit_checkpoints (id, created_at, prev_root, root, heads, key_id, signature, snapshot)
         SELECT 2, $1, $2, $3, $4, $5, $6, snapshot FROM audit_checkpoints WHERE id = 1`,
        [forged.createdAt, forged.prevRoot, forged.root, JSON.stringify(forged.heads), forged.keyId, forged.signature],
      );
    });
    const result = await verify(env);
    expect(result.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'checkpoint_signature', problem: 'forged', checkpointId: 1 }),
        expect.objectContaining({ check: 'checkpoint_signature', problem: 'forged', checkpointId: 2 }),
        expect.objectContaining({ check: 'checkpoint_export', problem: 'edited', checkpointId: 1 }),
        // The export file still holds the head as it was signed.
        expect.objectContaining({ check: 'checkpoint_head', problem: 'rehashed', subject: refundId }),
      ]),
    );
    expect(result.findings.find((f) => f.checkpointId === 2 && f.check === 'checkpoint_signature')?.detail).toMatch(
      /signed with key "audit-insider", which is not a pinned audit key/,
    );
    // The export file edited to match: its line no longer verifies either.
    await writeFile(env.exportFile, `${checkpointLine(edited)}\n${checkpointLine(forged)}\n`);
    expect((await verify(env)).findings).toEqual(
      expect.arrayContaining([expect.objectContaining({ check: 'checkpoint_signature', problem: 'forged', checkpointId: 1 })]),
    );
  });

  it('edits the read model (progress, state, currency, tracking number): each disagrees with the chain', async () => {
    const env = await anchored('tamper_read_model');
    const rows = [await refund(env), await refund(env), await refund(env), await refund(env)];
    await asInsider(env, async (c) => {
      await c.query('UPDATE refunds SET progress_seq = progress_seq - 1 WHERE refund_id = $1', [rows[0]!.refundId]);
      await c.query(`UPDATE refunds SET state = 'awaiting_approval' WHERE refund_id = $1`, [rows[1]!.refundId]);
      await c.query(`UPDATE refunds SET currency = 'JPY' WHERE refund_id = $1`, [rows[2]!.refundId]);
      await c.query(`UPDATE refunds SET tracking_number = '1ZELSEWHERE' WHERE refund_id = $1`, [rows[3]!.refundId]);
    });
    const findings = (await verify(env)).findings;
    expect(findings).toHaveLength(4);
    expect(findings.map((f) => [f.subject, f.check, f.problem, f.detail])).toEqual(
      expect.arrayContaining([
        [
          rows[0]!.refundId,
          'read_model',
          'edited',
          `the read model has the refund at step ${rows[0]!.steps - 1}, behind its chain (step ${rows[0]!.steps}): its progress_seq was edited`,
        ],
        [
          rows[1]!.refundId,
          'read_model',
          'edited',
          `the read model's state is "awaiting_approval", the audit trail recorded "risk_review": edited`,
        ],
        [rows[2]!.refundId, 'read_model', 'edited', `the read model's currency is "JPY", the audit trail recorded "USD": edited`],
        [
          rows[3]!.refundId,
          'read_model',
          'edited',
          `the read model's tracking_number is "1ZELSEWHERE", the audit trail recorded "1Z${rows[3]!.refundId}": edited`,
        ],
      ]),
    );
  });

  it('deletes a refund’s read-model row: the refund is on the chain without it', async () => {
    const env = await anchored('tamper_read_model_row');
    const { refundId } = await refund(env);
    await asInsider(env, (c) => c.query('DELETE FROM refunds WHERE refund_id = $1', [refundId]));
    expect((await verify(env)).findings).toEqual([expect.objectContaining({ check: 'read_model', problem: 'deleted', subject: refundId })]);
  });
});

describe('appends', () => {
  it('to different refunds proceed while another refund’s append is held open; the same refund’s waits', async () => {
    const env = await anchored('append_concurrency');
    const [x, y] = [nextId('held'), nextId('free')];
    const held = await env.service.connect();
    const other = await env.service.connect();
    try {
      await held.query('BEGIN');
      await appendAuditFacts(held, x, 1, [fact('refund_requested')]);
      // Under the old single chain this waited for `held` to commit.
      await other.query('BEGIN');
      await other.query(`SET LOCAL lock_timeout = '2s'`);
      expect(await appendAuditFacts(other, y, 1, [fact('refund_requested'), fact('paid')])).toMatchObject({ appended: 2 });
      await other.query('COMMIT');
      await other.query('BEGIN');
      await other.query(`SET LOCAL lock_timeout = '300ms'`);
      await expect(appendAuditFacts(other, x, 2, [fact('paid')])).rejects.toMatchObject({ code: '55P03' });
      await other.query('ROLLBACK');
      await held.query('COMMIT');
    } finally {
      held.release();
      other.release();
    }
    expect((await auditTrailOf(env.service, y)).map((r) => r.refundSeq)).toEqual([1, 2]);
  });
});

describe('rows written before the chains were split', () => {
  it('verify as the legacy chain, and the first new row of a subject links to its last legacy row', async () => {
    const db = await scratchDatabase('audit_legacy', { migrated: false });
    const migrations = (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
    const split = migrations.indexOf('1795796651233_audit-chain-per-subject.sql');
    const migrateTo = (count: number) =>
      runner({
        databaseUrl: db.ownerUrl,
        dir: migrationsDir,
        direction: 'up',
        migrationsTable: 'pgmigrations',
        checkOrder: true,
        singleTransaction: true,
        count,
        log: () => undefined,
      });
    await migrateTo(split);
    const legacy = createPool(db.serviceUrl, 2);
    const [a, b] = [nextId('legacy-a'), nextId('legacy-b')];
    try {
      // The old append: one chain across the service.
      for (const [subject, step] of [
        [a, 1],
        [b, 1],
        [a, 2],
      ] as const) {
        const occurredAt = new Date().toISOString();
        const { head, tail } = auditHashParts({ refundId: subject, refundSeq: step, kind: 'note', actor: 'system', occurredAt, data: {} });
        await legacy.query(
          'SELECT append_audit_facts($1, $2, $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[], $8::text[])',
          [subject, step, ['note'], ['system'], [occurredAt], ['{}'], [head], [tail]],
        );
      }
    } finally {
      await legacy.end();
    }
    await migrateTo(migrations.length);
    const env = await anchored('unused', db);
    await withTransaction(env.service, (c) => appendAuditFacts(c, a, 3, [fact('note')]));
    const trail = await auditTrailOf(env.service, a);
    expect(trail[2]!.prevHash).toBe(trail[1]!.hash);
    await env.checkpointer.runOnce();
    expect(await verify(env)).toMatchObject({ ok: true, rowsChecked: 4, subjectsChecked: 2, checkpoints: { checked: 1 } });

    // A legacy row rewritten with its own hash recomputed: the legacy chain's next link breaks.
    const first = (await env.admin.query('SELECT * FROM audit_log WHERE legacy_chain ORDER BY seq LIMIT 1')).rows[0];
    await asInsider(env, async (c) => {
      const hash = auditHash({
        seq: Number(first.seq),
        refundId: first.refund_id,
        refundSeq: first.refund_seq,
        kind: first.kind,
        actor: 'emp-x',
        occurredAt: first.occurred_at.toISOString(),
        data: first.data,
        prevHash: first.prev_hash,
      });
      await c.query(`UPDATE audit_log SET actor = 'emp-x', hash = $2 WHERE seq = $1`, [first.seq, hash]);
    });
    expect((await verify(env)).findings).toEqual(
      expect.arrayContaining([expect.objectContaining({ check: 'legacy_chain', problem: 'rehashed', seq: Number(first.seq) + 1 })]),
    );
  });
});

describe("the workflow's own head", () => {
  it('is in the status query, and catches what the database alone no longer shows', async () => {
    const env = await anchored('workflow_head');
    const temporal = await connectClient();
    const native = await connectNative();
    const taskQueue = uniqueId('audit-heads');
    // Long timers: the refunds stay in flight. The registry is written as the superuser, as an administrator would.
    const world = createRegistryWorld(env.admin);
    const worker = await createRefundWorker({
      connection: native,
      namespace: 'default',
      taskQueue,
      pool: env.service,
      policy: defaultPolicy,
      // The world's own roots: its refund service signs the requests.
      trustRoots: world.trustRoots,
      carrierSecrets: TEST_CARRIER_SECRETS,
      workflowBundlePath: testStack().workflowBundlePath,
    });
    const running = worker.run();
    const refunds = new RefundsService({ temporal, pool: env.service, taskQueue, audit: { publicKeys: [env.key.publicKey] } });
    const started: string[] = [];
    try {
      const inFlight = async () => {
        const request = refundRequest();
        await refunds.requestRefund(await world.signedRequest(request));
        started.push(request.refundId);
        await refunds.recordCarrierEvent(signedCarrierEvent(carrierEvent(request, 'in_transit')));
        await expect.poll(async () => (await refunds.getRefund(request.refundId)).auditHead?.refundSeq, { timeout: 15_000 }).toBe(2);
        return request.refundId;
      };
      const [deleted, rewritten] = [await inFlight(), await inFlight()];
      const trail = await auditTrailOf(env.service, deleted);
      expect((await refunds.getRefund(deleted)).auditHead).toEqual({ refundSeq: 2, hash: trail[1]!.hash });
      expect(await refunds.verifyAudit({ workflows: true })).toMatchObject({ ok: true, workflowHeadsChecked: 2 });

      // One refund loses its last step, its read model moved back to match; the other's carrier
      // step is attributed to another carrier and its hashes recomputed. No checkpoint covers them.
      await asInsider(env, async (c) => {
        await c.query('DELETE FROM audit_log WHERE refund_id = $1 AND refund_seq = 2', [deleted]);
        await c.query('UPDATE refunds SET progress_seq = 1 WHERE refund_id = $1', [deleted]);
        await c.query(`UPDATE audit_log SET actor = 'carrier:dhl' WHERE refund_id = $1 AND refund_seq = 2`, [rewritten]);
        await rehash(c, rewritten);
      });
      expect(await refunds.verifyAudit()).toMatchObject({ ok: true, workflowHeadsChecked: 0 });
      const result = await refunds.verifyAudit({ workflows: true });
      expect(result).toMatchObject({ ok: false, workflowHeadsChecked: 2 });
      expect(result.findings).toHaveLength(2);
      expect(result.findings).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ check: 'workflow_head', problem: 'deleted', subject: deleted, refundSeq: 2 }),
          expect.objectContaining({ check: 'workflow_head', problem: 'rehashed', subject: rewritten, refundSeq: 2 }),
        ]),
      );
    } finally {
      await Promise.all(
        started.map((id) =>
          temporal.workflow
            .getHandle(refundWorkflowId(id))
            .terminate('test over')
            .catch(() => undefined),
        ),
      );
      worker.shutdown();
      await running;
      await native.close();
      await temporal.connection.close();
    }
  });
});
