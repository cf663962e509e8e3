-- Up Migration

-- Idempotency keys: a caller that sends a mutation with an Idempotency-Key header and retries it
-- (its answer was lost) gets the first answer again instead of a refusal that looks like a
-- failure. One row per (principal, key): the request it was first used with (a fingerprint of
-- method, route, parameters and body) and, once answered, the answer. A key is remembered for a
-- day; after that its row is claimed afresh by the next request that uses it (never deleted).
CREATE TABLE idempotency_keys (
  principal_id  text NOT NULL,
  key           text NOT NULL,
  fingerprint   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  status        integer,
  answer        jsonb,
  answered_at   timestamptz,
  PRIMARY KEY (principal_id, key),
  CHECK ((status IS NULL) = (answered_at IS NULL))
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

GRANT SELECT, INSERT ON idempotency_keys TO refunds_service;
GRANT UPDATE (fingerprint, created_at, status, answer, answered_at) ON idempotency_keys TO refunds_service;

-- Down Migration
DROP TABLE idempotency_keys;
