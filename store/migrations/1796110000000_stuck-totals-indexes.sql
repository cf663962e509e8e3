-- Up Migration

-- The stuck summary (GET /v1/refunds/stuck/summary, the console's stuck dashboard) counts and sums
-- every stuck refund by state and currency. Without these indexes PostgreSQL reads every refund
-- in flight from the table and filters it (at 10,000,000 refunds, 1.5 million rows per summary).
-- Both are partial (refunds in flight only) and carry currency and amount, so a summary reads
-- only the index entries of the refunds it counts, without visiting the table:
--   past their limit (the default): (state, stuck_after), a range per state;
--   waiting longer than a duration (olderThan): (state, state_since), a range per state. This one
--   replaces refunds_active_by_state_and_since (the same key, which the stuck listing scans oldest
--   first, as it still can).
CREATE INDEX refunds_stuck_by_state_and_limit ON refunds (state, stuck_after) INCLUDE (currency, amount)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
CREATE INDEX refunds_active_by_state_and_since_totals ON refunds (state, state_since) INCLUDE (currency, amount)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
DROP INDEX refunds_active_by_state_and_since;

-- Down Migration
CREATE INDEX refunds_active_by_state_and_since ON refunds (state, state_since)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
DROP INDEX refunds_active_by_state_and_since_totals;
DROP INDEX refunds_stuck_by_state_and_limit;
