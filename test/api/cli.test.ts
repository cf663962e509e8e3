/**
 * The real binaries as child processes: `refunds-admin` managing principals in the test database,
 * and `refunds` for a carrier's, an approver's and an operations analyst's commands against the API
 * listening on a port. Exit codes are part of the contract scripts rely on.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSigningKeyFile } from '../../client/cli/signing-key';
import { authenticate } from '../../store/principals';
import { registryRecords } from '../../store/registry';
import type { RefundRequest } from '../../workflows/schemas';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { tripBreaker } from '../support/breakers';
import { carrierEvent, matchingReceipt, refundOf, tracking } from '../support/fixtures';
import { testStack, uniqueId } from '../support/stack';

const refundsBin = fileURLToPath(new URL('../../client/cli/refunds.mjs', import.meta.url));
const refundsAdminBin = fileURLToPath(new URL('../../store/refunds-admin.mjs', import.meta.url));

let api: ApiHarness;
let baseUrl: string;
/** Key files (signing keys, admin keys), mode 0600, as their owners keep them. */
const keysDir = mkdtempSync(path.join(os.tmpdir(), 'refunds-keys-'));

/** Writes `who`'s signing key to a key file and returns its path, for REFUNDS_SIGNING_KEY. */
async function keyFileOf(who: { principalId: string; keyId: string; secretKey: Uint8Array }): Promise<string> {
  const file = path.join(keysDir, `${who.principalId}.${uniqueId('key')}.json`);
  await writeSigningKeyFile(file, who);
  return file;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin <args>` with only the environment given (plus PATH), as a script would. */
function runBin(bin: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const refunds = (args: string[], env: Record<string, string> = {}) => runBin(refundsBin, args, { REFUNDS_API_URL: baseUrl, ...env });
const refundsAdmin = (args: string[], env: Record<string, string> = {}) => runBin(refundsAdminBin, args, env);

beforeAll(async () => {
  api = await startApiHarness();
  baseUrl = await api.listen();
});
afterAll(async () => {
  await api?.close();
  rmSync(keysDir, { recursive: true, force: true });
});

describe('refunds-admin principal', () => {
  // refunds-admin writes principals: it connects as the schema owner, never as the service role.
  const db = () => ({ DATABASE_URL: testStack().ownerDatabaseUrl });

  it('adds a principal and prints its key once as JSON; the key authenticates', async () => {
    const id = uniqueId('emp-approver');
    const keyFile = path.join(keysDir, `${id}.json`);
    const added = await refundsAdmin(
      ['principal', 'add', id, '--role', 'approver', '--role', 'ops', '--approval-limit', '1000.00', '--key-file', keyFile, '--json'],
      db(),
    );
    expect(added.code, added.stderr).toBe(0);
    const output = JSON.parse(added.stdout) as { id: string; apiKey: string };
    expect(output).toMatchObject({
      id,
      apiKey: expect.stringMatching(/^rk_[A-Za-z0-9_-]{43}$/),
      roles: ['approver', 'ops'],
      approvalLimit: '1000.00',
      keyId: `${id}.k1`,
      keyFile,
      registryEntry: { principalId: id, version: 1, approvalLimits: { USD: 100_000, EUR: 100_000, GBP: 100_000 } },
    });
    // The signing key: readable by its owner only, and not in the database.
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const secret = (JSON.parse(readFileSync(keyFile, 'utf8')) as { secretKey: string }).secretKey;
    expect(JSON.stringify(await registryRecords(api.h.pool, id))).not.toContain(secret);
    expect(await authenticate(api.h.pool, output.apiKey)).toMatchObject({ id, roles: ['approver', 'ops'] });
    // Only the hash is stored.
    const stored = await api.h.pool.query('SELECT key_hash FROM api_keys WHERE principal_id = $1', [id]);
    expect(stored.rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored.rows)).not.toContain(output.apiKey);

    const again = await refundsAdmin(['principal', 'add', id, '--role', 'ops', '--key-file', path.join(keysDir, `${id}.again.json`)], db());
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('already exists');

    const list = await refundsAdmin(['principal', 'list', '--json'], db());
    expect(JSON.parse(list.stdout).principals).toContainEqual(expect.objectContaining({ id, activeKeys: 1, revokedAt: null }));

    const revoked = await refundsAdmin(['principal', 'revoke', id], db());
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await authenticate(api.h.pool, output.apiKey)).toBeUndefined();
    expect((await refundsAdmin(['principal', 'revoke', uniqueId('nobody')], db())).code).toBe(4);
  });

  it('registers an approver whose decisions count once two trust-root admins have endorsed the entry', async () => {
    const id = uniqueId('emp-approver');
    const keyFile = path.join(keysDir, `${id}.json`);
    const added = await refundsAdmin(
      ['principal', 'add', id, '--role', 'approver', '--approval-limit', '5000.00', '--key-file', keyFile, '--json'],
      db(),
    );
    expect(added.code, added.stderr).toBe(0);
    const { apiKey } = JSON.parse(added.stdout) as { apiKey: string };
    const request = refundOf(45_000);
    await api.h.refunds.requestRefund(request);
    await api.h.carrierEvent(carrierEvent(request, 'delivered'));
    await api.h.scan(request.refundId, matchingReceipt(request), uniqueId('emp-scanner'));
    await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
    const approve = () => refunds(['approve', request.refundId, '--json'], { REFUNDS_API_KEY: apiKey, REFUNDS_SIGNING_KEY: keyFile });

    // Not endorsed yet, then endorsed by one admin: refused.
    expect((await approve()).stderr).toContain('entry_not_endorsed');
    const [first, second] = api.h.registry.admins;
    const adminKey = async (admin: typeof first) =>
      keyFileOf({ principalId: admin!.adminId, keyId: admin!.keyId, secretKey: admin!.secretKey });
    const endorsed = await refundsAdmin(['principal', 'endorse', id, '--admin-key', await adminKey(first), '--json'], db());
    expect(endorsed.code, endorsed.stderr).toBe(0);
    expect(JSON.parse(endorsed.stdout).endorsements).toHaveLength(1);
    const refused = await approve();
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('entry_not_endorsed');

    // The second admin's endorsement makes it count.
    expect((await refundsAdmin(['principal', 'endorse', id, '--admin-key', await adminKey(second)], db())).code).toBe(0);
    const approved = await approve();
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout).approvals).toEqual([expect.objectContaining({ approverId: id, decision: 'approve' })]);

    expect((await refundsAdmin(['principal', 'endorse', uniqueId('nobody'), '--admin-key', await adminKey(first)], db())).code).toBe(4);
  });

  it('refuses a signing key file others may read', async () => {
    const file = path.join(keysDir, `${uniqueId('loose')}.json`);
    await writeSigningKeyFile(file, { principalId: 'emp-x', keyId: 'emp-x.k1', secretKey: new Uint8Array(32).fill(3) });
    chmodSync(file, 0o644);
    const result = await refunds(['approve', 'r-1'], { REFUNDS_API_KEY: `rk_${'B'.repeat(43)}`, REFUNDS_SIGNING_KEY: file });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('chmod 600');
  });

  it('refuses bad input with exit code 2, naming what is wrong', async () => {
    const noLimit = await refundsAdmin(['principal', 'add', uniqueId('emp'), '--role', 'approver'], db());
    expect(noLimit.code).toBe(2);
    expect(noLimit.stderr).toContain('approvalLimit: an approver needs an approval limit');
    const badRole = await refundsAdmin(['principal', 'add', uniqueId('emp'), '--role', 'superuser'], db());
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('superuser');
    const badLimit = await refundsAdmin(['principal', 'add', uniqueId('emp'), '--role', 'approver', '--approval-limit', '1,000'], db());
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('approvalLimit');
  });
});

describe('a carrier reporting a parcel', () => {
  it('signs with the key in CARRIER_KEY_ID and CARRIER_WEBHOOK_SECRET for the carrier of --carrier', async () => {
    const request = refundOf(4_500);
    await api.h.refunds.requestRefund(request);
    const ups = api.carrierKey('ups');
    const args = ['carrier-event', '--carrier', 'ups', '--tracking', tracking(request).trackingNumber, '--status', 'in_transit', '--json'];
    const sent = await refunds(args, { CARRIER_KEY_ID: ups.keyId, CARRIER_WEBHOOK_SECRET: ups.secret });
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ refundIds: [request.refundId], finishedRefundIds: [], pending: false });

    const missing = await refunds(args, { CARRIER_WEBHOOK_SECRET: ups.secret });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('CARRIER_KEY_ID must be set to sign carrier events');

    // dhl's key cannot report for ups, whichever carrier the command is told it signs for.
    const dhl = api.carrierKey('dhl');
    const posing = await refunds(args, { CARRIER_KEY_ID: dhl.keyId, CARRIER_WEBHOOK_SECRET: dhl.secret });
    expect(posing.code).toBe(5);
    expect(JSON.parse(posing.stderr).error).toMatchObject({
      type: '/problems/invalid-signature',
      detail: `key ${dhl.keyId} belongs to another carrier; an event for ups must be signed with a key of ups`,
    });
    expect((await api.h.refunds.getRefund(request.refundId)).evidence.carrierEvents.map((e) => e.status)).toEqual(['in_transit']);
  });
});

describe('a carrier event before its refund', () => {
  it('is reported as stored and pending, and listed by `refunds carrier-events` for operations', async () => {
    const request = refundOf(4_500);
    const ups = api.carrierKey('ups');
    const eventId = uniqueId('cli-early');
    const sent = await refunds(
      ['carrier-event', '--carrier', 'ups', '--tracking', tracking(request).trackingNumber, '--status', 'delivered', '--event-id', eventId],
      { CARRIER_KEY_ID: ups.keyId, CARRIER_WEBHOOK_SECRET: ups.secret },
    );
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain(`Event ${eventId} stored; no refund waits for this parcel yet`);

    const ops = await api.principal('emp-ops', ['ops']);
    const listedPending = await refunds(['carrier-events', '--limit', '1000', '--json'], { REFUNDS_API_KEY: ops.apiKey });
    expect(listedPending.code, listedPending.stderr).toBe(0);
    const { events } = JSON.parse(listedPending.stdout) as { events: Array<{ eventId: string; status: string; deliveredAt: null }> };
    expect(events.find((e) => e.eventId === eventId)).toMatchObject({ status: 'delivered', deliveredAt: null });
    const table = await refunds(['carrier-events', '--limit', '1000'], { REFUNDS_API_KEY: ops.apiKey });
    expect(table.stdout).toMatch(new RegExp(`ups\\s+${eventId}\\s+${tracking(request).trackingNumber}\\s+delivered`));
  });
});

describe('a refund service at work', () => {
  it('requests a refund signed with its key (REFUNDS_SIGNING_KEY); the workflow verifies it is the service', async () => {
    const service = await api.principal('svc-cli', ['refund_service']);
    const request = refundOf(4_500);
    const file = path.join(keysDir, `${request.refundId}.json`);
    writeFileSync(file, JSON.stringify(request));
    const env = { REFUNDS_API_KEY: service.apiKey, REFUNDS_SIGNING_KEY: await keyFileOf(service.signingKey!) };
    const requested = await refunds(['request', file, '--json'], env);
    expect(requested.code, requested.stderr).toBe(0);
    expect(JSON.parse(requested.stdout)).toMatchObject({
      created: true,
      refund: { refundId: request.refundId, state: 'awaiting_carrier', requestedBy: service.id },
    });
    // Signed again on a retry: the same refund.
    const again = await refunds(['request', file, '--json'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, refund: { refundId: request.refundId } });
  });

  it('refuses to request a refund without a signing key, with exit code 2, and starts nothing', async () => {
    const service = await api.principal('svc-cli', ['refund_service']);
    const request = refundOf(4_500);
    const file = path.join(keysDir, `${request.refundId}.json`);
    writeFileSync(file, JSON.stringify(request));
    const refused = await refunds(['request', file], { REFUNDS_API_KEY: service.apiKey });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('REFUNDS_SIGNING_KEY');
    expect(await api.h.refunds.getRefundRow(request.refundId)).toBeUndefined();
  });
});

describe('a scanner, an approver and an operations analyst at work', () => {
  let request: RefundRequest;
  let approver: TestPrincipal;
  let requester: TestPrincipal;
  let ops: TestPrincipal;
  let scanner: TestPrincipal;
  const as = async (who: TestPrincipal) => ({ REFUNDS_API_KEY: who.apiKey, REFUNDS_SIGNING_KEY: await keyFileOf(who.signingKey!) });

  beforeAll(async () => {
    [approver, requester, ops, scanner] = await Promise.all([
      api.principal('emp-approver', ['approver'], '1000.00'),
      api.principal('emp-requester', ['approver'], '1000.00'),
      api.principal('emp-ops', ['ops']),
      api.principal('wh-scanner', ['warehouse']),
    ]);
    request = refundOf(45_000, { initiatedBy: requester.id });
    await api.h.refunds.requestRefund(request);
    await api.h.carrierEvent(carrierEvent(request, 'delivered'));
    await api.h.refunds.waitForState(request.refundId, ['awaiting_warehouse']);
    const scan = ['scan', request.refundId, '--warehouse', 'wh-1', '--weight', '1000', '--item', 'ITEM-1 used'];
    // Without a signing key nothing is sent; with another principal's key the API refuses it.
    const unsigned = await refunds(scan, { REFUNDS_API_KEY: scanner.apiKey });
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toContain('REFUNDS_SIGNING_KEY');
    const borrowed = await refunds(scan, { ...(await as(scanner)), REFUNDS_SIGNING_KEY: await keyFileOf(approver.signingKey!) });
    expect(borrowed.code).toBe(3);
    expect(borrowed.stderr).toContain('rule: unknown_key');
    const scanned = await refunds(scan, await as(scanner));
    expect(scanned.code, scanned.stderr).toBe(0);
    await api.h.refunds.waitForState(request.refundId, ['awaiting_approval']);
  });

  it('shows a refund as a readable summary with its timeline', async () => {
    const shown = await refunds(['show', request.refundId], { REFUNDS_API_KEY: ops.apiKey });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`Refund ${request.refundId}`);
    expect(shown.stdout).toMatch(/state\s+awaiting_approval/);
    expect(shown.stdout).toMatch(/amount\s+450\.00 USD/);
    expect(shown.stdout).toMatch(/waiting for\s+1 more approval/);
    expect(shown.stdout).toMatch(new RegExp(`warehouse_receipt\\s+employee:${scanner.id}`));
    expect(shown.stdout).toMatch(/audit head\s+step \d+, [0-9a-f]{16}…/);
  });

  it('refuses the requester as approver with exit code 3 and the rule', async () => {
    const refused = await refunds(['approve', request.refundId], await as(requester));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('rule: approver_is_requester');
  });

  it('approves as the caller, and prints JSON for scripts', async () => {
    const approved = await refunds(['approve', request.refundId, '--reason', 'receipt matches', '--json'], await as(approver));
    expect(approved.code, approved.stderr).toBe(0);
    const refund = JSON.parse(approved.stdout);
    expect(['paying', 'refunded']).toContain(refund.state);
    expect(refund.approvals).toEqual([
      expect.objectContaining({ approverId: approver.id, decision: 'approve', reason: 'receipt matches' }),
    ]);
    // The decision's answer carries the head of the write that recorded it.
    expect(refund.auditHead).toEqual({ refundSeq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(refund.auditHead.refundSeq).toBeLessThanOrEqual(refund.timeline.length);
  });

  it('lists stuck refunds and verifies the audit trail for operations', async () => {
    const stuck = await refunds(['stuck', '--older-than', 'PT0S', '--state', 'awaiting_approval', '--json'], {
      REFUNDS_API_KEY: ops.apiKey,
    });
    expect(stuck.code, stuck.stderr).toBe(0);
    expect(JSON.parse(stuck.stdout)).toHaveProperty('refunds');
    const audit = await refunds(['audit', 'verify'], { REFUNDS_API_KEY: ops.apiKey });
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/^Audit trail verified: \d+ rows/);
  });

  it.each([
    ['an unknown refund', ['show', 'r-no-such-refund'], 'ops', 4],
    ['no API key', ['show', 'r-no-such-refund'], undefined, 5],
    ['a revoked-looking key', ['show', 'r-no-such-refund'], 'bogus', 5],
    ['a role the command needs', ['stuck'], 'approver', 3],
    ['a malformed duration', ['stuck', '--older-than', 'two hours'], 'ops', 2],
    ['an unknown command', ['refund-everything'], 'ops', 2],
    ['principal list (refunds-admin has it; refunds has the registry commands)', ['principal', 'list'], 'ops', 2],
    ['a missing option', ['reject', 'r-1'], 'approver', 2],
  ] as const)('exits with its code for %s', async (_what, args, who, code) => {
    const key = who === 'ops' ? ops.apiKey : who === 'approver' ? approver.apiKey : who === 'bogus' ? `rk_${'B'.repeat(43)}` : undefined;
    const result = await refunds([...args], key ? { REFUNDS_API_KEY: key } : {});
    expect(result.code, result.stderr).toBe(code);
  });
});

describe('an admin and operations on circuit breakers', () => {
  it('lists a tripped breaker and the alert, lifts it as the admin, and exits 3 when there is nothing to lift or the caller may not', async () => {
    const employee = uniqueId('emp-agent');
    const [admin, ops] = await Promise.all([api.principal('emp-admin', ['admin']), api.principal('emp-ops', ['ops'])]);
    const breaker = await tripBreaker(api.h.pool, employee, 'initiator');

    const listed = await refunds(['breaker', 'list', employee], { REFUNDS_API_KEY: ops.apiKey });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/tripped\s+as\s+limit crossed/);
    expect(listed.stdout).toMatch(/initiator\s+3 refunds initiated in 24 hours \(limit 2\).*TRIPPED/);
    const alerts = await refunds(['alerts', '--limit', '1000', '--json'], { REFUNDS_API_KEY: ops.apiKey });
    expect(alerts.code, alerts.stderr).toBe(0);
    expect((JSON.parse(alerts.stdout).alerts as Array<{ employeeId: string }>).filter((a) => a.employeeId === employee)).toHaveLength(1);

    const byOps = await refunds(['breaker', 'lift', employee, '--reason', 'looks fine'], { REFUNDS_API_KEY: ops.apiKey });
    expect(byOps.code).toBe(3);
    const noReason = await refunds(['breaker', 'lift', employee], { REFUNDS_API_KEY: admin.apiKey });
    expect(noReason.code).toBe(2);

    const lifted = await refunds(['breaker', 'lift', employee, '--reason', 'checked with the team lead', '--json'], {
      REFUNDS_API_KEY: admin.apiKey,
    });
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(JSON.parse(lifted.stdout)).toMatchObject({
      id: breaker.id,
      employeeId: employee,
      liftedBy: admin.id,
      liftReason: 'checked with the team lead',
    });

    const again = await refunds(['breaker', 'lift', employee, '--reason', 'again', '--json'], { REFUNDS_API_KEY: admin.apiKey });
    expect(again.code).toBe(3);
    expect(JSON.parse(again.stderr).error).toMatchObject({ type: '/problems/breaker-not-tripped', status: 409 });
    const history = await refunds(['breaker', 'list', employee, '--json'], { REFUNDS_API_KEY: admin.apiKey });
    expect(JSON.parse(history.stdout).breakers).toEqual([expect.objectContaining({ id: breaker.id, liftedBy: admin.id })]);
  });
});
