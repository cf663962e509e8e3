-- Up Migration

-- Principal ids are canonical: trimmed and lowercase (PrincipalId in workflows/schemas.ts), so
-- `EMP-A` and `emp-a` are one person. The risk engine's rows are lowered to that form and kept
-- there, so an employee's actions and breakers count under one id, whatever case they came in.

-- Principals are found by their canonical id. A row that differs from it only in case (written
-- straight to the table) is read as that same principal, never a second one; there is no
-- constraint here because such a row must keep authenticating as, and be revoked with, its twin.
CREATE INDEX principals_by_canonical_id ON principals (lower(id));

UPDATE insider_actions SET employee_id = lower(employee_id), initiated_by = lower(initiated_by)
  WHERE employee_id <> lower(employee_id) OR initiated_by <> lower(initiated_by);
ALTER TABLE insider_actions ADD CONSTRAINT insider_actions_canonical_ids
  CHECK (employee_id = lower(employee_id) AND initiated_by = lower(initiated_by));

-- One employee has at most one tripped breaker: of breakers tripped under ids that differ only in
-- case, the first stays tripped and the others are lifted as merged into it.
UPDATE employee_breakers b
  SET lifted_at = now(), lifted_by = 'system', lift_reason = 'merged into breaker ' || keep.id || ': the same employee in another case'
  FROM (SELECT DISTINCT ON (lower(employee_id)) id, lower(employee_id) AS employee
        FROM employee_breakers WHERE lifted_at IS NULL ORDER BY lower(employee_id), tripped_at, id) keep
  WHERE b.lifted_at IS NULL AND lower(b.employee_id) = keep.employee AND b.id <> keep.id;
UPDATE employee_breakers SET employee_id = lower(employee_id), lifted_by = lower(lifted_by)
  WHERE employee_id <> lower(employee_id) OR lifted_by <> lower(lifted_by);
ALTER TABLE employee_breakers ADD CONSTRAINT employee_breakers_canonical_ids
  CHECK (employee_id = lower(employee_id) AND lifted_by = lower(lifted_by));

UPDATE ops_alerts SET employee_id = lower(employee_id) WHERE employee_id <> lower(employee_id);
ALTER TABLE ops_alerts ADD CONSTRAINT ops_alerts_canonical_ids CHECK (employee_id = lower(employee_id));

-- Down Migration
ALTER TABLE ops_alerts DROP CONSTRAINT ops_alerts_canonical_ids;
ALTER TABLE employee_breakers DROP CONSTRAINT employee_breakers_canonical_ids;
ALTER TABLE insider_actions DROP CONSTRAINT insider_actions_canonical_ids;
DROP INDEX principals_by_canonical_id;
