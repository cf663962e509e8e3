-- Up Migration

-- A later transition of a refund (every write after the first) that records no insider action
-- writes its audit facts and moves its read-model row in one call, one statement: a statement is
-- its own transaction, so the facts and the row still commit together, and the refund's chain
-- lock (taken by append_audit_facts) is still held from the append to the commit, over the one
-- write of the row. The first transition (which creates the row) and any transition with insider
-- actions (which may trip a breaker: store/insider-actions.ts) keep their transaction.
--
-- Appends as append_audit_facts does (same arguments; retried facts skipped, a gap refused), then
-- updates the row as store/read-model.ts advanceRefundRow does: only forward (an older
-- progress_seq changes nothing), with the status document given and the head this append left
-- as its auditHead ({"refundSeq", "hash"}, as the workflow's AuditHead; the given one when the
-- refund has no audit row at all). A refund with no row raises, which undoes the append with it.
CREATE FUNCTION advance_refund(
  refund text,
  first_refund_seq integer,
  kinds text[],
  actors text[],
  occurred timestamptz[],
  facts jsonb[],
  hash_heads text[],
  hash_tails text[],
  new_state text,
  new_waiting_for text,
  new_state_since timestamptz,
  new_stuck boolean,
  new_stuck_after timestamptz,
  new_risk_score integer,
  new_risk_band text,
  new_approvals_required integer,
  new_approvals_given integer,
  new_progress_seq integer,
  new_status jsonb
) RETURNS TABLE (appended integer, head_seq integer, head_hash text) LANGUAGE plpgsql AS $$
BEGIN
  SELECT a.appended, a.head_seq, a.head_hash INTO appended, head_seq, head_hash
    FROM append_audit_facts(refund, first_refund_seq, kinds, actors, occurred, facts, hash_heads, hash_tails) a;
  UPDATE refunds r
     SET state = new_state, waiting_for = new_waiting_for, state_since = new_state_since, stuck = new_stuck,
         stuck_after = new_stuck_after, risk_score = new_risk_score, risk_band = new_risk_band,
         approvals_required = new_approvals_required, approvals_given = new_approvals_given,
         progress_seq = new_progress_seq,
         status = CASE WHEN head_hash IS NULL THEN new_status
                       ELSE new_status || jsonb_build_object('auditHead', jsonb_build_object('refundSeq', head_seq, 'hash', head_hash)) END,
         updated_at = now()
   WHERE r.refund_id = refund AND r.progress_seq < new_progress_seq;
  -- No row updated: a retried write the row has already moved past is fine, a missing row is not.
  IF NOT FOUND AND NOT EXISTS (SELECT FROM refunds r WHERE r.refund_id = refund) THEN
    RAISE EXCEPTION 'refund % has no read-model row to update', refund;
  END IF;
  RETURN NEXT;
END;
$$;

-- Functions are executable by everyone unless revoked. It runs as its caller (SECURITY INVOKER),
-- so it can do nothing the caller could not.
REVOKE ALL ON FUNCTION advance_refund(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[], text, text, timestamptz,
  boolean, timestamptz, integer, text, integer, integer, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION advance_refund(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[], text, text, timestamptz,
  boolean, timestamptz, integer, text, integer, integer, integer, jsonb) TO refunds_service;

-- Down Migration
DROP FUNCTION advance_refund(text, integer, text[], text[], timestamptz[], jsonb[], text[], text[], text, text, timestamptz,
  boolean, timestamptz, integer, text, integer, integer, integer, jsonb);
