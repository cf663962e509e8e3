/**
 * The baseline workflow's activities (bench/baseline/workflow.ts): they stand where a refund checks
 * risk and pays out, and do nothing, so the baseline pays Temporal's cost of an activity and no more.
 * The payout answers with the time it ran, the baseline's counterpart of a refund's payout row.
 */
export const nullRefundActivities = {
  async nullRiskCheck(): Promise<void> {},
  async nullPayout(): Promise<number> {
    return Date.now();
  },
};

export type NullRefundActivities = typeof nullRefundActivities;
