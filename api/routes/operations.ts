/**
 * What operations watch: refunds waiting too long, the audit hash chain, alerts the notifier
 * has not delivered yet, and carrier events no refund has taken (pending or conflicting).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { requireRole } from '../plugins/authentication';
import { AuditVerificationView, CarrierEventList, OpsAlertList, StuckList } from '../../client/views';
import { bearer, problems, withAuth, type RouteDeps } from './shared';
import { StuckFilters, stuckQueryOf } from './listings';
import { listAlerts } from '../../store/ops-alerts';
import { stuckItemOf } from '../operations-service';

const StuckQuery = z.strictObject({
  ...StuckFilters,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const AlertsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  delivered: z
    .enum(['true', 'false', 'any'])
    .default('false')
    .describe('false (default): not yet delivered by the notifier; true: delivered; any: both'),
  acknowledged: z.enum(['true', 'false']).optional().describe('true: acknowledged only; false: not acknowledged only; omitted: both'),
});
const AuditQuery = z.strictObject({
  workflows: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true')
    .describe("also compare each in-flight refund's workflow head (its status query) with the rows; up to 1000 refunds"),
});
const CarrierEventsQuery = z.strictObject({
  status: z
    .enum(['pending', 'conflict'])
    .describe('pending: stored, no refund has it yet (expired ones included); conflict: an event id received again with a different body'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function registerOperationsRoutes(app: FastifyInstance, { refunds, pool, metrics }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/v1/refunds/stuck',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Refunds waiting too long, oldest first',
        description: 'Filters: olderThan, state, currency, amountMin, amountMax (minor units). The same as CSV: GET /v1/refunds/stuck.csv.',
        security: bearer,
        querystring: StuckQuery,
        response: { 200: StuckList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const rows = await refunds.listStuck(stuckQueryOf(request.query));
      return {
        refunds: rows.map(stuckItemOf),
      };
    },
  );

  api.get(
    '/v1/audit/verification',
    {
      onRequest: requireRole(pool, 'ops', 'admin'),
      schema: {
        tags: ['operations'],
        summary: 'Verify the audit trail: every hash chain, the read model, the signed checkpoints',
        description:
          'Recomputes every row’s hash and link in each subject’s chain, holds the read model to the chains, and checks the signed ' +
          'checkpoints (order, roots, signatures against the pinned audit keys, anchored heads, the export file). `findings` says ' +
          'what was edited, deleted or rehashed and where; `brokenAt` is the first of them.',
        security: bearer,
        querystring: AuditQuery,
        response: { 200: AuditVerificationView, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const verification = await refunds.verifyAudit({ workflows: request.query.workflows });
      metrics.auditVerified(verification, request.query.workflows === true);
      return verification;
    },
  );

  api.get(
    '/v1/ops/alerts',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Operations alerts, oldest first (by default those not yet delivered)',
        description:
          'Breakers tripped, from the alerts outbox, with who acknowledged them. Reading them does not mark them delivered; the ' +
          'notifier does that. Filter by `delivered` and `acknowledged`.',
        security: bearer,
        querystring: AlertsQuery,
        response: { 200: OpsAlertList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const { limit, delivered, acknowledged } = request.query;
      return {
        alerts: await listAlerts(pool, {
          limit,
          ...(delivered !== 'any' ? { delivered: delivered === 'true' } : {}),
          ...(acknowledged !== undefined ? { acknowledged: acknowledged === 'true' } : {}),
        }),
      };
    },
  );

  api.get(
    '/v1/ops/carrier-events',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Carrier events not delivered to any refund, or kept as conflicts, oldest first',
        description:
          'Pending events wait for a refund of their parcel and are delivered when it is requested; `expiredAt` is set on those ' +
          'that waited past the return window, which are no longer retried. Conflicts are event ids received again with a different body.',
        security: bearer,
        querystring: CarrierEventsQuery,
        response: { 200: CarrierEventList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const events = await refunds.listCarrierEvents(request.query.status, request.query.limit);
      return {
        events: events.map(({ id: _id, event, rawBody: _raw, signature: _sig, ...rest }) => ({ ...rest, status: event.status, event })),
      };
    },
  );
}
