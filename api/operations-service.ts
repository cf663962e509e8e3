/**
 * What operations and approvers do beyond single refunds, as functions the HTTP routes
 * (api/routes/ops-actions.ts, api/routes/listings.ts) and the operations console call alike:
 * listings of refunds, an approver's inbox, the stuck refunds' totals and CSV, the operations
 * actions on a refund (escalate, extend a deadline, nudge) and acknowledging alerts.
 *
 * The actions are workflow updates; the workflow checks and records them. None of them is a
 * signed statement and none can move money (see workflows/ops-commands.ts).
 */
import type { Pool } from '../store/pool';
import type { Principal } from '../store/principals';
import { approvalLimitIn } from '../store/principals';
import { registryRecords } from '../store/registry';
import { acknowledgeAlert, listAlerts, type AlertQuery } from '../store/ops-alerts';
import type { OpsAlert } from '../store/breakers';
import { listStuckRefunds, type RefundRow, type StuckQuery } from '../store/read-model';
import {
  awaitingApproval,
  listRefunds,
  stuckTotals,
  type RefundListFilters,
  type RefundPage,
  type RefundPageRequest,
  type StuckTotal,
} from '../store/refund-listings';
import { AlertNotFoundError, InvalidInputError } from '../client/errors';
import type { RefundStatus } from '../workflows/messages';
import {
  EscalateCommand,
  escalateUpdate,
  ExtendDeadlineCommand,
  extendDeadlineUpdate,
  NudgeCommand,
  nudgeUpdate,
  type NudgeParty,
} from '../workflows/ops-commands';
import type { Policy } from '../workflows/policy';
import {
  checkApproval,
  statesWaitingFor,
  waitingParty,
  type RefundModel,
  type RefundState,
  type WaitingParty,
} from '../workflows/refund-model';
import type { Role } from '../workflows/schemas';
import { resolvePrincipal, type TrustRoots } from '../workflows/statements';
import type { RefundsService } from './refunds-service';
import type { z } from 'zod';

export interface OperationsServiceOptions {
  refunds: RefundsService;
  pool: Pool;
  /** The service's current policy: its role limits apply in the inbox to refunds pinned to the same policy version. */
  policy?: Policy;
  /** The trust roots the workers pin: an approver's roles and limits for the inbox come from the registry under them. */
  trustRoots?: TrustRoots;
}

/** Who asks: the authenticated principal (its id and roles). */
export type Caller = Pick<Principal, 'id' | 'roles'> & Partial<Pick<Principal, 'approvalLimit'>>;

/** The listing's filters as the API takes them. */
export interface ListRefundsFilters {
  states?: RefundState[];
  customerId?: string;
  orderId?: string;
  /** What the refund waits for: carrier | warehouse | risk | approval | payout (any of them). */
  waitingFor?: WaitingParty[];
  stuck?: boolean;
}

/** A refund in a listing: its read-model row, `stuck` as of now, its requester and what it waits for in one word. */
export type RefundListEntry = RefundPage['data'][number] & { waitingParty: WaitingParty | null };

export interface RefundListing {
  data: RefundListEntry[];
  hasMore: boolean;
}

/** One refund an approver may decide, with what they need to decide it. */
export interface InboxItem {
  refundId: string;
  orderId: string;
  customerId: string;
  initiatedBy: string;
  requestedBy: string | null;
  amount: number;
  currency: string;
  /** When the refund started waiting for approval. */
  waitingSince: string;
  stuck: boolean;
  /** When it counts as stuck, unless decided (or extended) before. */
  stuckAfter: string | null;
  evidence: RefundStatus['evidence'];
  risk: RefundStatus['risk'];
  approvals: RefundStatus['approvals'];
  approvalsRequired: number | null;
  approvalsStillNeeded: number;
  escalations: RefundStatus['escalations'];
}

export interface ApprovalsInbox {
  approverId: string;
  /**
   * Whether the approver's registry entry resolves under the trust roots (then roles and limits
   * come from it, as the workflow takes them); false: `reason` says why, and the inbox is empty,
   * since no decision of theirs would count.
   */
  registered: boolean;
  reason?: string;
  items: InboxItem[];
}

/** Counts and money (minor units per currency) of one group of stuck refunds. */
export interface StuckGroup {
  count: number;
  amounts: Record<string, number>;
}

export interface StuckSummary {
  total: StuckGroup;
  byState: Array<StuckGroup & { state: RefundState }>;
  byWaitingFor: Array<StuckGroup & { waitingFor: WaitingParty }>;
  /** The same groups by state and currency, as stored. */
  rows: StuckTotal[];
}

function parse<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw InvalidInputError.fromZod(what, result.error);
  return result.data;
}

