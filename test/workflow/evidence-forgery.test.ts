/**
 * Forged evidence, each sent straight to Temporal (the workflow's `warehouseScan` and
 * `carrierEvent` signals, as an insider with Temporal access would), on the real Temporal server
 * and database. None of it counts: a scan counts only when its receipt statement verifies with a
 * key two trust-root admins registered for a principal with the warehouse role, for this refund;
 * a carrier event only when the worker finds the HMAC of a key of the carrier the body names, and
 * the event is about this refund's parcel. Each refusal is written to the audit trail
 * (`statement_rejected`, or `message_rejected` for a message that is not even well-formed).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  carrierEventSignal,
  refundWorkflowId,
  warehouseScanSignal,
  type SignedCarrierEvent,
  type SignedWarehouseScan,
} from '../../workflows/messages';
import type { RefundState } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { generateKeyPair, statementId } from '../../workflows/statements';
import { carrierKeyOf, signedCarrierEvent } from '../support/carrier-keys';
import { carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { startRefundHarness, type RefundHarness } from '../support/refund-harness';
import { uniqueId } from '../support/stack';

let h: RefundHarness;
let scanner: string;

beforeAll(async () => {
  h = await startRefundHarness();
  scanner = uniqueId('emp-scan');
  await h.registry.registerScanner(scanner);
});
afterAll(async () => h?.close());

const handleOf = (refundId: string) => h.temporal.workflow.getHandle(refundWorkflowId(refundId));

/** Sends a scan straight to the workflow's signal, bypassing the API and the service. */
const scanToTemporal = (refundId: string, signed: unknown) => handleOf(refundId).signal(warehouseScanSignal, signed as SignedWarehouseScan);
const carrierToTemporal = (refundId: string, signed: unknown) =>
  handleOf(refundId).signal(carrierEventSignal, signed as SignedCarrierEvent);

/** The refund's audit rows of `kind`, once there are `count` of them. */
async function auditRows(refundId: string, kind: string, count: number): Promise<Array<Record<string, unknown>>> {
  let rows: Array<Record<string, unknown>> = [];
  await expect
    .poll(
      async () => {
        rows = (await h.refunds.auditTrail(refundId)).filter((row) => row.kind === kind).map((row) => row.data as Record<string, unknown>);
        return rows.length;
      },
      { timeout: 15_000 },
    )
    .toBeGreaterThanOrEqual(count);
  return rows;
}

/** Nothing counted: still `state`, with no receipt (or only `receipts`), and no payout row. */
async function expectUnchanged(refundId: string, state: RefundState, receipts = 0, carrierEvents?: number) {
  const status = await h.refunds.getRefund(refundId);
  expect(status).toMatchObject({ state, payout: null });
  expect(status.evidence.receipts).toHaveLength(receipts);
  if (carrierEvents !== undefined) expect(status.evidence.carrierEvents).toHaveLength(carrierEvents);
  const payouts = await h.pool.query('SELECT 1 FROM payouts WHERE refund_id = $1', [refundId]);
  expect(payouts.rowCount).toBe(0);
}

/** A 45.00 refund (paid with no approval on clean evidence) whose carrier has delivered. */
async function delivered(): Promise<RefundRequest> {
  const request = refundOf(4_500);
  await h.refunds.requestRefund(request);
  await h.carrierEvent(carrierEvent(request, 'delivered'));
  await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
  return request;
}

/** A refused scan: audited with `rule`, naming the statement, and nothing changed. */
async function expectScanRefused(request: RefundRequest, signed: SignedWarehouseScan, rule: string) {
  await scanToTemporal(request.refundId, signed);
  const [rejected] = await auditRows(request.refundId, 'statement_rejected', 1);
  expect(rejected).toMatchObject({ statement: 'warehouse_receipt', rule, statementId: statementId(signed), keyId: signed.statement.keyId });
  await expectUnchanged(request.refundId, 'awaiting_warehouse');
}

