-- Up Migration

-- The HTTP API proposes registry entries, adds admins' endorsements and revocations, so the
-- service role may append to the registry: INSERT only (and the id sequences). The tables stay
-- append-only (their triggers refuse UPDATE, DELETE and TRUNCATE, and the service role holds none
-- of those privileges), and nothing it appends counts unless trust-root admins signed it: the
-- workflow verifies every record against the roots it pinned. Each append is audited on the
-- principal's own chain in the same transaction (store/registry.ts).
GRANT INSERT ON registry_entries, registry_endorsements, registry_revocations TO refunds_service;
GRANT USAGE ON SEQUENCE registry_entries_id_seq, registry_endorsements_id_seq, registry_revocations_id_seq TO refunds_service;

-- Down Migration
REVOKE USAGE ON SEQUENCE registry_entries_id_seq, registry_endorsements_id_seq, registry_revocations_id_seq FROM refunds_service;
REVOKE INSERT ON registry_entries, registry_endorsements, registry_revocations FROM refunds_service;
