-- Up Migration

-- Least privilege. The worker and the API connect as refunds_service (or a login role that is a
-- member of it), which may read and append what the code needs and nothing more: it never
-- updates, deletes or truncates the audit trail, and it owns nothing, so it cannot alter a table
-- or switch its triggers off. The schema belongs to the role that runs the migrations,
-- refunds_owner. Creating roles needs a superuser, so the operator creates both before this
-- migration runs (npm start and the tests do it on their embedded server); see
-- docs/configuration.md, "Database roles".
DO $$
DECLARE
  foreign_object record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'refunds_service') THEN
    RAISE EXCEPTION 'role refunds_service does not exist: a superuser creates it (and refunds_owner) before the migrations run; see docs/configuration.md, "Database roles"';
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'refunds_service' AND (rolsuper OR rolbypassrls OR rolcreaterole)) THEN
    RAISE EXCEPTION 'role refunds_service must not be a superuser, bypass row security or create roles: every grant below would be moot';
  END IF;
  IF pg_has_role('refunds_service', current_user, 'MEMBER') THEN
    RAISE EXCEPTION 'role refunds_service is a member of %, which runs the migrations and owns the schema: it would hold every right of the owner', current_user;
  END IF;
  -- Granting needs ownership: a schema the superuser created before the roles existed is handed
  -- over first (docs/configuration.md).
  SELECT c.relname, pg_get_userbyid(c.relowner) AS owner INTO foreign_object
    FROM pg_class c
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
     AND NOT pg_has_role(current_user, c.relowner, 'USAGE')
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '% belongs to %, not to %, who runs the migrations: hand the schema over to the owner role first; see docs/configuration.md, "Database roles"',
      foreign_object.relname, foreign_object.owner, current_user;
  END IF;
END;
$$;

-- Functions are executable by everyone unless revoked.
REVOKE ALL ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log_is_append_only() FROM PUBLIC;

-- Whether the schema is current, for processes that start without the owner's URL.
GRANT SELECT ON pgmigrations TO refunds_service;

-- The audit trail: read (timelines, verification, insider signals) and appended to. The append
-- function runs as the caller (SECURITY INVOKER), so it can do nothing the caller could not.
GRANT SELECT, INSERT ON audit_log TO refunds_service;
GRANT EXECUTE ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) TO refunds_service;

-- The read model: a refund's request (ids, amount, request hash) is written once; only its
-- progress moves.
GRANT SELECT, INSERT ON refunds TO refunds_service;
GRANT UPDATE (state, waiting_for, state_since, stuck, stuck_after, risk_score, risk_band, approvals_required,
              approvals_given, progress_seq, updated_at) ON refunds TO refunds_service;

-- Payouts: reserved once with their amount; then attempts counted, and paid or declined.
GRANT SELECT, INSERT ON payouts TO refunds_service;
GRANT UPDATE (status, gateway_reference, failure_code, failure_message, attempts, updated_at, paid_at) ON payouts TO refunds_service;
-- The ledger is only ever written, never read or changed, by the service.
GRANT INSERT ON ledger_entries TO refunds_service;
GRANT USAGE ON SEQUENCE ledger_entries_id_seq TO refunds_service;

-- Principals and API keys: the API authenticates with them. Creating, revoking and re-keying is
-- refunds-admin's (the owner's), never the service's.
GRANT SELECT ON principals, api_keys TO refunds_service;

-- The risk engine's records: written with the audit facts, read by the signals.
GRANT SELECT, INSERT ON insider_actions, customer_identity_links TO refunds_service;

-- Breakers trip (insert) and are lifted (the lift columns only); alerts are marked delivered.
GRANT SELECT, INSERT ON employee_breakers, ops_alerts TO refunds_service;
GRANT UPDATE (lifted_at, lifted_by, lift_reason) ON employee_breakers TO refunds_service;
GRANT UPDATE (delivered_at) ON ops_alerts TO refunds_service;
GRANT USAGE ON SEQUENCE employee_breakers_id_seq, ops_alerts_id_seq TO refunds_service;

-- Down Migration
REVOKE ALL ON pgmigrations, audit_log, refunds, payouts, ledger_entries, principals, api_keys, insider_actions,
  customer_identity_links, employee_breakers, ops_alerts FROM refunds_service;
REVOKE ALL ON SEQUENCE ledger_entries_id_seq, employee_breakers_id_seq, ops_alerts_id_seq FROM refunds_service;
REVOKE ALL ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) FROM refunds_service;
GRANT EXECUTE ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log_is_append_only() TO PUBLIC;
