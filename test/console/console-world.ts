/**
 * The operations console in a real Chromium (playwright-core, Debian's chromium or CHROMIUM_PATH)
 * against the real API, worker, Temporal and PostgreSQL of an API harness, served on localhost
 * (WebAuthn refuses an IP address as its relying party). Outside CI a machine without Chromium
 * skips these tests, saying so; in CI a missing Chromium fails them.
 */
import { existsSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { RefundView } from '../../client/views';
import type { RefundState } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, matchingReceipt } from '../support/fixtures';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** True only outside CI on a machine without Chromium: the browser tests are skipped there. */
export const noBrowser = !existsSync(chromiumPath) && !process.env.CI;
if (noBrowser)
  console.warn(`console browser tests skipped: no Chromium at ${chromiumPath} (set CHROMIUM_PATH, or apt-get install chromium)`);

/** Screenshots for the README, only when CONSOLE_SCREENSHOTS=1 (so an ordinary run never rewrites them). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.CONSOLE_SCREENSHOTS !== '1') return;
  await page.screenshot({ path: path.join(import.meta.dirname, '..', '..', 'docs', `${name}.png`), fullPage: true });
}

export interface ConsoleWorld {
  api: ApiHarness;
  browser: Browser;
  /** http://localhost:<port> */
  origin: string;
  /** A fresh browser context (its own cookies) with one page. */
  newPage(): Promise<{ context: BrowserContext; page: Page }>;
  /** Signs `who` in on `page` through the sign-in form. */
  signIn(page: Page, who: TestPrincipal): Promise<void>;
  close(): Promise<void>;
}

/** A port free right now, so that the passkeys' origin (which names it) is known before the app is built. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startConsoleWorld(): Promise<ConsoleWorld> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const api = await startApiHarness({ webauthn: { rpId: 'localhost', origin, rpName: 'Refund approvals (test)' } });
  await api.listen(port);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const contexts: BrowserContext[] = [];
  return {
    api,
    browser,
    origin,
    async newPage() {
      const context = await browser.newContext({ baseURL: origin, viewport: { width: 1280, height: 900 } });
      contexts.push(context);
      return { context, page: await context.newPage() };
    },
    async signIn(page, who) {
      await page.goto('/console/sign-in');
      await page.getByLabel('Principal id').fill(who.id);
      await page.getByLabel('API key').fill(who.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect
        .poll(() =>
          page
            .getByTestId('principal')
            .textContent()
            .catch(() => null),
        )
        .toBe(who.id);
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
      await api.close();
    },
  };
}

/** Polls the refund until it is in one of `states` with its timeline caught up. */
export async function until(api: ApiHarness, refundId: string, states: RefundState[], check: (r: RefundView) => boolean = () => true) {
  const { refundView } = await import('../../api/routes/shared');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const refund = await refundView(api.h.refunds, refundId);
    // A refund starts in awaiting_carrier with its request; every later state has its state_changed step.
    const recorded =
      refund.timeline.some((t) => t.kind === 'state_changed' && (t.data as { to?: string }).to === refund.state) ||
      (refund.state === 'awaiting_carrier' && refund.timeline.some((t) => t.kind === 'refund_requested'));
    if (states.includes(refund.state) && recorded && check(refund)) return refund;
    if (Date.now() > deadline) throw new Error(`refund ${refundId} is ${refund.state}, expected ${states.join(' or ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A refund whose parcel the carrier has scanned but not delivered: under the test policy it is
 * stuck in awaiting_carrier seconds later, and stays there (a scanned parcel never expires).
 */
export async function inTransit(api: ApiHarness, request: RefundRequest, stuck = false): Promise<RefundView> {
  await api.h.refunds.requestRefund(request);
  await api.h.carrierEvent(carrierEvent(request, 'in_transit'));
  return until(api, request.refundId, ['awaiting_carrier'], (r) => r.evidence.carrierEvents.length === 1 && (!stuck || r.stuck));
}

/** A refund with the carrier's delivery and a matching receipt by `scanner`: it waits for approval. */
export async function awaitingApproval(api: ApiHarness, request: RefundRequest, scanner: TestPrincipal): Promise<RefundView> {
  await api.h.refunds.requestRefund(request);
  await api.h.carrierEvent(carrierEvent(request, 'delivered', { weightGrams: 1_000 }));
  await until(api, request.refundId, ['awaiting_warehouse']);
  const scan = await api.call(
    'POST',
    `/v1/refunds/${request.refundId}/warehouse-scans`,
    scanner,
    api.scanBody(scanner, request.refundId, matchingReceipt(request)),
  );
  expect(scan.statusCode, scan.body).toBeLessThan(300);
  return until(api, request.refundId, ['awaiting_approval']);
}
