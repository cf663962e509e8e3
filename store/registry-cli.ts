/**
 * `refunds-admin` and the key registry: `principal add` also gives the principal an Ed25519 key
 * pair (the secret half goes to a key file readable by its owner only, the public half into a
 * registry entry), and `principal endorse` adds one admin's endorsement to that entry. The entry
 * counts once two trust-root admins have endorsed it; until then the principal's signed decisions
 * are refused. `admin-key new` makes an admin's key and prints the line for the trust roots file.
 */
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { print, UsageError } from '../client/cli/runtime';
import { readSigningKeyFile, writeSigningKeyFile } from '../client/cli/signing-key';
import { InvalidInputError } from '../client/errors';
import { approvalLimitIn, NewPrincipal, PrincipalError, type Principal } from './principals';
import type { Pool } from './pool';
import { databaseAdminActor } from './principal-audit';
import { addEndorsement, addRegistryEntry, findEntry, type StoredEntry } from './registry';
import { endorseEntry, generateKeyPair, type RegistryEntry } from '../workflows/statements';

export type WithDatabase = <T>(work: (pool: Pool) => Promise<T>) => Promise<T>;

/** The currencies an approver's limit is registered in unless `--currency` says otherwise. */
export const DEFAULT_LIMIT_CURRENCIES = ['USD', 'EUR', 'GBP'];

export interface IssuedKey {
  keyId: string;
  keyFile: string;
  entry: RegistryEntry;
}

/** The canonical id of a principal about to be added, once its input is valid and no principal has that id. */
export async function newPrincipalId(pool: Pool, input: NewPrincipal): Promise<string> {
  const parsed = NewPrincipal.safeParse(input);
  if (!parsed.success) throw InvalidInputError.fromZod('principal', parsed.error);
  const id = parsed.data.id;
  const found = await pool.query('SELECT 1 FROM principals WHERE lower(id) = lower($1)', [id]);
  if (found.rowCount) throw new PrincipalError('principal_exists', `principal ${id} already exists`);
  return id;
}

/** Where a principal's key file goes; refused before anything is written if it exists or its folder is not writable. */
export async function keyFileFor(principalId: string, keyFile: string | undefined): Promise<string> {
  const file = path.resolve(keyFile ?? `${principalId}.signing-key.json`);
  if (existsSync(file)) throw new UsageError(`the key file ${file} already exists; choose another with --key-file`);
  await access(path.dirname(file), constants.W_OK).catch(() => {
    throw new UsageError(`cannot write the key file ${file}: its folder does not exist or is not writable`);
  });
  return file;
}

/** A key id for the principal's first key: `<id>.k1` (or `k1` when the id is too long for that). */
export function firstKeyId(principalId: string): string {
  return principalId.length <= 125 ? `${principalId}.k1` : 'k1';
}

/**
 * Gives a new principal a key pair: writes the secret key to `keyFile` (mode 0600, never
 * overwritten) and stores an unendorsed registry entry with the public key, the principal's roles
 * and, for approvers, its approval limit in each of `currencies`.
 */
export async function issueSigningKey(
  pool: Pool,
  principal: Principal,
  options: { keyFile: string; currencies?: string[] },
): Promise<IssuedKey> {
  const keyId = firstKeyId(principal.id);
  const keyFile = options.keyFile;
  const { secretKey, publicKey } = generateKeyPair(keyId);
  const currencies = options.currencies?.length ? options.currencies : DEFAULT_LIMIT_CURRENCIES;
  const approver = principal.roles.includes('approver');
  const entry: RegistryEntry = {
    kind: 'registry_entry',
    principalId: principal.id,
    version: 1,
    roles: principal.roles,
    approvalLimits: approver ? Object.fromEntries(currencies.map((c) => [c, approvalLimitIn(principal.approvalLimit, c)])) : {},
    keys: [publicKey],
    status: 'active',
    issuedAt: new Date().toISOString(),
  };
  await writeSigningKeyFile(keyFile, { principalId: principal.id, keyId, secretKey });
  await addRegistryEntry(pool, { entry }, databaseAdminActor());
  return { keyId, keyFile, entry };
}

