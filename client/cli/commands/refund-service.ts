/** What refund services do: request a refund. */
import type { Command } from 'commander';
import { readJson, type Api } from '../input';
import { print } from '../runtime';

export function registerRefundServiceCommands(program: Command, api: Api): void {
  program
    .command('request')
    .description('request a refund (refund services): signed with your key (REFUNDS_SIGNING_KEY); the body is the refund request as JSON')
    .argument('<file>', 'a JSON file, or - for standard input')
    .action(async (file: string) => {
      const { created, refund } = await (await api()).requestRefund((await readJson(file)) as never);
      print({ created, refund }, () => `${created ? 'Requested' : 'Already requested:'} refund ${refund.refundId}, ${refund.state}`);
    });
}
