/**
 * The approvals inbox: the refunds waiting for the signed-in approver that they may decide (not
 * ones they requested, scanned or already decided, and within their registered limits), longest
 * waiting first, with the evidence, risk and approvals so far (OperationsService.approvalsInbox,
 * which holds each refund to the workflow's own rules).
 */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { sessionOf } from '../session';
import { noticeOf } from './outcome';

export function registerInboxPages(app: FastifyInstance, context: ConsoleContext): void {
  app.get('/inbox', { schema: { hide: true }, preHandler: context.session('approver') }, async (request, reply) => {
    const principal = sessionOf(request).principal;
    const inbox = await context.operations.approvalsInbox(principal);
    return context.render(request, reply, 'inbox', {
      title: 'Approvals inbox',
      inbox,
      notice: noticeOf(request.query),
      passkeyScript: true,
    });
  });
}
