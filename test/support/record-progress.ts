import type { RefundActivities } from '../../activities';

type RecordProgress = RefundActivities['recordProgress'];
/**
 * The activities with `recordProgress` replaced, in both activities that write a transition (the
 * write into risk_review comes with the risk check; see recordProgressAndAssessRisk).
 */
export function withRecordProgress(activities: RefundActivities, recordProgress: RecordProgress): RefundActivities {
  return {
    ...activities,
    recordProgress,
    recordProgressAndAssessRisk: async ({ progress, risk }) => {
      const head = await recordProgress(progress);
      return { head, risk: await activities.assessRisk(risk) };
    },
  };
}
