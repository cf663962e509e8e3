-- Up Migration

-- The carrier event inbox. A verified carrier event is written here before anything else, so an
-- event for a refund whose first read-model row is not there yet (or an API process that dies
-- before it signals the refund) is delivered later instead of lost. One row per (carrier, event
-- id); the same event id with a different body is kept as a conflict row, never delivered.
CREATE TABLE carrier_events (
  id               bigserial PRIMARY KEY,
  carrier          text NOT NULL,
  event_id         text NOT NULL,
  tracking_number  text NOT NULL,
  event            jsonb NOT NULL,
  body_hash        text NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  conflict         boolean NOT NULL DEFAULT false,
  -- The refunds the event has been signalled to; delivered_at is set once every refund of the
  -- parcel known at that moment has it.
  delivered_to     text[] NOT NULL DEFAULT '{}',
  delivered_at     timestamptz,
  -- Set (and reported) when an event stayed undelivered longer than the return window.
  expired_at       timestamptz,
  CHECK (NOT (conflict AND delivered_at IS NOT NULL))
);
CREATE UNIQUE INDEX carrier_events_once ON carrier_events (carrier, event_id) WHERE NOT conflict;
CREATE UNIQUE INDEX carrier_events_each_body_once ON carrier_events (carrier, event_id, body_hash);
CREATE INDEX carrier_events_pending ON carrier_events (received_at) WHERE delivered_at IS NULL AND NOT conflict;
CREATE INDEX carrier_events_pending_by_parcel ON carrier_events (carrier, tracking_number)
  WHERE delivered_at IS NULL AND NOT conflict;
CREATE INDEX carrier_events_conflicts ON carrier_events (received_at) WHERE conflict;

-- The service appends events and marks them delivered or expired; it never rewrites what a
-- carrier sent, nor deletes it.
GRANT SELECT, INSERT ON carrier_events TO refunds_service;
GRANT UPDATE (delivered_to, delivered_at, expired_at) ON carrier_events TO refunds_service;
GRANT USAGE ON SEQUENCE carrier_events_id_seq TO refunds_service;

-- Down Migration
DROP TABLE carrier_events;
