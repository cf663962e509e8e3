/**
 * Paying a refund out, exactly once. The payout row is the write-ahead record: it exists (as
 * `pending`) before the gateway is called, and turns `paid` together with its ledger entries in
 * one transaction. Every gateway call carries the same idempotency key, derived from the refund
 * id, so a retry after a crash or a timeout asks the gateway about the same payment instead of
 * making a new one.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { failureTypes } from '../workflows/messages';
import type { Pool } from '../store/pool';
import { recordPayoutDeclined, recordPayoutPaid, reservePayout } from '../store/payouts';
import type { PayoutOutcome } from './metrics';

export interface PayoutRequest {
  idempotencyKey: string;
  refundId: string;
  customerId: string;
  amount: number;
  currency: string;
}

export interface PayoutReceipt {
  /** The gateway's reference for the payment; the same for every answer about the same key. */
  reference: string;
}

/** The gateway did not answer in time; the payment may or may not have been made. Retry with the same key. */
export class GatewayTimeoutError extends Error {
  override name = 'GatewayTimeoutError';
}

/** The gateway refused the payment for good (closed card, fraud block). */
export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A card processor or bank payout API. Implementations must honour the idempotency key: a
 * second call with the same key returns the first call's receipt and moves no money.
 */
export interface PaymentGateway {
  readonly name: string;
  pay(request: PayoutRequest): Promise<PayoutReceipt>;
}

/** The default gateway: the payout is the ledger entry (for deployments that settle refunds from the ledger). */
export class LedgerOnlyGateway implements PaymentGateway {
  readonly name = 'ledger';
  async pay(request: PayoutRequest): Promise<PayoutReceipt> {
    return { reference: `ledger:${request.idempotencyKey}` };
  }
}

export function payoutIdempotencyKey(refundId: string): string {
  return `refund-payout:${refundId}`;
}

/**
 * `onOutcome` hears what this attempt did: paid (it recorded the payment), declined (the gateway
 * refused it), error (the gateway failed or timed out; retried). An attempt that only reads back
 * an earlier attempt's result reports nothing.
 */
export async function payOut(
  pool: Pool,
  gateway: PaymentGateway,
  input: Omit<PayoutRequest, 'idempotencyKey'>,
  onOutcome: (outcome: PayoutOutcome) => void = () => undefined,
): Promise<PayoutReceipt> {
  const request: PayoutRequest = { ...input, idempotencyKey: payoutIdempotencyKey(input.refundId) };
  const intent = { ...request, gateway: gateway.name };
  const payout = await reservePayout(pool, intent);
  if (payout.amount !== request.amount || payout.currency !== request.currency) {
    throw ApplicationFailure.nonRetryable(
      `payout for refund ${request.refundId} was recorded as ${payout.amount} ${payout.currency}, now asked for ${request.amount} ${request.currency}`,
      'PayoutMismatch',
    );
  }
  if (payout.status === 'paid') return { reference: payout.gatewayReference! };
  if (payout.status === 'declined') {
    throw ApplicationFailure.nonRetryable(payout.failureMessage ?? 'declined', failureTypes.paymentDeclined, payout.failureCode);
  }

  let receipt: PayoutReceipt;
  try {
    receipt = await whileHeartbeating(gateway.pay(request));
  } catch (error) {
    if (error instanceof PaymentDeclinedError) {
      await recordPayoutDeclined(pool, request.idempotencyKey, error.code, error.message);
      onOutcome('declined');
      throw ApplicationFailure.nonRetryable(error.message, failureTypes.paymentDeclined, error.code);
    }
    onOutcome('error');
    throw error; // timeouts and transport errors: retried with the same key
  }

  const paid = await recordPayoutPaid(pool, intent, receipt.reference);
  if (paid.recordedNow) onOutcome('paid');
  // Another attempt (one that timed out but was still running) may have recorded it first.
  return paid.recordedNow ? receipt : { reference: paid.reference };
}

/** How often a payout attempt tells the server it is alive while the gateway has not answered. */
export const PAYOUT_HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * Heartbeats while `pending` runs, so an attempt on a worker that died is retried after the
 * activity's heartbeat timeout, not after its whole start-to-close timeout. Outside an activity
 * (unit tests calling payOut directly) there is nothing to heartbeat to.
 */
async function whileHeartbeating<T>(pending: Promise<T>): Promise<T> {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return pending;
  }
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), PAYOUT_HEARTBEAT_INTERVAL_MS);
  try {
    return await pending;
  } finally {
    clearInterval(timer);
  }
}
