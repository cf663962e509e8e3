/**
 * The audit chain's rows are hashed inside PostgreSQL (append_audit_facts), from the canonical
 * JSON the worker sends split around the sequence number and previous hash. These tests hold the
 * two sides to one definition: the split text is exactly the row's RFC 8785 canonical JSON for
 * any content, and every hash the database computes is the one auditHash computes in JavaScript.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditFacts, auditHash, auditHashParts, auditTrailOf, GENESIS_HASH } from '../../store/audit-trail';
import { canonicalJson } from '../../store/canonical';
import { createPool, withTransaction, type Pool } from '../../store/pool';
import type { AuditFact } from '../../workflows/refund-model';
import { nextId } from '../support/fixtures';
import { testStack } from '../support/stack';

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

describe('the split canonical JSON', () => {
  it('reassembles to the whole row’s canonical JSON for any content', () => {
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          refundId: fc.string(),
          refundSeq: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          kind: fc.string(),
          actor: fc.string({ unit: 'binary' }),
          occurredAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          data: fc.jsonValue(),
          prevHash: fc.oneof(hex64, fc.constant(GENESIS_HASH)),
        }),
        (row) => {
          const { head, tail } = auditHashParts(row);
          expect(`${head}${JSON.stringify(row.prevHash)}${tail}${row.seq}}`).toBe(canonicalJson(row));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('hashes computed by the database', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = createPool(testStack().databaseUrl, 3);
  });
  afterAll(async () => pool?.end());

  it('are the hashes auditHash computes, for awkward content too', async () => {
    const refundId = nextId('audit-hash');
    const at = new Date().toISOString();
    const facts: AuditFact[] = [
      {
        kind: 'refund_requested',
        actor: 'emp-ü',
        at,
        data: { z: 1, a: [1.5, -0, 1e21, 'x'], nested: { b: null, a: true }, note: 'ünïcødé ✓ 😀 "quoted" \\ \n\t\u0001' },
      },
      { kind: 'carrier_event', actor: 'carrier:ups', at, data: { status: 'delivered', dropped: undefined, empty: {} } },
      { kind: 'paid', actor: 'system', at, data: { amount: 9_007_199_254_740_991, reference: '</script>\u2028' } },
    ];
    const appended = await withTransaction(pool, (client) => appendAuditFacts(client, refundId, 1, facts));
    const rows = await auditTrailOf(pool, refundId);
    expect(appended).toEqual({ appended: 3, head: { refundSeq: 3, hash: rows[2]!.hash } });
    expect(rows.map((row) => row.refundSeq)).toEqual([1, 2, 3]);
    for (const row of rows) expect(row.hash).toBe(auditHash(row));
    expect(rows.map((row) => row.prevHash)).toEqual([GENESIS_HASH, rows[0]!.hash, rows[1]!.hash]);
    expect(rows[1]!.data).toEqual({ status: 'delivered', empty: {} });
  });
});
