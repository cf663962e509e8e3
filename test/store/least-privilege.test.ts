/**
 * Least privilege in PostgreSQL: the worker and the API connect as refunds_service, which appends
 * to the audit trail through the normal path and can neither rewrite it (UPDATE, DELETE, TRUNCATE),
 * nor switch its guard off, drop or alter it, nor give itself more rights. Every other test file
 * runs the product as that role too (test/global-setup.ts). The destructive attempts run in a
 * database of their own, so a regression cannot take the shared audit chain with it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';
import { appendAuditFacts, verifyAuditChain } from '../../store/audit-trail';
import { handOverSchema, ownerRole, serviceRole } from '../../store/database-server';
import { ensureSchema, migrate, pendingMigrations, privilegedRoleWarning, SchemaError } from '../../store/migrate';
import { createPool, withTransaction, type Pool } from '../../store/pool';
import type { AuditFact } from '../../workflows/refund-model';
import { nextId } from '../support/fixtures';
import { scratchDatabase, testStack, type ScratchDatabase } from '../support/stack';

let db: ScratchDatabase;
/** refunds_service, as the worker and the API connect. */
let service: Pool;

const fact = (kind: string): AuditFact => ({ kind, actor: 'system', at: new Date().toISOString(), data: { kind } });

beforeAll(async () => {
  db = await scratchDatabase('least_privilege');
  service = createPool(db.serviceUrl, 3);
  await withTransaction(service, (c) => appendAuditFacts(c, nextId('lp'), 1, [fact('refund_requested'), fact('paid')]));
});
afterAll(async () => {
  await service?.end();
  await db?.drop();
});

/** Expects PostgreSQL to refuse `sql` for lack of privilege (42501), with a message matching `reason`. */
async function refused(sql: string, reason: RegExp): Promise<void> {
  await expect(service.query(sql)).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(reason) });
}

