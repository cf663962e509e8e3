/** Pure tests of the contract, the policy and the refund state machine: no server needed. */
import { describe, expect, it } from 'vitest';
import { formatMinor, majorToMinor } from '../../workflows/currencies';
import { approvalsRequired, defaultPolicy, type EvidenceFinding, type RiskBand } from '../../workflows/policy';
import {
  applyEvent,
  approvalsStillNeeded,
  checkApproval,
  checkCancel,
  evidenceFindings,
  newRefund,
  nextDeadline,
} from '../../workflows/refund-model';
import { CarrierEvent, describeIssues, RefundRequest, WarehouseReceipt } from '../../workflows/schemas';
import { approver, carrierEvent, fastPolicy, matchingReceipt, refundOf, refundRequest } from '../support/fixtures';
import { at, drive, T0 } from '../support/model-driver';

function deliveredAndReceived(request = refundRequest(), receipt = matchingReceipt(request, { scannedAt: at(120) })) {
  const { model } = newRefund(request, defaultPolicy, T0);
  return drive(
    model,
    { type: 'carrier_event', event: carrierEvent(request, 'in_transit', { occurredAt: at(10) }), at: at(10) },
    { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(60) }), at: at(60) },
    { type: 'warehouse_scan', scan: { receipt, scannedBy: 'emp-scan-1' }, at: at(120) },
  );
}

describe('currencies', () => {
  it('converts major-unit decimals to minor units by the currency exponent', () => {
    expect(majorToMinor('100.00', 'USD')).toBe(10_000);
    expect(majorToMinor('1000', 'JPY')).toBe(1000);
    expect(majorToMinor('1.5', 'KWD')).toBe(1500);
    expect(() => majorToMinor('1.005', 'USD')).toThrow(/more decimals than USD allows/);
    expect(() => majorToMinor('12,00', 'EUR')).toThrow(/not a decimal amount/);
    expect(formatMinor(249_900, 'USD')).toBe('2499.00 USD');
    expect(formatMinor(1200, 'JPY')).toBe('1200 JPY');
  });
});

describe('refund request schema', () => {
  const base = refundRequest();
  const issuesOf = (input: unknown) => {
    const result = RefundRequest.safeParse(input);
    return result.success ? '' : describeIssues(result.error);
  };

  it('accepts the documented example', () => {
    expect(
      RefundRequest.safeParse({
        refundId: 'r-1001',
        orderId: 'o-77',
        customerId: 'c-42',
        currency: 'USD',
        items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249900, serialNumber: 'C02XK1', category: 'laptops' }],
        initiatedBy: 'emp-17',
        reason: 'damaged',
        return: { carrier: 'ups', trackingNumber: '1Z999AA10123456784' },
      }).success,
    ).toBe(true);
    expect(RefundRequest.safeParse({ ...base, initiatedBy: 'customer', return: { method: 'none' } }).success).toBe(true);
  });

  it.each([
    ['a float amount', { items: [{ ...base.items[0], unitAmount: 12.5 }] }, 'items.0.unitAmount: must be an integer'],
    ['a negative amount', { items: [{ ...base.items[0], unitAmount: -100 }] }, 'items.0.unitAmount: must be greater than zero'],
    ['an amount given as a string', { items: [{ ...base.items[0], unitAmount: '100' }] }, 'items.0.unitAmount: must be a number'],
    ['an unknown currency', { currency: 'ABC' }, 'currency: unknown ISO 4217 currency "ABC"'],
    ['a lower-case currency', { currency: 'usd' }, 'currency: unknown ISO 4217 currency "usd"'],
    ['an unknown field', { discount: 5 }, 'Unrecognized key: "discount"'],
    ['no items', { items: [] }, 'items: items must list at least one item'],
    [
      'a serial on several units',
      { items: [{ ...base.items[0], quantity: 2, serialNumber: 'S1' }] },
      'items.0.serialNumber: an item with a serialNumber must have quantity 1',
    ],
    ['a half-given return', { return: { carrier: 'ups' } }, 'return'],
    ['an empty refund id', { refundId: '  ' }, 'refundId: refundId must not be empty'],
  ])('refuses %s, naming the field', (_what, change, expected) => {
    expect(issuesOf({ ...base, ...change })).toContain(expected);
  });

  it('refuses malformed carrier events and receipts', () => {
    const event = carrierEvent(base, 'delivered');
    expect(CarrierEvent.safeParse({ ...event, status: 'lost' }).success).toBe(false);
    expect(CarrierEvent.safeParse({ ...event, occurredAt: 'yesterday' }).success).toBe(false);
    const receipt = matchingReceipt(base);
    expect(WarehouseReceipt.safeParse({ ...receipt, items: [] }).success).toBe(false);
    expect(WarehouseReceipt.safeParse({ ...receipt, items: [{ sku: 'X', condition: 'shiny' }] }).success).toBe(false);
  });
});

