-- Up Migration

-- The refund's full status as its workflow last wrote it, beside the columns the lists filter
-- on: reading a refund is answered from here when its workflow has finished (Temporal's
-- retention may have removed it) or does not answer in time (no worker), instead of waiting on
-- a worker. Written with every transition, like the other progress columns.
ALTER TABLE refunds ADD COLUMN status jsonb;

GRANT UPDATE (status) ON refunds TO refunds_service;

-- Down Migration
ALTER TABLE refunds DROP COLUMN status;
