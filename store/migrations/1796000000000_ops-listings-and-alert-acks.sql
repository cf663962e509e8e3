-- Up Migration

-- Refund listings (GET /v1/refunds): newest first by requested_at, then refund_id, with a cursor
-- on the same pair. One index for the whole listing and one per equality filter, each ending in
-- the listing's order, so a page reads about as many rows as it returns.
CREATE INDEX refunds_listing ON refunds (requested_at DESC, refund_id DESC);
CREATE INDEX refunds_listing_by_state ON refunds (state, requested_at DESC, refund_id DESC);
CREATE INDEX refunds_listing_by_order ON refunds (order_id, requested_at DESC, refund_id DESC);
-- A refund service sees only the refunds it requested: the verified requester is in the status document.
CREATE INDEX refunds_listing_by_requester ON refunds ((status ->> 'requestedBy'), requested_at DESC, refund_id DESC);
-- By customer, the existing refunds_by_customer (customer_id, requested_at) serves, read backwards.

-- Operations acknowledge alerts: who, when, with an optional note. Acknowledged once; a second
-- acknowledgement answers the first.
ALTER TABLE ops_alerts
  ADD COLUMN acknowledged_at  timestamptz,
  ADD COLUMN acknowledged_by  text,
  ADD COLUMN acknowledge_note text,
  ADD CONSTRAINT ops_alerts_acknowledged_together CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
  ADD CONSTRAINT ops_alerts_acknowledge_note_without_ack CHECK (acknowledge_note IS NULL OR acknowledged_at IS NOT NULL);
CREATE INDEX ops_alerts_unacknowledged ON ops_alerts (id) WHERE acknowledged_at IS NULL;

GRANT UPDATE (acknowledged_at, acknowledged_by, acknowledge_note) ON ops_alerts TO refunds_service;

-- Down Migration
REVOKE UPDATE (acknowledged_at, acknowledged_by, acknowledge_note) ON ops_alerts FROM refunds_service;
DROP INDEX ops_alerts_unacknowledged;
ALTER TABLE ops_alerts
  DROP CONSTRAINT ops_alerts_acknowledge_note_without_ack,
  DROP CONSTRAINT ops_alerts_acknowledged_together,
  DROP COLUMN acknowledge_note,
  DROP COLUMN acknowledged_by,
  DROP COLUMN acknowledged_at;
DROP INDEX refunds_listing_by_requester;
DROP INDEX refunds_listing_by_order;
DROP INDEX refunds_listing_by_state;
DROP INDEX refunds_listing;