describe('approvals required', () => {
  const required = (amount: number, band: RiskBand, findings: EvidenceFinding[] = [], currency = 'USD') =>
    approvalsRequired({ amount, currency, band, findings, policy: defaultPolicy });

  it.each([
    [10_000, 'low', 0],
    [10_001, 'low', 1],
    [100_000, 'low', 1],
    [100_001, 'low', 2],
    [5_000, 'medium', 1],
    [100_000, 'medium', 1],
    [5_000, 'high', 2],
    [100_001, 'medium', 2],
  ] as const)('%i minor units at %s risk needs %i approvals', (amount, band, approvals) => {
    expect(required(amount, band)).toMatchObject({ outcome: 'approve', approvals });
  });

  it('applies the thresholds in major units of each currency', () => {
    expect(required(100, 'low', [], 'JPY')).toMatchObject({ approvals: 0 });
    expect(required(101, 'low', [], 'JPY')).toMatchObject({ approvals: 1 });
    expect(required(100_000, 'low', [], 'KWD')).toMatchObject({ approvals: 0 });
  });

  it('rejects blocked risk outright', () => {
    expect(required(100, 'block')).toEqual({ outcome: 'reject', reason: 'risk band is block' });
  });

  it.each<EvidenceFinding>([
    'receipt_before_delivery',
    'carrier_delivery_missing',
    'item_missing',
    'serial_mismatch',
    'wrong_item',
    'empty_box',
    'no_return_parcel',
    'scanner_is_requester',
  ])('never pays automatically on %s: two approvals by default, rejection by policy', (finding) => {
    expect(required(100, 'low', [finding])).toMatchObject({ outcome: 'approve', approvals: 2 });
    const strict = { ...defaultPolicy, evidenceIssues: 'reject' as const, amounts: { ...defaultPolicy.amounts, returnlessMax: '0' } };
    expect(approvalsRequired({ amount: 100, currency: 'USD', band: 'low', findings: [finding], policy: strict }).outcome).toBe('reject');
  });
});

