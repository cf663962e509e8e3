/**
 * The `refunds` CLI's operations commands against the real stack over HTTP (through the typed
 * client): list, inbox, escalate, extend, nudge, stuck --csv, stuck-summary and alerts ack, with
 * their refusals' exit codes.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefundView } from '../../client/views';
import type { RefundList } from '../../client/ops-views';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { carrierEvent, refundOf } from '../support/fixtures';
import { uniqueId } from '../support/stack';

const refundsBin = fileURLToPath(new URL('../../client/cli/refunds.mjs', import.meta.url));

let api: ApiHarness;
let baseUrl: string;
let service: TestPrincipal;
let ops: TestPrincipal;
let approver: TestPrincipal;

beforeAll(async () => {
  api = await startApiHarness();
  baseUrl = await api.listen();
  [service, ops, approver] = await Promise.all([
    api.principal('svc-cli-ops', ['refund_service']),
    api.principal('emp-cli-ops', ['ops']),
    api.principal('emp-cli-approver', ['approver'], '100000.00'),
  ]);
});
afterAll(async () => api?.close());

function refunds(args: string[], who: TestPrincipal): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      refundsBin,
      args,
      { env: { PATH: process.env.PATH ?? '', REFUNDS_API_URL: baseUrl, REFUNDS_API_KEY: who.apiKey }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('refunds operations commands', () => {
  it('lists, escalates, extends, nudges, exports and acknowledges; refusals exit 3, usage errors 2', async () => {
    const customerId = uniqueId('cust-cli');
    const request = refundOf(20_000, { customerId, currency: 'EUR' });
    const created = await api.call('POST', '/v1/refunds', service, request);
    expect(created.statusCode, created.body).toBe(201);
    expect((await api.carrierPost(carrierEvent(request, 'in_transit'))).statusCode).toBe(202);

    const listed = await refunds(['list', '--customer', customerId, '--json'], ops);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as RefundList).data.map((r) => r.refundId)).toEqual([request.refundId]);
    const human = await refunds(['list', '--customer', customerId, '--state', 'awaiting_carrier'], ops);
    expect(human.stdout).toContain(request.refundId);

    const escalated = await refunds(['escalate', request.refundId, '--group', 'finance-leads', '--reason', 'VIP', '--json'], ops);
    expect(escalated.code, escalated.stderr).toBe(0);
    expect((JSON.parse(escalated.stdout) as RefundView).escalations).toContainEqual(
      expect.objectContaining({ group: 'finance-leads', by: ops.id }),
    );
    const extended = await refunds(['extend', request.refundId, '--by', 'P2D', '--reason', 'carrier strike', '--json'], ops);
    expect(extended.code, extended.stderr).toBe(0);
    expect((JSON.parse(extended.stdout) as RefundView).deadlineExtensions).toHaveLength(1);
    const nudged = await refunds(['nudge', request.refundId, '--party', 'carrier', '--reason', 'no scan', '--json'], ops);
    expect(nudged.code, nudged.stderr).toBe(0);
    expect((JSON.parse(nudged.stdout) as RefundView).nudges).toHaveLength(1);

    const capped = await refunds(['extend', request.refundId, '--by', 'P6D', '--reason', 'more'], ops);
    expect(capped.code).toBe(3);
    expect(capped.stderr).toMatch(/maxDeadlineExtension/);
    const wrongParty = await refunds(['nudge', request.refundId, '--party', 'warehouse', '--reason', 'r'], ops);
    expect(wrongParty.code).toBe(3);
    const noReason = await refunds(['escalate', request.refundId, '--group', 'g'], ops);
    expect(noReason.code).toBe(2);
    const notOps = await refunds(['escalate', request.refundId, '--group', 'g', '--reason', 'r'], approver);
    expect(notOps.code).toBe(3);

    const csv = await refunds(['stuck', '--csv', '--currency', 'EUR', '--older-than', 'PT0S'], ops);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.split('\r\n')[0]).toBe('refundId,state,waitingFor,since,stuckAfter,amount,currency,customerId,initiatedBy');
    expect(csv.stdout).toContain(request.refundId);
    const summary = await refunds(['stuck-summary', '--currency', 'EUR', '--older-than', 'PT0S', '--json'], ops);
    expect(summary.code, summary.stderr).toBe(0);
    expect((JSON.parse(summary.stdout) as { total: { count: number } }).total.count).toBeGreaterThanOrEqual(1);

    const inbox = await refunds(['inbox', '--json'], approver);
    expect(inbox.code, inbox.stderr).toBe(0);
    expect(JSON.parse(inbox.stdout)).toMatchObject({ approverId: approver.id, registered: true });

    const alert = await api.owner.query<{ id: string }>(
      "INSERT INTO ops_alerts (kind, employee_id, details) VALUES ('breaker_tripped', $1, '{}') RETURNING id",
      [uniqueId('emp-cli-alerted')],
    );
    const acked = await refunds(['alerts', 'ack', alert.rows[0]!.id, '--note', 'seen', '--json'], ops);
    expect(acked.code, acked.stderr).toBe(0);
    expect(JSON.parse(acked.stdout)).toMatchObject({ acknowledgedBy: ops.id, acknowledgeNote: 'seen' });
    const unknown = await refunds(['alerts', 'ack', '999999999999'], ops);
    expect(unknown.code).toBe(4);
  });
});
