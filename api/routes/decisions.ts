/**
 * Decisions on a refund: approvers approve or reject it (with the limit of their principal, in
 * the refund's currency), refund services or operations cancel it before payout. The client and
 * the workflow enforce the rules; problems.ts turns their refusals into answers.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApprovalDecision } from '../../workflows/schemas';
import { RefundNotFoundError } from '../../client/errors';
import { approverOf } from '../../store/principals';
import { principalOf, requireRole } from '../plugins/authentication';
import { CancelBody, RefundView } from '../../client/views';
import { bearer, problems, RefundPath, refundView, withAuth, type RouteDeps } from './shared';

export function registerDecisionRoutes(app: FastifyInstance, { refunds, pool, metrics }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

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
      return refundView(refunds, refundId, status);
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
      return refundView(refunds, refundId, status);
    },
  );
}
