-- Up Migration

-- Outgoing webhooks: events derived from what is already written transactionally (audit_log and
-- the ops_alerts outbox), delivered to subscribers signed as Standard Webhooks
-- (store/webhook-outbox.ts, store/webhooks.ts, workflows/webhook-dispatcher.ts).

-- The transaction that wrote each alert, as audit_log has it: the dispatcher reads both by commit
-- (a snapshot cursor), not by id, since ids are taken before the writing transaction commits.
ALTER TABLE ops_alerts ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX ops_alerts_by_xact ON ops_alerts (xact);

-- Subscribers, managed by admins. The secret is kept to sign with (Standard Webhooks: whsec_ and
-- the base64 of the key); the API shows it once, when the subscription is created.
CREATE TABLE webhook_subscriptions (
  id              text PRIMARY KEY,
  url             text NOT NULL CHECK (url ~ '^https?://'),
  event_types     text[],
  format          text NOT NULL CHECK (format IN ('standard', 'slack')),
  approver_group  text,
  secret          text NOT NULL CHECK (secret ~ '^whsec_'),
  description     text,
  created_by      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  disabled_at     timestamptz,
  disabled_by     text
);

-- Each event once, with a stable id derived from its source row (evt_audit_<seq>, evt_alert_<id>).
CREATE TABLE webhook_events (
  id              text PRIMARY KEY,
  type            text NOT NULL,
  occurred_at     timestamptz NOT NULL,
  refund_id       text,
  approver_group  text,
  data            jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- One delivery per event and subscription: the webhook-id a receiver dedupes by.
CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  subscription_id  text NOT NULL REFERENCES webhook_subscriptions (id),
  event_id         text NOT NULL REFERENCES webhook_events (id),
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts         integer NOT NULL DEFAULT 0,
  last_attempt_at  timestamptz,
  last_status      integer,
  last_error       text,
  delivered_at     timestamptz,
  lease_until      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id DESC);

-- Where the dispatcher has read up to: the snapshot of its last read. A row is new when its
-- transaction was not visible in that snapshot.
CREATE TABLE webhook_cursor (
  name        text PRIMARY KEY,
  snapshot    pg_snapshot NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON webhook_subscriptions TO refunds_service;
GRANT UPDATE (disabled_at, disabled_by) ON webhook_subscriptions TO refunds_service;
GRANT SELECT, INSERT ON webhook_events TO refunds_service;
GRANT SELECT, INSERT ON webhook_deliveries TO refunds_service;
GRANT UPDATE (status, attempts, last_attempt_at, last_status, last_error, delivered_at, lease_until) ON webhook_deliveries TO refunds_service;
GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq TO refunds_service;
GRANT SELECT, INSERT ON webhook_cursor TO refunds_service;
GRANT UPDATE (snapshot, updated_at) ON webhook_cursor TO refunds_service;

-- Down Migration
DROP TABLE webhook_cursor;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_subscriptions;
DROP INDEX ops_alerts_by_xact;
ALTER TABLE ops_alerts DROP COLUMN xact;
