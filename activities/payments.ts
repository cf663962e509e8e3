/**
 * Paying a refund out, exactly once. The payout row is the write-ahead record: it exists (as
 * `pending`) before the gateway is called, and turns `paid` together with its ledger entries in
 * one transaction. Every gateway call carries the same idempotency key, derived from the refund
 * id, so a retry after a crash or a timeout asks the gateway about the same payment instead of
 * making a new one.
 */
import { ApplicationFailure } from '@temporalio/common';
import { failureTypes } from '../workflows/messages';
import { withTransaction, type Pool } from '../store/pool';

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

export async function payOut(pool: Pool, gateway: PaymentGateway, input: Omit<PayoutRequest, 'idempotencyKey'>): Promise<PayoutReceipt> {
  const request: PayoutRequest = { ...input, idempotencyKey: payoutIdempotencyKey(input.refundId) };
  const intent = await pool.query<{ status: string; gateway_reference: string | null; amount: number; currency: string; failure_code: string | null; failure_message: string | null }>(
    `INSERT INTO payouts (idempotency_key, refund_id, customer_id, amount, currency, status, gateway)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6)
     ON CONFLICT (idempotency_key) DO UPDATE SET attempts = payouts.attempts + 1, updated_at = now()
     RETURNING status, gateway_reference, amount, currency, failure_code, failure_message`,
    [request.idempotencyKey, request.refundId, request.customerId, request.amount, request.currency, gateway.name],
  );
  const payout = intent.rows[0]!;
  if (Number(payout.amount) !== request.amount || payout.currency !== request.currency) {
    throw ApplicationFailure.nonRetryable(
      `payout for refund ${request.refundId} was recorded as ${payout.amount} ${payout.currency}, now asked for ${request.amount} ${request.currency}`,
      'PayoutMismatch',
    );
  }
  if (payout.status === 'paid') return { reference: payout.gateway_reference! };
  if (payout.status === 'declined') {
    throw ApplicationFailure.nonRetryable(payout.failure_message ?? 'declined', failureTypes.paymentDeclined, payout.failure_code);
  }

  let receipt: PayoutReceipt;
  try {
    receipt = await gateway.pay(request);
  } catch (error) {
    if (error instanceof PaymentDeclinedError) {
      await pool.query(
        `UPDATE payouts SET status = 'declined', failure_code = $2, failure_message = $3, updated_at = now()
         WHERE idempotency_key = $1 AND status = 'pending'`,
        [request.idempotencyKey, error.code, error.message],
      );
      throw ApplicationFailure.nonRetryable(error.message, failureTypes.paymentDeclined, error.code);
    }
    throw error; // timeouts and transport errors: retried with the same key
  }

  return withTransaction(pool, async (client) => {
    const paid = await client.query<{ gateway_reference: string }>(
      `UPDATE payouts SET status = 'paid', gateway_reference = $2, paid_at = now(), updated_at = now()
       WHERE idempotency_key = $1 AND status = 'pending' RETURNING gateway_reference`,
      [request.idempotencyKey, receipt.reference],
    );
    if (paid.rowCount === 0) {
      // Another attempt (one that timed out but was still running) recorded it first.
      const done = await client.query<{ gateway_reference: string }>('SELECT gateway_reference FROM payouts WHERE idempotency_key = $1', [request.idempotencyKey]);
      return { reference: done.rows[0]!.gateway_reference };
    }
    await client.query(
      `INSERT INTO ledger_entries (payout_key, refund_id, account, direction, amount, currency)
       VALUES ($1, $2, 'refunds_expense', 'debit', $3, $4), ($1, $2, $5, 'credit', $3, $4)`,
      [request.idempotencyKey, request.refundId, request.amount, request.currency, `gateway:${gateway.name}`],
    );
    return receipt;
  });
}
