/**
 * Decisions on a refund: approvers approve or reject it with a decision they signed (the workflow
 * verifies the signature against the key registry; roles and limits come from there), refund
 * services or operations cancel it before payout. The workflow enforces the rules; problems.ts
 * turns its refusals into answers.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { formatMinor } from '../../workflows/currencies';
import { ApprovalRefusedError, RefundNotFoundError } from '../../client/errors';
import { principalOf, requireRole } from '../plugins/authentication';
import { updateIdOf } from '../plugins/idempotency';
import { ApprovalBody, CancelBody, RefundView, signedDecisionOf } from '../../client/views';
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
          'A decision statement the approver signed with their registered Ed25519 key: the API adds the refund id (from the path), ' +
          'the approver (the authenticated caller), `kind: "decision"` and `alg: "ed25519"`, and the signature must cover that whole ' +
          'statement (RFC 8785 canonical JSON). The workflow verifies it against the key registry; the approver’s roles and limits ' +
          'come from their registry entry. A refusal answers 403 with the `rule` (a separation-of-duties rule, or why the statement ' +
          'does not count: `bad_signature`, `unknown_principal`, `amount_mismatch`, …); a refund that is not awaiting approval answers ' +
          '409 (`not_awaiting_approval`). Answers with the refund’s new status. 503 (retry-after) when no worker takes the decision ' +
          'within 20 s: retry with the same Idempotency-Key, which decides once.',
        security: bearer,
        params: RefundPath,
        body: ApprovalBody,
        response: { 200: RefundView, ...problems(400, 404, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const principal = principalOf(request);
      const row = await refunds.getRefundRow(refundId);
      if (!row) throw new RefundNotFoundError(`refund ${refundId} not found`);
      // A courtesy only: the workflow checks the amount against its own, whatever is said here.
      const { amount, currency } = request.body;
      if (amount !== row.amount || currency !== row.currency) {
        const signed = formatMinor(amount, currency);
        throw new ApprovalRefusedError(
          'amount_mismatch',
          `the decision is for ${signed}; the refund is ${formatMinor(row.amount, row.currency)}`,
        );
      }
      const status = await refunds.decide(refundId, signedDecisionOf(refundId, principal.id, request.body), updateIdOf(request));
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
        description:
          'Refused with 409 once the payout has started or the refund has finished. 503 (retry-after) when no worker takes it within 20 s: retry with the same Idempotency-Key.',
        security: bearer,
        params: RefundPath,
        body: CancelBody,
        response: { 200: RefundView, ...problems(400, 404, 409, 413, 415, 422, 503, ...withAuth) },
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const status = await refunds.cancel(refundId, principalOf(request).id, request.body.reason, updateIdOf(request));
      return refundView(refunds, refundId, status);
    },
  );
}