describe('evidence findings', () => {
  it('finds nothing when carrier and warehouse agree', () => {
    expect(evidenceFindings(deliveredAndReceived())).toEqual([]);
  });

  it('flags a receipt scanned before the carrier delivered', () => {
    const request = refundRequest();
    expect(evidenceFindings(deliveredAndReceived(request, matchingReceipt(request, { scannedAt: at(30) })))).toContain(
      'receipt_before_delivery',
    );
  });

  it('flags a wrong serial, a missing item, an extra item, an empty box and a wrong item', () => {
    const request = refundOf(249_900, {
      items: [{ sku: 'MBP-16', quantity: 1, unitAmount: 249_900, serialNumber: 'C02XK1', category: 'laptops' }],
    });
    const findingsFor = (items: WarehouseReceipt['items']) =>
      evidenceFindings(deliveredAndReceived(request, matchingReceipt(request, { scannedAt: at(120), items })));
    expect(findingsFor([{ sku: 'MBP-16', serialNumber: 'OTHER', condition: 'used' }])).toEqual(['serial_mismatch']);
    expect(findingsFor([{ sku: 'BRICK', condition: 'used' }])).toEqual(['item_missing', 'unexpected_item']);
    expect(findingsFor([{ sku: 'MBP-16', condition: 'empty_box' }])).toContain('empty_box');
    expect(findingsFor([{ sku: 'MBP-16', serialNumber: 'C02XK1', condition: 'wrong_item' }])).toEqual(['wrong_item']);
  });

  it('flags a weight far from the carrier’s', () => {
    const request = refundRequest();
    const { model } = newRefund(request, defaultPolicy, T0);
    const m = drive(
      model,
      { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(60), weightGrams: 2_400 }), at: at(60) },
      {
        type: 'warehouse_scan',
        scan: { receipt: matchingReceipt(request, { scannedAt: at(120), weightGrams: 300 }), scannedBy: 's' },
        at: at(120),
      },
    );
    expect(evidenceFindings(m)).toEqual(['weight_mismatch']);
  });

  it('flags a receipt scanned by the employee who requested the refund', () => {
    const request = refundRequest({ initiatedBy: 'emp-9' });
    const { model } = newRefund(request, defaultPolicy, T0);
    const m = drive(
      model,
      { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(60) }), at: at(60) },
      { type: 'warehouse_scan', scan: { receipt: matchingReceipt(request, { scannedAt: at(120) }), scannedBy: 'emp-9' }, at: at(120) },
    );
    expect(evidenceFindings(m)).toEqual(['scanner_is_requester']);
  });
});

