import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes every refund workflow keeps current, so operators can find refunds in the
 * Temporal Web UI or with a visibility query (`RefundState = "awaiting_approval" AND RefundStuck = true`).
 * The names and types here are what a server must have registered; the dev stack registers them at start.
 */
export const refundSearchAttributes = {
  RefundState: 'Keyword',
  RefundWaitingSince: 'Datetime',
  RefundAmount: 'Int',
  RefundCurrency: 'Keyword',
  RefundStuck: 'Bool',
} as const;

export const RefundStateKey = defineSearchAttributeKey('RefundState', SearchAttributeType.KEYWORD);
export const RefundWaitingSinceKey = defineSearchAttributeKey('RefundWaitingSince', SearchAttributeType.DATETIME);
export const RefundAmountKey = defineSearchAttributeKey('RefundAmount', SearchAttributeType.INT);
export const RefundCurrencyKey = defineSearchAttributeKey('RefundCurrency', SearchAttributeType.KEYWORD);
export const RefundStuckKey = defineSearchAttributeKey('RefundStuck', SearchAttributeType.BOOL);
