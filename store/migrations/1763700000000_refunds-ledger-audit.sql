-- Up Migration

-- Read model: one row per refund, kept current by the refund workflow at every transition.
CREATE TABLE refunds (
  refund_id          text PRIMARY KEY,
  workflow_id        text NOT NULL,
  order_id           text NOT NULL,
  customer_id        text NOT NULL,
  initiated_by       text NOT NULL,
  currency           char(3) NOT NULL,
  amount             bigint NOT NULL CHECK (amount > 0),
  state              text NOT NULL CHECK (state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review',
                       'awaiting_approval', 'paying', 'refunded', 'rejected', 'cancelled', 'expired', 'failed')),
  waiting_for        text,
  state_since        timestamptz NOT NULL,
  stuck              boolean NOT NULL DEFAULT false,
  stuck_after        timestamptz,
  carrier            text,
  tracking_number    text,
  policy_version     text NOT NULL,
  risk_score         integer,
  risk_band          text,
  approvals_required integer,
  approvals_given    integer NOT NULL DEFAULT 0,
  request_hash       text NOT NULL,
  requested_at       timestamptz NOT NULL,
  progress_seq       integer NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_tracking ON refunds (carrier, tracking_number);
CREATE INDEX refunds_by_customer ON refunds (customer_id, requested_at);
-- The stuck listing: only refunds still in flight are indexed.
CREATE INDEX refunds_active_by_stuck_after ON refunds (stuck_after)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
CREATE INDEX refunds_active_by_state_since ON refunds (state_since)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');

-- Audit trail: append-only, each row chained to the previous one by hash.
CREATE TABLE audit_log (
  seq          bigint PRIMARY KEY,
  refund_id    text NOT NULL,
  refund_seq   integer NOT NULL,
  kind         text NOT NULL,
  actor        text NOT NULL,
  occurred_at  timestamptz NOT NULL,
  data         jsonb NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  prev_hash    text NOT NULL,
  hash         text NOT NULL UNIQUE,
  UNIQUE (refund_id, refund_seq)
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- Payouts: one per refund, keyed by the idempotency key sent to the payment gateway.
CREATE TABLE payouts (
  idempotency_key   text PRIMARY KEY,
  refund_id         text NOT NULL UNIQUE,
  customer_id       text NOT NULL,
  amount            bigint NOT NULL CHECK (amount > 0),
  currency          char(3) NOT NULL,
  status            text NOT NULL CHECK (status IN ('pending', 'paid', 'declined')),
  gateway           text NOT NULL,
  gateway_reference text,
  failure_code      text,
  failure_message   text,
  attempts          integer NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  paid_at           timestamptz,
  CHECK (status <> 'paid' OR (gateway_reference IS NOT NULL AND paid_at IS NOT NULL))
);

-- Ledger: double entry, written in the same transaction that marks the payout paid.
CREATE TABLE ledger_entries (
  id           bigserial PRIMARY KEY,
  payout_key   text NOT NULL REFERENCES payouts (idempotency_key),
  refund_id    text NOT NULL,
  account      text NOT NULL,
  direction    text NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount       bigint NOT NULL CHECK (amount > 0),
  currency     char(3) NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payout_key, direction)
);

-- Down Migration
DROP TABLE ledger_entries;
DROP TABLE payouts;
DROP TABLE audit_log;
DROP FUNCTION audit_log_is_append_only;
DROP TABLE refunds;
