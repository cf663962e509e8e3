-- Up Migration

-- One hash chain per audit subject (a refund, or an employee's breaker record) instead of one
-- across the whole service, plus signed checkpoints that anchor the subjects' heads.
--
-- A row's hash keeps its definition: sha256 of the row's RFC 8785 canonical JSON (seq, refundId,
-- refundSeq, kind, actor, occurredAt, data, prevHash). What changes is prevHash: the hash of the
-- same subject's previous step (refund_seq - 1), or 64 zeros for step 1. seq stays as the
-- service-wide insertion order, now taken from a sequence: it may have gaps (a rolled-back append
-- consumes its numbers) and is no longer chained. Appends to different subjects no longer wait
-- for each other; two writers of one subject (a retried activity and its zombie attempt, two
-- breaker trips of one employee) still take turns on a lock of that subject alone.
--
-- Rows written before this migration stay as they are, as the legacy chain (legacy_chain = true):
-- their prevHash is the previous row of the whole service, and verifyAuditChain checks them that
-- way; the first new row of a subject links to that subject's last legacy row. Re-chaining them
-- here would mean recomputing each row's hash over its canonical JSON, which PostgreSQL cannot
-- produce (jsonb's text form orders keys and writes numbers differently from RFC 8785), so the
-- migration would have to leave SQL, and it would rewrite every hash anyone has copied. Leaving
-- them is the simpler correct choice: nothing already written changes, and the first checkpoint
-- anchors every subject's head, legacy or not.
ALTER TABLE audit_log ADD COLUMN legacy_chain boolean NOT NULL DEFAULT true;
ALTER TABLE audit_log ALTER COLUMN legacy_chain SET DEFAULT false;
CREATE INDEX audit_log_legacy_chain ON audit_log (seq) WHERE legacy_chain;

-- The transaction that wrote each row: a checkpoint finds the subjects that changed since the
-- previous checkpoint's snapshot, in whatever order their transactions committed.
ALTER TABLE audit_log ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_log_by_xact ON audit_log (xact);

CREATE SEQUENCE audit_log_seq AS bigint OWNED BY audit_log.seq;
SELECT setval('audit_log_seq', (SELECT coalesce(max(seq), 0) + 1 FROM audit_log), false);

-- The guard names the table it protects, so audit_checkpoints can share it.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
END;
$$;

-- Appends a subject's facts to its own chain and answers with the subject's head afterwards
-- (step and hash), which the workflow keeps. The caller sends each row's canonical JSON split
-- around the two values only known here (hash_heads[i] || prevHash as a JSON string ||
-- hash_tails[i] || seq || '}'). Facts already written by an earlier attempt (by refund_seq) are
-- skipped; a gap is refused.
DROP FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]);
CREATE FUNCTION append_audit_facts(
  refund text,
  first_refund_seq integer,
  kinds text[],
  actors text[],
  occurred timestamptz[],
  facts jsonb[],
  hash_heads text[],
  hash_tails text[]
) RETURNS TABLE (appended integer, head_seq integer, head_hash text) LANGUAGE plpgsql AS $$
DECLARE
  written integer;
  prev text;
  row_seq bigint;
  row_hash text;
  next_step integer;
BEGIN
  -- This subject only (store/audit-trail.ts SUBJECT_LOCK); other subjects never wait.
  PERFORM pg_advisory_xact_lock(7001002, hashtext(refund));
  SELECT a.refund_seq, a.hash INTO written, prev FROM audit_log a WHERE a.refund_id = refund ORDER BY a.refund_seq DESC LIMIT 1;
  written := coalesce(written, 0);
  prev := coalesce(prev, repeat('0', 64));
  appended := 0;
  FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
    next_step := first_refund_seq + i - 1;
    CONTINUE WHEN next_step <= written;
    IF next_step <> written + 1 THEN
      RAISE EXCEPTION 'audit trail for refund % would have a gap: next is %, got %', refund, written + 1, next_step;
    END IF;
    row_seq := nextval('audit_log_seq');
    row_hash := encode(sha256(convert_to(hash_heads[i] || to_json(prev)::text || hash_tails[i] || row_seq::text || '}', 'UTF8')), 'hex');
    INSERT INTO audit_log (seq, refund_id, refund_seq, kind, actor, occurred_at, data, prev_hash, hash)
    VALUES (row_seq, refund, next_step, kinds[i], actors[i], occurred[i], facts[i], prev, row_hash);
    prev := row_hash;
    written := next_step;
    appended := appended + 1;
  END LOOP;
  head_seq := written;
  head_hash := CASE WHEN written = 0 THEN NULL ELSE prev END;
  RETURN NEXT;
