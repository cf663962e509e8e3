/**
 * The run's principals, each with an API key and, where it signs, a signing key registered and
 * endorsed by both trust-root admins: one refund service (its key registered with role
 * refund_service, for when requests are signed), scanners, approvers, one ops principal. The
 * pools are large enough that no one comes near the risk engine's per-employee limits.
 */
import { RefundsApiClient, type SigningKey } from '../client/refunds-api-client';
import { register, type BenchTrust } from '../bench/registry';
import { createPool } from '../store/pool';
import { addPrincipal } from '../store/principals';
import type { Role } from '../workflows/schemas';

export interface ChaosClients {
  service: RefundsApiClient;
  carrier: RefundsApiClient;
  ops: RefundsApiClient;
  scanners: Array<{ id: string; client: RefundsApiClient }>;
  approvers: Array<{ id: string; client: RefundsApiClient }>;
}

/** Above the API's handler timeout, so a hang shows as a long call rather than a client-side abort. */
export const CLIENT_TIMEOUT_MS = 45_000;

/**
 * Decisions and cancels are sent again under the same Idempotency-Key this many times (0.5 to 5 s
 * apart): enough to outlast a process restart, so the key, not luck, keeps a retry from counting twice.
 */
export const CLIENT_RETRIES = 20;

export async function createChaosClients(
  opts: { apiUrl: string; ownerDatabaseUrl: string; trust: BenchTrust },
  pools: { scanners: number; approvers: number },
): Promise<ChaosClients> {
  const pool = createPool(opts.ownerDatabaseUrl, 2);
  const client = (apiKey?: string, signingKey?: SigningKey) =>
    new RefundsApiClient({
      baseUrl: opts.apiUrl,
      timeoutMs: CLIENT_TIMEOUT_MS,
      retries: CLIENT_RETRIES,
      ...(apiKey ? { apiKey } : {}),
      ...(signingKey ? { signingKey } : {}),
    });
  const principal = async (id: string, role: Role, signs: boolean) => {
    const { apiKey } = await addPrincipal(pool, { id, roles: [role], ...(role === 'approver' ? { approvalLimit: '10000.00' } : {}) });
    return client(apiKey, signs ? { principalId: id, ...(await register(pool, opts.trust, id, [role])) } : undefined);
  };
  try {
    const scanners = [];
    for (let n = 0; n < pools.scanners; n++)
      scanners.push({ id: `chaos-scanner-${n}`, client: await principal(`chaos-scanner-${n}`, 'warehouse', true) });
    const approvers = [];
    for (let n = 0; n < pools.approvers; n++)
      approvers.push({ id: `chaos-approver-${n}`, client: await principal(`chaos-approver-${n}`, 'approver', true) });
    return {
      service: await principal('chaos-refund-service', 'refund_service', true),
      ops: await principal('chaos-ops', 'ops', false),
      carrier: new RefundsApiClient({
        baseUrl: opts.apiUrl,
        timeoutMs: CLIENT_TIMEOUT_MS,
        carrierKey: { carrier: 'ups', ...opts.trust.carrierKey },
      }),
      scanners,
      approvers,
    };
  } finally {
    await pool.end();
  }
}
