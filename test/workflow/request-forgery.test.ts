/**
 * Forged refund requests, each started straight on Temporal (as an insider with Temporal access
 * could), bypassing the API and RefundsService, on the real Temporal server and database. None of
 * them pays: the workflow believes a request only when a principal with the refund_service role,
 * registered with two trust-root admins' endorsements, signed exactly this request for this refund.
 * Each ends at once `rejected` (outcome `request_refused`), in the read model too, with
 * `statement_rejected` on its audit trail; what came with it is not applied, and it counts as no
 * employee's action. The legitimate request still pays, and its verified signer may not approve it.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalRefusedError, RefundError } from '../../client/errors';
import { carrierEventSignal, failureTypes, refundWorkflowId, type RefundStatus, type SignedRefundRequest } from '../../workflows/messages';
import type { RefundRequest } from '../../workflows/schemas';
import { generateKeyPair, statementId } from '../../workflows/statements';
import { signedCarrierEvent } from '../support/carrier-keys';
import { carrierEvent, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

let h: RefundHarness;

beforeAll(async () => {
  h = await startRefundHarness();
});
afterAll(async () => h?.close());

/** A request with an employee and customer details the risk engine would record, were it believed. */
function requestWithIdentity(overrides: Partial<RefundRequest> = {}): RefundRequest {
  return refundRequest({ customer: { deviceId: uniqueId('device'), paymentFingerprint: uniqueId('card') }, ...overrides });
}

/** Starts refund `refundId`'s workflow straight on Temporal with `input`, and waits for it to finish. */
async function startStraight(refundId: string, input: unknown): Promise<RefundStatus> {
  const handle = await h.temporal.workflow.start('refundWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: refundWorkflowId(refundId),
    args: [input as SignedRefundRequest],
  });
  return handle.result() as Promise<RefundStatus>;
}

/** `refundId` was refused for `rule`: rejected at once and never paid, with the refusal on its audit trail and in the read model. */
async function expectRefused(refundId: string, status: RefundStatus, rule: string, claimedSigner?: string) {
  expect(status).toMatchObject({ refundId, state: 'rejected', requestedBy: null, payout: null, approvals: [] });
  expect(status.outcome).toMatchObject({ code: 'request_refused' });
  expect(status.outcome?.message).toContain(`(${rule})`);
  expect(await h.refunds.getRefund(refundId)).toMatchObject({ state: 'rejected', outcome: { code: 'request_refused' } });
  expect(await h.refunds.getRefundRow(refundId)).toMatchObject({ state: 'rejected' });

  const trail = await h.refunds.auditTrail(refundId);
  expect(trail[0]).toMatchObject({ kind: 'refund_requested', actor: 'system', data: { refused: { rule } } });
  const rejected = trail.filter((row) => row.kind === 'statement_rejected').map((row) => row.data);
  expect(rejected).toEqual([expect.objectContaining({ statement: 'refund_request', rule })]);
  if (claimedSigner !== undefined) expect(rejected[0]).toMatchObject({ claimedSigner });
  else expect(rejected[0]).not.toHaveProperty('claimedSigner');
  expect(trail.at(-1)).toMatchObject({ kind: 'state_changed', data: { from: 'awaiting_carrier', to: 'rejected' } });

  // Nothing paid, and nothing the risk engine counts: the request's employee and customer are only what a forger said.
  for (const table of ['payouts', 'insider_actions', 'customer_identity_links']) {
    const rows = await h.pool.query(`SELECT 1 FROM ${table} WHERE refund_id = $1`, [refundId]);
    expect(rows.rowCount, table).toBe(0);
  }
}

