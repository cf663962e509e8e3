/**
 * What operations may do to a refund in flight, as workflow updates: escalate it to another
 * approver group, extend the deadline of the stage it waits in, ask the carrier or the warehouse
 * again (a nudge). Each names the operator and a reason and lands on the refund's audit trail.
 * None of them is a signed statement and none can move money: they only change when the refund
 * counts as stuck and who is told about it; every rule before a payout still applies.
 */
import { defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { isoDurationMs, ISO_DURATION_PATTERN } from './iso-duration';
import type { RefundStatus } from './messages';
import { id, principalId, text } from './schemas';
import { builtOnce } from './built-once';

const built = builtOnce('workflows/ops-commands');

/** The parties a refund can wait for evidence from, and so be nudged about. */
export const nudgeParties = ['carrier', 'warehouse'] as const;
export const NudgeParty = built('NudgeParty', () => z.enum(nudgeParties, { error: 'party must be carrier or warehouse' }));
export type NudgeParty = z.infer<typeof NudgeParty>;

/** An approver group to hand a refund to, e.g. `finance-leads`. */
export const ApproverGroup = built('ApproverGroup', () =>
  id('group').describe('the approver group to hand the refund to, e.g. finance-leads'),
);

export const EscalateCommand = built('EscalateCommand', () =>
  z.strictObject({
    escalatedBy: principalId('escalatedBy'),
    group: ApproverGroup,
    reason: text('reason', 500),
  }),
);
export type EscalateCommand = z.infer<typeof EscalateCommand>;

const NOT_A_DURATION = 'by must be an ISO 8601 duration in weeks, days, hours, minutes or seconds, e.g. PT12H or P2D';

/** A positive ISO 8601 duration, as text (kept as given for the audit trail). */
export const ExtensionDuration = built('ExtensionDuration', () =>
  z
    .string({ error: NOT_A_DURATION })
    .regex(ISO_DURATION_PATTERN, NOT_A_DURATION)
    .regex(/^(?:P.*[WDHMS]|[^P].*)?$/, NOT_A_DURATION)
    .refine((value) => (isoDurationMs(value) ?? 0) > 0, 'by must be longer than zero')
    .meta({ description: 'ISO 8601 duration, e.g. PT12H, P2D, P1W', examples: ['P2D'] }),
);

export const ExtendDeadlineCommand = built('ExtendDeadlineCommand', () =>
  z.strictObject({
    extendedBy: principalId('extendedBy'),
    by: ExtensionDuration,
    reason: text('reason', 500),
  }),
);
export type ExtendDeadlineCommand = z.infer<typeof ExtendDeadlineCommand>;

export const NudgeCommand = built('NudgeCommand', () =>
  z.strictObject({
    nudgedBy: principalId('nudgedBy'),
    party: NudgeParty,
    reason: text('reason', 500),
  }),
);
export type NudgeCommand = z.infer<typeof NudgeCommand>;

export const escalateUpdate = defineUpdate<RefundStatus, [EscalateCommand]>('escalate');
export const extendDeadlineUpdate = defineUpdate<RefundStatus, [ExtendDeadlineCommand]>('extendDeadline');
export const nudgeUpdate = defineUpdate<RefundStatus, [NudgeCommand]>('nudge');

/** The failure type of a refused operations action; its details hold `{ rule, message }`. */
export const OPS_ACTION_REFUSED = 'OpsActionRefused';
