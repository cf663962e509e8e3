/**
 * Demo credentials for the local stack: on the first `npm start` with the embedded database, one
 * principal per role and carrier webhook signing keys for a few carriers are created and saved
 * to .data/demo-credentials.json (readable by the owner only), so the API and the CLI can be
 * tried at once. Never used with DATABASE_URL: a real deployment's keys are issued with
 * `refunds-admin principal add` and its carriers' keys configured with REFUNDS_CARRIER_SECRETS.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { CarrierSecrets } from '../client/carrier-signature';
import { parseCarrierSecrets } from '../config/carrier-secrets';
import { createPool, type Pool } from '../store/pool';
import { addPrincipal, authenticate, PrincipalError, rotateApiKey, type NewPrincipal } from '../store/principals';

export const demoPrincipals: NewPrincipal[] = [
  { id: 'svc-returns-portal', roles: ['refund_service'] },
  { id: 'wh-scanner-1', roles: ['warehouse'] },
  { id: 'emp-approver-1', roles: ['approver'], approvalLimit: '5000.00' },
  { id: 'emp-approver-2', roles: ['approver'], approvalLimit: '10000.00' },
  { id: 'emp-ops-1', roles: ['ops'] },
  { id: 'emp-admin-1', roles: ['admin'] },
];

/** One signing key each, in the REFUNDS_CARRIER_SECRETS format. */
export const demoCarriers = ['ups', 'dhl', 'fedex'];

export interface DemoCredentials {
  /** Each carrier's keys, as REFUNDS_CARRIER_SECRETS would name them: `{ "ups": [{ "keyId", "secret" }] }`. */
  carrierSecrets: CarrierSecrets;
  principals: Array<{ id: string; roles: string[]; approvalLimit: string | null; apiKey: string }>;
}

async function readCredentials(file: string): Promise<Partial<DemoCredentials> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Partial<DemoCredentials>;
  } catch {
    return undefined;
  }
}

function newCarrierSecrets(): CarrierSecrets {
  return Object.fromEntries(
    demoCarriers.map((carrier) => [carrier, [{ keyId: `${carrier}-demo-1`, secret: randomBytes(32).toString('hex') }]]),
  );
}

/** A principal for each demo role; one left over from an earlier demo file gets a fresh key (unless someone revoked it on purpose). */
async function newPrincipals(pool: Pool): Promise<DemoCredentials['principals']> {
  const principals: DemoCredentials['principals'] = [];
  for (const demo of demoPrincipals) {
    try {
      const { principal, apiKey } = await addPrincipal(pool, demo);
      principals.push({ id: principal.id, roles: principal.roles, approvalLimit: principal.approvalLimit, apiKey });
    } catch (error) {
      if (!(error instanceof PrincipalError && error.code === 'principal_exists')) throw error;
      const apiKey = await rotateApiKey(pool, demo.id).catch((e: unknown) => (e instanceof PrincipalError ? undefined : Promise.reject(e)));
      if (apiKey) principals.push({ id: demo.id, roles: demo.roles, approvalLimit: demo.approvalLimit ?? null, apiKey });
    }
  }
  return principals;
}

/**
 * The demo credentials, created on first use. Principals whose keys the database no longer knows
 * (the database was reset) are issued again; carrier keys missing or invalid (a file from before
 * per-carrier keys) are created. Whatever is still good is kept.
 */
export async function ensureDemoCredentials(
  databaseUrl: string,
  file: string,
): Promise<{ credentials: DemoCredentials; created: boolean }> {
  const pool = createPool(databaseUrl, 2);
  try {
    const existing = await readCredentials(file);
    const firstKey = existing?.principals?.[0]?.apiKey;
    const principalsValid = Boolean(firstKey && (await authenticate(pool, firstKey)));
    const carriers = parseCarrierSecrets(existing?.carrierSecrets);
    if (principalsValid && carriers.ok) return { credentials: existing as DemoCredentials, created: false };

    const credentials: DemoCredentials = {
      carrierSecrets: carriers.ok ? carriers.secrets : newCarrierSecrets(),
      principals: principalsValid && existing?.principals ? existing.principals : await newPrincipals(pool),
    };
    await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return { credentials, created: true };
  } finally {
    await pool.end();
  }
}
