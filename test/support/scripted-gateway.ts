/**
 * A fake card processor for tests: the one component with no real counterpart here. It keeps
 * its own idempotency store in PostgreSQL (a schema of its own, standing for the processor's
 * systems), so it behaves like a real processor across worker crashes: a second call with the
 * same key returns the first charge and moves no money. Per refund, a script says how it
 * misbehaves: time out before or after charging, decline, or hang after charging.
 */
import { serviceRole } from '../../store/database-server';
import type { Pool } from '../../store/pool';
import {
  GatewayTimeoutError,
  PaymentDeclinedError,
  type PaymentGateway,
  type PayoutReceipt,
  type PayoutRequest,
} from '../../activities/payments';

export type GatewayStep = 'ok' | 'timeout_before_charge' | 'timeout_after_charge' | 'decline' | 'hang_after_charge';

/**
 * Creates the processor's schema, once per run (test/global-setup.ts), as the schema owner: the
 * gateway runs inside the worker, which connects as the service role, so that role gets the rows.
 */
export async function installFakeProcessor(ownerPool: Pool): Promise<void> {
  await ownerPool.query(`CREATE SCHEMA IF NOT EXISTS fake_processor`);
  await ownerPool.query(`CREATE TABLE IF NOT EXISTS fake_processor.charges (
    idempotency_key text PRIMARY KEY, reference text NOT NULL, amount bigint NOT NULL, currency text NOT NULL,
    charged_at timestamptz NOT NULL DEFAULT now())`);
  await ownerPool.query(`CREATE TABLE IF NOT EXISTS fake_processor.calls (
    id bigserial PRIMARY KEY, idempotency_key text NOT NULL, outcome text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  await ownerPool.query(`GRANT USAGE ON SCHEMA fake_processor TO ${serviceRole}`);
  await ownerPool.query(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA fake_processor TO ${serviceRole}`);
  await ownerPool.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA fake_processor TO ${serviceRole}`);
}

export class ScriptedGateway implements PaymentGateway {
  readonly name = 'fake-processor';
  private readonly scripts = new Map<string, GatewayStep[]>();

  constructor(
    private readonly pool: Pool,
    private readonly defaultStep: GatewayStep = 'ok',
  ) {}

  /** The next calls for this refund behave as listed, then as `ok`. */
  script(refundId: string, steps: GatewayStep[]): void {
    this.scripts.set(refundId, [...steps]);
  }

  async pay(request: PayoutRequest): Promise<PayoutReceipt> {
    const step = this.scripts.get(request.refundId)?.shift() ?? this.defaultStep;
    await this.pool.query('INSERT INTO fake_processor.calls (idempotency_key, outcome) VALUES ($1, $2)', [request.idempotencyKey, step]);
    if (step === 'timeout_before_charge') throw new GatewayTimeoutError('processor did not answer within 10 s');
    if (step === 'decline') throw new PaymentDeclinedError('card_closed', 'the card account is closed');
    const receipt = await this.charge(request);
    if (step === 'timeout_after_charge') throw new GatewayTimeoutError('processor did not answer within 10 s');
    if (step === 'hang_after_charge') await new Promise(() => undefined);
    return receipt;
  }

  /** Charges once per idempotency key; a repeat returns the first charge. */
  private async charge(request: PayoutRequest): Promise<PayoutReceipt> {
    const result = await this.pool.query<{ reference: string }>(
      `INSERT INTO fake_processor.charges (idempotency_key, reference, amount, currency) VALUES ($1, $2, $3, $4)
       ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = excluded.idempotency_key
       RETURNING reference`,
      [request.idempotencyKey, `ch_${request.refundId}`, request.amount, request.currency],
    );
    return { reference: result.rows[0]!.reference };
  }
}

export async function chargesFor(pool: Pool, refundId: string): Promise<number> {
  const result = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM fake_processor.charges WHERE reference = $1`, [
    `ch_${refundId}`,
  ]);
  return result.rows[0]!.n;
}