describe('a refund request started straight on Temporal', () => {
  it('without a signature (the bare request) is rejected as malformed_statement', async () => {
    const request = requestWithIdentity();
    await expectRefused(request.refundId, await startStraight(request.refundId, request), 'malformed_statement');
  });

  it('in the old unsigned shape, the request and an origin naming any requester, is rejected as malformed_statement', async () => {
    const request = requestWithIdentity();
    const handle = await h.temporal.workflow.start('refundWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [request as unknown as SignedRefundRequest, { requestedBy: 'svc-returns-portal' }],
    });
    await expectRefused(request.refundId, (await handle.result()) as RefundStatus, 'malformed_statement');
  });

  it('with the statement but no signature is rejected as malformed_statement, naming the claimed signer', async () => {
    const request = requestWithIdentity();
    const { statement } = await h.registry.signedRequest(request);
    const status = await startStraight(request.refundId, { statement });
    await expectRefused(request.refundId, status, 'malformed_statement', h.registry.refundService);
  });

  it('signed by an invented refund service is rejected as unknown_principal', async () => {
    const request = requestWithIdentity();
    const invented = uniqueId('svc-invented');
    const key = { keyId: `${invented}.k1`, secretKey: generateKeyPair('k').secretKey };
    const signed = await h.registry.signedRequest(request, { requestedBy: invented, key });
    await expectRefused(request.refundId, await startStraight(request.refundId, signed), 'unknown_principal', invented);
  });

  it('signed as the real refund service with a key that is not its own is rejected as bad_signature', async () => {
    await h.registry.signedRequest(refundRequest()); // the service is registered
    const request = requestWithIdentity();
    const stolenKeyId = h.registry.keyOf(h.registry.refundService).keyId;
    const signed = await h.registry.signedRequest(request, { key: { keyId: stolenKeyId, secretKey: generateKeyPair('k').secretKey } });
    const status = await startStraight(request.refundId, signed);
    await expectRefused(request.refundId, status, 'bad_signature', h.registry.refundService);
    const trail = await h.refunds.auditTrail(request.refundId);
    expect(trail.find((row) => row.kind === 'statement_rejected')?.data).toMatchObject({ statementId: statementId(signed) });
  });

  it.each([
    ['its amount raised', (r: RefundRequest) => ({ ...r, items: [{ ...r.items[0]!, unitAmount: 9_999_900 }] })],
    ['its initiatedBy changed', (r: RefundRequest) => ({ ...r, initiatedBy: 'emp-accomplice' })],
    ['its customer changed', (r: RefundRequest) => ({ ...r, customerId: 'c-accomplice' })],
  ])('signed by the real refund service, then %s, is rejected as bad_signature', async (_what, alter) => {
    const request = requestWithIdentity();
    const signed = await h.registry.signedRequest(request);
    const altered = { ...signed, statement: { ...signed.statement, request: alter(signed.statement.request) } };
    const status = await startStraight(request.refundId, altered);
    await expectRefused(request.refundId, status, 'bad_signature', h.registry.refundService);
    expect(status.amount).toBe(altered.statement.request.items.reduce((sum, i) => sum + i.quantity * i.unitAmount, 0));
  });

  it('signed for another refund id is rejected as wrong_refund, and recorded under the workflow’s own refund only', async () => {
    const genuine = requestWithIdentity();
    const signed = await h.registry.signedRequest(genuine);
    const otherId = uniqueId('r-replayed');
    const status = await startStraight(otherId, signed);
    await expectRefused(otherId, status, 'wrong_refund', h.registry.refundService);
    // The genuine refund's own rows are untouched, and its request still counts where it belongs.
    expect(await h.refunds.getRefundRow(genuine.refundId)).toBeUndefined();
    expect(await h.refunds.requestRefund(signed)).toMatchObject({ created: true });
    expect(await h.refunds.waitForState(genuine.refundId, ['awaiting_carrier'])).toMatchObject({ requestedBy: h.registry.refundService });
  });

  it('signed by an approver (no refund_service role) to approve it themselves is rejected as role_missing', async () => {
    const approverId = uniqueId('emp-approver');
    const key = await h.registry.registerApprover(approverId);
    const request = requestWithIdentity({ initiatedBy: 'customer' });
    const signed = await h.registry.signedRequest(request, { requestedBy: approverId, key });
    const started = h.temporal.workflow.start('refundWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [signed],
    });
    await expectRefused(request.refundId, (await (await started).result()) as RefundStatus, 'role_missing', approverId);
    // Its own approval finds a refund that is over: refused, and nothing paid.
    await expect(h.refunds.decide(request.refundId, await h.registry.approval(request, approverId))).rejects.toBeInstanceOf(RefundError);
    expect(await h.refunds.getRefund(request.refundId)).toMatchObject({ state: 'rejected', approvals: [], payout: null });
  });

  it('signed by a refund service whose registration was revoked is rejected as principal_frozen', async () => {
    const serviceId = uniqueId('svc-frozen');
    const key = await h.registry.registerRefundService(serviceId);
    await h.registry.revoke(serviceId);
    const request = requestWithIdentity();
    const signed = await h.registry.signedRequest(request, { requestedBy: serviceId, key });
    await expectRefused(request.refundId, await startStraight(request.refundId, signed), 'principal_frozen', serviceId);
  });

  it('applies none of the messages that came with a forged start', async () => {
    const request = requestWithIdentity();
    const handle = await h.temporal.workflow.signalWithStart('refundWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [request as unknown as SignedRefundRequest],
      signal: carrierEventSignal,
      signalArgs: [signedCarrierEvent(carrierEvent(request, 'delivered'))],
    });
    const status = (await handle.result()) as RefundStatus;
    await expectRefused(request.refundId, status, 'malformed_statement');
    expect(status.evidence.carrierEvents).toEqual([]);
    expect((await h.refunds.auditTrail(request.refundId)).map((row) => row.kind)).not.toContain('carrier_event');
  });

  it('fails as InvalidMessage, writing nothing, when the input holds no refund request at all', async () => {
    const refundId = uniqueId('r-garbage');
    const error = await startStraight(refundId, { statement: { kind: 'refund_request', request: { refundId } }, signature: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
    expect(((error as WorkflowFailedError).cause as ApplicationFailure).type).toBe(failureTypes.invalidMessage);
    expect(await h.refunds.getRefundRow(refundId)).toBeUndefined();
  });
});

