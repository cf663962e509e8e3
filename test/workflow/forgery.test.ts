/**
 * Forged decisions, each sent straight to Temporal (the workflow's `decide` update, as an insider
 * with Temporal access would) or written straight into PostgreSQL, on the real Temporal server and
 * database. None of them pays: the workflow believes a decision only when its signature verifies
 * with a key that two trust-root admins registered for the approver, for this refund's own amount.
 * What the workflow's handler refuses is written to the audit trail (`statement_rejected`, and
 * `registry_records_ignored` for registry rows that count for nothing); what its validator refuses
 * (wrong refund, wrong amount, the requester or scanner) never enters the refund's history.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideUpdate, failureTypes, refundWorkflowId, type SignedDecision } from '../../workflows/messages';
import type { RefundRequest } from '../../workflows/schemas';
import {
  base64urlEncode,
  canonicalBytes,
  endorseEntry,
  generateKeyPair,
  sha256Hex,
  signBytes,
  statementId,
  type RegistryEntry,
} from '../../workflows/statements';
import { carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { asOwner, uniqueId } from '../support/stack';

let h: RefundHarness;

beforeAll(async () => {
  h = await startRefundHarness();
});
afterAll(async () => h?.close());

/** A 2,499.00 USD laptop refund with matching evidence, waiting for its two approvals. */
async function laptopAwaitingApproval(): Promise<RefundRequest> {
  const request = refundRequest({
    items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
  });
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
  await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  return request;
}

/** Sends `signed` (or anything) straight to the workflow's decide update, bypassing the API and the service. */
function sendToTemporal(refundId: string, signed: unknown) {
  return h.temporal.workflow.getHandle(refundWorkflowId(refundId)).executeUpdate(decideUpdate, { args: [signed as SignedDecision] });
}

/** The refusal the workflow answered with: its failure type and rule. */
async function refusalOf(sent: Promise<unknown>): Promise<{ type: string | undefined; rule: string | undefined; message: string }> {
  const error = await sent.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const failure = cause as ApplicationFailure;
  return { type: failure.type ?? undefined, rule: (failure.details?.[0] as { rule?: string } | undefined)?.rule, message: failure.message };
}

async function trail(refundId: string) {
  return h.refunds.auditTrail(refundId);
}

async function rejectedStatements(refundId: string) {
  return (await trail(refundId)).filter((row) => row.kind === 'statement_rejected').map((row) => row.data as Record<string, unknown>);
}

/** Unpaid, still waiting for approvals, with no approval counted but `approved` ones. */
async function expectUnpaid(refundId: string, approved = 0) {
  const status = await h.refunds.getRefund(refundId);
  expect(status).toMatchObject({ state: 'awaiting_approval', payout: null });
  expect(status.approvals).toHaveLength(approved);
  const payouts = await h.pool.query('SELECT 1 FROM payouts WHERE refund_id = $1', [refundId]);
  expect(payouts.rowCount).toBe(0);
}

/** A refused decision that the handler audited with `rule`, naming the claimed signer and the statement. */
async function expectAuditedRefusal(request: RefundRequest, signed: SignedDecision, rule: string) {
  const refusal = await refusalOf(sendToTemporal(request.refundId, signed));
  expect(refusal).toMatchObject({ type: failureTypes.approvalRefused, rule });
  expect(await rejectedStatements(request.refundId)).toContainEqual(
    expect.objectContaining({
      rule,
      claimedSigner: signed.statement.approverId.toLowerCase(),
      statementId: statementId(signed),
      statement: 'decision',
    }),
  );
  await expectUnpaid(request.refundId);
}

/** An entry for `principalId` with a limit far above any refund. */
function generousEntry(principalId: string, publicKey: RegistryEntry['keys'][number], version = 1): RegistryEntry {
  return {
    kind: 'registry_entry',
    principalId,
    version,
    roles: ['approver'],
    approvalLimits: { USD: 100_000_000_000 },
    keys: [publicKey],
    status: 'active',
    issuedAt: new Date(Date.now() - 1_000).toISOString(),
  };
}

/** Writes an entry and its endorsements straight into the registry tables, as the schema owner (a database administrator) could. */
async function insertStraightIntoSql(entry: RegistryEntry, endorsements: unknown[]) {
  await asOwner(async (owner) => {
    const row = await owner.query(
      'INSERT INTO registry_entries (principal_id, version, entry, entry_hash) VALUES ($1, $2, $3, $4) RETURNING id',
      [entry.principalId, entry.version, entry, sha256Hex(canonicalBytes(entry))],
    );
    for (const endorsement of endorsements) {
      await owner.query('INSERT INTO registry_endorsements (entry_id, endorsement) VALUES ($1, $2)', [row.rows[0].id, endorsement]);
    }
  });
}

