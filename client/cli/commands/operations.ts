/** Looking after refunds: one refund at a glance, the stuck ones, and the audit trail. */
import { Option, type Command } from 'commander';
import { refundStates } from '../../../workflows/refund-model';
import { integer, type Api } from '../input';
import { showAuditVerification, showCarrierEvents, showRefund, showStuck } from '../output';
import { EXIT, print } from '../runtime';

export function registerOperationsCommands(program: Command, api: Api): void {
  program
    .command('show')
    .description('show a refund: state, amount, evidence, risk, approvals, payout, deadlines, timeline')
    .argument('<refundId>')
    .action(async (refundId: string) => {
      const refund = await (await api()).getRefund(refundId);
      print(refund, () => showRefund(refund));
    });

  program
    .command('stuck')
    .description('refunds waiting too long, oldest first (operations)')
    .option('--older-than <duration>', "ISO 8601 duration such as PT2H or P3D (default: past each state's own limit)")
    .addOption(new Option('--state <state...>', 'only these states').choices(refundStates))
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .option('--currency <code>', 'only this currency')
    .option('--amount-min <minor>', 'only amounts of at least this (minor units)', integer('--amount-min'))
    .option('--amount-max <minor>', 'only amounts of at most this (minor units)', integer('--amount-max'))
    .option('--csv', 'print CSV (formula-safe cells) instead')
    .action(
      async (options: {
        olderThan?: string;
        state?: Array<(typeof refundStates)[number]>;
        limit?: number;
        currency?: string;
        amountMin?: number;
        amountMax?: number;
        csv?: boolean;
      }) => {
        const query = {
          ...(options.olderThan ? { olderThan: options.olderThan } : {}),
          ...(options.state ? { states: options.state } : {}),
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(options.currency ? { currency: options.currency } : {}),
          ...(options.amountMin !== undefined ? { amountMin: options.amountMin } : {}),
          ...(options.amountMax !== undefined ? { amountMax: options.amountMax } : {}),
        };
        if (options.csv) {
          process.stdout.write(await (await api()).stuckCsv(query));
          return;
        }
        const refunds = await (await api()).listStuck(query);
        print({ refunds }, () => showStuck(refunds));
      },
    );

  program
    .command('carrier-events')
    .description('carrier events no refund has taken yet, or kept as conflicts, oldest first (operations)')
    .addOption(new Option('--status <status>', 'pending or conflict').choices(['pending', 'conflict']).default('pending'))
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .action(async (options: { status: 'pending' | 'conflict'; limit?: number }) => {
      const events = await (await api()).listCarrierEvents(options.status, options.limit);
      print({ events }, () => showCarrierEvents(options.status, events));
    });

  program
    .command('audit')
    .description('the audit trail')
    .command('verify')
    .description('verify the audit trail: every hash chain, the read model against them, the signed checkpoints (operations, admins)')
    .option('--workflows', "also compare each in-flight refund's own audit head, kept by its workflow")
    .action(async (options: { workflows?: boolean }) => {
      const result = await (await api()).verifyAudit({ workflows: Boolean(options.workflows) });
      print(result, () => showAuditVerification(result));
      if (!result.ok) process.exitCode = EXIT.unexpected;
    });
}
