/**
 * `refunds principal` as child processes against the API on a real port: a principal created with
 * `refunds-admin principal add --no-signing-key` makes its own key pair (the key file mode 0600
 * under its config folder, never overwritten) and proposes its entry; two trust-root admins
 * approve it with their key files; the server never holds the secret key; refusals exit as the
 * rest of the CLI does.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSigningKeyFile } from '../../client/cli/signing-key';
import { addPrincipal } from '../../store/principals';
import { registryRecords } from '../../store/registry';
import { resolvePrincipal } from '../../workflows/statements';
import { startApiHarness, type ApiHarness, type TestPrincipal } from '../support/api-harness';
import { testStack, uniqueId } from '../support/stack';

const refundsBin = fileURLToPath(new URL('../../client/cli/refunds.mjs', import.meta.url));
const refundsAdminBin = fileURLToPath(new URL('../../store/refunds-admin.mjs', import.meta.url));

let api: ApiHarness;
let baseUrl: string;
const home = mkdtempSync(path.join(os.tmpdir(), 'refunds-home-'));
/** The admins' API keys and their trust-root key files, as they keep them. */
let admins: Array<{ id: string; apiKey: string; keyFile: string }>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin <args>` with only the environment given (plus PATH and a HOME of its own), as a script would. */
function run(bin: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const refunds = (args: string[], env: Record<string, string>) => run(refundsBin, args, { REFUNDS_API_URL: baseUrl, ...env });

const asAdmin = (i: number) => ({ REFUNDS_API_KEY: admins[i]!.apiKey, REFUNDS_SIGNING_KEY: admins[i]!.keyFile });

beforeAll(async () => {
  api = await startApiHarness();
  baseUrl = await api.listen();
  admins = await Promise.all(
    api.h.registry.admins.map(async (admin) => {
      const { apiKey } = await addPrincipal(api.owner, { id: admin.adminId, roles: ['admin'] });
      const keyFile = path.join(home, `${admin.adminId}.admin-key.json`);
      await writeSigningKeyFile(keyFile, { principalId: admin.adminId, keyId: admin.keyId, secretKey: admin.secretKey });
      return { id: admin.adminId, apiKey, keyFile };
    }),
  );
});
afterAll(async () => {
  await api?.close();
  rmSync(home, { recursive: true, force: true });
});

/** Everything the database holds about `id`'s registry and its audit chain, as text. */
async function storedAbout(id: string): Promise<string> {
  const { rows } = await api.owner.query(
    `SELECT e.entry::text AS entry, (SELECT string_agg(d.endorsement::text, ',') FROM registry_endorsements d WHERE d.entry_id = e.id) AS endorsements
       FROM registry_entries e WHERE e.principal_id = $1`,
    [id],
  );
  const audit = await api.owner.query('SELECT data::text AS data FROM audit_log WHERE refund_id = $1', [`principal ${id}`]);
  return JSON.stringify([rows, audit.rows]);
}

describe('refunds principal', () => {
  let newbie: TestPrincipal;
  let keyFile: string;
  let entryHash: string;
  const config = path.join(home, 'config');

  it('refunds-admin principal add --no-signing-key: the principal and its API key only, no key file, no registry entry', async () => {
    const id = uniqueId('emp-cli-newbie');
    const added = await run(
      refundsAdminBin,
      ['principal', 'add', id, '--role', 'approver', '--approval-limit', '1000.00', '--no-signing-key', '--json'],
      { DATABASE_URL: testStack().ownerDatabaseUrl },
    );
    expect(added.code, added.stderr).toBe(0);
    const output = JSON.parse(added.stdout) as { apiKey: string };
    expect(output).not.toHaveProperty('keyFile');
    expect((await registryRecords(api.h.pool, id)).entries).toEqual([]);
    newbie = { id, apiKey: output.apiKey };
  });

  it('add: makes the key pair here, writes the secret key 0600 under the config folder, proposes the public key', async () => {
    const env = { REFUNDS_API_KEY: newbie.apiKey, XDG_CONFIG_HOME: config };
    const added = await refunds(
      ['principal', 'add', newbie.id, '--role', 'approver', '--approval-limit', '1000.00', '--currency', 'USD', '--json'],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    const output = JSON.parse(added.stdout) as { keyFile: string; keyId: string; entryHash: string; version: number };
    keyFile = output.keyFile;
    entryHash = output.entryHash;
    expect(output).toMatchObject({ version: 1, keyId: `${newbie.id}.k1`, created: true });
    expect(keyFile).toBe(path.join(config, 'refunds', 'keys', `${newbie.id}.${newbie.id}.k1.json`));
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const { secretKey } = JSON.parse(readFileSync(keyFile, 'utf8')) as { secretKey: string };
    expect(await storedAbout(newbie.id)).not.toContain(secretKey);

    // The same key file again: refused before anything is proposed, the file untouched.
    const before = readFileSync(keyFile, 'utf8');
    const again = await refunds(
      ['principal', 'add', newbie.id, '--role', 'approver', '--approval-limit', '1.00', '--key-file', keyFile],
      env,
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    expect(readFileSync(keyFile, 'utf8')).toBe(before);
    expect((await registryRecords(api.h.pool, newbie.id)).entries).toHaveLength(1);

    // A version the registry already has: refused by the API, and the key file just written is removed again.
    const stray = path.join(home, `${newbie.id}.stray.json`);
    const taken = await refunds(
      ['principal', 'add', newbie.id, '--role', 'approver', '--approval-limit', '1.00', '--version', '1', '--key-file', stray, '--json'],
      env,
    );
    expect(taken.code).toBe(3);
    expect(JSON.parse(taken.stderr)).toMatchObject({ error: { rule: 'version_taken', status: 409 } });
    expect(existsSync(stray)).toBe(false);
    expect((await registryRecords(api.h.pool, newbie.id)).entries).toHaveLength(1);
  });

  it('approve: one admin is not enough, a second makes it count; the same admin twice and a non-admin are refused', async () => {
    const first = await refunds(['principal', 'approve', newbie.id, '--entry-hash', entryHash], asAdmin(0));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(entryHash);
    expect(first.stdout).toMatch(/needs one more/);
    const records = async () => registryRecords(api.h.pool, newbie.id);
    expect(resolvePrincipal(await records(), newbie.id, api.h.registry.trustRoots, new Date())).toMatchObject({
      rule: 'entry_not_endorsed',
    });

    const twice = await refunds(['principal', 'approve', newbie.id, '--json'], asAdmin(0));
    expect(twice.code).toBe(3);
    expect(JSON.parse(twice.stderr)).toMatchObject({ error: { rule: 'duplicate_admin', status: 409 } });
    const notAdmin = await refunds(['principal', 'approve', newbie.id], { ...asAdmin(1), REFUNDS_API_KEY: newbie.apiKey });
    expect(notAdmin.code).toBe(3);
    const wrongHash = await refunds(['principal', 'approve', newbie.id, '--entry-hash', '0'.repeat(64)], asAdmin(1));
    expect(wrongHash.code).toBe(2);

    const second = await refunds(['principal', 'approve', newbie.id, '--version', '1'], asAdmin(1));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/counts now/);
    const resolved = resolvePrincipal(await records(), newbie.id, api.h.registry.trustRoots, new Date());
    expect(resolved).toMatchObject({ ok: true, principal: { approvalLimits: { USD: 100_000 }, keys: [{ keyId: `${newbie.id}.k1` }] } });

    const { secretKey } = JSON.parse(readFileSync(keyFile, 'utf8')) as { secretKey: string };
    expect(await storedAbout(newbie.id)).not.toContain(secretKey);
  });

  it('show and revoke: one admin retires the key', async () => {
    const revoked = await refunds(
      ['principal', 'revoke', newbie.id, '--key-id', `${newbie.id}.k1`, '--reason', 'laptop stolen'],
      asAdmin(2),
    );
    expect(revoked.code, revoked.stderr).toBe(0);
    const shown = await refunds(['principal', 'show', newbie.id, '--json'], { REFUNDS_API_KEY: newbie.apiKey });
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      resolution: { ok: true, keyIds: [], revokedKeyIds: [`${newbie.id}.k1`] },
      entries: [{ version: 1, counts: true, current: true }],
      revocations: [{ counts: true }],
    });
    const human = await refunds(['principal', 'show', newbie.id], asAdmin(0));
    expect(human.stdout).toMatch(/Revoked key .*laptop stolen/);
  });
});