describe('forged decisions sent straight to Temporal never pay', () => {
  it('the old unsigned command, with invented approvers and a limit of 1,000,000,000, is not a decision', async () => {
    const request = await laptopAwaitingApproval();
    for (const approverId of ['emp-invented-1', 'emp-invented-2']) {
      const command = { approver: { approverId, roles: ['approver'], approvalLimit: 100_000_000_000 }, decision: { decision: 'approve' } };
      const refusal = await refusalOf(sendToTemporal(request.refundId, command));
      expect(refusal.type).toBe(failureTypes.invalidMessage);
    }
    await expectUnpaid(request.refundId);
  });

  it('an invented approver, with no registry entry, signing with their own key', async () => {
    const request = await laptopAwaitingApproval();
    const invented = uniqueId('emp-invented');
    const key = generateKeyPair(`${invented}.k1`);
    const signed = h.registry.sign(request, invented, { keyId: `${invented}.k1`, secretKey: key.secretKey });
    await expectAuditedRefusal(request, signed, 'unknown_principal');
  });

  it('a real approver’s id, signed with a key that is not theirs', async () => {
    const request = await laptopAwaitingApproval();
    const real = uniqueId('emp-real');
    const { keyId } = await h.registry.registerApprover(real);
    const wrong = generateKeyPair(keyId).secretKey;
    await expectAuditedRefusal(request, h.registry.sign(request, real, { keyId, secretKey: wrong }), 'bad_signature');
    // Naming a key the registry does not give them is no better.
    await expectAuditedRefusal(request, h.registry.sign(request, real, { keyId: `${real}.k9`, secretKey: wrong }), 'unknown_key');
  });

  it('a valid signature from another refund', async () => {
    const [request, other] = [await laptopAwaitingApproval(), await laptopAwaitingApproval()];
    const approverId = uniqueId('emp-approver');
    const forOther = await h.registry.approval(other, approverId);
    // As signed: refused at once, outside the refund's history.
    expect(await refusalOf(sendToTemporal(request.refundId, forOther))).toMatchObject({ rule: 'wrong_refund' });
    // With the refund id rewritten: the signature no longer covers the statement.
    const rewritten = { ...forOther, statement: { ...forOther.statement, refundId: request.refundId } };
    await expectAuditedRefusal(request, rewritten, 'bad_signature');
  });

  it('a statement whose amount was altered', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-approver');
    // The approver signed for 45.00 (shown the wrong refund, say): refused as signed ...
    const small = await h.registry.approval({ refundId: request.refundId, amount: 4_500, currency: 'USD' }, approverId);
    expect(await refusalOf(sendToTemporal(request.refundId, small))).toMatchObject({ rule: 'amount_mismatch' });
    // ... and worthless with the amount changed to the refund's.
    const altered = { ...small, statement: { ...small.statement, amount: 249_900 } };
    await expectAuditedRefusal(request, altered, 'bad_signature');
    // Nor in another currency with the same number.
    const euros = await h.registry.approval({ refundId: request.refundId, amount: 249_900, currency: 'EUR' }, approverId);
    expect(await refusalOf(sendToTemporal(request.refundId, euros))).toMatchObject({ rule: 'amount_mismatch' });
    await expectUnpaid(request.refundId);
  });

  it('a decision signed too long ago, or dated in the future', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-approver');
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    const stale = await h.registry.approval(request, approverId, { statement: { signedAt: hoursAgo(2) } });
    await expectAuditedRefusal(request, stale, 'statement_expired');
    const postDated = await h.registry.approval(request, approverId, { statement: { signedAt: hoursAgo(-1) } });
    await expectAuditedRefusal(request, postDated, 'signed_in_future');
    // Signed a moment ago, the same approver's decision counts.
    expect(await sendToTemporal(request.refundId, await h.registry.approval(request, approverId))).toMatchObject({
      approvals: [{ approverId }],
    });
  });

  it('an entry endorsed by one admin only', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-half');
    const key = await h.registry.registerApprover(approverId, { endorsements: 1 });
    await expectAuditedRefusal(request, h.registry.sign(request, approverId, key), 'entry_not_endorsed');
    const ignored = (await trail(request.refundId)).find((row) => row.kind === 'registry_records_ignored');
    expect(ignored?.data).toMatchObject({
      principalId: approverId,
      ignored: [expect.objectContaining({ reason: 'too_few_endorsements' })],
    });
  });

  it('an entry row inserted in SQL with forged endorsements', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-sql');
    const key = generateKeyPair(`${approverId}.k1`);
    const entry = generousEntry(approverId, key.publicKey);
    const [ada, bob] = h.registry.admins;
    const eve = { adminId: uniqueId('admin-eve'), keyId: 'eve.k1', secretKey: generateKeyPair('eve.k1').secretKey };
    await insertStraightIntoSql(entry, [
      // The real admins' names with made-up signatures, and a real signature by an admin nobody pinned.
      { adminId: ada!.adminId, keyId: ada!.keyId, signature: base64urlEncode(new Uint8Array(64).fill(7)) },
      { adminId: bob!.adminId, keyId: bob!.keyId, signature: signBytes(canonicalBytes({ ...entry, version: 2 }), bob!.secretKey) },
      endorseEntry(entry, eve),
    ]);
    const signed = h.registry.sign(request, approverId, { keyId: key.publicKey.keyId, secretKey: key.secretKey });
    await expectAuditedRefusal(request, signed, 'entry_not_endorsed');
    // The worker's and the API's own role may append to the registry (the API's registry routes), never change a record.
    await expect(
      h.pool.query('UPDATE registry_entries SET entry = $2 WHERE principal_id = $1', [approverId, { ...entry, version: 9 }]),
    ).rejects.toThrow(/permission denied/);
    const ignored = (await trail(request.refundId)).find((row) => row.kind === 'registry_records_ignored')?.data as {
      ignored: Array<{ reason: string }>;
    };
    expect(ignored.ignored.map((i) => i.reason)).toEqual(['bad_signature', 'bad_signature', 'not_a_trust_root', 'too_few_endorsements']);
  });

  it('a real approver’s limit raised in SQL: the forged version counts for nothing, the endorsed one still rules', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-limited');
    const key = await h.registry.registerApprover(approverId, { limits: { USD: 100_000 } });
    const raised = generousEntry(approverId, generateKeyPair(key.keyId, key.secretKey).publicKey, 2);
    const [ada] = h.registry.admins;
    await insertStraightIntoSql(raised, [endorseEntry(raised, ada!)]);
    await expectAuditedRefusal(request, h.registry.sign(request, approverId, key), 'approval_limit_below_amount');
  });

  it('a revoked key, and a frozen principal', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-revoked');
    const key = await h.registry.registerApprover(approverId);
    await h.registry.revoke(approverId, key.keyId);
    await expectAuditedRefusal(request, h.registry.sign(request, approverId, key), 'revoked_key');
    const frozenId = uniqueId('emp-frozen');
    const frozenKey = await h.registry.registerApprover(frozenId);
    await h.registry.revoke(frozenId);
    await expectAuditedRefusal(request, h.registry.sign(request, frozenId, frozenKey), 'principal_frozen');
  });

  it('the same statement sent twice counts once', async () => {
    const request = await laptopAwaitingApproval();
    const signed = await h.registry.approval(request, uniqueId('emp-approver'));
    expect(await sendToTemporal(request.refundId, signed)).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1 });
    await expectAuditedRefusalAfterOne(request, signed);
  });

  it('an approver’s id in another case is the same approver', async () => {
    const request = await laptopAwaitingApproval();
    const approverId = uniqueId('emp-alias');
    await sendToTemporal(request.refundId, await h.registry.approval(request, approverId));
    const shouted = h.registry.sign(request, approverId.toUpperCase(), h.registry.keyOf(approverId));
    expect(shouted.statement.approverId).toBe(approverId);
    expect(await refusalOf(sendToTemporal(request.refundId, shouted))).toMatchObject({ rule: 'approver_already_decided' });
    await expectUnpaid(request.refundId, 1);
  });

  it('the requester or the scanner cannot decide, whatever key they hold', async () => {
    const request = await laptopAwaitingApproval();
    const scanner = (await h.refunds.getRefund(request.refundId)).evidence.receipts[0]!.scannedBy;
    for (const [who, rule] of [
      [request.initiatedBy, 'approver_is_requester'],
      [scanner, 'approver_is_scanner'],
    ] as const) {
      await h.registry.registerApprover(who);
      expect(await refusalOf(sendToTemporal(request.refundId, await h.registry.approval(request, who)))).toMatchObject({ rule });
    }
    await expectUnpaid(request.refundId);
  });

  it('two properly signed approvals still pay, once', async () => {
    const request = await laptopAwaitingApproval();
    const first = await sendToTemporal(request.refundId, await h.registry.approval(request, uniqueId('emp-approver')));
    expect(first).toMatchObject({ state: 'awaiting_approval', approvalsStillNeeded: 1 });
    const second = await sendToTemporal(request.refundId, await h.registry.approval(request, uniqueId('emp-approver')));
    expect(second.state).toBe('paying');
    await h.refunds.waitForState(request.refundId, ['refunded']);
    const approved = (await trail(request.refundId)).filter((row) => row.kind === 'approved');
    expect(approved).toHaveLength(2);
    expect(approved[0]!.data).toMatchObject({ statement: { statementId: expect.any(String), registryVersion: 1 } });
    expect(await rejectedStatements(request.refundId)).toEqual([]);
    expect(await h.refunds.verifyAudit()).toMatchObject({ ok: true });
  });
});

async function expectAuditedRefusalAfterOne(request: RefundRequest, signed: SignedDecision) {
  const refusal = await refusalOf(sendToTemporal(request.refundId, signed));
  expect(refusal).toMatchObject({ type: failureTypes.approvalRefused, rule: 'statement_replayed' });
  expect(await rejectedStatements(request.refundId)).toContainEqual(
    expect.objectContaining({ rule: 'statement_replayed', statementId: statementId(signed) }),
  );
  await expectUnpaid(request.refundId, 1);
}
