/**
 * Writes refund histories into the test database the way a refund workflow does: the pure model
 * turns each step into audit facts, and the real `recordProgress` activity stores them with the
 * read-model row (and so the insider actions, identity links and breakers derived from them).
 * For signal tests that need history at chosen times (20 days ago, this morning).
 */
import { createActivities } from '../../activities';
import type { Pool } from '../../store/pool';
import { LedgerOnlyGateway } from '../../activities/payments';
import { refundWorkflowId } from '../../workflows/messages';
import { defaultPolicy, type Policy } from '../../workflows/policy';
import { readModelSnapshot } from '../../workflows/read-model-snapshot';
import { applyEvent, newRefund, type AuditFact, type RefundEvent, type RefundModel } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';
import { approver, carrierEvent, matchingReceipt } from './fixtures';

export interface PastRefund {
  /** When it was requested. */
  at: Date;
  /** When the carrier delivered it (minutes after the request); false: never. Default 60. */
  deliveredAfter?: number | false;
  /** Receipt scans: who, and when the receipt says it was scanned (minutes after the request). */
  scans?: Array<{ by: string; scannedAfter?: number }>;
  /** One or two approvers, in order (applied as the workflow would, after a high-risk check). */
  approvers?: string[];
  cancelled?: boolean;
}

export function refundHistory(pool: Pool, policy: Policy = defaultPolicy) {
  // Only recordProgress runs here: no signed statement is verified, so no trust roots are needed.
  const activities = createActivities({ pool, policy, gateway: new LedgerOnlyGateway(), trustRoots: { admins: [] }, carrierSecrets: {} });

  return async function record(request: RefundRequest, past: PastRefund): Promise<RefundModel> {
    const minute = (n: number) => new Date(past.at.getTime() + n * 60_000).toISOString();
    const started = newRefund(request, policy, past.at.toISOString());
    let model = started.model;
    let written = 0;
    const write = async (facts: AuditFact[]) => {
      if (facts.length === 0) return;
      await activities.recordProgress({
        refund: readModelSnapshot(model, refundWorkflowId(request.refundId), written + facts.length),
        firstSeq: written + 1,
        facts,
        ...(written === 0 ? { request } : {}),
      });
      written += facts.length;
    };
    const step = async (event: RefundEvent) => {
      const result = applyEvent(model, event);
      model = result.model;
      await write(result.facts);
    };
    await write(started.facts);

    const deliveredAfter = past.deliveredAfter ?? 60;
    if (deliveredAfter !== false && request.return.method !== 'none') {
      await step({
        type: 'carrier_event',
        event: carrierEvent(request, 'delivered', { occurredAt: minute(deliveredAfter) }),
        at: minute(deliveredAfter),
      });
    }
    for (const [i, scan] of (past.scans ?? []).entries()) {
      const scannedAt = minute(scan.scannedAfter ?? 120 + i);
      await step({
        type: 'warehouse_scan',
        scan: { receipt: matchingReceipt(request, { scannedAt }), scannedBy: scan.by },
        at: minute(121 + i),
      });
    }
    if (past.approvers?.length) {
      if (model.state !== 'risk_review')
        throw new Error(`refund ${request.refundId} is ${model.state}: approvals need delivered and scanned evidence`);
      // High risk: two approvals needed, so one or two approvers are each recorded.
      if (past.approvers.length > 2) throw new Error('at most two approvers per refund');
      await step({
        type: 'risk_assessed',
        risk: { score: 60, band: 'high', reasons: [] },
        evidenceVersion: model.evidenceVersion,
        at: minute(130),
      });
      for (const [i, id] of past.approvers.entries()) {
        await step({ type: 'approval', command: { approver: approver(id), decision: { decision: 'approve' } }, at: minute(140 + i) });
      }
    }
    if (past.cancelled) await step({ type: 'cancel', command: { cancelledBy: 'svc-returns', reason: 'withdrawn' }, at: minute(200) });
    return model;
  };
}
