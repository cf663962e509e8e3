/**
 * Employees' circuit breakers: operations and admins list them, an admin lifts a tripped one
 * (never their own).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BreakerLift, principalId } from '../../workflows/schemas';
import { principalOf, requireRole } from '../plugins/authentication';
import { BreakerList, BreakerView } from '../../client/views';
import { bearer, problems, withAuth, type RouteDeps } from './shared';

const EmployeePath = z.strictObject({ employeeId: principalId('employeeId') });
/** The lifting admin is the authenticated caller, so the body carries only the reason. */
const BreakerLiftBody = BreakerLift.pick({ reason: true });

export function registerBreakerRoutes(app: FastifyInstance, { refunds, pool }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();

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
        description:
          'A tripped breaker has `liftedAt: null`; while it is tripped every refund the employee touches needs one more approver.',
        security: bearer,
        params: EmployeePath,
        response: { 200: BreakerList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => ({ breakers: await refunds.breakers(request.params.employeeId) }),
  );
}
