/**
 * Principal ids are canonical: trimmed and lowercased when a message is parsed, so no case alias
 * of a person counts as a second one. The model is driven with messages parsed by the same schemas
 * the workflow parses them with, exactly as it receives them.
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../workflows/policy';
import { approvalsGiven, approvalsStillNeeded, checkApproval, newRefund, type RefundModel } from '../../workflows/refund-model';
import {
  ApprovalCommand,
  BreakerLift,
  CancelCommand,
  CarrierEvent,
  describeIssues,
  PrincipalId,
  RefundRequest,
  WarehouseScan,
} from '../../workflows/schemas';
import { approver, carrierEvent, matchingReceipt, refundOf } from '../support/fixtures';
import { at, drive, T0 } from '../support/model-driver';

const ALPHABET = '^[a-z0-9][a-z0-9._@:-]{0,127}$';

/** A 1,500.00 USD refund: above 1,000.00 it needs two approvals. */
const request = (initiatedBy: string) => RefundRequest.parse(refundOf(150_000, { initiatedBy }));
const decision = (approverId: string, choice: 'approve' | 'reject' = 'approve') =>
  ApprovalCommand.parse({ approver: approver(approverId), decision: { decision: choice } });
const scanOf = (parsed: RefundRequest, scannedBy: string, seconds: number) =>
  WarehouseScan.parse({ receipt: matchingReceipt(parsed, { scannedAt: at(seconds) }), scannedBy });

/** The refund delivered, received, scored low and waiting for its approvals. */
function awaitingApproval(options: { initiatedBy?: string; requestedBy?: string; scannedBy?: string } = {}): {
  model: RefundModel;
  parsed: RefundRequest;
} {
  const parsed = request(options.initiatedBy ?? 'emp-agent-1');
  // As the workflow verifies it: the signer's id from the statement, canonical.
  const origin = options.requestedBy === undefined ? undefined : { requestedBy: PrincipalId.parse(options.requestedBy) };
  const delivered = CarrierEvent.parse(carrierEvent(parsed, 'delivered', { occurredAt: at(60) }));
  const received = drive(
    newRefund(parsed, defaultPolicy, T0, origin).model,
    { type: 'carrier_event', event: delivered, at: at(60) },
    { type: 'warehouse_scan', scan: scanOf(parsed, options.scannedBy ?? 'wh-scan-1', 120), at: at(120) },
  );
  const model = drive(received, {
    type: 'risk_assessed',
    risk: { score: 0, band: 'low', reasons: [] },
    evidenceVersion: received.evidenceVersion,
    at: at(130),
  });
  expect(model.state).toBe('awaiting_approval');
  expect(approvalsStillNeeded(model)).toBe(2);
  return { model, parsed };
}

describe('PrincipalId', () => {
  it('trims and lowercases an id within the alphabet', () => {
    expect(PrincipalId.parse('  EMP.Approver_1@Corp:EU-2 ')).toBe('emp.approver_1@corp:eu-2');
    expect(PrincipalId.parse('customer')).toBe('customer');
    expect(PrincipalId.parse(`a${'B'.repeat(127)}`)).toBe(`a${'b'.repeat(127)}`);
  });

  it.each([
    ['a space inside', RefundRequest, () => refundOf(4_500, { initiatedBy: 'emp 17' }), 'initiatedBy'],
    ['a slash', CancelCommand, () => ({ cancelledBy: 'svc/returns', reason: 'duplicate' }), 'cancelledBy'],
    ['a leading dash', WarehouseScan, () => ({ receipt: matchingReceipt(refundOf(4_500)), scannedBy: '-wh-1' }), 'scannedBy'],
    [
      'a letter outside ASCII',
      ApprovalCommand,
      () => ({ approver: approver('émile'), decision: { decision: 'approve' } }),
      'approver.approverId',
    ],
    ['only spaces', CancelCommand, () => ({ cancelledBy: '   ', reason: 'duplicate' }), 'cancelledBy'],
    [
      '129 characters',
      BreakerLift,
      () => ({ employeeId: 'e'.repeat(129), liftedBy: 'emp-admin', roles: ['admin'], reason: 'x' }),
      'employeeId',
    ],
    ['a plus sign', BreakerLift, () => ({ employeeId: 'emp-1', liftedBy: 'emp+admin', roles: ['admin'], reason: 'x' }), 'liftedBy'],
  ] as const)('refuses %s, naming the field and the alphabet', (_what, schema, input, path) => {
    const parsed = schema.safeParse(input());
    expect(parsed.success).toBe(false);
    const field = path.split('.').at(-1);
    const issues = describeIssues(parsed.error!);
    expect(issues).toContain(`${path}: ${field} must be 1 to 128 of a-z 0-9 . _ @ : -`);
    expect(issues).toContain(ALPHABET);
  });
});

describe('one person, whatever the case of their id', () => {
  it('counts EMP-A and emp-a as one approver: the second approval is refused as the same approver', () => {
    const { model } = awaitingApproval();
    const once = drive(model, { type: 'approval', command: decision('EMP-A'), at: at(140) });
    expect(once.approvals.map((a) => a.approverId)).toEqual(['emp-a']);
    expect(approvalsStillNeeded(once)).toBe(1);
    for (const alias of ['emp-a', 'Emp-A', ' EMP-A ']) {
      expect(checkApproval(once, decision(alias))?.rule).toBe('approver_already_decided');
    }
    // A different person is a second approver, and the refund pays.
    expect(checkApproval(once, decision('emp-b'))).toBeUndefined();
    expect(drive(once, { type: 'approval', command: decision('emp-b'), at: at(150) }).state).toBe('paying');
  });

  it('refuses the requester in another case: initiatedBy EMP-APPROVER-1 cannot be approved by emp-approver-1', () => {
    const { model, parsed } = awaitingApproval({ initiatedBy: 'EMP-APPROVER-1' });
    expect(parsed.initiatedBy).toBe('emp-approver-1');
    expect(checkApproval(model, decision('emp-approver-1'))?.rule).toBe('approver_is_requester');
    expect(checkApproval(model, decision('emp-approver-1', 'reject'))?.rule).toBe('approver_is_requester');
    const lower = awaitingApproval({ initiatedBy: 'emp-approver-1' }).model;
    expect(checkApproval(lower, decision('EMP-APPROVER-1'))?.rule).toBe('approver_is_requester');
  });

  it('refuses the relaying refund service in another case', () => {
    const { model } = awaitingApproval({ requestedBy: 'SVC-Returns' });
    expect(model.requestedBy).toBe('svc-returns');
    expect(checkApproval(model, decision('svc-returns'))?.rule).toBe('approver_is_requester');
  });

  it('refuses the scanner in another case, and stops counting an approval whose approver scans in another case', () => {
    const { model } = awaitingApproval({ scannedBy: 'WH-SCAN-1' });
    expect(model.receipts.map((r) => r.scannedBy)).toEqual(['wh-scan-1']);
    expect(checkApproval(model, decision('wh-scan-1'))?.rule).toBe('approver_is_scanner');

    const approved = drive(awaitingApproval().model, { type: 'approval', command: decision('emp-a'), at: at(140) });
    expect(approvalsGiven(approved)).toBe(1);
    const rescanned = drive(approved, { type: 'warehouse_scan', scan: scanOf(request('emp-agent-1'), 'EMP-A', 150), at: at(150) });
    expect(approvalsGiven(rescanned)).toBe(0);
  });
});
