/**
 * The workflow's behaviour revisions: each change that would make a history recorded earlier
 * replay differently gets the next number, and the code keeps the earlier behaviour for refunds
 * started under it.
 *
 * A refund pins the revision it starts under, with its policy: `pinPolicy` answers it, and its
 * answer is recorded in the refund's history, so every replay and every worker that takes the
 * refund over reads the same number. A history recorded before revisions were pinned has none,
 * which reads as 1. This is `patched()` without its marker: a patch adds an event to every
 * refund's history, a field in an answer already recorded adds none. It relies on the local
 * activity and the workflow code being one build, which they are (a local activity runs in the
 * worker that runs the workflow task).
 *
 * A revision's branch can go once no refund started before it is open (refunds end within their
 * policy's deadlines; `temporal workflow list` by start time tells).
 *
 * - 1: a decision or an operations action waits for its write with a timer of its own (30 s).
 * - 2: that wait has no timer: the write carrying it gives up after WRITE_BOUND and is written
 *   again without the bound (see `RefundRun.recorded` and `RefundRun.flush`). Under revision 1
 *   every write retries without a bound, as it did.
 * - 3: when that write gives up, the refund's search attributes are set to the state it is in
 *   (an upsert in history that revision 2 does not make): a refund whose write stalls entering
 *   `risk_review` shows `RefundState = "risk_review"`, not the state it came from.
 */
export const REFUND_WORKFLOW_REVISION = 3;

/** The revision a refund runs under: what its pinned answer says, 1 for a history from before revisions. */
export function revisionOf(pinned: { revision?: unknown }): number {
  return typeof pinned.revision === 'number' && Number.isInteger(pinned.revision) && pinned.revision >= 1 ? pinned.revision : 1;
}
