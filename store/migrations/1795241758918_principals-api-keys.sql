-- Up Migration

-- Who may call the API: an employee id or a service's id, its roles and, for approvers, the largest
-- refund they may approve, in major units of the refund's own currency ("1000.00").
CREATE TABLE principals (
  id              text PRIMARY KEY CHECK (id ~ '^[\x21-\x7e]{1,128}$'),
  roles           text[] NOT NULL CHECK (
                    cardinality(roles) > 0
                    AND roles <@ ARRAY['refund_service', 'warehouse', 'approver', 'ops', 'admin']::text[]),
  approval_limit  text CHECK (approval_limit ~ '^\d{1,11}(\.\d{1,4})?$'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz
);

-- API keys are stored only as the SHA-256 of the key; the key itself is shown once, when issued.
CREATE TABLE api_keys (
  key_hash      text PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  principal_id  text NOT NULL REFERENCES principals (id),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX api_keys_by_principal ON api_keys (principal_id);

-- Down Migration
DROP TABLE api_keys;
DROP TABLE principals;
