/**
 * The payout rows and their ledger entries. A payout row is the write-ahead record of one refund's
 * payment, keyed by its idempotency key: `pending` before the gateway is called, then `paid` (with
 * its two ledger entries, in one transaction) or `declined`.
 */
import { withTransaction, type Db, type Pool } from './pool';

export interface PayoutRecord {
  status: 'pending' | 'paid' | 'declined';
  gatewayReference: string | null;
  amount: number;
  currency: string;
  failureCode: string | null;
  failureMessage: string | null;
}

export interface PayoutIntent {
  idempotencyKey: string;
  refundId: string;
  customerId: string;
  amount: number;
  currency: string;
  /** The gateway's name; the ledger's credit goes to its account. */
  gateway: string;
}

/** Writes the payout row as `pending`, or counts another attempt on the row already there; returns the row. */
export async function reservePayout(db: Db, intent: PayoutIntent): Promise<PayoutRecord> {
  const result = await db.query<{
    status: PayoutRecord['status'];
    gateway_reference: string | null;
    amount: number;
    currency: string;
    failure_code: string | null;
    failure_message: string | null;
  }>(
    `INSERT INTO payouts (idempotency_key, refund_id, customer_id, amount, currency, status, gateway)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6)
     ON CONFLICT (idempotency_key) DO UPDATE SET attempts = payouts.attempts + 1, updated_at = now()
     RETURNING status, gateway_reference, amount, currency, failure_code, failure_message`,
    [intent.idempotencyKey, intent.refundId, intent.customerId, intent.amount, intent.currency, intent.gateway],
  );
  const r = result.rows[0]!;
  return {
    status: r.status,
    gatewayReference: r.gateway_reference,
    amount: Number(r.amount),
    currency: r.currency,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
  };
}

/** Marks a pending payout declined for good. */
export async function recordPayoutDeclined(db: Db, idempotencyKey: string, code: string, message: string): Promise<void> {
  await db.query(
    `UPDATE payouts SET status = 'declined', failure_code = $2, failure_message = $3, updated_at = now()
     WHERE idempotency_key = $1 AND status = 'pending'`,
    [idempotencyKey, code, message],
  );
}

/** The gateway reference a paid payout was recorded with. */
export async function payoutReference(db: Db, idempotencyKey: string): Promise<string> {
  const result = await db.query<{ gateway_reference: string }>('SELECT gateway_reference FROM payouts WHERE idempotency_key = $1', [
    idempotencyKey,
  ]);
  return result.rows[0]!.gateway_reference;
}

/**
 * Marks a pending payout paid and writes its ledger entries (refunds expense debited, the gateway's
 * account credited), in one transaction. If another attempt recorded it first, writes nothing and
 * returns the reference that attempt recorded.
 */
export async function recordPayoutPaid(
  pool: Pool,
  intent: Omit<PayoutIntent, 'customerId'>,
  reference: string,
): Promise<{ recordedNow: true } | { recordedNow: false; reference: string }> {
  return withTransaction(pool, async (client) => {
    const paid = await client.query<{ gateway_reference: string }>(
      `UPDATE payouts SET status = 'paid', gateway_reference = $2, paid_at = now(), updated_at = now()
       WHERE idempotency_key = $1 AND status = 'pending' RETURNING gateway_reference`,
      [intent.idempotencyKey, reference],
    );
    if (paid.rowCount === 0) return { recordedNow: false, reference: await payoutReference(client, intent.idempotencyKey) };
    await client.query(
      `INSERT INTO ledger_entries (payout_key, refund_id, account, direction, amount, currency)
       VALUES ($1, $2, 'refunds_expense', 'debit', $3, $4), ($1, $2, $5, 'credit', $3, $4)`,
      [intent.idempotencyKey, intent.refundId, intent.amount, intent.currency, `gateway:${intent.gateway}`],
    );
    return { recordedNow: true };
  });
}
