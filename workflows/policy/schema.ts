/** The policy's shape: what a valid policy file says, with the rules that keep its numbers consistent. */
import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { Currency, plainString, Role } from '../schemas';
import { builtOnce } from '../built-once';

const built = builtOnce('workflows/policy/schema');

const DurationString = built('DurationString', () =>
  z.string().refine(
    (value) => {
      try {
        return msToNumber(value as Parameters<typeof msToNumber>[0]) > 0;
      } catch {
        return false;
      }
    },
    { error: 'must be a duration such as "30 days", "10d", "2h" or "5s"' },
  ),
);
const DecimalAmount = built('DecimalAmount', () =>
  z.string().regex(/^\d{1,11}(\.\d{1,4})?$/, 'must be a decimal amount in major units, e.g. "100.00"'),
);

const Points = built('Points', () => z.number().int('must be a whole number of points').min(0).max(100));
const Count = built('Count', () => z.number().int('must be a whole number').min(1, 'must be at least 1').max(1_000_000));
const Share = built('Share', () => z.number().min(0, 'must be a fraction from 0 to 1').max(1, 'must be a fraction from 0 to 1'));
const ApprovalCount = built('ApprovalCount', () =>
  z.number().int().min(0, 'must be 0, 1 or 2').max(2, 'must be 0, 1 or 2 (a circuit breaker may add a third)'),
);

/**
 * Every money threshold of the policy, in major units of the refund's own currency ("100.00" is
 * 100.00 USD for a USD refund, 100 JPY for a JPY refund). `amountsByCurrency` overrides any of
 * them for one currency. Digits beyond a currency's precision are cut off.
 */
const MoneyThresholds = built('MoneyThresholds', () =>
  z.strictObject({
    /** Tier `small` ends here: low risk and clean evidence are paid with no approval. */
    autoApproveMax: DecimalAmount,
    /** Tier `mid` ends here; above it is tier `large`. */
    singleApprovalMax: DecimalAmount,
    /** Largest refund that may be paid on carrier acceptance (refundTiming "on_carrier_acceptance"). */
    carrierAcceptanceMax: DecimalAmount,
    /** Largest returnless refund; a larger one is rejected. */
    returnlessMax: DecimalAmount,
    /** An item whose unit price is above this is high-value goods. */
    highValueItem: DecimalAmount,
    /** The customer's other refunds of the last 30 / 90 days add up to at least this. */
    customerRefundValue30d: DecimalAmount,
    customerRefundValue90d: DecimalAmount,
    /** Customers linked to this one refunded at least this much in the linked-accounts window. */
    linkedRefundValue: DecimalAmount,
    /** The initiating employee's refunds of the last 24 hours / 7 days add up to at least this. */
    initiatorValuePerDay: DecimalAmount,
    initiatorValuePerWeek: DecimalAmount,
    /** The approver's approvals of the last 24 hours add up to at least this. */
    approverValuePerDay: DecimalAmount,
    /** Circuit breakers: refunds initiated / approved by one employee within the breaker window. */
    initiatorBreakerValue: DecimalAmount,
    approverBreakerValue: DecimalAmount,
    /**
     * The most a person may approve, by role: their limit is the highest among their roles listed
     * here, and never more than their own approval limit. A role not listed adds no authority.
     */
    approverLimits: z.partialRecord(Role, DecimalAmount),
  }),
);
export type MoneyThresholds = z.infer<typeof MoneyThresholds>;

const AmountTiers = built('AmountTiers', () => z.strictObject({ small: ApprovalCount, mid: ApprovalCount, large: ApprovalCount }));

/** Reason codes of the risk signals; `weights` gives each its points. */
export const riskReasonCodes = [
  'customer_refunds_30d',
  'customer_refunds_90d',
  'customer_refund_value_30d',
  'customer_refund_value_90d',
  'customer_new_account',
  'customer_refunded_order_share',
  'goods_high_value_item',
  'goods_high_resale',
  'goods_returnless',
  'evidence_receipt_before_delivery',
  'evidence_no_carrier_scan',
  'evidence_carrier_delivery_missing',
  'evidence_weight_mismatch',
  'evidence_serial_mismatch',
  'evidence_sku_mismatch',
  'evidence_wrong_item',
  'evidence_empty_box',
  'evidence_delivered_elsewhere',
  'evidence_tracking_reused',
  'evidence_scanner_is_requester',
  'linked_shared_identity',
  'linked_refund_history',
  'insider_initiator_day',
  'insider_initiator_week',
  'insider_scanner_receipts_without_delivery',
  'insider_approver_volume_day',
  'insider_approver_concentration',
  'insider_breaker_active',
] as const;
export const RiskReasonCode = built('RiskReasonCode', () => z.enum(riskReasonCodes));
export type RiskReasonCode = z.infer<typeof RiskReasonCode>;

