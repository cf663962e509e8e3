/**
 * The stuck dashboard for operations: counts and money by state and by what the refunds wait for
 * (OperationsService.stuckSummary), the stuck refunds oldest first (at most 1000), filters (older
 * than, state, currency, amount range) and the same list as CSV (OperationsService.stuckCsv).
 */
import type { FastifyInstance } from 'fastify';
import type { StuckQuery } from '../../../store/read-model';
import { isCurrency, majorToMinor } from '../../../workflows/currencies';
import { activeStates, type RefundState } from '../../../workflows/refund-model';
import type { StuckGroup } from '../../operations-service';
import { isoDurationMs } from '../../iso-duration';
import { money, when } from '../format';
import type { ConsoleContext } from '../context';

const LIST_LIMIT = 1000;

export interface StuckFilters {
  olderThan: string;
  state: string;
  currency: string;
  minAmount: string;
  maxAmount: string;
}

const field = (query: Record<string, unknown>, name: string) => (typeof query[name] === 'string' ? (query[name] as string).trim() : '');

/** An amount in major units of `currency` as minor units, or why not. */
function minorOf(label: string, text: string, currency: string | undefined): number | string {
  if (!currency) return `${label} needs a currency: amounts are compared within one currency.`;
  try {
    return majorToMinor(text, currency);
  } catch (error) {
    return `${label}: ${(error as Error).message}.`;
  }
}

/** The filters as typed, the store's query, and what is wrong with them. */
function parseFilters(raw: unknown): { filters: StuckFilters; query: StuckQuery; errors: string[] } {
  const input = (raw ?? {}) as Record<string, unknown>;
  const filters = {
    olderThan: field(input, 'olderThan'),
    state: field(input, 'state'),
    currency: field(input, 'currency').toUpperCase(),
    minAmount: field(input, 'minAmount'),
    maxAmount: field(input, 'maxAmount'),
  };
  const query: StuckQuery = { states: [] };
  const errors: string[] = [];
  if (filters.olderThan) {
    const ms = isoDurationMs(filters.olderThan);
    if (ms === undefined) errors.push('Older than must be an ISO 8601 duration such as PT2H or P3D.');
    else query.olderThanMs = ms;
  }
  if (filters.state) {
    if (activeStates.includes(filters.state as RefundState)) query.states = [filters.state as RefundState];
    else errors.push(`State must be one of ${activeStates.join(', ')}.`);
  }
  if (filters.currency) {
    if (isCurrency(filters.currency)) query.currency = filters.currency;
    else errors.push('Currency must be an ISO 4217 code such as USD.');
  }
  for (const [label, text, key] of [
    ['Amount at least', filters.minAmount, 'amountMin'],
    ['Amount at most', filters.maxAmount, 'amountMax'],
  ] as const) {
    if (!text) continue;
    const minor = minorOf(label, text, query.currency);
    if (typeof minor === 'string') errors.push(minor);
    else query[key] = minor;
  }
  return { filters, query, errors };
}

/** A group's money, one amount per currency: "450.00 USD, 12.00 EUR". */
const amountsOf = (group: StuckGroup) =>
  Object.entries(group.amounts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([currency, amount]) => money(amount, currency))
    .join(', ');

export function registerStuckPages(app: FastifyInstance, context: ConsoleContext): void {
  app.get('/stuck', { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
    const { filters, query, errors } = parseFilters(request.query);
    const [rows, summary] = errors.length
      ? [[], undefined]
      : await Promise.all([context.operations.listStuck({ ...query, limit: LIST_LIMIT }), context.operations.stuckSummary(query)]);
    const search = new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== '')).toString();
    return context.render(
      request,
      reply,
      'stuck',
      {
        title: 'Stuck refunds',
        filters,
        states: activeStates,
        rows,
        total: summary ? { count: summary.total.count, amounts: amountsOf(summary.total) } : { count: 0, amounts: '' },
        byState: (summary?.byState ?? []).map((g) => ({ key: g.state, count: g.count, amounts: amountsOf(g) })),
        byWaitingFor: (summary?.byWaitingFor ?? []).map((g) => ({ key: g.waitingFor, count: g.count, amounts: amountsOf(g) })),
        csvHref: `stuck.csv${search ? `?${search}` : ''}`,
        limited: rows.length >= LIST_LIMIT,
        error: errors.join(' ') || undefined,
      },
      errors.length ? 422 : 200,
    );
  });

  app.get('/stuck.csv', { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
    const { query, errors } = parseFilters(request.query);
    if (errors.length) return reply.code(422).type('text/plain; charset=utf-8').send(errors.join('\n'));
    const csv = await context.operations.stuckCsv({ ...query, limit: LIST_LIMIT });
    const stamp = when(new Date().toISOString())
      .replace(/[^0-9]/g, '')
      .slice(0, 12);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="stuck-refunds-${stamp}.csv"`)
      .send(csv);
  });
}
