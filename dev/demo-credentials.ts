/**
 * Demo principals for the local stack: on the first `npm start` with the embedded database, one
 * principal per role and a carrier webhook secret are created and saved to
 * .data/demo-credentials.json (readable by the owner only), so the API and the CLI can be tried
 * at once. Never used with DATABASE_URL: a real deployment's keys are issued with
 * `refunds-admin principal add`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createPool } from '../store/pool';
import { addPrincipal, authenticate, PrincipalError, rotateApiKey, type NewPrincipal } from '../store/principals';

export const demoPrincipals: NewPrincipal[] = [
  { id: 'svc-returns-portal', roles: ['refund_service'] },
  { id: 'wh-scanner-1', roles: ['warehouse'] },
  { id: 'emp-approver-1', roles: ['approver'], approvalLimit: '5000.00' },
  { id: 'emp-approver-2', roles: ['approver'], approvalLimit: '10000.00' },
  { id: 'emp-ops-1', roles: ['ops'] },
  { id: 'emp-admin-1', roles: ['admin'] },
];

export interface DemoCredentials {
  carrierWebhookSecret: string;
  principals: Array<{ id: string; roles: string[]; approvalLimit: string | null; apiKey: string }>;
}

async function readCredentials(file: string): Promise<DemoCredentials | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DemoCredentials;
  } catch {
    return undefined;
  }
}

/**
 * The demo credentials, created on first use. A file whose keys the database no longer knows
 * (the database was reset) is replaced.
 */
export async function ensureDemoCredentials(
  databaseUrl: string,
  file: string,
): Promise<{ credentials: DemoCredentials; created: boolean }> {
  const pool = createPool(databaseUrl, 2);
  try {
    const existing = await readCredentials(file);
    const firstKey = existing?.principals[0]?.apiKey;
    if (existing?.carrierWebhookSecret && firstKey && (await authenticate(pool, firstKey)))
      return { credentials: existing, created: false };

    const principals: DemoCredentials['principals'] = [];
    for (const demo of demoPrincipals) {
      try {
        const { principal, apiKey } = await addPrincipal(pool, demo);
        principals.push({ id: principal.id, roles: principal.roles, approvalLimit: principal.approvalLimit, apiKey });
      } catch (error) {
        if (!(error instanceof PrincipalError && error.code === 'principal_exists')) throw error;
        // Left over from an earlier demo file: give it a fresh key (unless someone revoked it on purpose).
        const apiKey = await rotateApiKey(pool, demo.id).catch((e: unknown) =>
          e instanceof PrincipalError ? undefined : Promise.reject(e),
        );
        if (apiKey) principals.push({ id: demo.id, roles: demo.roles, approvalLimit: demo.approvalLimit ?? null, apiKey });
      }
    }
    const credentials: DemoCredentials = { carrierWebhookSecret: randomBytes(32).toString('hex'), principals };
    await writeFile(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return { credentials, created: true };
  } finally {
    await pool.end();
  }
}
