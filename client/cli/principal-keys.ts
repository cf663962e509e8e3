/**
 * Where `refunds principal add` keeps the key pair it makes on the principal's own machine: the
 * secret half in a key file under the user's config folder ($XDG_CONFIG_HOME/refunds/keys/, by
 * default ~/.config/refunds/keys/), mode 0600 in a 0700 folder, never overwritten; the API only
 * ever sees the public half. Limits are given in major units and registered per currency.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { majorToMinor, minorUnitExponent } from '../../workflows/currencies';
import { UsageError } from './runtime';

/** The currencies an approval limit is registered in unless `--currency` says otherwise (as `refunds-admin`). */
export const DEFAULT_LIMIT_CURRENCIES = ['USD', 'EUR', 'GBP'];

/** The folder key files go to by default. */
export function keysFolder(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME?.trim() || path.join(os.homedir(), '.config');
  return path.join(config, 'refunds', 'keys');
}

/** A key id for version `version` of a principal's entry: `<id>.k<version>` (or `k<version>` when the id is too long). */
export function keyIdFor(principalId: string, version: number): string {
  const keyId = `${principalId}.k${version}`;
  return keyId.length <= 128 ? keyId : `k${version}`;
}

/**
 * The key file to write: `--key-file`, or `<id>.<keyId>.json` in the keys folder (created, 0700).
 * Refused before anything is written or proposed if the file exists.
 */
export async function keyFileToWrite(principalId: string, keyId: string, keyFile?: string): Promise<string> {
  const file = path.resolve(keyFile ?? path.join(keysFolder(), `${principalId}.${keyId}.json`));
  if (existsSync(file))
    throw new UsageError(`the key file ${file} already exists; it is never overwritten: choose another with --key-file`);
  if (!keyFile) await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return file;
}

/** Removes a key file this run wrote, when what it was for was refused. */
export async function discardKeyFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** `amount` (major units) in minor units of each currency; decimals a currency does not have are dropped, never rounded up. */
export function limitsIn(amount: string, currencies: readonly string[]): Record<string, number> {
  if (!/^\d{1,11}(\.\d{1,4})?$/.test(amount)) {
    throw new UsageError(`--approval-limit must be a decimal amount in major units, e.g. 1000.00, not ${JSON.stringify(amount)}`);
  }
  const [units = '0', fraction = ''] = amount.split('.');
  return Object.fromEntries(
    currencies.map((currency) => [currency, majorToMinor(`${units}.${fraction.slice(0, minorUnitExponent(currency)) || '0'}`, currency)]),
  );
}
