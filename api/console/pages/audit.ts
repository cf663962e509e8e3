/**
 * Audit status: the last verification of the audit trail run from the console (who, when, what it
 * found) and a button for operations and admins to run one now, as `GET /v1/audit/verification` does.
 */
import type { FastifyInstance } from 'fastify';
import { latestAuditVerificationRuns, recordAuditVerificationRun } from '../../../store/audit-verification-runs';
import type { ConsoleContext } from '../context';
import { CONSOLE_PATH, sessionOf } from '../session';
import { failureOf, noticeOf } from './outcome';

export function registerAuditPages(app: FastifyInstance, context: ConsoleContext): void {
  app.get('/audit', { schema: { hide: true }, preHandler: context.session('ops', 'admin') }, async (request, reply) => {
    const runs = await latestAuditVerificationRuns(context.pool, 10);
    return context.render(request, reply, 'audit', {
      title: 'Audit trail',
      last: runs[0],
      runs,
      notice: noticeOf(request.query),
    });
  });

  app.post('/audit/verify', { schema: { hide: true }, preHandler: context.session('ops', 'admin') }, async (request, reply) => {
    const startedAt = new Date();
    const workflows = (request.body as { workflows?: unknown } | undefined)?.workflows === 'true';
    try {
      const result = await context.refunds.verifyAudit({ workflows });
      await recordAuditVerificationRun(context.pool, { runBy: sessionOf(request).principal.id, startedAt, result });
    } catch (error) {
      const { failure, internal } = failureOf(error);
      if (internal) request.log.error({ err: error }, 'console audit verification failed');
      const runs = await latestAuditVerificationRuns(context.pool, 10);
      return context.render(request, reply, 'audit', { title: 'Audit trail', last: runs[0], runs, error: failure.message }, failure.status);
    }
    return reply.redirect(`${CONSOLE_PATH}/audit?done=verified`, 303);
  });
}
