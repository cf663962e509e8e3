/**
 * Every error the API returns is an RFC 9457 problem (`application/problem+json`) whose `type`
 * names what went wrong, with `errors` naming each field at fault and `rule` naming the
 * separation-of-duties rule that refused an approval. Error-to-status mapping lives here only.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { BreakerLiftError } from '../../store/breakers';
import { RegistryError } from '../../store/registry';
import { RefundError, type InputIssue } from '../../client/errors';
import { Problem } from '../../client/views';
import type { ApiMetrics } from './metrics';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const problemTypes = {
  invalid_input: { status: 422, title: 'Invalid input' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key used for another request' },
  malformed_request: { status: 400, title: 'Malformed request' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  invalid_signature: { status: 401, title: 'Invalid carrier signature' },
  role_required: { status: 403, title: 'Role required' },
  approval_refused: { status: 403, title: 'Approval refused' },
  scan_refused: { status: 403, title: 'Scan refused' },
  not_awaiting_approval: { status: 409, title: 'Refund is not awaiting approval' },
  cancel_refused: { status: 409, title: 'Cancel refused' },
  refund_conflict: { status: 409, title: 'Refund id already used for a different request' },
  refund_not_found: { status: 404, title: 'Refund not found' },
  refund_finished: { status: 409, title: 'Refund has finished' },
  carrier_event_conflict: { status: 409, title: 'Carrier event id already used for a different event' },
  breaker_lift_refused: { status: 403, title: 'Breaker lift refused' },
  breaker_not_tripped: { status: 409, title: 'No tripped breaker' },
  registry_refused: { status: 403, title: 'Registry change refused' },
  registry_conflict: { status: 409, title: 'Registry change conflicts' },
  registry_entry_not_found: { status: 404, title: 'Registry entry not found' },
  ops_action_refused: { status: 409, title: 'Operations action refused' },
  alert_not_found: { status: 404, title: 'Alert not found' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  refund_starting: { status: 503, title: 'Refund is starting' },
  decision_not_yet_recorded: { status: 503, title: 'Decision taken, not yet recorded' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  internal_error: { status: 500, title: 'Internal error' },
} as const;
export type ProblemType = keyof typeof problemTypes;
export const problemTypeNames = Object.keys(problemTypes) as ProblemType[];

export const problemTypeUri = (type: ProblemType) => `/problems/${type.replaceAll('_', '-')}`;

export { Problem };

/** An error that is already a problem; thrown by hooks and handlers. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  constructor(
    readonly problem: Problem,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail);
  }
}

export function problem(
  type: ProblemType,
  detail: string,
  extra: Partial<Problem> = {},
  headers: Record<string, string> = {},
): ProblemError {
  const { status, title } = problemTypes[type];
  return new ProblemError({ type: problemTypeUri(type), title, status, detail, ...extra }, headers);
}

/** Input issues with unknown fields spelled out one by one, so each names the field at fault. */
function issuesOf(
  validation: Array<{ instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }>,
): InputIssue[] {
  return validation.flatMap((issue) => {
    const path = issue.instancePath.split('/').filter(Boolean).join('.');
    const at = (field: string) => [path, field].filter(Boolean).join('.');
    if (issue.keyword === 'unrecognized_keys' && Array.isArray(issue.params.keys)) {
      return (issue.params.keys as string[]).map((key) => ({ path: at(key), message: 'is not a known field' }));
    }
    return [{ path: at(''), message: issue.message ?? 'is invalid' }];
  });
}

const summary = (issues: InputIssue[]) => issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ');

function fromRefundError(error: RefundError): ProblemError {
  switch (error.code) {
    case 'invalid_input': {
      const issues = 'issues' in error ? (error.issues as InputIssue[]) : [];
      return problem('invalid_input', summary(issues) || error.message, { errors: issues });
    }
    case 'approval_refused': {
      const rule = (error as RefundError & { rule: string }).rule;
      return rule === 'not_awaiting_approval'
        ? problem('not_awaiting_approval', error.message, { rule })
        : problem('approval_refused', error.message, { rule });
    }
    case 'cancel_refused':
      return problem('cancel_refused', error.message);
    case 'refund_conflict':
      return problem('refund_conflict', error.message);
    case 'refund_not_found':
      return problem('refund_not_found', error.message);
    case 'refund_finished':
      return problem('refund_finished', error.message);
    case 'carrier_event_conflict':
      return problem('carrier_event_conflict', error.message);
    case 'scan_refused':
      return problem('scan_refused', error.message, { rule: (error as RefundError & { rule: string }).rule });
    case 'ops_action_refused':
      return problem('ops_action_refused', error.message, { rule: (error as RefundError & { rule: string }).rule });
    case 'alert_not_found':
      return problem('alert_not_found', error.message);
    case 'refund_starting':
      return problem('refund_starting', `${error.message}; retry in a second`, {}, { 'retry-after': '1' });
    case 'decision_not_yet_recorded':
      // The workflow applied the decision and writes it once the database takes it: read the refund, do not decide again.
      return problem('decision_not_yet_recorded', `${error.message}; read the refund to see it recorded`, {}, { 'retry-after': '5' });
    case 'update_not_taken':
      return problem('service_unavailable', error.message, {}, { 'retry-after': '5' });
  }
}

