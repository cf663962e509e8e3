/**
 * The message schemas refuse what PostgreSQL or the API's own paths could not take: control
 * characters in any string, reserved or over-long refund ids, fund codes as currencies, and (with
 * the policy) refunds above its largest amount.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { FUND_CODES, isCurrency } from '../../workflows/currencies';
import { DEFAULT_MAX_REFUND_AMOUNT, defaultPolicy, maxRefundAmount, Policy } from '../../workflows/policy';
import {
  ApprovalCommand,
  BreakerLift,
  CancelCommand,
  CarrierEvent,
  MAX_ID_LENGTH,
  RefundRequest,
  WarehouseScan,
} from '../../workflows/schemas';
import { approver, carrierEvent, matchingReceipt, refundRequest } from '../support/fixtures';

const request = refundRequest();

/** Each free-text or id field, the valid message it sits in, and how to put `value` there. */
const cases: Array<{ field: string; schema: z.ZodType; with: (value: string) => unknown }> = [
  { field: 'reason', schema: RefundRequest, with: (reason) => ({ ...request, reason }) },
  { field: 'items.0.category', schema: RefundRequest, with: (category) => ({ ...request, items: [{ ...request.items[0], category }] }) },
  { field: 'orderId', schema: RefundRequest, with: (orderId) => ({ ...request, orderId }) },
  { field: 'initiatedBy', schema: RefundRequest, with: (initiatedBy) => ({ ...request, initiatedBy }) },
  {
    field: 'return.trackingNumber',
    schema: RefundRequest,
    with: (trackingNumber) => ({ ...request, return: { carrier: 'ups', trackingNumber } }),
  },
  {
    field: 'decision.reason',
    schema: ApprovalCommand,
    with: (reason) => ({ approver: approver('emp-a'), decision: { decision: 'approve', reason } }),
  },
  { field: 'reason', schema: CancelCommand, with: (reason) => ({ cancelledBy: 'emp-a', reason }) },
  { field: 'reason', schema: BreakerLift, with: (reason) => ({ employeeId: 'emp-b', liftedBy: 'emp-a', roles: ['admin'], reason }) },
  {
    field: 'receipt.warehouseId',
    schema: WarehouseScan,
    with: (warehouseId) => ({ receipt: { ...matchingReceipt(request), warehouseId }, scannedBy: 'wh-1' }),
  },
  { field: 'facilityId', schema: CarrierEvent, with: (facilityId) => ({ ...carrierEvent(request, 'delivered'), facilityId }) },
];

function issuesOf(schema: z.ZodType, value: unknown) {
  const parsed = schema.safeParse(value);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('control characters', () => {
  it.each(cases)('are refused in $field, naming the field and the character', ({ field, schema, with: withValue }) => {
    expect(schema.safeParse(withValue('fine')).success).toBe(true);
    const name = field.split('.').at(-1);
    for (const [character, codePoint] of [
      ['\u0000', 'U+0000'],
      ['\u001f', 'U+001F'],
      ['\u007f', 'U+007F'],
      ['\n', 'U+000A'],
    ]) {
      expect(issuesOf(schema, withValue(`a${character}b`))).toContainEqual({
        path: field,
        message: `${name} must not contain control characters (found ${codePoint})`,
      });
    }
  });

  it('are refused in the policy strings', () => {
    const policy = { ...defaultPolicy, version: 'v\u00001', highResaleCategories: ['ok', 'pho\u0000nes'] };
    const paths = Policy.safeParse(policy).error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(['version', 'highResaleCategories.1']);
  });

  it('leave other characters alone (tabs are controls; accents and emoji are not)', () => {
    expect(RefundRequest.safeParse({ ...request, reason: 'colis abîmé 📦' }).success).toBe(true);
    expect(issuesOf(RefundRequest, { ...request, reason: 'a\tb' })[0]?.message).toContain('U+0009');
  });
});

describe('refund ids', () => {
  it(`are at most ${MAX_ID_LENGTH} characters`, () => {
    expect(RefundRequest.safeParse({ ...request, refundId: 'r'.repeat(MAX_ID_LENGTH) }).success).toBe(true);
    expect(issuesOf(RefundRequest, { ...request, refundId: 'r'.repeat(MAX_ID_LENGTH + 1) })).toEqual([
      { path: 'refundId', message: `refundId must be at most ${MAX_ID_LENGTH} characters` },
    ]);
  });

  it('may not be "stuck", the path of the stuck list', () => {
    expect(issuesOf(RefundRequest, { ...request, refundId: 'stuck' })[0]).toMatchObject({ path: 'refundId' });
    expect(issuesOf(RefundRequest, { ...request, refundId: ' stuck ' })[0]?.message).toMatch(/reserved/);
    expect(RefundRequest.safeParse({ ...request, refundId: 'stuck-1' }).success).toBe(true);
  });
});

describe('currencies', () => {
  it.each(FUND_CODES)('fund code %s is not a currency', (code) => {
    expect(isCurrency(code)).toBe(false);
    expect(issuesOf(RefundRequest, { ...request, currency: code })).toEqual([
      { path: 'currency', message: `unknown ISO 4217 currency "${code}"` },
    ]);
  });

  it('real currencies still are', () => {
    for (const code of ['USD', 'CHF', 'JPY', 'KWD', 'CLP', 'UYU', 'MXN', 'BOB', 'COP']) expect(isCurrency(code)).toBe(true);
  });
});

describe('the largest refund', () => {
  it(`defaults to ${DEFAULT_MAX_REFUND_AMOUNT} in major units of the refund's currency`, () => {
    expect(maxRefundAmount(defaultPolicy, 'USD')).toBe(100_000_000);
    expect(maxRefundAmount(defaultPolicy, 'JPY')).toBe(1_000_000);
    expect(maxRefundAmount(defaultPolicy, 'KWD')).toBe(1_000_000_000);
  });

  it('is set by the policy, per currency', () => {
    const policy = Policy.parse({
      ...defaultPolicy,
      limits: { maxRefundAmount: '5000.00', maxRefundAmountByCurrency: { JPY: '750000' } },
    });
    expect(maxRefundAmount(policy, 'USD')).toBe(500_000);
    expect(maxRefundAmount(policy, 'EUR')).toBe(500_000);
    expect(maxRefundAmount(policy, 'JPY')).toBe(750_000);
  });

  it('must be a decimal amount in a known currency', () => {
    const bad = Policy.safeParse({ ...defaultPolicy, limits: { maxRefundAmount: '1e9', maxRefundAmountByCurrency: { CHE: '10' } } });
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['limits.maxRefundAmount', 'limits.maxRefundAmountByCurrency.CHE']);
  });
});