async function auditRows(): Promise<Array<{ seq: number; hash: string }>> {
  return (await service.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq')).rows;
}

describe('the service role and the audit trail', () => {
  it('connects as refunds_service, neither a superuser nor the owner of anything', async () => {
    const { rows } = await service.query(
      `SELECT current_user AS role, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,
              (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owns
         FROM pg_roles r WHERE rolname = current_user`,
    );
    expect(rows).toEqual([{ role: serviceRole, rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, owns: 0 }]);
    // The product under test everywhere else connects the same way.
    expect(new URL(testStack().databaseUrl).username).toBe(serviceRole);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on audit_log for lack of privilege, before the guard is even asked', async () => {
    const before = await auditRows();
    await refused(`UPDATE audit_log SET actor = 'someone-else'`, /permission denied for table audit_log/);
    await refused(`DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)`, /permission denied for table audit_log/);
    await refused('TRUNCATE audit_log', /permission denied for table audit_log/);
    expect(await auditRows()).toEqual(before);
  });

  it('cannot switch the guard off, drop it, replace it, or drop or alter the table', async () => {
    await refused('ALTER TABLE audit_log DISABLE TRIGGER ALL', /must be owner of table audit_log/);
    await refused('ALTER TABLE audit_log DISABLE TRIGGER USER', /must be owner of table audit_log/);
    await refused('DROP TRIGGER audit_log_no_update_or_delete ON audit_log', /must be owner of (table|relation) audit_log/);
    await refused('DROP TABLE audit_log', /must be owner of table audit_log/);
    await refused(`ALTER TABLE audit_log OWNER TO ${serviceRole}`, /must be owner of table audit_log/);
    await refused(
      `CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$`,
      /permission denied for schema public|must be owner of function audit_log_is_append_only/,
    );
    await refused('CREATE TABLE audit_log_copy (seq bigint)', /permission denied for schema public/);
    const triggers = await service.query<{ tgname: string; tgenabled: string }>(
      `SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass ORDER BY tgname`,
    );
    expect(triggers.rows).toEqual([
      { tgname: 'audit_log_no_truncate', tgenabled: 'O' },
      { tgname: 'audit_log_no_update_or_delete', tgenabled: 'O' },
    ]);
  });

  it('appends through the normal path, as the caller (neither function that appends is SECURITY DEFINER)', async () => {
    const refundId = nextId('lp-append');
    const facts = [fact('refund_requested'), fact('carrier_event'), fact('paid')];
    expect(await withTransaction(service, (c) => appendAuditFacts(c, refundId, 1, facts))).toMatchObject({ appended: 3 });
    // A retried write adds nothing, as before.
    expect(await withTransaction(service, (c) => appendAuditFacts(c, refundId, 1, facts))).toMatchObject({ appended: 0 });
    expect(await verifyAuditChain(service)).toMatchObject({ ok: true });
    const { rows } = await service.query(
      `SELECT proname, prosecdef FROM pg_proc WHERE proname IN ('append_audit_facts', 'advance_refund') ORDER BY proname`,
    );
    expect(rows).toEqual([
      { proname: 'advance_refund', prosecdef: false },
      { proname: 'append_audit_facts', prosecdef: false },
    ]);
  });
});

describe('what else the service role may do', () => {
  /** Each table of the schema with what refunds_service may do to it; UPDATE lists its columns when it is granted per column. */
  async function privileges(): Promise<Record<string, string[]>> {
    const { rows } = await service.query<{ table: string; privileges: string[] }>(
      `SELECT c.relname AS table,
              array_remove(ARRAY[
                CASE WHEN has_table_privilege($1, c.oid, 'SELECT') THEN 'SELECT' END,
                CASE WHEN has_table_privilege($1, c.oid, 'INSERT') THEN 'INSERT' END,
                CASE WHEN has_table_privilege($1, c.oid, 'UPDATE') THEN 'UPDATE'
                     WHEN has_any_column_privilege($1, c.oid, 'UPDATE') THEN
                       'UPDATE (' || (SELECT string_agg(a.attname, ', ' ORDER BY a.attname) FROM pg_attribute a
                                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                         AND has_column_privilege($1, c.oid, a.attnum, 'UPDATE')) || ')' END,
                CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'DELETE' END,
                CASE WHEN has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                CASE WHEN has_table_privilege($1, c.oid, 'REFERENCES') THEN 'REFERENCES' END,
                CASE WHEN has_table_privilege($1, c.oid, 'TRIGGER') THEN 'TRIGGER' END
              ], NULL) AS privileges
         FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        ORDER BY c.relname`,
      [serviceRole],
    );
    return Object.fromEntries(rows.map((r) => [r.table, r.privileges]));
  }

  it('holds exactly what the code needs on each table: no TRUNCATE anywhere, DELETE only of ended rate-limit windows, UPDATE only of the columns it moves', async () => {
    expect(await privileges()).toEqual({
      api_keys: ['SELECT'],
      api_rate_limits: ['SELECT', 'INSERT', 'UPDATE (count)', 'DELETE'],
      audit_checkpoints: ['SELECT', 'INSERT'],
      audit_log: ['SELECT', 'INSERT'],
      audit_verification_runs: ['SELECT', 'INSERT'],
      carrier_events: ['SELECT', 'INSERT', 'UPDATE (delivered_at, delivered_to, expired_at)'],
      console_sessions: ['SELECT', 'INSERT', 'UPDATE (last_seen_at, revoked_at)'],
      customer_identity_links: ['SELECT', 'INSERT'],
      idempotency_keys: ['SELECT', 'INSERT', 'UPDATE (answer, answered_at, created_at, fingerprint, status)'],
      employee_breakers: ['SELECT', 'INSERT', 'UPDATE (lift_reason, lifted_at, lifted_by)'],
      insider_actions: ['SELECT', 'INSERT'],
      ledger_entries: ['INSERT'],
      ops_alerts: ['SELECT', 'INSERT', 'UPDATE (acknowledge_note, acknowledged_at, acknowledged_by, delivered_at)'],
      payouts: ['SELECT', 'INSERT', 'UPDATE (attempts, failure_code, failure_message, gateway_reference, paid_at, status, updated_at)'],
      pgmigrations: ['SELECT'],
      principals: ['SELECT'],
      registry_endorsements: ['SELECT', 'INSERT'],
      registry_entries: ['SELECT', 'INSERT'],
      registry_revocations: ['SELECT', 'INSERT'],
      webauthn_challenges: ['SELECT', 'INSERT', 'UPDATE (consumed_at)'],
      refunds: [
        'SELECT',
        'INSERT',
        'UPDATE (approvals_given, approvals_required, progress_seq, risk_band, risk_score, state, state_since, status, stuck, stuck_after, updated_at, waiting_for)',
      ],
      webhook_cursor: ['SELECT', 'INSERT', 'UPDATE (snapshot, updated_at)'],
      webhook_deliveries: [
        'SELECT',
        'INSERT',
        'UPDATE (attempts, delivered_at, last_attempt_at, last_error, last_status, lease_until, status)',
      ],
      webhook_events: ['SELECT', 'INSERT'],
      webhook_subscriptions: ['SELECT', 'INSERT', 'UPDATE (disabled_at, disabled_by)'],
    });
  });

  it('executes only the append function and the later transition’s write, which appends through it', async () => {
    const { rows } = await service.query<{ proname: string }>(
      `SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND has_function_privilege($1, oid, 'EXECUTE') ORDER BY proname`,
      [serviceRole],
    );
    expect(rows.map((r) => r.proname)).toEqual(['advance_refund', 'append_audit_facts']);
  });

  it('cannot mint principals, change a refund’s amount or a payout’s, rewrite the ledger or a carrier’s event', async () => {
    await refused(`INSERT INTO principals (id, roles) VALUES ('emp-mallory', '{approver}')`, /permission denied for table principals/);
    await refused(`UPDATE api_keys SET revoked_at = NULL`, /permission denied for table api_keys/);
    await refused(`UPDATE refunds SET amount = 1`, /permission denied for table refunds/);
    await refused(`UPDATE payouts SET amount = 1`, /permission denied for table payouts/);
    await refused(`DELETE FROM ledger_entries`, /permission denied for table ledger_entries/);
    await refused(`DELETE FROM employee_breakers`, /permission denied for table employee_breakers/);
    await refused(`UPDATE audit_checkpoints SET root = repeat('0', 64)`, /permission denied for table audit_checkpoints/);
    await refused(`DELETE FROM audit_checkpoints`, /permission denied for table audit_checkpoints/);
    // What a carrier sent is kept as received: never rewritten, never deleted.
    await refused(`UPDATE carrier_events SET event = '{}'`, /permission denied for table carrier_events/);
    await refused(`DELETE FROM carrier_events`, /permission denied for table carrier_events/);
    // A webhook subscription's destination and secret are set once by an admin; events and deliveries are never rewritten.
    await refused(`UPDATE webhook_subscriptions SET url = 'https://mallory.example'`, /permission denied for table webhook_subscriptions/);
    await refused(`UPDATE webhook_subscriptions SET secret = 'whsec_AAAA'`, /permission denied for table webhook_subscriptions/);
    await refused(`UPDATE webhook_events SET data = '{}'`, /permission denied for table webhook_events/);
    await refused(`DELETE FROM webhook_deliveries`, /permission denied for table webhook_deliveries/);
    // A console session is opened for one principal and key: neither can be moved to another, nor its CSRF token changed.
    await refused(`UPDATE console_sessions SET principal_id = 'emp-mallory'`, /permission denied for table console_sessions/);
    await refused(`UPDATE console_sessions SET api_key_hash = 'x', csrf_token = 'x'`, /permission denied for table console_sessions/);
    await refused(`UPDATE console_sessions SET expires_at = 'infinity'`, /permission denied for table console_sessions/);
    await refused(`UPDATE audit_verification_runs SET ok = true`, /permission denied for table audit_verification_runs/);
    // An alert is acknowledged, never rewritten or removed.
    await refused(`UPDATE ops_alerts SET details = '{}'`, /permission denied for table ops_alerts/);
    await refused(`DELETE FROM ops_alerts`, /permission denied for table ops_alerts/);
  });
});

describe('the service role cannot give itself more', () => {
  it('cannot create roles, join the owner or the superuser, or raise its own attributes', async () => {
    await refused('CREATE ROLE refunds_mallory LOGIN SUPERUSER', /permission denied to create role/);
    await refused(`GRANT ${ownerRole} TO ${serviceRole}`, /permission denied to grant role/);
    await refused(`GRANT postgres TO ${serviceRole}`, /permission denied to grant role/);
    await refused(`ALTER ROLE ${serviceRole} SUPERUSER`, /permission denied to alter role/);
    await refused(`ALTER ROLE ${serviceRole} CREATEROLE`, /permission denied to alter role/);
    await refused(`SET ROLE ${ownerRole}`, /permission denied to set role/);
  });

  it('gains nothing by granting to itself: PostgreSQL grants only what it holds with grant option, which is nothing', async () => {
    // A non-owner's GRANT is a warning, not an error, when it holds some privilege on the table.
    await service.query(`GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO ${serviceRole}`);
    await service.query('GRANT ALL ON audit_log TO PUBLIC');
    const { rows } = await service.query(
      `SELECT has_table_privilege($1, 'audit_log', 'UPDATE') AS update, has_table_privilege($1, 'audit_log', 'DELETE') AS delete,
              has_table_privilege($1, 'audit_log', 'TRUNCATE') AS truncate`,
      [serviceRole],
    );
    expect(rows).toEqual([{ update: false, delete: false, truncate: false }]);
    await refused('DELETE FROM audit_log', /permission denied for table audit_log/);
  });
});

describe('roles at start-up', () => {
  it('warns when the run-time role is a superuser or owns the schema, and not for the service role', async () => {
    expect(await privilegedRoleWarning(db.serviceUrl)).toBeUndefined();
    expect(await privilegedRoleWarning(db.adminUrl)).toMatch(/connects as postgres, a superuser: .*connect as refunds_service/);
    expect(await privilegedRoleWarning(db.ownerUrl)).toMatch(/connects as refunds_owner, which owns the schema/);
  });

  it('without the owner URL, starts on a current schema and refuses one with a migration pending, naming it', async () => {
    await expect(ensureSchema({ databaseUrl: db.serviceUrl })).resolves.toBeUndefined();
    const owner = createPool(db.ownerUrl, 1);
    let last: string;
    try {
      last = (await owner.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY name DESC LIMIT 1')).rows[0]!.name;
      await owner.query('DELETE FROM pgmigrations WHERE name = $1', [last]);
      expect(await pendingMigrations(db.serviceUrl)).toEqual([last]);
      const failure = ensureSchema({ databaseUrl: db.serviceUrl });
      await expect(failure).rejects.toBeInstanceOf(SchemaError);
      await expect(failure).rejects.toThrow(
        new RegExp(`not current: 1 migration\\(s\\) not applied \\(${last}\\).*REFUNDS_MIGRATION_DATABASE_URL`),
      );
    } finally {
      await owner.query(
        'INSERT INTO pgmigrations (name, run_on) SELECT $1::text, now() WHERE NOT EXISTS (SELECT FROM pgmigrations WHERE name = $1::text)',
        [last!],
      );
      await owner.end();
    }
    expect(await pendingMigrations(db.serviceUrl)).toEqual([]);
  });

  it('refuses a database with no schema yet', async () => {
    const empty = await scratchDatabase('no_schema', { migrated: false });
    try {
      await expect(ensureSchema({ databaseUrl: empty.serviceUrl })).rejects.toThrow(/no schema yet .*REFUNDS_MIGRATION_DATABASE_URL/);
    } finally {
      await empty.drop();
    }
  });

  it('will not migrate a schema the superuser owns until it is handed over to the owner role', async () => {
    const legacy = await scratchDatabase('legacy', { migrated: false });
    try {
      // A table from before the roles existed, created by the superuser.
      const admin = createPool(legacy.adminUrl, 1);
      await admin.query('CREATE TABLE legacy_notes (id int)').finally(() => admin.end());
      await expect(migrate(legacy.ownerUrl)).rejects.toThrow(/legacy_notes belongs to postgres, not to refunds_owner/);
      await handOverSchema(legacy.adminUrl);
      await migrate(legacy.ownerUrl);
      expect(await pendingMigrations(legacy.serviceUrl)).toEqual([]);
    } finally {
      await legacy.drop();
    }
  });
});

describe('configuration', () => {
  const service = 'postgres://refunds_service:s@db:5432/refunds';
  const owner = 'postgres://refunds_owner:o@db:5432/refunds';

  it('takes the owner URL for migrations apart from the service URL', () => {
    const config = loadConfig({ DATABASE_URL: service, REFUNDS_MIGRATION_DATABASE_URL: owner });
    expect(config).toMatchObject({ databaseUrl: service, migrationDatabaseUrl: owner });
    expect(loadConfig({ DATABASE_URL: service }).migrationDatabaseUrl).toBeUndefined();
  });

  it('refuses an owner URL that is the service role, one without DATABASE_URL, and one that is not a URL', () => {
    const fails = (env: Record<string, string>, message: RegExp) => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    };
    fails(
      { DATABASE_URL: service, REFUNDS_MIGRATION_DATABASE_URL: service },
      /REFUNDS_MIGRATION_DATABASE_URL: must connect as the schema owner/,
    );
    fails({ REFUNDS_MIGRATION_DATABASE_URL: owner }, /REFUNDS_MIGRATION_DATABASE_URL: is only used with DATABASE_URL/);
    fails(
      { DATABASE_URL: service, REFUNDS_MIGRATION_DATABASE_URL: 'refunds_owner@db' },
      /REFUNDS_MIGRATION_DATABASE_URL: must be a postgres:\/\/ connection URL/,
    );
  });
});

describe('refunds-admin', () => {
  const bin = fileURLToPath(new URL('../../store/refunds-admin.mjs', import.meta.url));

  it('as the service role, is refused with a message that asks for the owner', async () => {
    const run = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        bin,
        ['principal', 'add', nextId('emp-mallory'), '--role', 'approver', '--approval-limit', '1000000.00'],
        { env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.serviceUrl }, timeout: 30_000 },
        (error, _stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/permission denied for table principals: .*schema owner's URL/);
  });
});
