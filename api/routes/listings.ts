/**
 * Listings for operations, auditors, refund services and approvers: every refund a page at a time
 * (GET /v1/refunds), an approver's inbox (GET /v1/approvals/inbox), and the stuck refunds' totals
 * (GET /v1/refunds/stuck/summary) and CSV (GET /v1/refunds/stuck.csv). All from PostgreSQL.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApprovalsInbox, RefundList, StuckSummary, WaitingParty } from '../../client/ops-views';
import { RefundState } from '../../client/views';
import { activeStates } from '../../workflows/refund-model';
import { Currency, id } from '../../workflows/schemas';
import type { StuckQuery as StoreStuckQuery } from '../../store/read-model';
import { IsoDuration } from '../iso-duration';
import { OperationsService } from '../operations-service';
import { principalOf, requireRole } from '../plugins/authentication';
import { bearer, problems, withAuth, type RouteDeps } from './shared';

const repeatable = <T extends z.ZodType>(item: T) =>
  z
    .union([item, z.array(item)])
    .optional()
    .transform((value) => (value === undefined ? undefined : Array.isArray(value) ? value : [value]) as z.infer<T>[] | undefined);

const booleanParam = z
  .enum(['true', 'false'])
  .optional()
  .transform((value) => (value === undefined ? undefined : value === 'true'));

const RefundListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('refunds per page, 1 to 100 (default 20)'),
  starting_after: id('starting_after').optional().describe('the last refund id of the previous page'),
  state: repeatable(RefundState).describe('only these states (repeat the parameter for several)'),
  customerId: id('customerId').optional(),
  orderId: id('orderId').optional(),
  waitingFor: repeatable(WaitingParty).describe(
    'what the refund waits for: carrier, warehouse, risk (the risk check), approval or payout (repeat for several)',
  ),
  stuck: booleanParam.describe('true: only refunds stuck now; false: only the others'),
});

/** An amount in minor units, as a query parameter (the bounds are in the OpenAPI document, so a fuzzer keeps to them). */
const amount = z.coerce
  .number({ error: 'must be a whole number of minor units' })
  .int('must be a whole number of minor units')
  .min(1, 'must be at least 1')
  .max(Number.MAX_SAFE_INTEGER, 'is too large');

/** The stuck listing's filters, shared by the listing (operations.ts), its summary and its CSV. */
export const StuckFilters = {
  olderThan: IsoDuration.optional().describe("waiting in the current state longer than this; default: past that state's own limit"),
  state: repeatable(RefundState).describe('only these states (repeat the parameter for several)'),
  currency: Currency.optional().describe('only refunds in this currency'),
  amountMin: amount.optional().describe('only refunds of at least this amount (minor units)'),
  amountMax: amount.optional().describe('only refunds of at most this amount (minor units)'),
};

/** The store's stuck query from the API's filters. */
export function stuckQueryOf(query: {
  olderThan?: number | undefined;
  state?: z.infer<typeof RefundState>[] | undefined;
  currency?: string | undefined;
  amountMin?: number | undefined;
  amountMax?: number | undefined;
  limit?: number;
}): StoreStuckQuery {
  return {
    ...(query.olderThan !== undefined ? { olderThanMs: query.olderThan } : {}),
    states: query.state?.filter((s) => activeStates.includes(s)) ?? [],
    ...(query.currency !== undefined ? { currency: query.currency } : {}),
    ...(query.amountMin !== undefined ? { amountMin: query.amountMin } : {}),
    ...(query.amountMax !== undefined ? { amountMax: query.amountMax } : {}),
    ...(query.limit !== undefined ? { limit: query.limit } : {}),
  };
}

const StuckSummaryQuery = z.strictObject(StuckFilters);
const StuckCsvQuery = z.strictObject({ ...StuckFilters, limit: z.coerce.number().int().min(1).max(1000).default(1000) });

export function registerListingRoutes(app: FastifyInstance, { refunds, pool, policy, trustRoots }: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const operations = new OperationsService({ refunds, pool, policy, ...(trustRoots ? { trustRoots } : {}) });

  api.get(
    '/v1/refunds',
    {
      onRequest: requireRole(pool, 'ops', 'admin', 'refund_service'),
      schema: {
        tags: ['operations', 'refund services'],
        summary: 'Refunds, newest first, a page at a time',
        description:
          'Ordered by requested_at, then refund id, both descending. `has_more` says whether another page follows; ask for it with ' +
          '`starting_after` set to the last refund id of this page. Operations and admins (auditors) see every refund; a refund ' +
          'service only the refunds whose signed request it made. `state` and `waitingFor` together select the states in both.',
        security: bearer,
        querystring: RefundListQuery,
        response: { 200: RefundList, ...problems(422, ...withAuth) },
      },
    },
    async (request) => {
      const { limit, starting_after, state, customerId, orderId, waitingFor, stuck } = request.query;
      const page = await operations.listRefunds(
        principalOf(request),
        {
          ...(state ? { states: state } : {}),
          ...(customerId !== undefined ? { customerId } : {}),
          ...(orderId !== undefined ? { orderId } : {}),
          ...(waitingFor ? { waitingFor } : {}),
          ...(stuck !== undefined ? { stuck } : {}),
        },
        { limit, ...(starting_after !== undefined ? { startingAfter: starting_after } : {}) },
      );
      return { data: page.data, has_more: page.hasMore };
    },
  );

  api.get(
    '/v1/approvals/inbox',
    {
      onRequest: requireRole(pool, 'approver'),
      schema: {
        tags: ['approvers'],
        summary: 'The refunds awaiting approval that the caller may decide, longest waiting first',
        description:
          'Left out: refunds the caller requested or scanned, has already decided, or whose amount is above their limit (from their ' +
          'registry entry, and the policy’s role limits), by the workflow’s own rules. A convenience: the workflow still decides.',
        security: bearer,
        response: { 200: ApprovalsInbox, ...problems(...withAuth) },
      },
    },
    async (request) => operations.approvalsInbox(principalOf(request)),
  );

  api.get(
    '/v1/refunds/stuck/summary',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'Stuck refunds counted and summed, in total, by state and by what they wait for',
        description:
          'The refunds the stuck listing selects with the same filters, without its limit. Amounts are minor units per currency.',
        security: bearer,
        querystring: StuckSummaryQuery,
        response: { 200: StuckSummary, ...problems(422, ...withAuth) },
      },
    },
    async (request) => operations.stuckSummary(stuckQueryOf(request.query)),
  );

  api.get(
    '/v1/refunds/stuck.csv',
    {
      onRequest: requireRole(pool, 'ops'),
      schema: {
        tags: ['operations'],
        summary: 'The stuck listing as CSV',
        description:
          'One header line, then one line per refund, oldest first, CRLF line ends, RFC 4180 quoting. A cell that a spreadsheet would ' +
          'run as a formula (starting with =, +, -, @, a tab or a carriage return) starts with a single quote.',
        security: bearer,
        querystring: StuckCsvQuery,
        response: {
          200: { description: 'the stuck refunds as CSV', content: { 'text/csv': { schema: z.string() } } },
          ...problems(422, ...withAuth),
        },
      },
    },
    async (request, reply) => {
      const csv = await operations.stuckCsv(stuckQueryOf(request.query));
      return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="stuck-refunds.csv"').send(csv);
    },
  );
}
