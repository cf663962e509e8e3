/**
 * Working refunds as operations and approvers: list refunds a page at a time, an approver's
 * inbox, the stuck totals, and the operations actions (escalate, extend, nudge, acknowledge an
 * alert). Every action needs a reason and lands on the refund's audit trail with you as the actor.
 */
import { Option, type Command } from 'commander';
import { formatMinor } from '../../../workflows/currencies';
import { refundStates, type RefundState } from '../../../workflows/refund-model';
import type { RefundListQuery } from '../../refunds-api-client';
import { integer, type Api } from '../input';
import { ago, showRefund, table, when } from '../output';
import { print } from '../runtime';

const waitingParties = ['carrier', 'warehouse', 'risk', 'approval', 'payout'] as const;
const amounts = (byCurrency: Record<string, number>) =>
  Object.entries(byCurrency)
    .map(([currency, amount]) => formatMinor(amount, currency))
    .join(', ') || '-';

export function registerOpsActionCommands(program: Command, api: Api): void {
  registerList(program, api);
  registerInboxAndSummary(program, api);
  registerActions(program, api);
}

function registerList(program: Command, api: Api): void {
  program
    .command('list')
    .description('refunds, newest first, a page at a time (operations and admins: all; a refund service: its own)')
    .addOption(new Option('--state <state...>', 'only these states').choices(refundStates))
    .addOption(new Option('--waiting-for <party...>', 'only refunds waiting for these').choices(waitingParties))
    .option('--customer <customerId>', 'only this customer')
    .option('--order <orderId>', 'only this order')
    .option('--stuck', 'only refunds stuck now')
    .option('--not-stuck', 'only refunds not stuck now')
    .option('--limit <n>', 'refunds per page, 1 to 100 (default 20)', integer('--limit'))
    .option('--after <refundId>', 'the page after this refund (the last id of the previous page)')
    .action(
      async (options: {
        state?: RefundState[];
        waitingFor?: Array<(typeof waitingParties)[number]>;
        customer?: string;
        order?: string;
        stuck?: boolean;
        notStuck?: boolean;
        limit?: number;
        after?: string;
      }) => {
        const filters: RefundListQuery = {
          ...(options.state ? { states: options.state } : {}),
          ...(options.waitingFor ? { waitingFor: options.waitingFor } : {}),
          ...(options.customer !== undefined ? { customerId: options.customer } : {}),
          ...(options.order !== undefined ? { orderId: options.order } : {}),
          ...(options.stuck ? { stuck: true } : options.notStuck ? { stuck: false } : {}),
        };
        const page = await (await api()).listRefunds(filters, {
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(options.after !== undefined ? { startingAfter: options.after } : {}),
        });
        print(page, () => {
          if (page.data.length === 0) return 'No refunds.';
          const rows = table(
            ['refund', 'state', 'waiting for', 'amount', 'customer', 'requested'],
            page.data.map((r) => [
              r.refundId,
              `${r.state}${r.stuck ? ' (STUCK)' : ''}`,
              r.waitingParty ?? '-',
              formatMinor(r.amount, r.currency),
              r.customerId,
              when(r.requestedAt),
            ]),
          );
          return page.has_more ? `${rows}\nMore: --after ${page.data.at(-1)!.refundId}` : rows;
        });
      },
    );
}

