/**
 * The key registry from the command line, over the HTTP API. `principal add` makes a key pair on
 * this machine (the secret key stays in a key file here) and proposes the entry with the public
 * key; `principal approve` lets a trust-root admin check and endorse it with their key; two
 * admins make it count. `principal revoke` and `principal show` round it off.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { formatMinor, isCurrency } from '../../../workflows/currencies';
import { Role } from '../../../workflows/schemas';
import { endorseEntry, generateKeyPair, signRevocation, type RegistryEntry } from '../../../workflows/statements';
import type { RefundsApiClient } from '../../refunds-api-client';
import type { RegistryEntryView, RegistryView } from '../../registry-views';
import { integer, type Api } from '../input';
import { when } from '../output';
import { DEFAULT_LIMIT_CURRENCIES, discardKeyFile, keyFileToWrite, keyIdFor, limitsIn } from '../principal-keys';
import { print, UsageError } from '../runtime';
import { readSigningKeyFile, writeSigningKeyFile } from '../signing-key';

function roleList(role: string, roles: string[] = []): string[] {
  if (!Role.options.includes(role as never)) throw new InvalidArgumentError(`"${role}" is not a role; use ${Role.options.join(', ')}`);
  return [...roles, role];
}

function currencyList(value: string, values: string[] = []): string[] {
  const currency = value.trim().toUpperCase();
  if (!isCurrency(currency)) throw new InvalidArgumentError(`"${value}" is not an ISO 4217 currency code`);
  return [...values, currency];
}

const limits = (entry: RegistryEntry) =>
  Object.entries(entry.approvalLimits)
    .map(([currency, minor]) => formatMinor(minor, currency))
    .join(', ') || '-';

/** One entry as an admin reviews it before endorsing. */
export function describeEntry(view: RegistryEntryView): string {
  const { entry } = view;
  if (!entry) return `Entry version ${view.version} (${view.entryHash}): malformed, counts for nothing: ${JSON.stringify(view.stored)}`;
  const endorsed = view.endorsements.map((e) => `${e.adminId} (${e.keyId}${e.counts ? '' : `, does not count: ${e.reason}`})`);
  const state = view.current ? 'current' : view.counts ? 'endorsed' : `pending (${view.reason ?? 'not endorsed'})`;
  return [
    `Entry ${entry.principalId} version ${entry.version}: ${state}, status ${entry.status}, issued ${when(entry.issuedAt)}`,
    `  hash:            ${view.entryHash}`,
    `  roles:           ${entry.roles.join(', ')}`,
    `  approval limits: ${limits(entry)}`,
    `  keys:            ${entry.keys.map(describeKey).join(', ')}`,
    `  endorsed by:     ${endorsed.join(', ') || 'nobody yet'}`,
  ].join('\n');
}

function describeRegistry(view: RegistryView): string {
  const r = view.resolution;
  const now = r.ok
    ? `${view.principalId} can sign: version ${r.version}, roles ${r.roles?.join(', ')}, keys ${r.keyIds?.join(', ') || '-'}`
    : `${view.principalId} cannot sign (${r.rule}): ${r.message}`;
  const revocations = view.revocations.map((x) => {
    const rev = (x.signed as { revocation?: { keyId?: string; adminId?: string; reason?: string; revokedAt?: string } }).revocation ?? {};
    return `Revoked ${rev.keyId ? `key ${rev.keyId}` : 'the principal'} by ${rev.adminId} at ${when(rev.revokedAt)}: ${rev.reason}${x.counts ? '' : ` (does not count: ${x.reason})`}`;
  });
  return [now, ...view.entries.map(describeEntry), ...revocations].join('\n');
}

