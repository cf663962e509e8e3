/**
 * The key registry of the local stack: on `npm start` with the embedded database, three demo
 * admins' keys (.data/registry/, mode 0600) and the trust roots file the worker pins
 * (.data/trust-roots.json), and for every demo principal a signing key (.data/keys/<id>.json, mode
 * 0600) with a registry entry two of those admins endorsed: approvers get their limit in USD, EUR
 * and GBP, and the demo refund service (svc-returns-portal) signs its refund requests with its key,
 * as the workflow requires. Kept across restarts; an entry the database lost (it was reset) is registered again.
 * Never used with DATABASE_URL: a real deployment's admins keep their keys offline
 * (`refunds-admin admin-key new`, `refunds-admin principal endorse`).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSigningKeyFile, writeSigningKeyFile } from '../client/cli/signing-key';
import { loadTrustRootsFile } from '../config/worker';
import { createPool, type Pool } from '../store/pool';
import { approvalLimitIn, type NewPrincipal } from '../store/principals';
import { addRegistryEntry, registryRecords } from '../store/registry';
import { firstKeyId } from '../store/registry-cli';
import { Role } from '../workflows/schemas';
import { endorseEntry, generateKeyPair, publicKeyOf, resolvePrincipal, TrustRoots, type RegistryEntry } from '../workflows/statements';

export const DEMO_ADMINS = ['demo-admin-a', 'demo-admin-b', 'demo-admin-c'];
const LIMIT_CURRENCIES = ['USD', 'EUR', 'GBP'];

type Key = { principalId: string; keyId: string; secretKey: Uint8Array };

export interface DemoRegistry {
  trustRootsFile: string;
  keysDir: string;
  /** Principals registered (again) on this start. */
  registered: string[];
}

/** A key file's key, made and written first if the file does not exist. */
async function keyFile(file: string, principalId: string): Promise<Key> {
  if (existsSync(file)) return readSigningKeyFile(file, file);
  const keyId = firstKeyId(principalId);
  const key = { principalId, keyId, secretKey: generateKeyPair(keyId).secretKey };
  await writeSigningKeyFile(file, key);
  return key;
}

async function trustRoots(dataDir: string): Promise<{ file: string; admins: Key[] }> {
  const adminsDir = path.join(dataDir, 'registry');
  await mkdir(adminsDir, { recursive: true, mode: 0o700 });
  const admins: Key[] = [];
  for (const adminId of DEMO_ADMINS) admins.push(await keyFile(path.join(adminsDir, `${adminId}.key.json`), adminId));
  const file = path.join(dataDir, 'trust-roots.json');
  const roots = TrustRoots.parse({ admins: admins.map((a) => ({ adminId: a.principalId, ...publicKeyOf(a.keyId, a.secretKey) })) });
  await writeFile(file, `${JSON.stringify(roots, null, 2)}\n`, { mode: 0o600 });
  return { file, admins };
}

/** Registers `principal` with `key` unless an endorsed entry with that key already counts. */
async function register(pool: Pool, principal: NewPrincipal, key: Key, roots: { file: string; admins: Key[] }): Promise<boolean> {
  const records = await registryRecords(pool, principal.id);
  const resolution = resolvePrincipal(records, principal.id, loadTrustRootsFile(roots.file), new Date());
  if (resolution.ok && resolution.principal.keys.some((k) => k.keyId === key.keyId)) return false;
  const versions = records.entries.map((e) => Number((e as { entry?: { version?: unknown } }).entry?.version) || 0);
  const roles = Role.array().parse(principal.roles);
  const entry: RegistryEntry = {
    kind: 'registry_entry',
    principalId: principal.id,
    version: Math.max(0, ...versions) + 1,
    roles,
    approvalLimits: roles.includes('approver')
      ? Object.fromEntries(LIMIT_CURRENCIES.map((c) => [c, approvalLimitIn(principal.approvalLimit ?? null, c)]))
      : {},
    keys: [publicKeyOf(key.keyId, key.secretKey)],
    status: 'active',
    issuedAt: new Date(Date.now() - 1_000).toISOString(),
  };
  const endorsements = roots.admins
    .slice(0, 2)
    .map((admin) => endorseEntry(entry, { adminId: admin.principalId, keyId: admin.keyId, secretKey: admin.secretKey }));
  await addRegistryEntry(pool, { entry, endorsements });
  return true;
}

/** The demo trust roots, signing keys and endorsed registry entries, created where missing. */
export async function ensureDemoRegistry(databaseUrl: string, dataDir: string, principals: readonly NewPrincipal[]): Promise<DemoRegistry> {
  const roots = await trustRoots(dataDir);
  const keysDir = path.join(dataDir, 'keys');
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const pool = createPool(databaseUrl, 2);
  try {
    const registered: string[] = [];
    for (const principal of principals) {
      const key = await keyFile(path.join(keysDir, `${principal.id}.json`), principal.id);
      if (await register(pool, principal, key, roots)) registered.push(principal.id);
    }
    return { trustRootsFile: roots.file, keysDir, registered };
  } finally {
    await pool.end();
  }
}
