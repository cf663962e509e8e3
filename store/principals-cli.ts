/**
 * `refunds-admin`: administration that talks to the service's database directly, not through the
 * HTTP API, which is why it lives with the store. `principal` commands create, revoke and re-key
 * the API's principals. Same --json output and exit codes as `refunds` (client/cli/runtime.ts).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readLocalStack } from '../config/local-stack';
import { table, when } from '../client/cli/output';
import { EXIT, EXIT_CODES_HELP, jsonOption, print, runCli, UsageError } from '../client/cli/runtime';
import { isCurrency } from '../workflows/currencies';
import { Role } from '../workflows/schemas';
import { createPool, type Pool } from './pool';
import { addPrincipal, listPrincipals, PrincipalError, revokePrincipal, rotateApiKey, type Principal } from './principals';
import { databaseAdminActor } from './principal-audit';
import { RegistryError } from './registry';
import { issueSigningKey, keyFileFor, newPrincipalId, registerRegistryCommands } from './registry-cli';

/**
 * The service's database as a role that may write principals (the schema owner; the service role
 * only reads them): DATABASE_URL, or the embedded one of a running `npm start`.
 */
async function withDatabase<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
  const stack = process.env.DATABASE_URL ? undefined : await readLocalStack();
  const databaseUrl = process.env.DATABASE_URL || stack?.ownerDatabaseUrl || stack?.databaseUrl;
  if (!databaseUrl) throw new UsageError('set DATABASE_URL, or start the local stack with npm start');
  const pool = createPool(databaseUrl, 2);
  try {
    return await work(pool);
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw error;
    throw new Error(
      `${(error as Error).message}: refunds-admin writes principals and API keys, which the service role may only read; ` +
        `set DATABASE_URL to the schema owner's URL (docs/configuration.md, "Database roles")`,
    );
  } finally {
    await pool.end();
  }
}

function roleList(role: string, roles: string[] = []): string[] {
  if (!Role.options.includes(role as never)) throw new InvalidArgumentError(`"${role}" is not a role; use ${Role.options.join(', ')}`);
  return [...roles, role];
}

function showPrincipals(principals: Array<Principal & { activeKeys: number }>): string {
  if (principals.length === 0) return 'No principals.';
  return table(
    ['id', 'roles', 'approval limit', 'keys', 'created', 'revoked'],
    principals.map((p) => [p.id, p.roles.join(','), p.approvalLimit ?? '-', String(p.activeKeys), when(p.createdAt), when(p.revokedAt)]),
  );
}

function currencyList(value: string, values: string[] = []): string[] {
  const currency = value.trim().toUpperCase();
  if (!isCurrency(currency)) throw new InvalidArgumentError(`"${value}" is not an ISO 4217 currency code`);
  return [...values, currency];
}

function registerPrincipalCommands(program: Command): void {
  const principal = program.command('principal').description('API principals and their keys (administrators; talks to the database)');
  principal
    .command('add')
    .description('create a principal and print its API key, once')
    .argument('<id>', 'employee or service id')
    .addOption(
      new Option('--role <role>', `a role (repeat for several): ${Role.options.join(', ')}`).argParser(roleList).makeOptionMandatory(),
    )
    .option(
      '--approval-limit <amount>',
      "approvers: the largest refund they may approve, in major units of the refund's currency, e.g. 1000.00",
    )
    .option('--key-file <file>', 'where to write the signing key (mode 0600; default ./<id>.signing-key.json)')
    .option('--no-signing-key', 'no signing key or registry entry: the principal makes its own with `refunds principal add`')
    .option('--currency <code>', 'approvers: a currency the approval limit is registered in (repeat; default USD, EUR, GBP)', currencyList)
    .action(async (id: string, options: PrincipalAddOptions) => {
      const input = { id, roles: options.role, ...(options.approvalLimit !== undefined ? { approvalLimit: options.approvalLimit } : {}) };
      const { added, apiKey, key } = await withDatabase(async (pool) => {
        // Everything that can refuse the principal does so before its key file is written.
        const id = await newPrincipalId(pool, input);
        const keyFile = options.signingKey ? await keyFileFor(id, options.keyFile) : undefined;
        const { principal: added, apiKey } = await addPrincipal(pool, input, databaseAdminActor());
        const currencies = options.currency ? { currencies: options.currency } : {};
        const key = keyFile ? await issueSigningKey(pool, added, { keyFile, ...currencies }) : undefined;
        return { added, apiKey, key };
      });
      const json = {
        id: added.id,
        apiKey,
        roles: added.roles,
        approvalLimit: added.approvalLimit,
        ...(key ? { keyId: key.keyId, keyFile: key.keyFile, registryEntry: key.entry } : {}),
      };
      const signing = key
        ? [
            `Signing key ${key.keyId} written to ${key.keyFile} (mode 0600; REFUNDS_SIGNING_KEY for refunds approve|reject)`,
            `Registry entry version 1 stored; it counts once two trust-root admins endorse it: refunds-admin principal endorse ${added.id} --admin-key <file>`,
          ]
        : [`No signing key: the principal makes its own and proposes it with: refunds principal add ${added.id} --role …`];
      print(json, () =>
        [
          `Principal ${added.id} (${added.roles.join(', ')}${added.approvalLimit ? `, approval limit ${added.approvalLimit}` : ''})`,
          `API key (shown once): ${apiKey}`,
          ...signing,
        ].join('\n'),
      );
    });
  registerRegistryCommands(principal, program, withDatabase);
  principal
    .command('revoke')
    .description('revoke a principal and all its API keys, at once')
    .argument('<id>')
    .action(async (id: string) => {
      const revoked = await withDatabase((pool) => revokePrincipal(pool, id, databaseAdminActor()));
      print(revoked, () => `Principal ${revoked.id} revoked at ${when(revoked.revokedAt)}`);
    });
  principal
    .command('rotate-key')
    .description("revoke a principal's keys and print a new one, once")
    .argument('<id>')
    .action(async (id: string) => {
      const apiKey = await withDatabase((pool) => rotateApiKey(pool, id, databaseAdminActor()));
      print({ id, apiKey }, () => `New API key for ${id} (shown once; the old keys no longer work): ${apiKey}`);
    });
  principal
    .command('list')
    .description('list principals')
    .action(async () => {
      const principals = await withDatabase(listPrincipals);
      print({ principals }, () => showPrincipals(principals));
    });
}

export function buildAdminProgram(): Command {
  const program = jsonOption(new Command('refunds-admin'))
    .description(
      'Refund approvals administration, directly in the database: API principals, their API and signing keys, registry endorsements',
    )
    .addHelpText('after', `\nEnvironment: DATABASE_URL, the schema owner's (default: the running local stack).\n${EXIT_CODES_HELP}`)
    .showSuggestionAfterError()
    .exitOverride();
  registerPrincipalCommands(program);
  return program;
}

interface PrincipalAddOptions {
  role: Array<(typeof Role.options)[number]>;
  approvalLimit?: string;
  keyFile?: string;
  /** False with --no-signing-key. */
  signingKey: boolean;
  currency?: string[];
}

const principalExitCode = (error: unknown) => {
  if (error instanceof RegistryError) return error.code === 'entry_not_found' ? EXIT.notFound : EXIT.refused;
  return error instanceof PrincipalError ? (error.code === 'principal_not_found' ? EXIT.notFound : EXIT.refused) : undefined;
};

process.exitCode = await runCli(buildAdminProgram(), process.argv.slice(2), principalExitCode);
