-- Up Migration

-- Passkey registration challenges: the API hands a principal a random challenge for
-- navigator.credentials.create and takes the browser's answer only with a challenge it issued to
-- that principal, unexpired and unused. A challenge is used once (consumed_at is set, never
-- cleared) and rows are never deleted by the service. Decision challenges need no row: their
-- challenge is the hash of the decision statement, which the workflow verifies itself.
CREATE TABLE webauthn_challenges (
  challenge     text PRIMARY KEY,
  principal_id  text NOT NULL,
  purpose       text NOT NULL CHECK (purpose IN ('registration')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  consumed_at   timestamptz,
  CHECK (expires_at > created_at)
);
CREATE INDEX webauthn_challenges_principal ON webauthn_challenges (principal_id, created_at);

GRANT SELECT, INSERT ON webauthn_challenges TO refunds_service;
GRANT UPDATE (consumed_at) ON webauthn_challenges TO refunds_service;

-- Down Migration
DROP TABLE webauthn_challenges;
