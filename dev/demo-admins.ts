/**
 * The demo trust-root admins as API principals: on `npm start` with the embedded database, each
 * demo admin (dev/demo-registry.ts: their trust-root key files are .data/registry/<id>.key.json)
 * gets a principal with the admin role and an API key, added to .data/demo-credentials.json, so
 * `refunds principal approve` works out of the box. Kept across restarts; a key the database no
 * longer knows is issued again.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createPool, type Pool } from '../store/pool';
import { addPrincipal, authenticate, PrincipalError, rotateApiKey } from '../store/principals';
import type { DemoCredentials } from './demo-credentials';

/** An API key for admin `id`: a new principal, or a fresh key for one left from an earlier demo (unless revoked on purpose). */
async function issueKey(pool: Pool, id: string): Promise<string | undefined> {
  try {
    return (await addPrincipal(pool, { id, roles: ['admin'] })).apiKey;
  } catch (error) {
    if (!(error instanceof PrincipalError && error.code === 'principal_exists')) throw error;
    return rotateApiKey(pool, id).catch((e: unknown) => (e instanceof PrincipalError ? undefined : Promise.reject(e)));
  }
}

/** Adds the demo admins' API keys to the credentials file where missing or stale; answers with the admins given new keys. */
export async function ensureDemoAdmins(databaseUrl: string, credentialsFile: string, adminIds: readonly string[]): Promise<string[]> {
  const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as DemoCredentials;
  const pool = createPool(databaseUrl, 2);
  try {
    const issued: string[] = [];
    for (const id of adminIds) {
      const known = credentials.principals.find((p) => p.id === id);
      if (known && (await authenticate(pool, known.apiKey))) continue;
      const apiKey = await issueKey(pool, id);
      if (!apiKey) continue;
      credentials.principals = [
        ...credentials.principals.filter((p) => p.id !== id),
        { id, roles: ['admin'], approvalLimit: null, apiKey },
      ];
      issued.push(id);
    }
    if (issued.length > 0) {
      await writeFile(credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
      await chmod(credentialsFile, 0o600);
    }
    return issued;
  } finally {
    await pool.end();
  }
}