function describeEntry({ entry, endorsements }: Pick<StoredEntry, 'entry' | 'endorsements'>): string {
  const limits = Object.entries(entry.approvalLimits).map(([currency, minor]) => `${currency} ${minor}`);
  return [
    `Registry entry ${entry.principalId} version ${entry.version} (${entry.status}), issued ${entry.issuedAt}`,
    `  roles: ${entry.roles.join(', ')}`,
    `  approval limits (minor units): ${limits.length ? limits.join(', ') : '-'}`,
    `  keys: ${entry.keys.map(describeKey).join(', ')}`,
    `  endorsed by: ${endorsements.map((e) => `${e.adminId} (${e.keyId})`).join(', ') || 'nobody yet'} — it counts once two trust-root admins have endorsed it`,
  ].join('\n');
}

export function registerRegistryCommands(principal: Command, program: Command, withDatabase: WithDatabase): void {
  principal
    .command('show-entry')
    .description("show a principal's registry entry (latest version, or --version) and who has endorsed it")
    .argument('<id>')
    .option('--version <n>', 'the entry version', (v) => Number(v))
    .action(async (id: string, options: { version?: number }) => {
      const stored = await withDatabase((pool) =>
        findEntry(pool, { principalId: id, ...(options.version ? { version: options.version } : {}) }),
      );
      print(stored, () => describeEntry(stored));
    });
  principal
    .command('endorse')
    .description(
      "endorse a principal's registry entry as one trust-root admin (two distinct admins are needed); check it first with show-entry",
    )
    .argument('<id>')
    .requiredOption('--admin-key <file>', "the admin's key file (from `refunds-admin admin-key new`)")
    .option('--version <n>', 'the entry version (default: the latest)', (v) => Number(v))
    .action(async (id: string, options: { adminKey: string; version?: number }) => {
      const admin = await readSigningKeyFile(options.adminKey, '--admin-key');
      const stored = await withDatabase(async (pool) => {
        const target = await findEntry(pool, { principalId: id, ...(options.version ? { version: options.version } : {}) });
        const endorsement = endorseEntry(target.entry, { adminId: admin.principalId, keyId: admin.keyId, secretKey: admin.secretKey });
        const which = { principalId: id, version: target.entry.version, entryHash: target.entryHash };
        return addEndorsement(pool, which, endorsement, databaseAdminActor());
      });
      print(stored, () => describeEntry(stored));
    });
  program
    .command('admin-key')
    .description("trust-root admins' keys")
    .command('new')
    .description(
      "make an admin's Ed25519 key: writes the key file (mode 0600) and prints the entry for the trust roots file (REFUNDS_TRUST_ROOTS)",
    )
    .argument('<adminId>')
    .requiredOption('--key-file <file>', 'where to write the secret key')
    .action(async (adminId: string, options: { keyFile: string }) => {
      const keyId = firstKeyId(adminId.trim().toLowerCase());
      const { secretKey, publicKey } = generateKeyPair(keyId);
      const root = { adminId: adminId.trim().toLowerCase(), ...publicKey };
      if (!/^[a-z0-9][a-z0-9._@:-]{0,127}$/.test(root.adminId)) throw new UsageError(`adminId must be 1 to 128 of a-z 0-9 . _ @ : -`);
      await writeSigningKeyFile(path.resolve(options.keyFile), { principalId: root.adminId, keyId, secretKey });
      print({ trustRoot: root, keyFile: path.resolve(options.keyFile) }, () =>
        [
          `Key file (secret; keep it offline): ${path.resolve(options.keyFile)}`,
          'Add to the trust roots file\'s "admins":',
          JSON.stringify(root),
        ].join('\n'),
      );
    });
}

/** A key as an admin compares it: an Ed25519 key by its public key, a passkey by its credential id and where it signs. */
function describeKey(key: RegistryEntry['keys'][number]): string {
  return key.alg === 'ed25519'
    ? `${key.keyId} ${key.publicKey}`
    : `${key.keyId} passkey ${key.credentialId} (rpId ${key.rpId}, origin ${key.origin}, public key ${key.publicKey})`;
}
