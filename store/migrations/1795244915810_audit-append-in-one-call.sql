-- Up Migration

-- Appends a refund's audit facts to the global hash chain in one call. The chain lock is held
-- from here until the caller's transaction commits; doing the whole append inside the database
-- keeps that to one round trip, instead of one per statement. The row hash is the same as
-- before: sha256 of the row's RFC 8785 canonical JSON, which the caller sends split around the
-- two values only known under the lock (hash_heads[i] || prevHash as a JSON string ||
-- hash_tails[i] || seq || '}'), so verifyAuditChain checks these rows exactly as it checks the
-- earlier ones. Facts already written by an earlier attempt (by refund_seq) are skipped.
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

-- Down Migration
DROP FUNCTION append_audit_facts;
