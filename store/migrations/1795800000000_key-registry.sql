-- Up Migration

-- The key registry: principals' signed entries (with their admins' endorsements) and signed
-- revocations. Nothing here is trusted: the workflow verifies every record by signature against
-- the trust roots its worker pinned, so a row written straight into these tables counts for
-- nothing unless two trust-root admins signed it. The tables keep every record ever added, for
-- the audit: append-only, like the audit trail.
CREATE TABLE registry_entries (
  id            bigserial PRIMARY KEY,
  -- Canonical (lowercase), as the entry names it; the lookup key.
  principal_id  text NOT NULL,
  version       bigint NOT NULL,
  -- The entry as signed (RegistryEntry), exactly as it was stored; sha256 of its canonical JSON.
  entry         jsonb NOT NULL,
  entry_hash    text NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (principal_id, version, entry_hash)
);

-- Admins endorse an entry one at a time; an entry's endorsements are all the rows that name it.
CREATE TABLE registry_endorsements (
  id            bigserial PRIMARY KEY,
  entry_id      bigint NOT NULL REFERENCES registry_entries (id),
  -- The endorsement as signed ({ adminId, keyId, signature }).
  endorsement   jsonb NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (entry_id, endorsement)
);

CREATE TABLE registry_revocations (
  id            bigserial PRIMARY KEY,
  principal_id  text NOT NULL,
  -- The revocation with its signature (SignedRevocation).
  revocation    jsonb NOT NULL,
  revoked_at    timestamptz NOT NULL,
  added_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (principal_id, revocation)
);

CREATE INDEX registry_entries_by_principal ON registry_entries (principal_id, version);
CREATE INDEX registry_revocations_by_principal ON registry_revocations (principal_id);

CREATE FUNCTION registry_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE TRIGGER registry_entries_no_update_or_delete BEFORE UPDATE OR DELETE ON registry_entries
  FOR EACH ROW EXECUTE FUNCTION registry_is_append_only();
CREATE TRIGGER registry_entries_no_truncate BEFORE TRUNCATE ON registry_entries
  FOR EACH STATEMENT EXECUTE FUNCTION registry_is_append_only();
CREATE TRIGGER registry_endorsements_no_update_or_delete BEFORE UPDATE OR DELETE ON registry_endorsements
  FOR EACH ROW EXECUTE FUNCTION registry_is_append_only();
CREATE TRIGGER registry_endorsements_no_truncate BEFORE TRUNCATE ON registry_endorsements
  FOR EACH STATEMENT EXECUTE FUNCTION registry_is_append_only();
CREATE TRIGGER registry_revocations_no_update_or_delete BEFORE UPDATE OR DELETE ON registry_revocations
  FOR EACH ROW EXECUTE FUNCTION registry_is_append_only();
CREATE TRIGGER registry_revocations_no_truncate BEFORE TRUNCATE ON registry_revocations
  FOR EACH STATEMENT EXECUTE FUNCTION registry_is_append_only();

-- The service reads the registry (the workflow's lookupPrincipal); only the owner, who runs
-- refunds-admin, adds to it. Revoked from PUBLIC like every function here.
REVOKE ALL ON FUNCTION registry_is_append_only() FROM PUBLIC;
GRANT SELECT ON registry_entries, registry_endorsements, registry_revocations TO refunds_service;

-- Down Migration
REVOKE ALL ON registry_entries, registry_endorsements, registry_revocations FROM refunds_service;
DROP TABLE registry_revocations;
DROP TABLE registry_endorsements;
DROP TABLE registry_entries;
DROP FUNCTION registry_is_append_only();
