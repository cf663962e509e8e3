/**
 * What every /v1 route module shares: its dependencies, the problem answers and security it
 * declares for the OpenAPI document, and the refund as the API shows it.
 */
import { z } from 'zod';
import type { Pool } from '../../store/pool';
import type { RefundStatus } from '../../workflows/messages';
import type { Policy } from '../../workflows/policy';
import type { TrustRoots } from '../../workflows/statements';
import { id } from '../../workflows/schemas';
import type { RefundsService } from '../refunds-service';
import type { ApiMetrics } from '../plugins/metrics';
import { Problem, PROBLEM_CONTENT_TYPE } from '../plugins/problems';
import type { RefundView } from '../../client/views';
import type { CarrierSecrets } from '../../client/carrier-signature';

export interface RouteDeps {
  refunds: RefundsService;
  pool: Pool;
  carrierSecrets: CarrierSecrets;
  metrics: ApiMetrics;
  /** The service's policy, for the limits checked where a refund is requested. */
  policy: Policy;
  /** The admins whose endorsements count (REFUNDS_TRUST_ROOTS), for the registry routes' early checks. */
  trustRoots?: TrustRoots;
}

export const RefundPath = z.strictObject({ refundId: id('refundId') });

/** Response schemas for the problems a route can answer with, for the OpenAPI document. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, { description: `problem (${status})`, content: { [PROBLEM_CONTENT_TYPE]: { schema: Problem } } }]),
  );
}
export const withAuth = [401, 403, 429];
export const bearer = [{ bearerAuth: [] }];

/** The refund as the API shows it: its live status plus its audit trail as a timeline. */
export async function refundView(refunds: RefundsService, refundId: string, status?: RefundStatus): Promise<RefundView> {
  const [current, trail] = await Promise.all([status ?? refunds.getRefund(refundId), refunds.auditTrail(refundId)]);
  return {
    ...current,
    timeline: trail.map((row) => ({ seq: row.seq, at: row.occurredAt, kind: row.kind, actor: row.actor, data: row.data })),
  };
}