describe('a warehouse scan sent straight to Temporal', () => {
  it('by an invented scanner is refused and audited', async () => {
    const request = await delivered();
    const invented = uniqueId('emp-nobody');
    const key = { keyId: `${invented}.k1`, secretKey: generateKeyPair('k').secretKey };
    await expectScanRefused(request, h.registry.signScan(request.refundId, invented, matchingReceipt(request), key), 'unknown_principal');
  });

  it('by a real scanner, signed with a key that is not theirs, is refused and audited', async () => {
    const request = await delivered();
    const wrongKey = { keyId: h.registry.keyOf(scanner).keyId, secretKey: generateKeyPair('k').secretKey };
    await expectScanRefused(request, h.registry.signScan(request.refundId, scanner, matchingReceipt(request), wrongKey), 'bad_signature');
  });

  it('signed for another refund is refused and audited', async () => {
    const request = await delivered();
    const signed = await h.registry.signedScan(`${request.refundId}-other`, scanner, matchingReceipt(request));
    await expectScanRefused(request, signed, 'wrong_refund');
  });

  it('signed by a registered principal without the warehouse role is refused and audited', async () => {
    const request = await delivered();
    const approver = uniqueId('emp-approver');
    await h.registry.registerApprover(approver);
    await expectScanRefused(request, await h.registry.signedScan(request.refundId, approver, matchingReceipt(request)), 'role_missing');
  });

  it('that claims another scanner in a message the signature does not cover is malformed', async () => {
    const request = await delivered();
    const signed = await h.registry.signedScan(request.refundId, scanner, matchingReceipt(request));
    await scanToTemporal(request.refundId, { ...signed, scannedBy: 'emp-someone-else' });
    const [rejected] = await auditRows(request.refundId, 'message_rejected', 1);
    expect(rejected).toMatchObject({ message: 'warehouseScan', issues: expect.stringContaining('scannedBy') });
    await expectUnchanged(request.refundId, 'awaiting_warehouse');
  });

  it('in the unsigned shape of before (receipt and scannedBy) is malformed, not believed', async () => {
    const request = await delivered();
    await scanToTemporal(request.refundId, { receipt: matchingReceipt(request), scannedBy: scanner });
    const [rejected] = await auditRows(request.refundId, 'message_rejected', 1);
    expect(rejected).toMatchObject({ message: 'warehouseScan', issues: expect.stringContaining('statement') });
    await expectUnchanged(request.refundId, 'awaiting_warehouse');
  });

  it('twice, the same signed statement, counts once and the repeat is audited', async () => {
    // 450.00 needs an approval: the refund waits, so the repeat reaches a live refund.
    const request = refundOf(45_000);
    await h.refunds.requestRefund(request);
    await h.carrierEvent(carrierEvent(request, 'delivered'));
    const signed = await h.registry.signedScan(request.refundId, scanner, matchingReceipt(request));
    await scanToTemporal(request.refundId, signed);
    await scanToTemporal(request.refundId, signed);
    const [replayed] = await auditRows(request.refundId, 'statement_rejected', 1);
    expect(replayed).toMatchObject({ statement: 'warehouse_receipt', rule: 'statement_replayed', statementId: statementId(signed) });
    const status = await h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    expect(status.evidence.receipts.map((r) => r.scannedBy)).toEqual([scanner]);
    expect(await auditRows(request.refundId, 'warehouse_receipt', 1)).toHaveLength(1);
  });
});

describe('a genuine signed scan', () => {
  it('counts with the verified signer as the scanner, and the refund pays', async () => {
    const request = await delivered();
    // Named in another case: still the one canonical scanner.
    const signed = h.registry.signScan(request.refundId, scanner.toUpperCase(), matchingReceipt(request), h.registry.keyOf(scanner));
    await scanToTemporal(request.refundId, signed);
    const paid = await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(paid.evidence.receipts.map((r) => r.scannedBy)).toEqual([scanner]);
    const [receipt] = await auditRows(request.refundId, 'warehouse_receipt', 1);
    expect(receipt).toMatchObject({ scannedBy: scanner, statement: { keyId: h.registry.keyOf(scanner).keyId, registryVersion: 1 } });
  });

  it('sent with the start, before the trust roots are pinned, waits and is then verified; two scans keep their order', async () => {
    const request = refundOf(45_000);
    const [first, second] = [matchingReceipt(request), matchingReceipt(request, { weightGrams: 1_010 })];
    await h.temporal.workflow.signalWithStart('refundWorkflow', {
      taskQueue: h.taskQueue,
      workflowId: refundWorkflowId(request.refundId),
      args: [await h.registry.signedRequest(request)],
      signal: warehouseScanSignal,
      signalArgs: [await h.registry.signedScan(request.refundId, scanner, first)],
    });
    await scanToTemporal(request.refundId, await h.registry.signedScan(request.refundId, scanner, second));
    await expect
      .poll(async () => (await h.refunds.getRefund(request.refundId)).evidence.receipts.map((r) => r.receipt.eventId), { timeout: 15_000 })
      .toEqual([first.eventId, second.eventId]);
    const trail = (await h.refunds.auditTrail(request.refundId)).map((row) => row.kind);
    expect(trail.indexOf('refund_requested')).toBeLessThan(trail.indexOf('warehouse_receipt'));
  });
});

/** A refused carrier event: audited with `rule`, and nothing changed. */
async function expectCarrierRefused(request: RefundRequest, signed: SignedCarrierEvent, rule: string) {
  await carrierToTemporal(request.refundId, signed);
  const [rejected] = await auditRows(request.refundId, 'statement_rejected', 1);
  expect(rejected).toMatchObject({ statement: 'carrier_event', rule, message: expect.any(String) });
  await expectUnchanged(request.refundId, 'awaiting_carrier', 0, 0);
}