/** The entry to endorse: `version` (default the highest), and `entryHash` when several share it. */
function entryToEndorse(view: RegistryView, version?: number, entryHash?: string): RegistryEntryView {
  const top = version ?? Math.max(0, ...view.entries.map((e) => e.version));
  const found = view.entries.filter((e) => e.version === top && (!entryHash || e.entryHash === entryHash));
  if (found.length === 0) {
    const which = `${view.principalId} version ${top}${entryHash ? ` with hash ${entryHash}` : ''}`;
    throw new UsageError(`the registry has no entry for ${which}; see refunds principal show ${view.principalId}`);
  }
  if (found.length > 1) throw new UsageError(`several entries at version ${top}: name the one you checked with --entry-hash`);
  return found[0]!;
}

/** The admin's trust-root key: REFUNDS_SIGNING_KEY. */
async function adminKey() {
  const file = process.env.REFUNDS_SIGNING_KEY;
  if (!file) throw new UsageError('REFUNDS_SIGNING_KEY must name your trust-root admin key file to sign with');
  return readSigningKeyFile(file);
}

interface AddOptions {
  role: string[];
  approvalLimit?: string;
  currency?: string[];
  keyFile?: string;
  version?: number;
}

/** Makes the key pair here, writes the secret key, proposes the entry; the key file is removed again if the API refuses. */
async function addPrincipal(client: RefundsApiClient, id: string, options: AddOptions) {
  const approver = options.role.includes('approver');
  if (approver !== (options.approvalLimit !== undefined)) {
    throw new UsageError(
      approver ? 'an approver needs --approval-limit, e.g. 1000.00' : '--approval-limit only applies to the approver role',
    );
  }
  const principalId = id.trim().toLowerCase();
  const version = options.version ?? (await nextVersion(client, principalId));
  const keyId = keyIdFor(principalId, version);
  const keyFile = await keyFileToWrite(principalId, keyId, options.keyFile);
  const { secretKey, publicKey } = generateKeyPair(keyId);
  const currencies = options.currency?.length ? options.currency : DEFAULT_LIMIT_CURRENCIES;
  const entry = {
    kind: 'registry_entry' as const,
    principalId,
    version,
    roles: options.role as RegistryEntry['roles'],
    approvalLimits: approver ? limitsIn(options.approvalLimit!, currencies) : {},
    keys: [publicKey],
    status: 'active' as const,
    issuedAt: new Date().toISOString(),
  };
  await writeSigningKeyFile(keyFile, { principalId, keyId, secretKey });
  try {
    return { keyFile, keyId, stored: await client.proposeRegistryEntry(entry) };
  } catch (error) {
    await discardKeyFile(keyFile);
    throw error;
  }
}

/** One above every stored version: an entry counts only at the highest. */
async function nextVersion(client: RefundsApiClient, principalId: string): Promise<number> {
  const view = await client.principalRegistry(principalId);
  return Math.max(0, ...view.entries.map((e) => e.version)) + 1;
}

export function registerPrincipalCommands(program: Command, api: Api): void {
  const principal = program
    .command('principal')
    .description("principals' registry entries: signing keys, roles and limits, endorsed by two trust-root admins");
  principal
    .command('add')
    .description(
      'make a signing key here and propose its registry entry (an admin, or the principal itself with its own API key); ' +
        'the secret key stays in a key file here, the API gets the public key only',
    )
    .argument('<id>', 'the principal')
    .addOption(new Option('--role <role>', `a role (repeat): ${Role.options.join(', ')}`).argParser(roleList).makeOptionMandatory())
    .option('--approval-limit <amount>', 'approvers: the largest refund they may approve, in major units, e.g. 1000.00')
    .option('--currency <code>', 'a currency the limit is registered in (repeat; default USD, EUR, GBP)', currencyList)
    .option(
      '--key-file <file>',
      'where to write the secret key (default $XDG_CONFIG_HOME/refunds/keys/<id>.<keyId>.json; never overwritten)',
    )
    .option('--version <n>', 'the entry version (default: one above the latest)', integer('--version'))
    .action(async (id: string, options: AddOptions) => {
      const { keyFile, keyId, stored } = await addPrincipal(await api(), id, options);
      print({ ...stored, keyId, keyFile }, () =>
        [
          `Proposed ${stored.principalId} version ${stored.version}${stored.created ? '' : ' (already stored)'}: roles ${stored.entry.roles.join(', ')}, approval limits ${limits(stored.entry)}`,
          `Entry hash: ${stored.entryHash}  (the admins compare it before approving)`,
          `Signing key ${keyId} written to ${keyFile} (mode 0600; REFUNDS_SIGNING_KEY for approve and reject)`,
          `It counts once two trust-root admins run: refunds principal approve ${stored.principalId} --version ${stored.version} --entry-hash ${stored.entryHash}`,
        ].join('\n'),
      );
    });
  registerAdminCommands(principal, api);
  principal
    .command('show')
    .description("a principal's registry: entries pending and current, who endorsed them, revocations (admins, or yourself)")
    .argument('<id>')
    .action(async (id: string) => {
      const view = await (await api()).principalRegistry(id);
      print(view, () => describeRegistry(view));
    });
}

