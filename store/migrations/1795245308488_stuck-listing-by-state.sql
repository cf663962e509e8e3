-- Up Migration

-- The stuck listing scans each in-flight state oldest first (activities/read-model.ts), which
-- reads about as many rows as it lists however large the backlog of stuck refunds. The two
-- indexes it used before read every stuck refund and sorted them; nothing else uses them, and
-- every transition of a refund had to update them.
CREATE INDEX refunds_active_by_state_and_since ON refunds (state, state_since)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
DROP INDEX refunds_active_by_stuck_after;
DROP INDEX refunds_active_by_state_since;

-- Down Migration
CREATE INDEX refunds_active_by_stuck_after ON refunds (stuck_after)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
CREATE INDEX refunds_active_by_state_since ON refunds (state_since)
  WHERE state IN ('awaiting_carrier', 'awaiting_warehouse', 'risk_review', 'awaiting_approval', 'paying');
DROP INDEX refunds_active_by_state_and_since;