describe('refund state machine', () => {
  it('follows the evidence whatever order the carrier’s events arrive in', () => {
    const request = refundRequest();
    const { model } = newRefund(request, defaultPolicy, T0);
    expect(model.state).toBe('awaiting_carrier');
    const delivered = drive(model, { type: 'carrier_event', event: carrierEvent(request, 'delivered', { occurredAt: at(60) }), at: at(5) });
    expect(delivered.state).toBe('awaiting_warehouse');
    const late = drive(delivered, { type: 'carrier_event', event: carrierEvent(request, 'in_transit', { occurredAt: at(30) }), at: at(6) });
    expect(late.state).toBe('awaiting_warehouse');
    expect(late.carrierEvents).toHaveLength(2);
  });

  it('ignores a repeated event id and events for another parcel', () => {
    const request = refundRequest();
    const { model } = newRefund(request, defaultPolicy, T0);
    const event = carrierEvent(request, 'in_transit');
    const once = applyEvent(model, { type: 'carrier_event', event, at: at(1) }).model;
    const twice = applyEvent(once, { type: 'carrier_event', event: { ...event, status: 'delivered' }, at: at(2) });
    expect(twice.model).toBe(once);
    expect(twice.facts).toEqual([]);
    const other = applyEvent(once, {
      type: 'carrier_event',
      event: carrierEvent(request, 'delivered', { trackingNumber: 'SOMEONE-ELSE' }),
      at: at(3),
    });
    expect(other.model.state).toBe('awaiting_carrier');
    expect(other.model.ignored[0]?.reason).toMatch(/tracking number does not match/);
  });

  it('holds a receipt that came before any carrier scan until the carrier confirms delivery', () => {
    const request = refundRequest();
    const { model } = newRefund(request, defaultPolicy, T0);
    const received = drive(model, {
      type: 'warehouse_scan',
      scan: { receipt: matchingReceipt(request, { scannedAt: at(10) }), scannedBy: 's' },
      at: at(10),
    });
    expect(received.state).toBe('awaiting_carrier');
    const delivered = drive(received, {
      type: 'carrier_event',
      event: carrierEvent(request, 'delivered', { occurredAt: at(60) }),
      at: at(61),
    });
    expect(delivered.state).toBe('risk_review');
    expect(evidenceFindings(delivered)).toContain('receipt_before_delivery');
  });

  it('expires when no carrier scan arrives within the return window, and reviews a lone receipt instead', () => {
    const request = refundRequest();
    const { model } = newRefund(request, fastPolicy, T0);
    expect(nextDeadline(model)).toEqual({ at: Date.parse(T0) + 4000, event: 'return_window_elapsed', state: 'awaiting_carrier' });
    expect(drive(model, { type: 'return_window_elapsed', at: at(4) })).toMatchObject({
      state: 'expired',
      outcome: { code: 'return_window_elapsed' },
    });
    const lone = drive(
      model,
      { type: 'warehouse_scan', scan: { receipt: matchingReceipt(request), scannedBy: 's' }, at: at(2) },
      { type: 'return_window_elapsed', at: at(4) },
    );
    expect(lone.state).toBe('risk_review');
    expect(evidenceFindings(lone)).toContain('carrier_delivery_missing');
  });

  it('marks a refund stuck once per stage and keeps waiting', () => {
    const model = drive(newRefund(refundRequest(), fastPolicy, T0).model, {
      type: 'carrier_event',
      event: carrierEvent(refundRequest(), 'delivered'),
      at: at(1),
    });
    // The carrier event above is for another parcel; deliver this refund's own.
    const request = model.request;
    const waiting = drive(model, { type: 'carrier_event', event: carrierEvent(request, 'delivered'), at: at(1) });
    expect(waiting.state).toBe('awaiting_warehouse');
    expect(nextDeadline(waiting)).toMatchObject({ event: 'stage_overdue', at: Date.parse(at(3)) });
    const stuck = drive(waiting, { type: 'stage_overdue', state: 'awaiting_warehouse', at: at(3) });
    expect(stuck.state).toBe('awaiting_warehouse');
    expect(stuck.escalations).toHaveLength(1);
    expect(nextDeadline(stuck)).toBeUndefined();
    expect(drive(stuck, { type: 'stage_overdue', state: 'awaiting_warehouse', at: at(9) }).escalations).toHaveLength(1);
  });

  it('goes back to risk review when new evidence arrives while awaiting approval', () => {
    const request = refundOf(50_000);
    let model = deliveredAndReceived(request, matchingReceipt(request, { scannedAt: at(120) }));
    model = drive(model, {
      type: 'risk_assessed',
      risk: { score: 0, band: 'low', reasons: [] },
      evidenceVersion: model.evidenceVersion,
      at: at(130),
    });
    expect(model.state).toBe('awaiting_approval');
    model = drive(model, {
      type: 'warehouse_scan',
      scan: { receipt: matchingReceipt(request, { items: [{ sku: 'ITEM-1', condition: 'empty_box' }] }), scannedBy: 'emp-scan-2' },
      at: at(140),
    });
    expect(model.state).toBe('risk_review');
  });

  it('ignores a risk result computed on evidence that has since changed', () => {
    const model = deliveredAndReceived();
    const stale = applyEvent(model, {
      type: 'risk_assessed',
      risk: { score: 0, band: 'low', reasons: [] },
      evidenceVersion: model.evidenceVersion - 1,
      at: at(200),
    });
    expect(stale.model).toBe(model);
  });

  describe('separation of duties', () => {
    const request = refundOf(50_000, { initiatedBy: 'emp-requester' });
    const base = deliveredAndReceived(request, matchingReceipt(request, { scannedAt: at(120) }));
    const awaiting = drive(base, {
      type: 'risk_assessed',
      risk: { score: 0, band: 'low', reasons: [] },
      evidenceVersion: base.evidenceVersion,
      at: at(130),
    });

    it.each([
      ['the requester', approver('emp-requester'), 'approve', 'approver_is_requester'],
      ['the scanner', approver('emp-scan-1'), 'approve', 'approver_is_scanner'],
      ['someone without the approver role', approver('emp-ops', 10_000_000, ['ops']), 'approve', 'approver_role_required'],
      ['an approver whose limit is below the amount', approver('emp-junior', 49_999), 'approve', 'approval_limit_below_amount'],
      ['the requester, even to reject', approver('emp-requester'), 'reject', 'approver_is_requester'],
    ] as const)('refuses %s', (_who, person, decision, rule) => {
      expect(checkApproval(awaiting, { approver: person, decision: { decision } })?.rule).toBe(rule);
    });

    it('refuses a second decision by the same approver, and any decision when not awaiting approval', () => {
      const twoNeeded = { ...awaiting, requirement: { outcome: 'approve' as const, approvals: 2 as const, reasons: [] } };
      const once = drive(twoNeeded, {
        type: 'approval',
        command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
        at: at(140),
      });
      expect(once.state).toBe('awaiting_approval');
      expect(checkApproval(once, { approver: approver('emp-a'), decision: { decision: 'approve' } })?.rule).toBe(
        'approver_already_decided',
      );
      expect(checkApproval(base, { approver: approver('emp-a'), decision: { decision: 'approve' } })?.rule).toBe('not_awaiting_approval');
    });

    it('stops counting an approval when its approver later scans the return', () => {
      const twoNeeded = { ...awaiting, requirement: { outcome: 'approve' as const, approvals: 2 as const, reasons: [] } };
      const once = drive(twoNeeded, {
        type: 'approval',
        command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
        at: at(140),
      });
      const scanned = drive(once, { type: 'warehouse_scan', scan: { receipt: matchingReceipt(request), scannedBy: 'emp-a' }, at: at(150) });
      const reassessed = drive(scanned, {
        type: 'risk_assessed',
        risk: { score: 0, band: 'low', reasons: [] },
        evidenceVersion: scanned.evidenceVersion,
        at: at(160),
      });
      // One approval is enough for this amount, yet emp-a's no longer counts.
      expect(reassessed.requirement).toMatchObject({ approvals: 1 });
      expect(reassessed.state).toBe('awaiting_approval');
      expect(approvalsStillNeeded(reassessed)).toBe(1);
      const second = drive(reassessed, {
        type: 'approval',
        command: { approver: approver('emp-b'), decision: { decision: 'approve' } },
        at: at(170),
      });
      expect(second.state).toBe('paying');
    });

    it('pays after the required distinct approvals and rejects on any rejection', () => {
      const paid = drive(awaiting, {
        type: 'approval',
        command: { approver: approver('emp-a'), decision: { decision: 'approve' } },
        at: at(140),
      });
      expect(paid.state).toBe('paying');
      const rejected = drive(awaiting, {
        type: 'approval',
        command: { approver: approver('emp-a', 0), decision: { decision: 'reject', reason: 'looks like a ring' } },
        at: at(140),
      });
      expect(rejected).toMatchObject({
        state: 'rejected',
        outcome: { code: 'approver_rejected', by: 'emp-a', message: 'looks like a ring' },
      });
    });
  });

  it('can be cancelled until payout starts, and not after', () => {
    const request = refundOf(5_000);
    const model = deliveredAndReceived(request, matchingReceipt(request, { scannedAt: at(120) }));
    expect(checkCancel(model)).toBeUndefined();
    const paying = drive(model, {
      type: 'risk_assessed',
      risk: { score: 0, band: 'low', reasons: [] },
      evidenceVersion: model.evidenceVersion,
      at: at(130),
    });
    expect(paying.state).toBe('paying');
    expect(checkCancel(paying)).toMatch(/only be cancelled before payout/);
    const cancelled = drive(model, { type: 'cancel', command: { cancelledBy: 'svc', reason: 'customer kept the item' }, at: at(125) });
    expect(cancelled).toMatchObject({ state: 'cancelled', outcome: { code: 'cancelled', by: 'svc' } });
  });

  it('rejects a parcel the carrier returned to the sender', () => {
    const request = refundRequest();
    const model = drive(newRefund(request, defaultPolicy, T0).model, {
      type: 'carrier_event',
      event: carrierEvent(request, 'returned_to_sender'),
      at: at(5),
    });
    expect(model).toMatchObject({ state: 'rejected', outcome: { code: 'returned_to_sender' } });
  });

  it('sends a returnless refund straight to risk review, needing two approvals', () => {
    const request = refundRequest({ return: { method: 'none' } });
    const { model } = newRefund(request, defaultPolicy, T0);
    expect(model.state).toBe('risk_review');
    const assessed = drive(model, {
      type: 'risk_assessed',
      risk: { score: 30, band: 'medium', reasons: [] },
      evidenceVersion: 0,
      at: at(1),
    });
    expect(assessed.requirement).toMatchObject({ outcome: 'approve', approvals: 2 });
  });
});
