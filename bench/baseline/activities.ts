/**
 * The baseline workflow's activities (bench/baseline/workflow.ts): they stand where a refund checks
 * risk and pays out, and do nothing, so the baseline pays Temporal's cost of an activity and no more.
 */
export const nullRefundActivities = {
  async nullRiskCheck(): Promise<void> {},
  async nullPayout(): Promise<void> {},
};

export type NullRefundActivities = typeof nullRefundActivities;
