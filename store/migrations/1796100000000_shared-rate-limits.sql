-- Up Migration

-- The API's rate limits, counted in PostgreSQL so that every API replica counts against the same
-- limit (api/plugins/rate-limit-store.ts). A fixed window per key: one row per key and window,
-- counted up by one INSERT … ON CONFLICT DO UPDATE per request. The key is the limit's key
-- (`principal:<id>` or `address:<ip>`, under the store's namespace and, for a route with its own
-- limit, the route). Rows are only counters: the service deletes the windows that have ended, a
-- bounded batch at a time (expires_at's index finds them), and nothing else reads them.
CREATE TABLE api_rate_limits (
  key           text NOT NULL,
  window_start  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  count         integer NOT NULL CHECK (count > 0),
  PRIMARY KEY (key, window_start),
  CHECK (expires_at > window_start)
);
CREATE INDEX api_rate_limits_expiry ON api_rate_limits (expires_at);

-- Counters of ended windows are worth nothing: the one table where the service deletes.
GRANT SELECT, INSERT, DELETE ON api_rate_limits TO refunds_service;
GRANT UPDATE (count) ON api_rate_limits TO refunds_service;

-- Down Migration
DROP TABLE api_rate_limits;
