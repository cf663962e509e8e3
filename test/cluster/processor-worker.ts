/**
 * A refund worker for the cluster tests: the production worker (runWorker, configured from the
 * environment as worker/main.ts is) paying through the fake card processor
 * (test/support/scripted-gateway.ts), so every payout leaves a charge to count. The first payout
 * attempt of a refund whose id starts with `stall-` charges the card and then never answers, and
 * says so on stdout (`payout stalled: <refund id>`), so a test can kill this worker mid-payout.
 */
import type { PaymentGateway, PayoutReceipt, PayoutRequest } from '../../activities/payments';
import { createPool } from '../../store/pool';
import { runWorker } from '../../worker/worker';
import { ScriptedGateway } from '../support/scripted-gateway';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('DATABASE_URL is not set');
const pool = createPool(databaseUrl, 2);

class StallingFirstAttempt implements PaymentGateway {
  readonly name = 'fake-processor';
  private readonly processor = new ScriptedGateway(pool);

  async pay(request: PayoutRequest): Promise<PayoutReceipt> {
    if (request.refundId.startsWith('stall-')) {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM fake_processor.calls WHERE idempotency_key = $1', [
        request.idempotencyKey,
      ]);
      if (rows[0]!.n === 0) {
        this.processor.script(request.refundId, ['hang_after_charge']);
        process.stdout.write(`payout stalled: ${request.refundId}\n`);
      }
    }
    return this.processor.pay(request);
  }
}

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
try {
  await runWorker({ databaseUrl, signal: controller.signal, gateway: new StallingFirstAttempt() });
} finally {
  await pool.end();
}
