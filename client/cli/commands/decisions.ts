/** Decisions on a refund, each taken as the caller and answered with the refund's new state. */
import type { Command } from 'commander';
import type { RefundsApiClient } from '../../refunds-api-client';
import type { RefundView } from '../../views';
import type { Api } from '../input';
import { print } from '../runtime';

const decided = (refund: RefundView) =>
  `Refund ${refund.refundId} is ${refund.state}${refund.state === 'awaiting_approval' ? `, ${refund.approvalsStillNeeded} more approval(s) needed` : ''}`;

const decisions = [
  {
    name: 'approve',
    description: 'approve a refund (approvers): signed with your key (REFUNDS_SIGNING_KEY); you are the approver',
    reasonRequired: false,
    act: (c: RefundsApiClient, id: string, reason?: string) => c.approve(id, reason),
  },
  {
    name: 'reject',
    description: 'reject a refund (approvers): signed with your key (REFUNDS_SIGNING_KEY)',
    reasonRequired: true,
    act: (c: RefundsApiClient, id: string, reason?: string) => c.reject(id, reason!),
  },
  {
    name: 'cancel',
    description: 'cancel a refund before payout (refund services, operations)',
    reasonRequired: true,
    act: (c: RefundsApiClient, id: string, reason?: string) => c.cancel(id, reason!),
  },
];

export function registerDecisionCommands(program: Command, api: Api): void {
  for (const { name, description, reasonRequired, act } of decisions) {
    const command = program.command(name).description(description).argument('<refundId>');
    (reasonRequired ? command.requiredOption('--reason <text>', 'why') : command.option('--reason <text>', 'why')).action(
      async (refundId: string, options: { reason?: string }) => {
        const refund = await act(await api(), refundId, options.reason);
        print(refund, () => decided(refund));
      },
    );
  }
}