function registerInboxAndSummary(program: Command, api: Api): void {
  program
    .command('inbox')
    .description('the refunds awaiting approval that you may decide, longest waiting first (approvers)')
    .action(async () => {
      const inbox = await (await api()).approvalsInbox();
      print(inbox, () => {
        if (!inbox.registered) return `Your registry entry does not count (${inbox.reason ?? 'unknown'}): no decision of yours would.`;
        if (inbox.items.length === 0) return 'Nothing waits for you.';
        return table(
          ['refund', 'amount', 'customer', 'risk', 'approvals', 'still needed', 'waiting'],
          inbox.items.map((i) => [
            i.refundId,
            formatMinor(i.amount, i.currency),
            i.customerId,
            i.risk ? `${i.risk.score} ${i.risk.band}` : '-',
            String(i.approvals.filter((a) => a.decision === 'approve').length),
            String(i.approvalsStillNeeded),
            `${ago(i.waitingSince)}${i.stuck ? ' (STUCK)' : ''}`,
          ]),
        );
      });
    });

  program
    .command('stuck-summary')
    .description('stuck refunds counted and summed, in total, by state and by what they wait for (operations)')
    .option('--older-than <duration>', "ISO 8601 duration such as PT2H or P3D (default: past each state's own limit)")
    .addOption(new Option('--state <state...>', 'only these states').choices(refundStates))
    .option('--currency <code>', 'only this currency')
    .option('--amount-min <minor>', 'only amounts of at least this (minor units)', integer('--amount-min'))
    .option('--amount-max <minor>', 'only amounts of at most this (minor units)', integer('--amount-max'))
    .action(async (options: { olderThan?: string; state?: RefundState[]; currency?: string; amountMin?: number; amountMax?: number }) => {
      const summary = await (await api()).stuckSummary({
        ...(options.olderThan ? { olderThan: options.olderThan } : {}),
        ...(options.state ? { states: options.state } : {}),
        ...(options.currency ? { currency: options.currency } : {}),
        ...(options.amountMin !== undefined ? { amountMin: options.amountMin } : {}),
        ...(options.amountMax !== undefined ? { amountMax: options.amountMax } : {}),
      });
      print(summary, () =>
        [
          `${summary.total.count} stuck: ${amounts(summary.total.amounts)}`,
          table(
            ['state', 'count', 'amount'],
            summary.byState.map((g) => [g.state, String(g.count), amounts(g.amounts)]),
          ),
          table(
            ['waiting for', 'count', 'amount'],
            summary.byWaitingFor.map((g) => [g.waitingFor, String(g.count), amounts(g.amounts)]),
          ),
        ].join('\n\n'),
      );
    });
}

function registerActions(program: Command, api: Api): void {
  program
    .command('escalate')
    .description('hand a refund to another approver group (operations; audited with you and the reason)')
    .argument('<refundId>')
    .requiredOption('--group <group>', 'the approver group, e.g. finance-leads')
    .requiredOption('--reason <text>', 'why')
    .action(async (refundId: string, options: { group: string; reason: string }) => {
      const refund = await (await api()).escalate(refundId, options.group, options.reason);
      print(refund, () => `Escalated to ${options.group}.\n${showRefund(refund)}`);
    });

  program
    .command('extend')
    .description("extend the deadline of the refund's current stage (operations; capped by the policy; never pays or skips a step)")
    .argument('<refundId>')
    .requiredOption('--by <duration>', 'ISO 8601 duration, e.g. P2D or PT12H')
    .requiredOption('--reason <text>', 'why')
    .action(async (refundId: string, options: { by: string; reason: string }) => {
      const refund = await (await api()).extendDeadline(refundId, options.by, options.reason);
      print(refund, () => `Deadline now ${when(refund.deadlines.stuckAfter)}.\n${showRefund(refund)}`);
    });

  program
    .command('nudge')
    .description('ask the carrier or the warehouse again, while the refund waits for it (operations; audited)')
    .argument('<refundId>')
    .addOption(new Option('--party <party>', 'who to ask').choices(['carrier', 'warehouse']).makeOptionMandatory())
    .requiredOption('--reason <text>', 'why')
    .action(async (refundId: string, options: { party: 'carrier' | 'warehouse'; reason: string }) => {
      const refund = await (await api()).nudge(refundId, options.party, options.reason);
      print(refund, () => `Asked the ${options.party} again.\n${showRefund(refund)}`);
    });

  const alerts = program.commands.find((command) => command.name() === 'alerts') ?? program.command('alerts');
  alerts
    .command('ack')
    .description('acknowledge an operations alert (operations); acknowledging again shows the first acknowledgement')
    .argument('<alertId>', 'the alert number', integer('<alertId>'))
    .option('--note <text>', 'why, or what was done')
    .action(async (alertId: number, options: { note?: string }) => {
      const alert = await (await api()).acknowledgeAlert(alertId, options.note);
      print(alert, () => `Alert ${alert.id} acknowledged by ${alert.acknowledgedBy} at ${when(alert.acknowledgedAt)}`);
    });
}
