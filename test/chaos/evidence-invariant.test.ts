/**
 * The chaos run's "nothing paid without evidence" check, on audit facts written by hand: it must
 * find each missing piece, or it would pass whatever the product did.
 */
import { describe, expect, it } from 'vitest';
import { type Fact, paymentProblems } from '../../chaos/evidence-invariant';

const fact = (kind: string, data: Record<string, unknown>, actor = 'system'): Fact => ({ refund_id: 'r-1', kind, actor, data });
const request = fact('refund_requested', { request: { initiatedBy: 'agent-1', items: [{ sku: 'ITEM-1', quantity: 1 }] } });
const delivered = fact('carrier_event', { status: 'delivered' });
const receipt = fact('warehouse_receipt', { scannedBy: 'scanner-1', items: [{ sku: 'ITEM-1', condition: 'used' }] });
const review = (approvals: number, findings: string[] = []) => fact('risk_assessed', { findings, requirement: { approvals } });
const approved = (approverId: string) => fact('approved', { approverId });

describe('paid only on evidence', () => {
  it('passes a refund paid after delivery, a matching receipt and the approvals its review asked for', () => {
    expect(paymentProblems('r-1', [request, delivered, receipt, review(1), approved('approver-1')])).toEqual([]);
    expect(paymentProblems('r-1', [request, delivered, receipt, review(0)])).toEqual([]);
  });

  it('finds a missing delivery, a missing or mismatched receipt and a missing review', () => {
    expect(paymentProblems('r-1', [request, receipt, review(0)])).toEqual(['r-1: no carrier delivery']);
    expect(paymentProblems('r-1', [request, delivered, review(0)])).toEqual(['r-1: no warehouse receipt']);
    const wrong = fact('warehouse_receipt', { scannedBy: 'scanner-1', items: [{ sku: 'OTHER', condition: 'used' }] });
    expect(paymentProblems('r-1', [request, delivered, wrong, review(0)])).toEqual(['r-1: no receipt lists the requested items']);
    expect(paymentProblems('r-1', [request, delivered, receipt])).toEqual(['r-1: no risk review']);
  });

  it('counts distinct approvers only, asks two for any finding, and refuses the requester or the scanner approving', () => {
    expect(paymentProblems('r-1', [request, delivered, receipt, review(2), approved('a-1'), approved('a-1')])).toEqual([
      'r-1: 1 distinct approvals, 2 needed',
    ]);
    expect(paymentProblems('r-1', [request, delivered, receipt, review(0, ['weight_mismatch']), approved('a-1')])).toEqual([
      'r-1: 1 distinct approvals, 2 needed',
    ]);
    expect(paymentProblems('r-1', [request, delivered, receipt, review(2), approved('agent-1'), approved('scanner-1')])).toEqual([
      'r-1: agent-1 approved their own refund or scan',
      'r-1: scanner-1 approved their own refund or scan',
    ]);
  });
});