export const Policy = built('Policy', () =>
  z
    .strictObject({
      version: plainString('version').min(1),
      amounts: MoneyThresholds,
      amountsByCurrency: z.record(Currency, MoneyThresholds.partial()),
      /**
       * The largest refund the service accepts, in major units of its currency (default
       * DEFAULT_MAX_REFUND_AMOUNT), with overrides per currency. Checked where a refund is requested.
       */
      limits: z
        .strictObject({
          maxRefundAmount: DecimalAmount.optional(),
          maxRefundAmountByCurrency: z.record(Currency, DecimalAmount).optional(),
        })
        .optional(),
      /** Approvals by risk band and amount tier (small ≤ autoApproveMax < mid ≤ singleApprovalMax < large). `block` rejects. */
      approvals: z.strictObject({ low: AmountTiers, medium: AmountTiers, high: AmountTiers }),
      /** The score at which each band starts (0–100). */
      bands: z.strictObject({ medium: Points, high: Points, block: Points }),
      /** Points each risk reason adds to the score (capped at 100); 0 switches a signal off. */
      weights: z.record(RiskReasonCode, Points),
      timers: z.strictObject({
        /** No carrier scan at all within this time after the request: the refund expires. */
        returnWindow: DurationString,
        /** Carrier scanned the parcel but has not delivered it within this time: stuck. */
        carrierDelivery: DurationString,
        /** Delivered to the warehouse but no receipt scan within this time: stuck. */
        warehouseReceipt: DurationString,
        /** Waiting for approvals longer than this: stuck. */
        approval: DurationString,
        /** The payout has not completed within this time (gateway down): stuck. */
        payout: DurationString,
        /** One call to the payment gateway may take this long before it is retried with the same idempotency key. */
        payoutAttempt: DurationString,
        /**
         * The most operations may extend one state's deadline in total (default "7 days"). Optional, so
         * policies pinned before it existed still parse and replay.
         */
        maxDeadlineExtension: DurationString.optional(),
      }),
      /**
       * When money may move: `after_receipt` (carrier delivery and a matching warehouse receipt), or
       * `on_carrier_acceptance`: a refund up to amounts.carrierAcceptanceMax whose risk is low is paid
       * as soon as the carrier has the parcel; anything else waits for the receipt as usual.
       */
      refundTiming: z.enum(['after_receipt', 'on_carrier_acceptance']),
      /** Evidence that does not add up (receipt before delivery, mismatch, empty box, …). */
      evidenceIssues: z.enum(['dual_approval', 'reject']),
      /** Refunds that ask for no return parcel at all (up to amounts.returnlessMax; above it they are rejected). */
      returnless: z.strictObject({
        /** At least this many approvals, whatever the risk. */
        minApprovals: ApprovalCount,
        /** Reject returnless refunds of high-resale goods. */
        rejectHighResale: z.boolean(),
      }),
      /** How far the warehouse's weight may be from the expected weight, as a fraction (0.2 = 20 %). */
      weightTolerance: z.number().min(0).max(10),
      /** Categories that ring fraud targets because they resell well. */
      highResaleCategories: z.array(plainString('highResaleCategories').min(1)),
      /** When each risk signal fires (money thresholds are in `amounts`). */
      signals: z.strictObject({
        customer: z.strictObject({
          /** The customer's other refunds in the last 30 / 90 days. */
          refunds30d: Count,
          refunds90d: Count,
          /** An account younger than this many days (from the request's customer.accountCreatedAt). */
          newAccountDays: z.number().int().min(0).max(36_500),
          /** Refunded orders as a share of orders placed, once at least minRefundedOrders orders were refunded. */
          refundedOrderShare: Share,
          minRefundedOrders: Count,
        }),
        linkedAccounts: z.strictObject({
          /** How far back the linked customers' refunds count. */
          window: DurationString,
          /** Linked customers' refunds in the window. */
          refunds: Count,
        }),
        initiator: z.strictObject({ refundsPerDay: Count, refundsPerWeek: Count }),
        scanner: z.strictObject({
          window: DurationString,
          /** The scanner's receipts (on other refunds) with no carrier delivery before them. */
          receiptsWithoutDelivery: Count,
        }),
        approver: z.strictObject({
          approvalsPerDay: Count,
          /** Approvals in the last 24 hours for one customer, initiator or scanner: at least this many… */
          concentrationMin: Count,
          /** …and at least this share of all the approver's approvals. */
          concentrationShare: Share,
        }),
      }),
      /**
       * Circuit breakers: an employee who crosses a limit within the window trips their breaker;
       * every refund they touch from then on needs one more approver, and operations are alerted.
       */
      breakers: z.strictObject({
        initiator: z.strictObject({ window: DurationString, maxRefunds: Count }),
        scanner: z.strictObject({ window: DurationString, maxReceiptsWithoutDelivery: Count }),
        approver: z.strictObject({ window: DurationString, maxApprovals: Count, maxForSameCounterparty: Count }),
      }),
    })
    .superRefine((policy, ctx) => {
      const tiers = ['small', 'mid', 'large'] as const;
      const bands = ['low', 'medium', 'high'] as const;
      bands.forEach((band, b) => {
        tiers.forEach((tier, t) => {
          const n = policy.approvals[band][tier];
          const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['approvals', band, tier], message });
          if (band === 'high' && n < 2) issue('high risk always needs two approvers');
          if (t > 0 && n < policy.approvals[band][tiers[t - 1]!])
            issue(`must not be fewer than ${band}.${tiers[t - 1]} (more money never needs fewer approvals)`);
          if (b > 0 && n < policy.approvals[bands[b - 1]!][tier])
            issue(`must not be fewer than ${bands[b - 1]}.${tier} (more risk never needs fewer approvals)`);
        });
      });
      if (!(policy.bands.medium < policy.bands.high && policy.bands.high < policy.bands.block)) {
        ctx.addIssue({ code: 'custom', path: ['bands'], message: 'must rise: medium < high < block' });
      }
      const auto = Number(policy.amounts.autoApproveMax);
      if (auto > Number(policy.amounts.singleApprovalMax)) {
        ctx.addIssue({ code: 'custom', path: ['amounts', 'singleApprovalMax'], message: 'must not be below autoApproveMax' });
      }
    }),
);
export type Policy = z.infer<typeof Policy>;