async function awaitingCarrier(): Promise<RefundRequest> {
  const request = refundOf(4_500);
  await h.refunds.requestRefund(request);
  await h.refunds.waitForState(request.refundId, ['awaiting_carrier']);
  return request;
}

describe('a carrier event sent straight to Temporal', () => {
  it('with no signature is refused and audited', async () => {
    const request = await awaitingCarrier();
    const rawBody = JSON.stringify(carrierEvent(request, 'delivered'));
    await expectCarrierRefused(request, { rawBody, signature: '' }, 'missing_header');
  });

  it('as a parsed event, not the raw body and signature, is malformed', async () => {
    const request = await awaitingCarrier();
    await carrierToTemporal(request.refundId, carrierEvent(request, 'delivered'));
    const [rejected] = await auditRows(request.refundId, 'message_rejected', 1);
    expect(rejected).toMatchObject({ message: 'carrierEvent', issues: expect.stringContaining('rawBody') });
    await expectUnchanged(request.refundId, 'awaiting_carrier', 0, 0);
  });

  it('with a wrong HMAC is refused and audited', async () => {
    const request = await awaitingCarrier();
    const forgedKey = { keyId: carrierKeyOf('ups').keyId, secret: randomBytes(32).toString('hex') };
    await expectCarrierRefused(request, signedCarrierEvent(carrierEvent(request, 'delivered'), { key: forgedKey }), 'bad_signature');
  });

  it("signed with another carrier's key is refused and audited", async () => {
    const request = await awaitingCarrier();
    const signed = signedCarrierEvent(carrierEvent(request, 'delivered'), { key: carrierKeyOf('dhl') });
    await expectCarrierRefused(request, signed, 'key_of_another_carrier');
  });

  it('whose body was changed after signing is refused and audited', async () => {
    const request = await awaitingCarrier();
    const signed = signedCarrierEvent(carrierEvent(request, 'in_transit'));
    await expectCarrierRefused(request, { ...signed, rawBody: signed.rawBody.replace('in_transit', 'delivered') }, 'bad_signature');
  });

  it('genuine, but for another tracking number, is refused and audited', async () => {
    const request = await awaitingCarrier();
    const other = carrierEvent(request, 'delivered', { trackingNumber: `${request.refundId}-other` });
    await expectCarrierRefused(request, signedCarrierEvent(other), 'wrong_parcel');
  });

  it('genuine, from another carrier about the same tracking number, is refused and audited', async () => {
    const request = await awaitingCarrier();
    await expectCarrierRefused(request, signedCarrierEvent(carrierEvent(request, 'delivered', { carrier: 'dhl' })), 'wrong_parcel');
  });

  it('genuine, signed long ago (delivered late from the inbox), counts: the worker checks the key and HMAC, not the age', async () => {
    const request = await awaitingCarrier();
    const dayAgo = Math.floor(Date.now() / 1000) - 86_400;
    await carrierToTemporal(request.refundId, signedCarrierEvent(carrierEvent(request, 'delivered'), { timestamp: dayAgo }));
    await h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    const [event] = await auditRows(request.refundId, 'carrier_event', 1);
    expect(event).toMatchObject({ status: 'delivered', keyId: carrierKeyOf('ups').keyId });
  });
});

describe('forged evidence on one refund', () => {
  it('never pays, while the genuine delivery and receipt still do', async () => {
    const request = await awaitingCarrier();
    // An insider's forged delivery and receipt, both refused.
    const forgedKey = { keyId: carrierKeyOf('ups').keyId, secret: randomBytes(32).toString('hex') };
    await carrierToTemporal(request.refundId, signedCarrierEvent(carrierEvent(request, 'delivered'), { key: forgedKey }));
    const insider = uniqueId('emp-insider');
    const insiderKey = { keyId: `${insider}.k1`, secretKey: generateKeyPair('k').secretKey };
    await scanToTemporal(request.refundId, h.registry.signScan(request.refundId, insider, matchingReceipt(request), insiderKey));
    expect((await auditRows(request.refundId, 'statement_rejected', 2)).map((row) => row.rule)).toEqual([
      'bad_signature',
      'unknown_principal',
    ]);
    await expectUnchanged(request.refundId, 'awaiting_carrier', 0, 0);
    // The genuine evidence, signed by the carrier and a registered scanner.
    await carrierToTemporal(request.refundId, signedCarrierEvent(carrierEvent(request, 'delivered')));
    await scanToTemporal(request.refundId, await h.registry.signedScan(request.refundId, scanner, matchingReceipt(request)));
    const paid = await h.refunds.waitForState(request.refundId, ['refunded']);
    expect(paid.payout).not.toBeNull();
  });
});