function fromBreakerLiftError(error: BreakerLiftError): ProblemError {
  switch (error.code) {
    case 'breaker_lift_refused':
      return problem('breaker_lift_refused', error.message);
    case 'breaker_not_tripped':
      return problem('breaker_not_tripped', error.message);
  }
}

function fromRegistryError(error: RegistryError): ProblemError {
  return error.code === 'entry_not_found'
    ? problem('registry_entry_not_found', error.message)
    : problem('registry_conflict', error.message, { rule: error.code });
}

/** The problem for any error a request can end in; `internal` is true for the ones worth logging as faults. */
export function problemFor(error: unknown): { problem: ProblemError; internal: boolean } {
  if (error instanceof ProblemError) return { problem: error, internal: false };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = issuesOf(error.validation);
    return { problem: problem('invalid_input', summary(issues), { errors: issues }), internal: false };
  }
  if (error instanceof RefundError) return { problem: fromRefundError(error), internal: false };
  if (error instanceof BreakerLiftError) return { problem: fromBreakerLiftError(error), internal: false };
  if (error instanceof RegistryError) return { problem: fromRegistryError(error), internal: false };
  const fastifyError = error as Partial<FastifyError> & { name?: string };
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { problem: problem('unsupported_media_type', 'send the body as application/json'), internal: false };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { problem: problem('payload_too_large', 'the request body is larger than this API accepts'), internal: false };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { problem: problem('malformed_request', 'the body is not valid JSON'), internal: false };
    case 'FST_ERR_HANDLER_TIMEOUT':
      return {
        problem: problem(
          'service_unavailable',
          'the request took too long; retry later (a refund request with the same body is safe to repeat)',
          {},
          { 'retry-after': '5' },
        ),
        internal: true,
      };
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return {
      problem: problem('malformed_request', fastifyError.message ?? 'the request is malformed', { status: fastifyError.statusCode }),
      internal: false,
    };
  }
  // Temporal (gRPC) or PostgreSQL could not be reached: the caller may retry.
  if (fastifyError.name === 'ServiceError' || /ECONNREFUSED|ETIMEDOUT|Connection terminated/.test(String(fastifyError.message))) {
    return {
      problem: problem('service_unavailable', 'a service this API depends on is not reachable; retry later', {}, { 'retry-after': '5' }),
      internal: true,
    };
  }
  return { problem: problem('internal_error', 'the request failed unexpectedly; it has been logged'), internal: true };
}

/** Every error and every unknown route is answered as a problem; refusals are counted, faults logged. */
export function answerWithProblems(app: FastifyInstance, metrics: ApiMetrics): void {
  app.setErrorHandler(async (error, request, reply) => {
    // A request no route takes can still fail before the not-found handler runs (a body-carrying
    // method without a Content-Type): it gets the answer for its route, not for its body.
    const { problem: answer, internal } = request.is404 ? { problem: noRoute(app, request), internal: false } : problemFor(error);
    if (internal) request.log.error({ err: error }, 'request failed');
    if (answer.problem.status < 500) metrics.refusals.inc({ type: answer.problem.type, rule: answer.problem.rule ?? '' });
    return reply.code(answer.problem.status).headers(answer.headers).type(PROBLEM_CONTENT_TYPE).send(answer.problem);
  });
  app.setNotFoundHandler(async (request) => {
    throw noRoute(app, request);
  });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** 405 with `Allow` when the path exists under other methods (QUERY, TRACE, …), otherwise 404. */
function noRoute(app: FastifyInstance, request: { method: string; url: string }): ProblemError {
  const path = request.url.split('?')[0] ?? '/';
  const allowed = METHODS.filter((method) => method !== request.method && app.findRoute({ method, url: path }) !== null);
  if (allowed.length === 0) return problem('not_found', `no route ${request.method} ${path}`);
  return problem(
    'method_not_allowed',
    `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`,
    {},
    { allow: allowed.join(', ') },
  );
}
