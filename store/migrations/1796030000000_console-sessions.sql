-- Up Migration

-- Sessions of the operations console (/console). A person signs in with their principal id and
-- one of its API keys; the browser then holds only a random session id in a cookie. The table
-- keeps the SHA-256 of that id, never the id itself, so a copy of the table signs no one in. A
-- session belongs to the API key it was opened with: revoking the principal or the key (or
-- rotating it) ends the session on its next request. The CSRF token of the session's forms lives
-- here too (a synchronizer token). Sessions end after an idle time and at an absolute expiry;
-- signing out revokes them. Rows are never deleted by the service.
CREATE TABLE console_sessions (
  id_hash       text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
  principal_id  text NOT NULL,
  api_key_hash  text NOT NULL,
  csrf_token    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_principal ON console_sessions (principal_id);

GRANT SELECT, INSERT ON console_sessions TO refunds_service;
GRANT UPDATE (last_seen_at, revoked_at) ON console_sessions TO refunds_service;

-- Audit verifications run from the console: who ran one, when, and what it found, so the next
-- person sees the last result without running it again. Append-only for the service.
CREATE TABLE audit_verification_runs (
  id             bigserial PRIMARY KEY,
  run_by         text NOT NULL,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz NOT NULL DEFAULT now(),
  ok             boolean NOT NULL,
  rows_checked   integer NOT NULL,
  subjects_checked integer NOT NULL,
  result         jsonb NOT NULL
);

GRANT SELECT, INSERT ON audit_verification_runs TO refunds_service;
GRANT USAGE ON SEQUENCE audit_verification_runs_id_seq TO refunds_service;

-- Down Migration
DROP TABLE audit_verification_runs;
DROP TABLE console_sessions;