function registerAdminCommands(principal: Command, api: Api): void {
  principal
    .command('approve')
    .description(
      "endorse a principal's registry entry as a trust-root admin (REFUNDS_SIGNING_KEY: your admin key file); prints what you endorse",
    )
    .argument('<id>')
    .option('--version <n>', 'the entry version (default: the latest)', integer('--version'))
    .option('--entry-hash <hash>', 'the hash you compared with the proposer; refused if the entry has another')
    .action(async (id: string, options: { version?: number; entryHash?: string }) => {
      const client = await api();
      const key = await adminKey();
      const target = entryToEndorse(await client.principalRegistry(id), options.version, options.entryHash);
      if (!target.entry) throw new UsageError(`version ${target.version} of ${id} is malformed; it cannot be endorsed`);
      const endorsement = endorseEntry(target.entry, { adminId: key.principalId, keyId: key.keyId, secretKey: key.secretKey });
      const view = await client.endorseRegistryEntry(id, target.version, { ...endorsement, entryHash: target.entryHash });
      const after = entryToEndorse(view, target.version, target.entryHash);
      print(view, () =>
        [
          `Endorsed by ${key.principalId} (${key.keyId}):`,
          describeEntry(after),
          after.counts ? 'It counts now.' : 'It needs one more trust-root admin’s endorsement to count.',
        ].join('\n'),
      );
    });
  principal
    .command('revoke')
    .description("revoke a principal's signing key (--key-id) or freeze the whole principal, as one trust-root admin (REFUNDS_SIGNING_KEY)")
    .argument('<id>')
    .option('--key-id <keyId>', 'the key to retire (default: freeze the principal)')
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, options: { keyId?: string; reason: string }) => {
      const client = await api();
      const key = await adminKey();
      const signed = signRevocation(
        {
          kind: 'revocation',
          principalId: id,
          ...(options.keyId ? { keyId: options.keyId } : {}),
          reason: options.reason,
          revokedAt: new Date().toISOString(),
          adminId: key.principalId,
          adminKeyId: key.keyId,
        },
        key.secretKey,
      );
      const stored = await client.revokeRegistryKey(signed);
      print(
        stored,
        () =>
          `Revoked ${options.keyId ? `key ${options.keyId} of ${stored.principalId}` : `${stored.principalId} (frozen)`} by ${key.principalId}`,
      );
    });
}

/** A key as an admin compares it: an Ed25519 key by its public key, a passkey by its credential id and where it signs. */
function describeKey(key: RegistryEntry['keys'][number]): string {
  return key.alg === 'ed25519'
    ? `${key.keyId} ${key.publicKey}`
    : `${key.keyId} passkey ${key.credentialId} (rpId ${key.rpId}, origin ${key.origin}, public key ${key.publicKey})`;
}
