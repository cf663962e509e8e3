/**
 * Approvers in the console, in real Chromium: the inbox shows each approver the refunds they may
 * decide (never to the refund's requester or its scanner), and an approver registers a passkey in a
 * CDP virtual authenticator, has two admins endorse it (through the API), approves a refund with it
 * until it is paid, and is refused, with the rule, when deciding the same refund twice.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPrincipal } from '../../store/principals';
import { endorseEntry, type RegistryEntry } from '../../workflows/statements';
import type { TestPrincipal } from '../support/api-harness';
import { refundOf } from '../support/fixtures';
import type { Admin } from '../support/registry-world';
import { awaitingApproval, type ConsoleWorld, noBrowser, screenshot, startConsoleWorld, until } from './console-world';

let world: ConsoleWorld;
let admins: Array<Admin & TestPrincipal>;
let requester: TestPrincipal;
let scanner: TestPrincipal;
let approver: TestPrincipal;
let other: TestPrincipal;

/** A virtual platform authenticator with user verification, as a laptop's fingerprint reader. */
async function virtualAuthenticator(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
}

async function endorse(entry: RegistryEntry, admin: Admin & TestPrincipal): Promise<void> {
  const response = await world.api.call(
    'POST',
    `/v1/principals/${entry.principalId}/registry-entries/${entry.version}/endorsements`,
    admin,
    endorseEntry(entry, admin),
  );
  expect(response.statusCode, response.body).toBe(201);
}

const inboxIds = async (page: Page) =>
  page.getByTestId('inbox-item').evaluateAll((items) => items.map((i) => i.getAttribute('data-refund-id')));

describe.skipIf(noBrowser)('approvers in the console, in Chromium', () => {
  beforeAll(async () => {
    world = await startConsoleWorld();
    admins = await Promise.all(
      world.api.h.registry.admins.map(async (admin) => {
        const { apiKey } = await addPrincipal(world.api.owner, { id: admin.adminId, roles: ['admin'] });
        return { ...admin, id: admin.adminId, apiKey };
      }),
    );
    [requester, scanner, approver, other] = await Promise.all([
      world.api.principal('emp-requester', ['approver'], '5000.00'),
      world.api.principal('wh-scanner', ['warehouse', 'approver'], '5000.00'),
      world.api.principal('emp-approver', ['approver'], '5000.00'),
      world.api.principal('emp-approver-other', ['approver'], '5000.00'),
    ]);
  });
  afterAll(async () => world?.close());

  it("shows a refund in the inbox of the approvers who may decide it, with its evidence and risk; never in its requester's or scanner's", async () => {
    const request = refundOf(150_000, { initiatedBy: requester.id });
    await awaitingApproval(world.api, request, scanner);

    const { page } = await world.newPage();
    await world.signIn(page, approver);
    await page.locator('header nav').getByRole('link', { name: 'Approvals inbox' }).click();
    await expect.poll(() => inboxIds(page)).toContain(request.refundId);
    const item = page.locator(`[data-testid="inbox-item"][data-refund-id="${request.refundId}"]`);
    const text = await item.textContent();
    expect(text).toContain('1500.00 USD');
    expect(text).toContain(request.customerId);
    expect(text).toContain('delivered');
    expect(text).toContain(`by ${scanner.id}`);
    expect(text).toMatch(/low|medium|high/);
    expect(await item.getByTestId('inbox-approvals').textContent()).toContain('0 of 2 approvals');
    await screenshot(page, 'console-inbox');

    for (const who of [requester, scanner]) {
      const session = await world.newPage();
      await world.signIn(session.page, who);
      await session.page.goto('/console/inbox');
      expect(await session.page.getByRole('heading', { level: 1 }).textContent()).toBe('Approvals inbox');
      expect(await inboxIds(session.page), who.id).not.toContain(request.refundId);
    }
  });

  it('registers a passkey, which counts once two admins endorse it; approves with it until paid; a second decision is refused with the rule', async () => {
    const { page } = await world.newPage();
    await virtualAuthenticator(page);
    await world.signIn(page, approver);
    await page.goto('/console/passkeys');
    await page.getByTestId('register-passkey').click();
    await expect.poll(() => page.getByTestId('register-result').textContent()).toContain('registered in your registry entry version 2');

    const registry = await world.api.call('GET', `/v1/principals/${approver.id}/registry`, admins[0]);
    expect(registry.statusCode, registry.body).toBe(200);
    const entries = (JSON.parse(registry.body) as { entries: Array<{ entry: RegistryEntry }> }).entries;
    const proposed = entries.map((e) => e.entry).find((entry) => entry.version === 2)!;
    expect(proposed.keys.some((key) => key.alg === 'webauthn-es256')).toBe(true);

    // Before the endorsements, the passkey does not count: no challenge is issued for it.
    const small = refundOf(45_000);
    await awaitingApproval(world.api, small, scanner);
    await page.goto(`/console/refunds/${small.refundId}`);
    await page.getByRole('button', { name: 'Approve with passkey' }).click();
    await expect.poll(() => page.getByTestId('decide-result').textContent()).toContain('Not counted');
    expect((await world.api.h.refunds.getRefund(small.refundId)).approvals).toEqual([]);

    await endorse(proposed, admins[0]!);
    await endorse(proposed, admins[1]!);

    // One approval pays the small refund.
    await page.goto('/console/inbox');
    const item = page.locator(`[data-testid="inbox-item"][data-refund-id="${small.refundId}"]`);
    await item.getByLabel('Reason (optional)').fill('headphones checked');
    await item.getByRole('button', { name: 'Approve with passkey' }).click();
    await expect
      .poll(() =>
        page
          .getByRole('status')
          .textContent()
          .catch(() => ''),
      )
      .toContain('signed with your passkey, was counted');
    const paid = await until(world.api, small.refundId, ['refunded']);
    expect(paid.approvals).toEqual([
      expect.objectContaining({ approverId: approver.id, decision: 'approve', reason: 'headphones checked' }),
    ]);
    expect(paid.payout).not.toBeNull();
    await page.reload();
    expect(await page.getByTestId('state').textContent()).toBe('refunded');

    // A refund that needs two: the same approver counts once.
    const large = refundOf(150_000);
    await awaitingApproval(world.api, large, scanner);
    await page.goto(`/console/refunds/${large.refundId}`);
    await page.getByRole('button', { name: 'Approve with passkey' }).click();
    await expect
      .poll(() =>
        page
          .getByRole('status')
          .textContent()
          .catch(() => ''),
      )
      .toContain('was counted');
    expect(await page.getByTestId('approvals-needed').textContent()).toContain('1 still needed');
    await screenshot(page, 'console-refund');
    await page.getByRole('button', { name: 'Approve with passkey' }).click();
    await expect.poll(() => page.getByTestId('decide-result').textContent()).toContain('rule approver_already_decided');
    const refund = await world.api.h.refunds.getRefund(large.refundId);
    expect(refund.approvals.map((a) => a.approverId)).toEqual([approver.id]);
    expect(refund.state).toBe('awaiting_approval');

    // It has left this approver's inbox, and stays in another's.
    await page.goto('/console/inbox');
    expect(await inboxIds(page)).not.toContain(large.refundId);
    const second = await world.newPage();
    await world.signIn(second.page, other);
    await second.page.goto('/console/inbox');
    expect(await inboxIds(second.page)).toContain(large.refundId);
  });
});
