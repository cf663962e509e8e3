/**
 * The demo refund `npm start` leaves waiting for approval on its first start, so that the demo
 * approver has something to decide in the console: requested by the demo refund service, delivered
 * by the carrier, received by the demo scanner, all over the HTTP API as those parties would.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readSigningKeyFile } from '../client/cli/signing-key';
import { RefundApiError, RefundsApiClient } from '../client/refunds-api-client';
import type { RefundView } from '../client/views';
import type { DemoCredentials } from './demo-credentials';

export const DEMO_REFUND_ID = 'r-demo-console-1';
const TRACKING = '1ZDEMOCONSOLE0001';
const WAREHOUSE = 'wh-berlin';
const SKU = 'HEADPHONES-NC700';

/** Creates the demo refund unless it exists; answers with its state. */
export async function ensureDemoRefund(opts: {
  apiUrl: string;
  credentialsFile: string;
  keysDir: string;
}): Promise<{ created: boolean; state: string }> {
  const credentials = JSON.parse(await readFile(opts.credentialsFile, 'utf8')) as DemoCredentials;
  const apiKey = (id: string) => {
    const principal = credentials.principals.find((p) => p.id === id);
    if (!principal) throw new Error(`no demo principal ${id} in ${opts.credentialsFile}`);
    return principal.apiKey;
  };
  const key = (id: string) => readSigningKeyFile(path.join(opts.keysDir, `${id}.json`));
  const ops = new RefundsApiClient({ baseUrl: opts.apiUrl, apiKey: apiKey('emp-ops-1') });
  const existing = await ops.getRefund(DEMO_REFUND_ID).catch((error: unknown) => {
    if (error instanceof RefundApiError && error.status === 404) return undefined;
    throw error;
  });
  if (existing) return { created: false, state: existing.state };

  const service = new RefundsApiClient({
    baseUrl: opts.apiUrl,
    apiKey: apiKey('svc-returns-portal'),
    signingKey: await key('svc-returns-portal'),
  });
  await service.requestRefund({
    refundId: DEMO_REFUND_ID,
    orderId: 'o-demo-700',
    customerId: 'c-demo-42',
    currency: 'USD',
    items: [{ sku: SKU, quantity: 1, unitAmount: 34_900, serialNumber: 'NC7-0042', category: 'audio' }],
    initiatedBy: 'emp-agent-demo',
    reason: 'noise cancelling stopped working',
    return: { carrier: 'ups', trackingNumber: TRACKING, warehouseId: WAREHOUSE },
  });
  const upsKey = credentials.carrierSecrets.ups?.[0];
  if (!upsKey) throw new Error(`no ups carrier key in ${opts.credentialsFile}`);
  const carrier = new RefundsApiClient({ baseUrl: opts.apiUrl, carrierKey: { carrier: 'ups', ...upsKey } });
  await carrier.sendCarrierEvent({
    eventId: 'ce-demo-console-1',
    carrier: 'ups',
    trackingNumber: TRACKING,
    status: 'delivered',
    occurredAt: new Date(Date.now() - 3_600_000).toISOString(),
    facilityId: WAREHOUSE,
    weightGrams: 420,
  });
  await waitFor(ops, ['awaiting_warehouse', 'risk_review', 'awaiting_approval']);
  const scanner = new RefundsApiClient({ baseUrl: opts.apiUrl, apiKey: apiKey('wh-scanner-1'), signingKey: await key('wh-scanner-1') });
  await scanner.recordWarehouseScan(DEMO_REFUND_ID, {
    eventId: 'wr-demo-console-1',
    warehouseId: WAREHOUSE,
    items: [{ sku: SKU, serialNumber: 'NC7-0042', condition: 'used' }],
    weightGrams: 410,
    scannedAt: new Date().toISOString(),
  });
  const refund = await waitFor(ops, ['awaiting_approval', 'paying', 'refunded', 'rejected']);
  return { created: true, state: refund.state };
}

/** Polls the demo refund until it reaches one of `states` (a worker takes a moment to start). */
async function waitFor(client: RefundsApiClient, states: string[], timeoutMs = 60_000): Promise<RefundView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // 503 while the refund is a moment old and no worker has taken it yet (one still bundling its workflows).
    const refund = await client.getRefund(DEMO_REFUND_ID).catch((error: unknown) => {
      if (error instanceof RefundApiError && error.status === 503 && Date.now() < deadline) return undefined;
      throw error;
    });
    if (refund && states.includes(refund.state)) return refund;
    if (Date.now() > deadline)
      throw new Error(
        `the demo refund is ${refund?.state ?? 'not answering'} after ${timeoutMs / 1000} s, expected ${states.join(' or ')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
