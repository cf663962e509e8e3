/**
 * The /v1 routes. Each one validates with the message schemas, takes the caller's identity from
 * authentication (never from the body), and calls the typed client; the client and the workflow
 * enforce the rules, and problems.ts turns their refusals into answers.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Pool } from '../../store/pool';
import type { RefundStatus } from '../../workflows/messages';
import { activeStates } from '../../workflows/refund-model';
import { ApprovalDecision, BreakerLift, CarrierEvent, id, RefundRequest, WarehouseReceipt } from '../../workflows/schemas';
import { RefundNotFoundError } from '../../client/errors';
import { approverOf } from '../../store/principals';
import type { RefundsService } from '../refunds-service';
import { principalOf, requireCarrierSignature, requireRole } from '../plugins/authentication';
import { IsoDuration } from '../iso-duration';
import type { ApiMetrics } from '../plugins/metrics';
import { Problem, PROBLEM_CONTENT_TYPE } from '../plugins/problems';
import {
  AuditVerificationView,
  BreakerList,
  BreakerView,
  CancelBody,
  CarrierEventAccepted,
  OpsAlertList,
  RefundState,
  RefundView,
  ScanAccepted,
  StuckList,
} from '../../client/views';

export interface RouteDeps {
  refunds: RefundsService;
  pool: Pool;
  carrierWebhookSecret: string;
  metrics: ApiMetrics;
}

const RefundPath = z.strictObject({ refundId: id('refundId') });
const EmployeePath = z.strictObject({ employeeId: id('employeeId') });
/** The lifting admin is the authenticated caller, so the body carries only the reason. */
const BreakerLiftBody = BreakerLift.pick({ reason: true });
const AlertsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