const CSV_COLUMNS = ['refundId', 'state', 'waitingFor', 'since', 'stuckAfter', 'amount', 'currency', 'customerId', 'initiatedBy'] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled.
 * A value a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return)
 * is prefixed with a single quote, so it is shown as text.
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A stuck refund as the listing, its CSV and the console show it. */
export function stuckItemOf(row: RefundRow) {
  return {
    refundId: row.refundId,
    state: row.state,
    waitingFor: row.waitingFor,
    since: row.stateSince,
    stuckAfter: row.stuckAfter,
    amount: row.amount,
    currency: row.currency,
    customerId: row.customerId,
    initiatedBy: row.initiatedBy,
  } satisfies Record<(typeof CSV_COLUMNS)[number], unknown>;
}

export function csvOf(rows: readonly RefundRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) {
    const values = stuckItemOf(row);
    lines.push(CSV_COLUMNS.map((column) => csvCell(values[column])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function group(totals: readonly StuckTotal[]): StuckGroup {
  const amounts: Record<string, number> = {};
  for (const t of totals) amounts[t.currency] = (amounts[t.currency] ?? 0) + t.amount;
  return { count: totals.reduce((n, t) => n + t.count, 0), amounts };
}

export class OperationsService {
  private readonly refunds: RefundsService;
  private readonly pool: Pool;
  private readonly policy: Policy | undefined;
  private readonly trustRoots: TrustRoots | undefined;

  constructor(options: OperationsServiceOptions) {
    this.refunds = options.refunds;
    this.pool = options.pool;
    this.policy = options.policy;
    this.trustRoots = options.trustRoots;
  }

  /**
   * Refunds newest first (requested_at, then refund_id), a page at a time (`page.startingAfter`:
   * the last refund id of the previous page). Operations and auditors (admin) see every refund; a
   * refund service only those whose signed request it made. `waitingFor` and `states` together
   * select the states in both.
   */
  async listRefunds(caller: Caller, filters: ListRefundsFilters = {}, page: RefundPageRequest = {}): Promise<RefundListing> {
    const seesAll = caller.roles.includes('ops') || caller.roles.includes('admin');
    const store: RefundListFilters = {
      ...(filters.customerId !== undefined ? { customerId: filters.customerId } : {}),
      ...(filters.orderId !== undefined ? { orderId: filters.orderId } : {}),
      ...(filters.stuck !== undefined ? { stuck: filters.stuck } : {}),
      ...(seesAll ? {} : { requestedBy: caller.id }),
    };
    let states = filters.states?.length ? filters.states : undefined;
    if (filters.waitingFor?.length) {
      const waiting = filters.waitingFor.flatMap(statesWaitingFor);
      states = states ? states.filter((s) => waiting.includes(s)) : waiting;
    }
    const result = await listRefunds(this.pool, { ...store, ...(states ? { states } : {}) }, page);
    return { data: result.data.map((row) => ({ ...row, waitingParty: waitingParty(row.state) ?? null })), hasMore: result.hasMore };
  }

  /**
   * The refunds awaiting approval that `approver` may decide, longest waiting first: not one they
   * requested or scanned or have already decided, and within their limits. The rules are the
   * workflow's own (`checkApproval`), held against each refund's stored status and the approver's
   * registry entry, as the workflow will hold them; the workflow still decides.
   */
  async approvalsInbox(approver: Caller): Promise<ApprovalsInbox> {
    const who = await this.approverAsRegistered(approver);
    if (!who.ok) return { approverId: approver.id, registered: false, reason: who.reason, items: [] };
    const items: InboxItem[] = [];
    for (const { row, status } of await awaitingApproval(this.pool)) {
      if (status.state !== 'awaiting_approval') continue;
      const command = {
        approver: { approverId: approver.id, roles: who.roles, approvalLimit: who.limits(status.currency) },
        decision: { decision: 'approve' as const },
      };
      if (checkApproval(this.modelOf(status), command)) continue;
      items.push({
        refundId: status.refundId,
        orderId: status.orderId,
        customerId: status.customerId,
        initiatedBy: status.initiatedBy,
        requestedBy: status.requestedBy,
        amount: status.amount,
        currency: status.currency,
        waitingSince: status.since,
        stuck: status.stuck || (row.stuckAfter !== null && Date.parse(row.stuckAfter) <= Date.now()),
        stuckAfter: row.stuckAfter,
        evidence: status.evidence,
        risk: status.risk,
        approvals: status.approvals,
        approvalsRequired: status.approvalsRequired,
        approvalsStillNeeded: status.approvalsStillNeeded,
        escalations: status.escalations,
      });
    }
    return { approverId: approver.id, registered: true, items };
  }

  /** The approver's roles and limit per currency, as the workflow will take them (the registry under the trust roots). */
  private async approverAsRegistered(
    approver: Caller,
  ): Promise<{ ok: true; roles: Role[]; limits: (currency: string) => number } | { ok: false; reason: string }> {
    if (!this.trustRoots) {
      // No trust roots configured for this API: the principal's own roles and limit stand in.
      const limit = approver.approvalLimit ?? null;
      return { ok: true, roles: [...approver.roles], limits: (currency) => approvalLimitIn(limit, currency) };
    }
    const resolution = resolvePrincipal(await registryRecords(this.pool, approver.id), approver.id, this.trustRoots, new Date());
    if (!resolution.ok) return { ok: false, reason: `${resolution.rule}: ${resolution.message}` };
    const { roles, approvalLimits } = resolution.principal;
    return { ok: true, roles, limits: (currency) => (Object.hasOwn(approvalLimits, currency) ? approvalLimits[currency]! : 0) };
  }

  /**
   * The parts of a refund's model the approval rules read, from its stored status. The policy's
   * role limits are known only for refunds pinned to the service's current policy version; for
   * others only the registry limit is checked here (the workflow checks both).
   */
  private modelOf(status: RefundStatus): RefundModel {
    const policy = this.policy && this.policy.version === status.policyVersion ? this.policy : undefined;
    return {
      state: status.state,
      amount: status.amount,
      request: { refundId: status.refundId, initiatedBy: status.initiatedBy, currency: status.currency },
      ...(status.requestedBy !== null ? { requestedBy: status.requestedBy } : {}),
      receipts: status.evidence.receipts,
      approvals: status.approvals,
      policy: policy ?? { version: status.policyVersion, amounts: { approverLimits: {} }, amountsByCurrency: {} },
    } as unknown as RefundModel;
  }

  /** Refunds waiting too long, oldest first, with the listing's filters (state, olderThan, currency, amount range). */
  listStuck(query: StuckQuery = {}): Promise<RefundRow[]> {
    return listStuckRefunds(this.pool, query);
  }

  /** The stuck listing as CSV (header line, CRLF line ends, formula-safe cells). */
  async stuckCsv(query: StuckQuery = {}): Promise<string> {
    return csvOf(await this.listStuck(query));
  }

  /** Counts and sums (per currency) of the stuck refunds, in total, by state and by what they wait for, with the stuck filters. */
  async stuckSummary(query: StuckQuery = {}): Promise<StuckSummary> {
    const rows = await stuckTotals(this.pool, query);
    const states = [...new Set(rows.map((r) => r.state))];
    const parties = [...new Set(rows.map((r) => waitingParty(r.state)).filter((p) => p !== undefined))];
    return {
      total: group(rows),
      byState: states.map((state) => ({ state, ...group(rows.filter((r) => r.state === state)) })),
      byWaitingFor: parties.map((party) => ({ waitingFor: party, ...group(rows.filter((r) => waitingParty(r.state) === party)) })),
      rows,
    };
  }

  /**
   * Hands the refund to another approver group (`group`, e.g. finance-leads): recorded on its
   * escalations and as an `escalated` audit fact with group, by and reason, for a notifier to
   * deliver. Any state before the refund finishes. `updateId`: a retry with the same id answers the first.
   */
  escalate(refundId: string, by: string, input: { group: string; reason: string }, updateId?: string): Promise<RefundStatus> {
    const command = parse(EscalateCommand, 'escalation', { escalatedBy: by, group: input.group, reason: input.reason });
    return this.refunds.opsUpdate(refundId, escalateUpdate, command, updateId);
  }

  /**
   * Extends the deadline of the refund's current stage by `by` (ISO 8601 duration). A stuck
   * refund is no longer stuck until the new deadline. Never pays, never skips a step: the state,
   * evidence, risk and approvals still needed are unchanged. Refused (OpsActionRefusedError) in
   * `paying` and finished states (`deadline_not_extendable`, `refund_finished`) and past the
   * policy's `timers.maxDeadlineExtension` per state (`extension_cap_exceeded`).
   */
  extendDeadline(refundId: string, by: string, input: { by: string; reason: string }, updateId?: string): Promise<RefundStatus> {
    const command = parse(ExtendDeadlineCommand, 'deadline extension', { extendedBy: by, by: input.by, reason: input.reason });
    return this.refunds.opsUpdate(refundId, extendDeadlineUpdate, command, updateId);
  }

  /**
   * Asks the carrier or the warehouse again: recorded on the refund's `nudges` and as an
   * `evidence_requested` audit fact (party, by, reason). Only while the refund waits for that
   * party (`not_waiting_for_party`).
   */
  nudge(refundId: string, by: string, input: { party: NudgeParty; reason: string }, updateId?: string): Promise<RefundStatus> {
    const command = parse(NudgeCommand, 'nudge', { nudgedBy: by, party: input.party, reason: input.reason });
    return this.refunds.opsUpdate(refundId, nudgeUpdate, command, updateId);
  }

  /** Operations alerts, oldest first, by delivery and acknowledgement. */
  listAlerts(query: AlertQuery = {}): Promise<OpsAlert[]> {
    return listAlerts(this.pool, query);
  }

  /** Acknowledges alert `id` as `by`; a second acknowledgement answers the first. AlertNotFoundError for an unknown id. */
  async acknowledgeAlert(id: number, by: string, note?: string): Promise<{ alert: OpsAlert; first: boolean }> {
    const result = await acknowledgeAlert(this.pool, id, by, note);
    if (!result) throw new AlertNotFoundError(id);
    return result;
  }
}