END;
$$;

-- Signed checkpoints: now and then a worker signs a Merkle root over the heads of the subjects
-- that changed since the previous checkpoint and that checkpoint's root (store/audit-checkpoints.ts
-- has the exact construction), and exports the same line to a file outside the database. A head
-- an insider later rewrites no longer matches what was signed. `snapshot` is the checkpointer's
-- bookkeeping (where the next checkpoint starts), not part of what is signed.
CREATE TABLE audit_checkpoints (
  id           bigint PRIMARY KEY CHECK (id > 0),
  created_at   timestamptz NOT NULL,
  prev_root    text NOT NULL,
  root         text NOT NULL,
  heads        jsonb NOT NULL,
  key_id       text NOT NULL,
  signature    text NOT NULL,
  snapshot     pg_snapshot NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_checkpoints_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

REVOKE ALL ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) TO refunds_service;
-- The append function runs as its caller, who numbers the rows.
GRANT USAGE ON SEQUENCE audit_log_seq TO refunds_service;
-- Checkpoints are written and read, never changed.
GRANT SELECT, INSERT ON audit_checkpoints TO refunds_service;

-- Down Migration
DROP TABLE audit_checkpoints;
DROP FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]);
-- The global chain's append, as 1795244915810_audit-append-in-one-call.sql left it.
CREATE FUNCTION append_audit_facts(
  refund text,
  first_refund_seq integer,
  kinds text[],
  actors text[],
  occurred timestamptz[],
  facts jsonb[],
  hash_heads text[],
  hash_tails text[]
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  written integer;
  next_seq bigint;
  prev text;
  row_hash text;
  appended integer := 0;
BEGIN
  -- The same lock the appends took before this function existed (activities/audit-trail.ts).
  PERFORM pg_advisory_xact_lock(7001001);
  SELECT coalesce(max(refund_seq), 0) INTO written FROM audit_log WHERE refund_id = refund;
  SELECT seq, hash INTO next_seq, prev FROM audit_log ORDER BY seq DESC LIMIT 1;
  next_seq := coalesce(next_seq, 0);
  prev := coalesce(prev, repeat('0', 64));
  FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
    CONTINUE WHEN first_refund_seq + i - 1 <= written;
    IF appended = 0 AND first_refund_seq + i - 1 <> written + 1 THEN
      RAISE EXCEPTION 'audit trail for refund % would have a gap: next is %, got %', refund, written + 1, first_refund_seq + i - 1;
    END IF;
    next_seq := next_seq + 1;
    row_hash := encode(sha256(convert_to(hash_heads[i] || to_json(prev)::text || hash_tails[i] || next_seq::text || '}', 'UTF8')), 'hex');
    INSERT INTO audit_log (seq, refund_id, refund_seq, kind, actor, occurred_at, data, prev_hash, hash)
    VALUES (next_seq, refund, first_refund_seq + i - 1, kinds[i], actors[i], occurred[i], facts[i], prev, row_hash);
    prev := row_hash;
    appended := appended + 1;
  END LOOP;
  RETURN appended;
END;
$$;
REVOKE ALL ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_audit_facts(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[]) TO refunds_service;
DROP SEQUENCE audit_log_seq;
ALTER TABLE audit_log DROP COLUMN xact;
ALTER TABLE audit_log DROP COLUMN legacy_chain;
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END;
$$;
