/**
 * `refunds`: the command line for the people around a refund (request, carrier-event, scan,
 * approve, reject, cancel, show, stuck, audit verify, breaker, alerts, principal). Every command goes through
 * the HTTP API with the caller's API key, so the API decides who they are. Administrators manage
 * those keys with `refunds-admin` (store/principals-cli.ts), which talks to the database.
 * Exit codes: client/cli/runtime.ts.
 */
import { Command } from 'commander';
import { registerBreakerCommands } from './commands/breakers';
import { registerDecisionCommands } from './commands/decisions';
import { registerEvidenceCommands } from './commands/evidence';
import { registerOperationsCommands } from './commands/operations';
import { registerOpsActionCommands } from './commands/ops-actions';
import { registerPrincipalCommands } from './commands/principals';
import { registerRefundServiceCommands } from './commands/refund-service';
import { apiClient, type Api } from './input';
import { EXIT_CODES_HELP, jsonOption, runCli } from './runtime';

export function buildProgram(): Command {
  const program = jsonOption(new Command('refunds'))
    .description('Refund approvals: request, evidence, approvals and operations')
    .option('--api-url <url>', 'the refund API (default: REFUNDS_API_URL, the local npm start stack, or http://127.0.0.1:3000)')
    .addHelpText(
      'after',
      '\nEnvironment: REFUNDS_API_URL, REFUNDS_API_KEY (your API key), REFUNDS_SIGNING_KEY (your signing key file, for request, approve, reject and scan; admins: their trust-root key file, for principal approve and revoke), CARRIER_KEY_ID and CARRIER_WEBHOOK_SECRET (carrier-event).\n' +
        'API principals and their keys: refunds-admin principal --help.\n' +
        EXIT_CODES_HELP,
    )
    .showSuggestionAfterError()
    .exitOverride();
  const api: Api = (extra) => apiClient({ ...program.opts<{ apiUrl?: string }>(), ...extra });
  // In this order in --help.
  registerRefundServiceCommands(program, api);
  registerEvidenceCommands(program, api);
  registerDecisionCommands(program, api);
  registerOperationsCommands(program, api);
  registerBreakerCommands(program, api);
  registerOpsActionCommands(program, api);
  registerPrincipalCommands(program, api);
  return program;
}

process.exitCode = await runCli(buildProgram(), process.argv.slice(2));