const StuckQuery = z.strictObject({
  olderThan: IsoDuration.optional().describe("waiting in the current state longer than this; default: past that state's own limit"),
  state: z
    .union([RefundState, z.array(RefundState)])
    .optional()
    .transform((s) => (s === undefined ? undefined : Array.isArray(s) ? s : [s]))
    .describe('only these states (repeat the parameter for several)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Response schemas for the problems a route can answer with, for the OpenAPI document. */
function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, { description: `problem (${status})`, content: { [PROBLEM_CONTENT_TYPE]: { schema: Problem } } }]),
  );
}
const withAuth = [401, 403, 429];
const bearer = [{ bearerAuth: [] }];

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { refunds, pool, metrics } = deps;
  const api = app.withTypeProvider<ZodTypeProvider>();

  /** The refund as the API shows it: its live status plus its audit trail as a timeline. */
  async function refundView(refundId: string, status?: RefundStatus): Promise<RefundView> {
    const [current, trail] = await Promise.all([status ?? refunds.getRefund(refundId), refunds.auditTrail(refundId)]);
    return {
      ...current,
      timeline: trail.map((row) => ({ seq: row.seq, at: row.occurredAt, kind: row.kind, actor: row.actor, data: row.data })),
    };
  }

  api.post(
    '/v1/refunds',
    {
      onRequest: requireRole(pool, 'refund_service'),
      schema: {
        tags: ['refund services'],
        summary: 'Request a refund',
        description:
          'Starts a refund. The refund id is the idempotency key: the same id and body answer 200 with the existing refund; ' +
          'the same id with a different body is a conflict (409), even after the first refund has finished. ' +
          '`initiatedBy` names the employee who asked for it, or "customer"; the calling service is recorded as `requestedBy`.',
        security: bearer,
        body: RefundRequest,
        response: {
          200: RefundView.describe('the refund already existed with this exact request'),
          201: RefundView.describe('the refund was created'),
          ...problems(400, 409, 413, 415, 422, ...withAuth),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const result = await refunds.requestRefund(request.body, { requestedBy: principal.id });
      reply.code(result.created ? 201 : 200).header('location', `/v1/refunds/${encodeURIComponent(result.refundId)}`);
      return refundView(result.refundId);
    },
  );

  api.post(
    '/v1/carrier-events',
    {
      preValidation: requireCarrierSignature(deps.carrierWebhookSecret),
      schema: {
        tags: ['carriers'],
        summary: 'Report a tracking event for a return parcel',
        description:
          'Signed with the shared secret: `X-Carrier-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. ' +
          'A timestamp more than 5 minutes from the server clock is refused. A repeated event id is accepted and changes nothing. ' +
          'Routed to the refund waiting for this carrier and tracking number.',
        security: [{ carrierSignature: [] }],
        body: CarrierEvent,
        response: { 202: CarrierEventAccepted, ...problems(400, 401, 404, 413, 415, 422, 429) },
      },
    },
    async (request, reply) => {
      const routed = await refunds.recordCarrierEvent(request.body);
      return reply.code(202).send(routed);
    },
  );

  api.post(
    '/v1/refunds/:refundId/warehouse-scans',
    {
      onRequest: requireRole(pool, 'warehouse'),
      schema: {
        tags: ['warehouses'],
        summary: 'Record a receipt scan of the returned parcel',
        description: 'The scanner is the authenticated caller. A repeated event id changes nothing. The scanner can never approve this refund.',
        security: bearer,
        params: RefundPath,
        body: WarehouseReceipt,
        response: { 202: ScanAccepted, ...problems(400, 404, 413, 415, 422, ...withAuth) },
      },
    },
    async (request, reply) => {
      const { refundId } = request.params;
      await refunds.recordWarehouseScan(refundId, request.body, principalOf(request).id);
      return reply.code(202).send({ refundId, eventId: request.body.eventId });
    },
  );

  api.post(
    '/v1/refunds/:refundId/approvals',
    {
      onRequest: requireRole(pool, 'approver'),
      schema: {
        tags: ['approvers'],
        summary: 'Approve or reject a refund',
        description:
          'The approver is the authenticated caller, with their approval limit (major units, applied in the refund’s currency). ' +
          'A separation-of-duties refusal answers 403 with the `rule`; a refund that is not awaiting approval answers 409 (`not_awaiting_approval`). ' +
          'Answers with the refund’s new status.',
        security: bearer,
        params: RefundPath,
        body: ApprovalDecision,
        response: { 200: RefundView, ...problems(400, 404, 409, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const principal = principalOf(request);
      const row = await refunds.getRefundRow(refundId);
      if (!row) throw new RefundNotFoundError(`refund ${refundId} not found`);
      const status = await refunds.decide(refundId, approverOf(principal, row.currency), request.body);
      metrics.approvals.inc({ decision: request.body.decision });
      return refundView(refundId, status);
    },
  );

  api.post(
    '/v1/refunds/:refundId/cancel',
    {
      onRequest: requireRole(pool, 'refund_service', 'ops'),
      schema: {
        tags: ['refund services', 'operations'],
        summary: 'Cancel a refund before payout',
        description: 'Refused with 409 once the payout has started or the refund has finished.',
        security: bearer,
        params: RefundPath,
        body: CancelBody,
        response: { 200: RefundView, ...problems(400, 404, 409, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const status = await refunds.cancel(refundId, principalOf(request).id, request.body.reason);
      return refundView(refundId, status);
    },
  );

  api.get(
    '/v1/refunds/stuck',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Refunds waiting too long, oldest first',
        security: bearer,
        querystring: StuckQuery,
        response: { 200: StuckList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const { olderThan, state, limit } = request.query;
      const rows = await refunds.listStuck({
        ...(olderThan !== undefined ? { olderThanMs: olderThan } : {}),
        states: state?.filter((s) => activeStates.includes(s)) ?? [],
        limit,
      });
      return {
        refunds: rows.map((row) => ({
          refundId: row.refundId,
          state: row.state,
          waitingFor: row.waitingFor,
          since: row.stateSince,
          stuckAfter: row.stuckAfter,
          amount: row.amount,
          currency: row.currency,
          customerId: row.customerId,
          initiatedBy: row.initiatedBy,
        })),
      };
    },
  );

  api.get(
    '/v1/refunds/:refundId',
    {
      onRequest: requireRole(pool),
      schema: {
        tags: ['refund services', 'approvers', 'operations', 'warehouses'],
        summary: 'A refund: state, amount, evidence, risk, approvals, payout, deadlines and timeline',
        security: bearer,
        params: RefundPath,
        response: { 200: RefundView, ...problems(404, 422, 503, ...withAuth) },
      },
    },
    async (request) => refundView(request.params.refundId),
  );

  api.get(
    '/v1/audit/verification',
    {
      onRequest: requireRole(pool, 'ops', 'admin'),
      schema: {
        tags: ['operations'],
        summary: 'Verify the whole audit hash chain',
        description: 'Recomputes every row’s hash; `brokenAt` names the first row that does not verify.',
        security: bearer,
        response: { 200: AuditVerificationView, ...problems(...withAuth) },
      },
    },
    async () => refunds.verifyAudit(),
  );

  api.post(
    '/v1/employees/:employeeId/breaker/lift',
    {
      onRequest: requireRole(pool, 'admin'),
      schema: {
        tags: ['operations'],
        summary: "Lift an employee's tripped circuit breaker",
        description:
          'The admin lifting it is the authenticated caller and may not lift their own breaker (403 `breaker_lift_refused`); ' +
          'an employee with no tripped breaker answers 409 (`breaker_not_tripped`). The lift is written to the audit trail ' +
          "with the admin's id, and the employee's limits count afresh from now on. Answers with the lifted breaker.",
        security: bearer,
        params: EmployeePath,
        body: BreakerLiftBody,
        response: { 200: BreakerView, ...problems(400, 409, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return refunds.liftBreaker(request.params.employeeId, principal, request.body.reason);
    },
  );

  api.get(
    '/v1/employees/:employeeId/breakers',
    {
      onRequest: requireRole(pool, 'ops', 'admin'),
      schema: {
        tags: ['operations'],
        summary: "An employee's circuit breakers, newest first",
        description: 'A tripped breaker has `liftedAt: null`; while it is tripped every refund the employee touches needs one more approver.',
        security: bearer,
        params: EmployeePath,
        response: { 200: BreakerList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => ({ breakers: await refunds.breakers(request.params.employeeId) }),
  );

  api.get(
    '/v1/ops/alerts',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Operations alerts not yet delivered, oldest first',
        description: 'Breakers tripped, from the alerts outbox. Reading them does not mark them delivered; the notifier does that.',
        security: bearer,
        querystring: AlertsQuery,
        response: { 200: OpsAlertList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => ({ alerts: await refunds.undeliveredAlerts(request.query.limit) }),
  );
}
