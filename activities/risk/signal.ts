/** What every risk signal family gets and gives back. */
import type { EvidenceFinding, Policy, RiskReasonCode } from '../../workflows/policy';
import type { ReceivedCarrierEvent, ReceivedScan } from '../../workflows/refund-model';
import type { RefundRequest } from '../../workflows/schemas';

export interface RiskInput {
  refundId: string;
  /** The policy the refund pinned when it started: its thresholds and weights apply. */
  policy: Policy;
  request: RefundRequest;
  amount: number;
  findings: EvidenceFinding[];
  carrierEvents: ReceivedCarrierEvent[];
  receipts: ReceivedScan[];
  /** Who has approved the refund so far (a refund re-assessed after new evidence keeps its approvals). */
  approvers: string[];
}

/** A signal that fired: its reason code, what it means in words, and the values that made it fire. */
export interface Signal {
  code: RiskReasonCode;
  detail: string;
  values: Record<string, unknown>;
}
