/**
 * Refunds themselves: a refund service requests one with a request it signed (the id is the
 * idempotency key), and any principal reads one with its timeline. The statement's signer
 * (`requestedBy`) is the calling service, from authentication, never from the body; the workflow
 * verifies the signature against the key registry.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { formatMinor } from '../../workflows/currencies';
import { maxRefundAmount, type Policy } from '../../workflows/policy';
import { type RefundRequest, refundAmount } from '../../workflows/schemas';
import { problem } from '../plugins/problems';
import { principalOf, requireRole } from '../plugins/authentication';
import { RefundRequestBody, RefundView, signedRequestOf } from '../../client/views';
import { bearer, problems, RefundPath, refundView, withAuth, type RouteDeps } from './shared';

/** A refund above the policy's largest amount is refused before it starts: 422 naming `items`. */
function checkRefundLimit(request: Pick<RefundRequest, 'items' | 'currency'>, policy: Policy): void {
  const amount = refundAmount(request);
  const max = maxRefundAmount(policy, request.currency);
  if (amount <= max) return;
  const message = `the refund amount ${formatMinor(amount, request.currency)} is above the largest refund accepted, ${formatMinor(max, request.currency)} (policy limits.maxRefundAmount)`;
  throw problem('invalid_input', `items: ${message}`, { errors: [{ path: 'items', message }] });
}

export function registerRefundRoutes(app: FastifyInstance, { refunds, pool, policy }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

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
          '`initiatedBy` names the employee who asked for it, or "customer". Next to the request, the signature fields of the ' +
          'refund_request statement the calling service signed with its registered Ed25519 key: `keyId`, `signedAt`, `nonce`, ' +
          '`signature`; the API adds `requestedBy` (the caller), `kind: "refund_request"` and `alg: "ed25519"`, and the signature ' +
          'must cover that whole statement (RFC 8785 canonical JSON). The workflow verifies it against the key registry: a request ' +
          'that does not count (a wrong key or signature, a caller not registered as a refund service) is answered with the refund ' +
          '`rejected` at once, outcome `request_refused`, its audit step `statement_rejected` naming the rule; it never pays. ' +
          'The same request signed again (another nonce or time) is the same refund.',
        security: bearer,
        body: RefundRequestBody,
        response: {
          200: RefundView.describe('the refund already existed with this exact request'),
          201: RefundView.describe('the refund was created'),
          ...problems(400, 409, 413, 415, 422, ...withAuth),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      checkRefundLimit(request.body, policy);
      const result = await refunds.requestRefund(signedRequestOf(principal.id, request.body));
      reply.code(result.created ? 201 : 200).header('location', `/v1/refunds/${encodeURIComponent(result.refundId)}`);
      return refundView(refunds, result.refundId);
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
    async (request) => refundView(refunds, request.params.refundId),
  );
}
