-- Up Migration

-- What employees did to refunds: one row per audit fact that records an insider action (a refund
-- requested by an employee, a receipt scanned, an approval), written in the same transaction as
-- the fact, so a retried write adds nothing. Insider signals and circuit breakers count from here.
CREATE TABLE insider_actions (
  refund_id     text NOT NULL,
  refund_seq    integer NOT NULL,
  employee_id   text NOT NULL,
  role          text NOT NULL CHECK (role IN ('initiator', 'scanner', 'approver')),
  customer_id   text NOT NULL,
  initiated_by  text NOT NULL,
  amount        bigint NOT NULL CHECK (amount > 0),
  currency      char(3) NOT NULL,
  acted_at      timestamptz NOT NULL,
  -- Scanner rows: when the receipt says the parcel was scanned (compared with the carrier's delivery).
  scanned_at    timestamptz,
  PRIMARY KEY (refund_id, refund_seq)
);
CREATE INDEX insider_actions_by_employee ON insider_actions (employee_id, role, acted_at);
CREATE INDEX insider_actions_scanners_of_refund ON insider_actions (refund_id) WHERE role = 'scanner';

-- Identity a customer shares with others (optional request fields), to link accounts.
CREATE TABLE customer_identity_links (
  refund_id     text NOT NULL,
  customer_id   text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('shipping_address', 'payment_fingerprint', 'device_id')),
  value         text NOT NULL,
  requested_at  timestamptz NOT NULL,
  PRIMARY KEY (refund_id, kind)
);
CREATE INDEX customer_identity_links_by_value ON customer_identity_links (kind, value, customer_id);

-- Circuit breakers: at most one tripped breaker per employee; lifting keeps the row.
CREATE TABLE employee_breakers (
  id            bigserial PRIMARY KEY,
  employee_id   text NOT NULL,
  tripped_as    text NOT NULL CHECK (tripped_as IN ('initiator', 'scanner', 'approver')),
  reason        text NOT NULL,
  details       jsonb NOT NULL,
  refund_id     text,
  tripped_at    timestamptz NOT NULL DEFAULT now(),
  lifted_at     timestamptz,
  lifted_by     text,
  lift_reason   text,
  CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL) = (lift_reason IS NULL))
);
CREATE UNIQUE INDEX employee_breakers_one_tripped ON employee_breakers (employee_id) WHERE lifted_at IS NULL;
CREATE INDEX employee_breakers_by_employee ON employee_breakers (employee_id, tripped_at);

-- Outbox for operations: a notifier reads undelivered rows and marks them delivered.
CREATE TABLE ops_alerts (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL,
  employee_id   text,
  details       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  delivered_at  timestamptz
);
CREATE INDEX ops_alerts_undelivered ON ops_alerts (id) WHERE delivered_at IS NULL;

-- Down Migration
DROP TABLE ops_alerts;
DROP TABLE employee_breakers;
DROP TABLE customer_identity_links;
DROP TABLE insider_actions;
