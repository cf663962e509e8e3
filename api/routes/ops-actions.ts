/**
 * Operations actions on a refund in flight (escalate to another approver group, extend the current
 * stage's deadline, nudge the carrier or the warehouse) and acknowledging an operations alert.
 * Each action is a workflow update that records the operator and the reason on the refund's audit
 * trail; none can move money. Refusals name their rule (409, `ops_action_refused`).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlertAckBody, EscalateBody, ExtendDeadlineBody, NudgeBody } from '../../client/ops-views';
import { OpsAlertView, RefundView } from '../../client/views';
import { OperationsService } from '../operations-service';
import { principalOf, requireRole } from '../plugins/authentication';
import { updateIdOf } from '../plugins/idempotency';
import { bearer, problems, RefundPath, refundView, withAuth, type RouteDeps } from './shared';

const AlertPath = z.strictObject({
  alertId: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('the alert id, as GET /v1/ops/alerts lists it'),
});

const REFUSALS =
  'Refused with 409 `ops_action_refused` and the `rule`: `refund_finished`, `deadline_not_extendable`, `extension_cap_exceeded`, ' +
  '`not_waiting_for_party`, `refund_starting`.';

export function registerOpsActionRoutes(app: FastifyInstance, { refunds, pool }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const operations = new OperationsService({ refunds, pool });
  // 503: no worker took the action within 20 s (retry with the same Idempotency-Key).
  const responses = { 200: RefundView, ...problems(400, 404, 409, 413, 415, 422, 503, ...withAuth) };

  api.post(
    '/v1/refunds/:refundId/escalate',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Hand a refund to another approver group',
        description:
          'Records the escalation on the refund (`escalations`, with `by` and `group`) and an `escalated` step on its audit trail ' +
          `with group, by and reason, for a notifier to deliver to the group. Any state before the refund finishes. ${REFUSALS}`,
        security: bearer,
        params: RefundPath,
        body: EscalateBody,
        response: responses,
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const status = await operations.escalate(refundId, principalOf(request).id, request.body, updateIdOf(request));
      return refundView(refunds, refundId, status);
    },
  );

  api.post(
    '/v1/refunds/:refundId/extend-deadline',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: "Extend the deadline of the refund's current stage",
        description:
          'Moves the stage deadline `by` later (ISO 8601 duration); a stuck refund is no longer stuck until the new deadline. The ' +
          'total extension in one state is capped by the policy (`timers.maxDeadlineExtension`, default 7 days). It never pays ' +
          'and never skips a step: state, evidence, risk and approvals still needed stay as they are. Not while paying or once ' +
          `finished. ${REFUSALS}`,
        security: bearer,
        params: RefundPath,
        body: ExtendDeadlineBody,
        response: responses,
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const status = await operations.extendDeadline(refundId, principalOf(request).id, request.body, updateIdOf(request));
      return refundView(refunds, refundId, status);
    },
  );

  api.post(
    '/v1/refunds/:refundId/nudge',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Ask the carrier or the warehouse again',
        description:
          'Records the nudge on the refund (`nudges`) and an `evidence_requested` step on its audit trail with party, by and reason. ' +
          `Only while the refund waits for that party (awaiting_carrier: carrier; awaiting_warehouse: warehouse). ${REFUSALS}`,
        security: bearer,
        params: RefundPath,
        body: NudgeBody,
        response: responses,
      },
    },
    async (request) => {
      const { refundId } = request.params;
      const status = await operations.nudge(refundId, principalOf(request).id, request.body, updateIdOf(request));
      return refundView(refunds, refundId, status);
    },
  );

  api.post(
    '/v1/ops/alerts/:alertId/ack',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Acknowledge an operations alert',
        description:
          'Sets `acknowledgedAt` and `acknowledgedBy` (the caller), with the optional note. An alert already acknowledged keeps its ' +
          'first acknowledgement, which is the answer. 404 for an unknown alert.',
        security: bearer,
        params: AlertPath,
        body: AlertAckBody,
        response: { 200: OpsAlertView, ...problems(400, 404, 413, 415, 422, ...withAuth) },
      },
    },
    async (request) => {
      const { alert } = await operations.acknowledgeAlert(request.params.alertId, principalOf(request).id, request.body.note);
      return alert;
    },
  );
}