describe('a refund request a registered refund service signed', () => {
  it('started straight on Temporal, pays on clean evidence, with the verified signer as requestedBy', async () => {
    const request = refundOf(4_500);
    const signed = await h.registry.signedRequest(request);
    const handle = await h.temporal.workflow.start('refundWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [signed],
    });
    await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
    const status = (await handle.result()) as RefundStatus;
    expect(status).toMatchObject({ state: 'refunded', requestedBy: h.registry.refundService, initiatedBy: request.initiatedBy });
    const trail = await h.refunds.auditTrail(request.refundId);
    expect(trail[0]).toMatchObject({
      kind: 'refund_requested',
      actor: request.initiatedBy,
      data: { requestedBy: h.registry.refundService, statement: { statementId: statementId(signed), keyId: signed.statement.keyId } },
    });
    expect(trail.map((row) => row.kind)).not.toContain('statement_rejected');
    expect((await h.pool.query('SELECT 1 FROM payouts WHERE refund_id = $1', [request.refundId])).rowCount).toBe(1);
  });

  it('counts its verified signer as a requester: that principal may not approve it, even registered as an approver', async () => {
    const dual = uniqueId('svc-approver');
    const key = await h.registry.registerApprover(dual, { roles: ['refund_service', 'approver'] });
    const request = refundOf(150_000);
    await h.refunds.requestRefund(await h.registry.signedRequest(request, { requestedBy: dual, key }));
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    await h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scan'));
    expect(await h.refunds.waitForState(request.refundId, ['awaiting_approval'])).toMatchObject({ requestedBy: dual });
    const refused = await h.refunds.decide(request.refundId, await h.registry.approval(request, dual)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApprovalRefusedError);
    expect((refused as ApprovalRefusedError).rule).toBe('approver_is_requester');
  });

  it('signed again (another nonce and time) is the same refund; another request under its id is a conflict', async () => {
    const request = refundOf(4_000);
    expect(await h.refunds.requestRefund(await h.registry.signedRequest(request))).toMatchObject({ created: true });
    expect(await h.refunds.requestRefund(await h.registry.signedRequest(request))).toMatchObject({ created: false });
    await expect(h.refunds.requestRefund(await h.registry.signedRequest({ ...request, reason: 'another' }))).rejects.toMatchObject({
      name: 'RefundConflictError',
    });
  });
});
