/**
 * The refund page: everything `GET /v1/refunds/{id}` answers, laid out for a person, with its
 * audit timeline and the actions the signed-in principal may take (operations: cancel).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTerminal } from '../../../workflows/refund-model';
import { refundView, RefundPath } from '../../routes/shared';
import type { ConsoleContext } from '../context';
import { CONSOLE_PATH, ConsolePageError, sessionOf } from '../session';
import { type Failure, failureOf, formOf, type NoticeName, noticeOf, reasonOf } from './outcome';

function refundIdOf(params: unknown): string {
  const parsed = RefundPath.safeParse(params);
  if (!parsed.success) throw new ConsolePageError(404, 'Not a refund id', 'That is not a refund id this service accepts.');
  return parsed.data.refundId;
}

export const refundHref = (refundId: string) => `${CONSOLE_PATH}/refunds/${encodeURIComponent(refundId)}`;

export function registerRefundPages(app: FastifyInstance, context: ConsoleContext): void {
  const page = async (
    request: FastifyRequest,
    reply: FastifyReply,
    refundId: string,
    extra: { failure?: Failure; reason?: string } = {},
  ) => {
    let refund: Awaited<ReturnType<typeof refundView>>;
    try {
      refund = await refundView(context.refunds, refundId);
    } catch (error) {
      const { failure, internal } = failureOf(error);
      if (internal) throw error;
      throw new ConsolePageError(failure.status, failure.status === 404 ? 'Refund not found' : 'Refund not available', failure.message);
    }
    const roles = sessionOf(request).principal.roles;
    return context.render(
      request,
      reply,
      'refund',
      {
        title: `Refund ${refund.refundId}`,
        refund,
        canCancel: roles.includes('ops') && !isTerminal(refund.state) && refund.state !== 'paying',
        canAct: roles.includes('ops') && !isTerminal(refund.state),
        canDecide: roles.includes('approver') && refund.state === 'awaiting_approval',
        passkeyScript: roles.includes('approver') && refund.state === 'awaiting_approval',
        nudgeParty: refund.state === 'awaiting_carrier' ? 'carrier' : refund.state === 'awaiting_warehouse' ? 'warehouse' : undefined,
        canLiftBreakers: roles.includes('admin'),
        notice: noticeOf(request.query),
        error: extra.failure?.message,
        reason: extra.reason ?? '',
      },
      extra.failure?.status ?? 200,
    );
  };

  app.get('/refunds', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) => {
    const refundId = String((request.query as { refundId?: unknown }).refundId ?? '').trim();
    return reply.redirect(refundHref(refundIdOf({ refundId })), 303);
  });

  app.get('/refunds/:refundId', { schema: { hide: true }, preHandler: context.session() }, async (request, reply) =>
    page(request, reply, refundIdOf(request.params)),
  );

  /** An operations action on the refund: each needs a reason and lands on the refund's audit trail. */
  const opsAction = (
    path: string,
    done: NoticeName,
    act: (refundId: string, by: string, form: Record<string, string>, reason: string) => Promise<unknown>,
  ) =>
    app.post(`/refunds/:refundId/${path}`, { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
      const refundId = refundIdOf(request.params);
      const form = formOf(request.body);
      const reason = reasonOf(request.body);
      if (!reason) return page(request, reply, refundId, { failure: { status: 422, message: 'This action needs a reason.' } });
      try {
        await act(refundId, sessionOf(request).principal.id, form, reason);
      } catch (error) {
        const { failure, internal } = failureOf(error);
        if (internal) request.log.error({ err: error }, `console ${path} failed`);
        return page(request, reply, refundId, { failure, reason });
      }
      return reply.redirect(`${refundHref(refundId)}?done=${done}`, 303);
    });

  opsAction('escalate', 'escalated', (refundId, by, form, reason) =>
    context.operations.escalate(refundId, by, { group: form.group ?? '', reason }),
  );
  opsAction('extend-deadline', 'extended', (refundId, by, form, reason) =>
    context.operations.extendDeadline(refundId, by, { by: form.by ?? '', reason }),
  );
  opsAction('nudge', 'nudged', (refundId, by, form, reason) =>
    context.operations.nudge(refundId, by, { party: form.party as 'carrier' | 'warehouse', reason }),
  );

  app.post('/refunds/:refundId/cancel', { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
    const refundId = refundIdOf(request.params);
    const reason = reasonOf(request.body);
    if (!reason) return page(request, reply, refundId, { failure: { status: 422, message: 'A cancellation needs a reason.' } });
    try {
      await context.refunds.cancel(refundId, sessionOf(request).principal.id, reason);
    } catch (error) {
      const { failure, internal } = failureOf(error);
      if (internal) request.log.error({ err: error }, 'console cancel failed');
      return page(request, reply, refundId, { failure, reason });
    }
    return reply.redirect(`${refundHref(refundId)}?done=cancelled`, 303);
  });
}
