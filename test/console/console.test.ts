/**
 * The operations console in real Chromium: sign-in and its refusals, sessions that end when their
 * principal is revoked, CSRF refusals that change nothing, the refund page with its audit
 * timeline, the stuck dashboard after the (seconds-long) timers of the test policy run out, its
 * filters and CSV, cancel, audit verification and lifting a breaker, each landing on the audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokePrincipal, rotateApiKey } from '../../store/principals';
import type { TestPrincipal } from '../support/api-harness';
import { tripBreaker } from '../support/breakers';
import { refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';
import { awaitingApproval, type ConsoleWorld, inTransit, noBrowser, screenshot, startConsoleWorld, until } from './console-world';

let world: ConsoleWorld;
let ops: TestPrincipal;
let admin: TestPrincipal;
let approver: TestPrincipal;
let scanner: TestPrincipal;

describe.skipIf(noBrowser)('the operations console in Chromium', () => {
  beforeAll(async () => {
    world = await startConsoleWorld();
    [ops, admin, approver, scanner] = await Promise.all([
      world.api.principal('emp-ops', ['ops']),
      world.api.principal('emp-admin', ['admin']),
      world.api.principal('emp-approver', ['approver'], '5000.00'),
      world.api.principal('wh-scanner', ['warehouse']),
    ]);
  });
  afterAll(async () => world?.close());

  describe('signing in', () => {
    it('refuses a wrong key, and a right key under another principal id, with a clear message; opens a session otherwise', async () => {
      const { page, context } = await world.newPage();
      await page.goto('/console/');
      expect(new URL(page.url()).pathname).toBe('/console/sign-in');

      for (const [id, key] of [
        [ops.id, `rk_${'A'.repeat(43)}`],
        [ops.id, 'not-a-key'],
        [admin.id, ops.apiKey],
      ] as const) {
        await page.getByLabel('Principal id').fill(id);
        await page.getByLabel('API key').fill(key);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await expect.poll(() => page.getByRole('alert').textContent()).toContain('Sign-in refused');
        expect(await context.cookies()).not.toContainEqual(expect.objectContaining({ name: 'console_session' }));
      }

      await world.signIn(page, ops);
      const [session] = (await context.cookies()).filter((c) => c.name === 'console_session');
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console', secure: false });
      const headers = (await page.goto('/console/'))!.headers();
      expect(headers['content-security-policy']).toContain("script-src 'self'");
      expect(headers['cache-control']).toBe('no-store');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('You signed out');
      await page.goto('/console/stuck');
      expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    });

    it('refuses the sign-in form without its CSRF token', async () => {
      const { context } = await world.newPage();
      const response = await context.request.post('/console/sign-in', { form: { principalId: ops.id, apiKey: ops.apiKey } });
      expect(response.status()).toBe(403);
      expect(await response.text()).toContain('did not carry its CSRF token');
      expect(await context.cookies()).not.toContainEqual(expect.objectContaining({ name: 'console_session' }));
    });

    it('ends a session on its next request once its principal is revoked, or the key it signed in with is rotated', async () => {
      const [doomed, rotated] = await Promise.all([
        world.api.principal('emp-ops-doomed', ['ops']),
        world.api.principal('emp-ops-rotated', ['ops']),
      ]);
      for (const [who, end] of [
        [doomed, () => revokePrincipal(world.api.owner, doomed.id)],
        [rotated, () => rotateApiKey(world.api.owner, rotated.id)],
      ] as const) {
        const { page } = await world.newPage();
        await world.signIn(page, who);
        await page.goto('/console/stuck');
        expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Stuck refunds');
        await end();
        await page.goto('/console/stuck');
        expect(new URL(page.url()).pathname).toBe('/console/sign-in');
        expect(await page.getByRole('status').textContent()).toContain('revoked');
      }
    });

    it('keeps pages to their roles: an approver is refused the stuck dashboard and the audit page', async () => {
      const { page } = await world.newPage();
      await world.signIn(page, approver);
      for (const path of ['/console/stuck', '/console/audit', '/console/stuck.csv']) {
        const response = await page.request.get(path);
        expect(response.status(), path).toBe(403);
        expect(await response.text()).toContain('this page needs ops');
      }
    });
  });

  describe('a refund, the stuck dashboard and cancel', () => {
    it('shows the refund with its evidence, risk, approvals and audit timeline with actors', async () => {
      const request = refundOf(45_000);
      await awaitingApproval(world.api, request, scanner);
      const { page } = await world.newPage();
      await world.signIn(page, ops);
      await page.getByLabel('Open a refund').fill(request.refundId);
      await page.getByRole('button', { name: 'Open' }).click();
      await expect.poll(() => page.getByTestId('refund-id').textContent()).toBe(request.refundId);
      expect(await page.getByTestId('amount').textContent()).toBe('450.00 USD');
      expect(await page.getByTestId('carrier-events').textContent()).toContain('delivered');
      expect(await page.getByTestId('receipts').textContent()).toContain(scanner.id);
      expect(await page.getByTestId('risk-band').textContent()).toMatch(/low|medium/);
      expect(await page.getByTestId('approvals-needed').textContent()).toContain('1 still needed');
      const timeline = await page.getByTestId('timeline').textContent();
      for (const kind of ['refund_requested', 'carrier_event', 'warehouse_receipt', 'risk_assessed']) expect(timeline).toContain(kind);
      expect(timeline).toContain(`employee:${scanner.id}`);

      const missing = await page.request.get('/console/refunds/no-such-refund');
      expect(missing.status()).toBe(404);
    });

    it('lists refunds stuck after their timers ran out, with tallies, filters and CSV; ops cancels one with a reason on the audit trail', async () => {
      // Currencies no other test file uses: the database is shared, and the filters below must see only these two.
      const nok = refundOf(12_345, { currency: 'NOK' });
      const sek = refundOf(67_800, { currency: 'SEK' });
      // The test policy's carrier deadline is seconds long: wait until both are stuck.
      await Promise.all([inTransit(world.api, nok, true), inTransit(world.api, sek, true)]);

      const { page } = await world.newPage();
      await world.signIn(page, ops);
      await page.goto('/console/stuck');
      const list = page.getByTestId('stuck');
      expect(await list.textContent()).toContain(nok.refundId);
      expect(await list.textContent()).toContain(sek.refundId);
      expect(await page.getByTestId('by-state').textContent()).toContain('awaiting_carrier');
      expect(await page.getByTestId('by-waiting-for').textContent()).toMatch(/carrier/);
      await screenshot(page, 'console-dashboard');

      await page.getByLabel('Currency').fill('SEK');
      await page.getByLabel('State').selectOption('awaiting_carrier');
      await page.getByRole('button', { name: 'Filter' }).click();
      await expect.poll(() => page.getByTestId('stuck').textContent()).toContain(sek.refundId);
      expect(await page.getByTestId('stuck').textContent()).not.toContain(nok.refundId);
      expect(await page.getByTestId('by-state').textContent()).toContain('SEK');
      expect(await page.getByTestId('by-state').textContent()).not.toContain('NOK');

      await page.getByLabel('Amount at least').fill('678.01');
      await page.getByRole('button', { name: 'Filter' }).click();
      await expect.poll(() => page.locator('main').textContent()).toContain('No stuck refunds match');

      const csv = await page.request.get(`/console/stuck.csv?currency=NOK`);
      expect(csv.headers()['content-type']).toContain('text/csv');
      const lines = (await csv.text()).trim().split('\r\n');
      expect(lines[0]).toBe('refundId,state,waitingFor,since,stuckAfter,amount,currency,customerId,initiatedBy');
      expect(lines.find((l) => l.startsWith(`${nok.refundId},`))).toContain(',12345,NOK,');
      expect(lines.some((l) => l.includes(sek.refundId))).toBe(false);

      const bad = await page.request.get('/console/stuck?olderThan=yesterday');
      expect(bad.status()).toBe(422);
      expect(await bad.text()).toContain('ISO 8601 duration');
      const noCurrency = await page.request.get('/console/stuck?minAmount=10.00');
      expect(noCurrency.status()).toBe(422);
      expect(await noCurrency.text()).toContain('needs a currency');

      // Cancel from the refund page.
      await page.goto('/console/stuck');
      await page.getByRole('link', { name: nok.refundId }).click();
      await expect.poll(() => page.getByTestId('refund-id').textContent()).toBe(nok.refundId);
      await page.getByTestId('cancel-form').getByLabel('Reason').fill('customer withdrew the return');
      await page.getByRole('button', { name: 'Cancel the refund' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('cancelled');
      const cancelled = await until(world.api, nok.refundId, ['cancelled']);
      expect(cancelled.outcome).toMatchObject({ by: ops.id });
      expect(cancelled.timeline.at(-1)).toMatchObject({
        kind: 'state_changed',
        data: { to: 'cancelled', outcome: { code: 'cancelled', by: ops.id, message: 'customer withdrew the return' } },
      });
      await page.reload();
      expect(await page.getByTestId('state').textContent()).toBe('cancelled');
      expect(await page.getByTestId('timeline').textContent()).toContain(ops.id);
      expect(await page.getByTestId('cancel-form').count()).toBe(0);
    });

    it('escalates, extends a deadline and asks the carrier again, each with its reason and author on the audit trail; refusals say why', async () => {
      const request = refundOf(23_456);
      await inTransit(world.api, request, true);
      const { page } = await world.newPage();
      await world.signIn(page, ops);
      await page.goto(`/console/refunds/${request.refundId}`);

      const escalate = page.getByTestId('escalate-form');
      await escalate.getByLabel('Approver group').fill('finance-leads');
      await escalate.getByLabel('Reason').fill('parcel lost in transit for days');
      await escalate.getByRole('button', { name: 'Escalate' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('handed to the approver group');
      expect(await page.getByTestId('escalations').textContent()).toContain(`to finance-leads by ${ops.id}`);

      const extend = page.getByTestId('extend-form');
      await extend.getByLabel('Extend by').fill('P30D');
      await extend.getByLabel('Reason').fill('too long');
      await extend.getByRole('button', { name: 'Extend the deadline' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('rule extension_cap_exceeded');
      await page.getByTestId('extend-form').getByLabel('Extend by').fill('PT4H');
      await page.getByTestId('extend-form').getByLabel('Reason').fill('carrier promised delivery today');
      await page.getByTestId('extend-form').getByRole('button', { name: 'Extend the deadline' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('deadline was extended');
      expect(await page.getByTestId('extensions').textContent()).toContain('PT4H');

      const nudge = page.getByTestId('nudge-form');
      await nudge.getByLabel('Reason').fill('please confirm where the parcel is');
      await nudge.getByRole('button', { name: 'Ask the carrier again' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('request for evidence was recorded');
      expect(await page.getByTestId('nudges').textContent()).toContain('please confirm where the parcel is');

      const trail = await world.api.h.refunds.auditTrail(request.refundId);
      const byKind = (kind: string) => trail.filter((row) => row.kind === kind);
      expect(byKind('escalated').at(-1)).toMatchObject({
        actor: `employee:${ops.id}`,
        data: { group: 'finance-leads', reason: 'parcel lost in transit for days' },
      });
      expect(byKind('deadline_extended')).toHaveLength(1);
      expect(byKind('deadline_extended')[0]).toMatchObject({
        actor: `employee:${ops.id}`,
        data: { extension: 'PT4H', reason: 'carrier promised delivery today' },
      });
      expect(byKind('evidence_requested')[0]).toMatchObject({ actor: `employee:${ops.id}`, data: { party: 'carrier' } });
      expect(await page.getByTestId('timeline').textContent()).toContain('evidence_requested');
      const refund = await world.api.h.refunds.getRefund(request.refundId);
      expect(refund.stuck).toBe(false);

      // A reason is required, whatever the browser lets through.
      const csrf = await page.locator('input[name=_csrf]').first().inputValue();
      const blank = await page.request.post(`/console/refunds/${request.refundId}/escalate`, {
        form: { _csrf: csrf, group: 'x', reason: '' },
      });
      expect(blank.status()).toBe(422);
      expect((await world.api.h.refunds.auditTrail(request.refundId)).filter((row) => row.kind === 'escalated')).toHaveLength(
        byKind('escalated').length,
      );
    });

    it('refuses a cancel without a reason, and a cancel by someone without the ops role', async () => {
      const request = refundOf(4_000);
      await inTransit(world.api, request);
      const { page } = await world.newPage();
      await world.signIn(page, ops);
      await page.goto(`/console/refunds/${request.refundId}`);
      const csrf = await page.locator('input[name=_csrf]').first().inputValue();
      const blank = await page.request.post(`/console/refunds/${request.refundId}/cancel`, { form: { _csrf: csrf, reason: '   ' } });
      expect(blank.status()).toBe(422);
      expect(await blank.text()).toContain('needs a reason');

      const other = await world.newPage();
      await world.signIn(other.page, approver);
      await other.page.goto(`/console/refunds/${request.refundId}`);
      expect(await other.page.getByTestId('cancel-form').count()).toBe(0);
      const approverCsrf = await other.page.locator('input[name=_csrf]').first().inputValue();
      const refused = await other.page.request.post(`/console/refunds/${request.refundId}/cancel`, {
        form: { _csrf: approverCsrf, reason: 'not mine to cancel' },
      });
      expect(refused.status()).toBe(403);
      expect((await world.api.h.refunds.getRefund(request.refundId)).state).toBe('awaiting_carrier');
    });
  });

  describe('CSRF', () => {
    it('refuses a POST with a missing, wrong or another session’s token, or from another origin, and changes nothing', async () => {
      const request = refundOf(4_100);
      await inTransit(world.api, request);
      const mine = await world.newPage();
      const theirs = await world.newPage();
      await world.signIn(mine.page, ops);
      await world.signIn(theirs.page, ops);
      await theirs.page.goto('/console/');
      const otherToken = await theirs.page.locator('input[name=_csrf]').first().inputValue();
      await mine.page.goto(`/console/refunds/${request.refundId}`);
      const token = await mine.page.locator('input[name=_csrf]').first().inputValue();
      expect(token).not.toBe(otherToken);

      const url = `/console/refunds/${request.refundId}/cancel`;
      for (const form of <Array<Record<string, string>>>[
        { reason: 'no token' },
        { reason: 'wrong token', _csrf: 'A'.repeat(43) },
        { reason: 'other session', _csrf: otherToken },
      ]) {
        const response = await mine.page.request.post(url, { form });
        expect(response.status(), form.reason).toBe(403);
        expect(await response.text()).toContain('Nothing was changed');
      }
      const crossSite = await mine.page.request.post(url, {
        form: { reason: 'cross site', _csrf: token },
        headers: { origin: 'http://evil.example' },
      });
      expect(crossSite.status()).toBe(403);

      // A real cross-site form in the browser: the strict cookie is not even sent, so it lands on sign-in.
      const audit = await mine.page.request.post('/console/audit/verify', { form: { _csrf: '' } });
      expect(audit.status()).toBe(403);

      const refund = await world.api.h.refunds.getRefund(request.refundId);
      expect(refund.state).toBe('awaiting_carrier');
      expect(refund.outcome).toBeNull();
      const trail = await world.api.h.refunds.auditTrail(request.refundId);
      expect(trail.map((row) => row.kind)).not.toContain('cancelled');
    });
  });

  describe('audit and breakers', () => {
    it('ops runs an audit verification; the page shows who ran it and the result', async () => {
      const { page } = await world.newPage();
      await world.signIn(page, ops);
      await page.goto('/console/audit');
      await page.getByRole('button', { name: 'Verify the audit trail now' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('Audit verification finished');
      const last = await page.getByTestId('last-verification').textContent();
      expect(last).toContain('Verified: nothing found');
      expect(last).toContain(ops.id);
    });

    it('an admin lifts a tripped breaker with a reason; ops may only look', async () => {
      const employee = uniqueId('emp-agent');
      await tripBreaker(world.api.h.pool, employee, 'initiator');

      const looking = await world.newPage();
      await world.signIn(looking.page, ops);
      await looking.page.goto(`/console/breakers?employeeId=${employee}`);
      expect(await looking.page.getByTestId('breakers').textContent()).toContain('TRIPPED');
      expect(await looking.page.getByRole('button', { name: 'Lift the breaker' }).count()).toBe(0);

      const { page } = await world.newPage();
      await world.signIn(page, admin);
      await page.goto(`/console/breakers?employeeId=${employee}`);
      await page.getByLabel('Reason for lifting').fill('reviewed with the team lead');
      await page.getByRole('button', { name: 'Lift the breaker' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('lifted');
      expect(await page.getByTestId('breakers').textContent()).toContain(admin.id);
      const trail = await world.api.h.refunds.employeeAuditTrail(employee);
      expect(trail.at(-1)).toMatchObject({ kind: 'breaker_lifted', actor: `employee:${admin.id}` });
    });
  });
});
