-- Up Migration

-- Carrier events are verified inside each refund's workflow, from the bytes the carrier signed: the
-- inbox keeps the raw webhook body and the signature header exactly as received, and delivers
-- those. Rows stored before this have neither; no workflow can verify them, so they are never
-- delivered (the inbox reports them as undeliverable) and expire with the return window.
ALTER TABLE carrier_events ADD COLUMN raw_body text, ADD COLUMN signature text;
ALTER TABLE carrier_events ADD CONSTRAINT carrier_events_signed_together CHECK ((raw_body IS NULL) = (signature IS NULL));

-- Down Migration
ALTER TABLE carrier_events DROP CONSTRAINT carrier_events_signed_together;
ALTER TABLE carrier_events DROP COLUMN raw_body, DROP COLUMN signature;
