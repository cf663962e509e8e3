/** Employees' circuit breakers, and the operations alerts they raise. */
import type { Command } from 'commander';
import { integer, type Api } from '../input';
import { showAlerts, showBreakers, when } from '../output';
import { print } from '../runtime';

export function registerBreakerCommands(program: Command, api: Api): void {
  const breaker = program.command('breaker').description("employees' circuit breakers");
  breaker
    .command('lift')
    .description("lift an employee's tripped breaker (admins; you are the one lifting it, and it is audited)")
    .argument('<employeeId>')
    .requiredOption('--reason <text>', 'why it is safe to lift')
    .action(async (employeeId: string, options: { reason: string }) => {
      const lifted = await (await api()).liftBreaker(employeeId, options.reason);
      print(lifted, () => `Breaker of ${lifted.employeeId} (${lifted.reason}) lifted by ${lifted.liftedBy} at ${when(lifted.liftedAt)}`);
    });
  breaker
    .command('list')
    .description("an employee's breakers, newest first (operations, admins)")
    .argument('<employeeId>')
    .action(async (employeeId: string) => {
      const breakers = await (await api()).breakers(employeeId);
      print({ breakers }, () => showBreakers(employeeId, breakers));
    });

  program
    .command('alerts')
    .description('operations alerts not yet delivered, oldest first (operations)')
    .option('--limit <n>', 'at most this many', integer('--limit'))
    .action(async (options: { limit?: number }) => {
      const alerts = await (await api()).undeliveredAlerts(options.limit);
      print({ alerts }, () => showAlerts(alerts));
    });
}
