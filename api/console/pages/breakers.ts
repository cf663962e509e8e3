/**
 * Employees' circuit breakers: operations and admins look one up; an admin lifts a tripped one
 * (never their own) with a reason, as `POST /v1/employees/{id}/breaker/lift` does.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { principalId } from '../../../workflows/schemas';
import type { ConsoleContext } from '../context';
import { CONSOLE_PATH, ConsolePageError, sessionOf } from '../session';
import { type Failure, failureOf, noticeOf, reasonOf } from './outcome';

const EmployeeId = principalId('employeeId');

function employeeIdOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  const parsed = EmployeeId.safeParse(raw.trim());
  if (!parsed.success) throw new ConsolePageError(422, 'Not an employee id', 'That is not an employee id this service accepts.');
  return parsed.data;
}

export function registerBreakerPages(app: FastifyInstance, context: ConsoleContext): void {
  const page = async (request: FastifyRequest, reply: FastifyReply, employeeId: string | undefined, failure?: Failure) => {
    const breakers = employeeId ? await context.refunds.breakers(employeeId) : [];
    return context.render(
      request,
      reply,
      'breakers',
      {
        title: employeeId ? `Breakers of ${employeeId}` : 'Breakers',
        employeeId: employeeId ?? '',
        breakers,
        tripped: breakers.find((b) => b.liftedAt === null),
        canLift: sessionOf(request).principal.roles.includes('admin'),
        notice: noticeOf(request.query),
        error: failure?.message,
      },
      failure?.status ?? 200,
    );
  };

  app.get('/breakers', { schema: { hide: true }, preHandler: context.session('ops', 'admin') }, async (request, reply) =>
    page(request, reply, employeeIdOf((request.query as { employeeId?: unknown }).employeeId)),
  );

  app.post('/breakers/:employeeId/lift', { schema: { hide: true }, preHandler: context.session('admin') }, async (request, reply) => {
    const employeeId = employeeIdOf((request.params as { employeeId: string }).employeeId)!;
    const reason = reasonOf(request.body);
    if (!reason) return page(request, reply, employeeId, { status: 422, message: 'Lifting a breaker needs a reason.' });
    try {
      await context.refunds.liftBreaker(employeeId, sessionOf(request).principal, reason);
    } catch (error) {
      const { failure, internal } = failureOf(error);
      if (internal) request.log.error({ err: error }, 'console breaker lift failed');
      return page(request, reply, employeeId, failure);
    }
    return reply.redirect(`${CONSOLE_PATH}/breakers?employeeId=${encodeURIComponent(employeeId)}&done=lifted`, 303);
  });
}
