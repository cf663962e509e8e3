/**
 * The stuck dashboard for operations: counts and money by state and by what the refunds wait for,
 * the stuck refunds oldest first, filters (older than, state, currency, smallest amount) and the
 * same list as CSV. Built on RefundsService.listStuck (at most 1000 refunds).
 */
import type { FastifyInstance } from 'fastify';
import type { RefundRow } from '../../../store/read-model';
import { isCurrency, minorUnitExponent } from '../../../workflows/currencies';
import { activeStates, type RefundState } from '../../../workflows/refund-model';
import { isoDurationMs } from '../../iso-duration';
import { money, when } from '../format';
import type { ConsoleContext } from '../context';

const LIST_LIMIT = 1000;

export interface StuckFilters {
  olderThan: string;
  state: string;
  currency: string;
  minAmount: string;
}

interface Parsed {
  filters: StuckFilters;
  errors: string[];
  olderThanMs?: number;
  state?: RefundState;
  currency?: string;
  minAmount?: string;
}

const field = (query: Record<string, unknown>, name: string) => (typeof query[name] === 'string' ? (query[name] as string).trim() : '');

function parseFilters(raw: unknown): Parsed {
  const query = (raw ?? {}) as Record<string, unknown>;
  const filters = {
    olderThan: field(query, 'olderThan'),
    state: field(query, 'state'),
    currency: field(query, 'currency').toUpperCase(),
    minAmount: field(query, 'minAmount'),
  };
  const parsed: Parsed = { filters, errors: [] };
  if (filters.olderThan) {
    const ms = isoDurationMs(filters.olderThan);
    if (ms === undefined) parsed.errors.push('Older than must be an ISO 8601 duration such as PT2H or P3D.');
    else parsed.olderThanMs = ms;
  }
  if (filters.state) {
    if (activeStates.includes(filters.state as RefundState)) parsed.state = filters.state as RefundState;
    else parsed.errors.push(`State must be one of ${activeStates.join(', ')}.`);
  }
  if (filters.currency) {
    if (isCurrency(filters.currency)) parsed.currency = filters.currency;
    else parsed.errors.push('Currency must be an ISO 4217 code such as USD.');
  }
  if (filters.minAmount) {
    if (/^\d{1,12}(\.\d{1,4})?$/.test(filters.minAmount)) parsed.minAmount = filters.minAmount;
    else parsed.errors.push('Amount must be a decimal amount in major units, e.g. 100.00.');
  }
  return parsed;
}

/** At least `minAmount` major units of the refund's own currency (rounded up to what the currency can hold). */
function atLeast(row: RefundRow, minAmount: string): boolean {
  return row.amount >= Math.ceil(Number(minAmount) * 10 ** minorUnitExponent(row.currency) - 1e-6);
}

async function stuckRows(context: ConsoleContext, parsed: Parsed): Promise<RefundRow[]> {
  const rows = await context.refunds.listStuck({
    ...(parsed.olderThanMs !== undefined ? { olderThanMs: parsed.olderThanMs } : {}),
    states: parsed.state ? [parsed.state] : [],
    limit: LIST_LIMIT,
  });
  return rows.filter(
    (row) => (!parsed.currency || row.currency === parsed.currency) && (!parsed.minAmount || atLeast(row, parsed.minAmount)),
  );
}

export interface Tally {
  key: string;
  count: number;
  /** Money per currency, formatted: "450.00 USD". */
  amounts: string[];
}

export function tally(rows: RefundRow[], keyOf: (row: RefundRow) => string): Tally[] {
  const groups = new Map<string, { count: number; sums: Map<string, number> }>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key) ?? { count: 0, sums: new Map<string, number>() };
    group.count += 1;
    group.sums.set(row.currency, (group.sums.get(row.currency) ?? 0) + row.amount);
    groups.set(key, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, group]) => ({
      key,
      count: group.count,
      amounts: [...group.sums.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, sum]) => money(sum, currency)),
    }));
}

/** A CSV cell: quoted, and a leading formula character defused so a spreadsheet shows it as text. */
export function csvCell(value: string | number | null): string {
  const text = value === null ? '' : String(value);
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

function csv(rows: RefundRow[]): string {
  const header = ['refund_id', 'state', 'waiting_for', 'since', 'stuck_after', 'amount', 'currency', 'customer_id', 'initiated_by'];
  const lines = rows.map((row) =>
    [
      row.refundId,
      row.state,
      row.waitingFor,
      row.stateSince,
      row.stuckAfter,
      money(row.amount, row.currency).split(' ')[0]!,
      row.currency,
      row.customerId,
      row.initiatedBy,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}

export function registerStuckPages(app: FastifyInstance, context: ConsoleContext): void {
  app.get('/stuck', { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
    const parsed = parseFilters(request.query);
    const rows = parsed.errors.length ? [] : await stuckRows(context, parsed);
    const query = new URLSearchParams(Object.entries(parsed.filters).filter(([, v]) => v !== '')).toString();
    return context.render(
      request,
      reply,
      'stuck',
      {
        title: 'Stuck refunds',
        filters: parsed.filters,
        states: activeStates,
        rows,
        byState: tally(rows, (row) => row.state),
        byWaitingFor: tally(rows, (row) => row.waitingFor ?? '(nothing)'),
        totals: tally(rows, () => 'all'),
        csvHref: `stuck.csv${query ? `?${query}` : ''}`,
        limited: rows.length >= LIST_LIMIT,
        error: parsed.errors.join(' ') || undefined,
      },
      parsed.errors.length ? 422 : 200,
    );
  });

  app.get('/stuck.csv', { schema: { hide: true }, preHandler: context.session('ops') }, async (request, reply) => {
    const parsed = parseFilters(request.query);
    if (parsed.errors.length) return reply.code(422).type('text/plain; charset=utf-8').send(parsed.errors.join('\n'));
    const rows = await stuckRows(context, parsed);
    const stamp = when(new Date().toISOString())
      .replace(/[^0-9]/g, '')
      .slice(0, 12);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="stuck-refunds-${stamp}.csv"`)
      .send(csv(rows));
  });
}
